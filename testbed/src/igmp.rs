//! IGMP messages (RFC 1112, RFC 2236, RFC 3376) built byte by byte, including wrong ones:
//! any number of records, sources, a bad checksum, truncation.

use std::net::Ipv4Addr;

use mcastlab_common::{
    igmp::{
        IPPROTO_IGMP, MEMBERSHIP_QUERY, V1_MEMBERSHIP_REPORT, V2_LEAVE_GROUP, V2_MEMBERSHIP_REPORT,
    },
    wire::igmp::{IgmpHeader, V3RecordHeader, V3ReportWriter, fill_checksum},
};

use crate::frame::Ipv4Frame;

/// All-routers group, destination of IGMPv2 leaves (RFC 2236 section 3).
pub const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
/// All-IGMPv3-routers group, destination of IGMPv3 reports (RFC 3376 section 4.2.14).
pub const ALL_IGMPV3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);

/// One IGMPv3 group record (RFC 3376 section 4.2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRecord {
    /// Record type (`mcastlab_common::igmp::record`).
    pub record_type: u8,
    /// The group.
    pub group: Ipv4Addr,
    /// Source addresses.
    pub sources: Vec<Ipv4Addr>,
    /// Auxiliary data, in 32-bit words.
    pub aux_words: u8,
}

impl GroupRecord {
    /// A record without sources or auxiliary data.
    pub fn new(record_type: u8, group: Ipv4Addr) -> Self {
        Self {
            record_type,
            group,
            sources: Vec::new(),
            aux_words: 0,
        }
    }

    /// The same record with `sources`.
    pub fn with_sources(mut self, sources: Vec<Ipv4Addr>) -> Self {
        self.sources = sources;
        self
    }
}

/// An IGMP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgmpMessage {
    /// IGMPv1 Membership Report.
    V1Report(Ipv4Addr),
    /// IGMPv2 Membership Report.
    V2Report(Ipv4Addr),
    /// IGMPv2 Leave Group.
    V2Leave(Ipv4Addr),
    /// Membership Query (v2 form) for a group, or 0.0.0.0 for a general query.
    Query(Ipv4Addr),
    /// IGMPv3 Membership Report.
    V3Report(Vec<GroupRecord>),
    /// IGMPv3 Membership Report whose record-count field says `declared` whatever the records.
    V3ReportDeclaring {
        /// The value of "Number of Group Records".
        declared: u16,
        /// The records actually present.
        records: Vec<GroupRecord>,
    },
}

impl IgmpMessage {
    /// The message bytes with a correct checksum.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::V1Report(group) => fixed(V1_MEMBERSHIP_REPORT, *group),
            Self::V2Report(group) => fixed(V2_MEMBERSHIP_REPORT, *group),
            Self::V2Leave(group) => fixed(V2_LEAVE_GROUP, *group),
            Self::Query(group) => fixed(MEMBERSHIP_QUERY, *group),
            Self::V3Report(records) => v3(records.len() as u16, records),
            Self::V3ReportDeclaring { declared, records } => v3(*declared, records),
        }
    }

    /// The IP destination the kernel would use for this message.
    pub fn destination(&self) -> Ipv4Addr {
        match self {
            Self::V1Report(group) | Self::V2Report(group) => *group,
            Self::V2Leave(_) => ALL_ROUTERS,
            Self::Query(_) => Ipv4Addr::new(224, 0, 0, 1),
            Self::V3Report(_) | Self::V3ReportDeclaring { .. } => ALL_IGMPV3_ROUTERS,
        }
    }

    /// The message in an IPv4 frame from `source`, with Router Alert (IHL 6) as the kernel sends.
    pub fn frame(&self, source: Ipv4Addr) -> Ipv4Frame {
        Ipv4Frame::new(source, self.destination(), IPPROTO_IGMP, self.to_bytes())
            .with_router_alert()
    }
}

fn fixed(kind: u8, group: Ipv4Addr) -> Vec<u8> {
    let mut bytes = IgmpHeader::new(kind, group.octets()).0.to_vec();
    fill_checksum(&mut bytes);
    bytes
}

fn v3(declared: u16, records: &[GroupRecord]) -> Vec<u8> {
    let len = IgmpHeader::LEN
        + records
            .iter()
            .map(|r| V3RecordHeader::LEN + 4 * (r.sources.len() + usize::from(r.aux_words)))
            .sum::<usize>();
    let mut bytes = vec![0; len];
    let mut writer = V3ReportWriter::new(&mut bytes).expect("buffer sized for the header");
    for record in records {
        let sources: Vec<[u8; 4]> = record.sources.iter().map(Ipv4Addr::octets).collect();
        let aux_data = vec![0; usize::from(record.aux_words) * 4];
        writer
            .push_record(
                record.record_type,
                record.group.octets(),
                &sources,
                &aux_data,
            )
            .expect("buffer sized for the records, at most 65535 sources");
    }
    writer.finish_declaring(declared);
    bytes
}

/// Flips the checksum of an IGMP payload so that it no longer verifies.
pub fn corrupt_checksum(payload: &mut [u8]) {
    payload[2] ^= 0xff;
}

#[cfg(test)]
mod tests {
    use mcastlab_common::{igmp::record, wire::checksum::verifies};

    use super::*;

    #[test]
    fn v2_report_layout() {
        let bytes = IgmpMessage::V2Report(Ipv4Addr::new(239, 1, 1, 1)).to_bytes();
        assert_eq!(bytes.len(), 8);
        assert_eq!(bytes[0], 0x16);
        assert_eq!(&bytes[4..8], &[239, 1, 1, 1]);
        assert!(verifies(&bytes));
    }

    #[test]
    fn v3_report_layout() {
        let records = vec![
            GroupRecord::new(record::CHANGE_TO_EXCLUDE_MODE, Ipv4Addr::new(239, 0, 0, 1)),
            GroupRecord::new(record::MODE_IS_INCLUDE, Ipv4Addr::new(239, 0, 0, 2))
                .with_sources(vec![Ipv4Addr::new(10, 0, 0, 1)]),
        ];
        let bytes = IgmpMessage::V3Report(records).to_bytes();
        assert_eq!(bytes.len(), 8 + 8 + 12);
        assert_eq!(u16::from_be_bytes([bytes[6], bytes[7]]), 2);
        assert_eq!(&bytes[16..18], &[record::MODE_IS_INCLUDE, 0]);
        assert_eq!(u16::from_be_bytes([bytes[18], bytes[19]]), 1);
        assert!(verifies(&bytes));
    }
}
