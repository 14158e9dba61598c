//! MLD messages (RFC 2710, RFC 3810) built byte by byte through the common crate's views, and
//! the frames that carry them (IPv6, Hop-by-Hop with Router Alert), including wrong ones: any
//! number of records and sources, a bad checksum, truncation, no Router Alert, no Hop-by-Hop.

use std::net::Ipv6Addr;

use mcastlab_common::wire::{
    ipv6::{HopByHopHeader, NEXT_HEADER_ICMPV6},
    mld::{
        ALL_MLDV2_ROUTERS, ALL_NODES, ALL_ROUTERS, MLD_QUERY, MLDV1_DONE, MLDV1_REPORT, MldHeader,
        V1Message, V2Query, V2RecordHeader, V2ReportWriter, fill_checksum,
    },
};

use crate::frame::Ipv6Frame;

/// The link-local address of the crafted frames' source MAC (02:00:00:00:00:01, modified
/// EUI-64, RFC 4291 appendix A): MLD is sent from a link-local address (RFC 3810 section 5).
pub const TEST_LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 1);

/// Maximum Response Delay of crafted queries: the Query Response Interval default, 10 s (RFC
/// 3810 section 9.3).
pub const QUERY_RESPONSE_MS: u32 = 10_000;
/// Robustness Variable of crafted queries (RFC 3810 section 9.1).
pub const ROBUSTNESS: u8 = 2;
/// Query Interval of crafted queries, 125 s (RFC 3810 section 9.2).
pub const QUERY_INTERVAL_S: u32 = 125;

/// One MLDv2 multicast address record (RFC 3810 section 5.2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressRecord {
    /// Record type (`mcastlab_common::igmp::record`: MLDv2 uses IGMPv3's).
    pub record_type: u8,
    /// The group.
    pub group: Ipv6Addr,
    /// Source addresses.
    pub sources: Vec<Ipv6Addr>,
    /// Auxiliary data, in 32-bit words.
    pub aux_words: u8,
}

impl AddressRecord {
    /// A record without sources or auxiliary data.
    pub fn new(record_type: u8, group: Ipv6Addr) -> Self {
        Self {
            record_type,
            group,
            sources: Vec::new(),
            aux_words: 0,
        }
    }

    /// The same record with `sources`.
    pub fn with_sources(mut self, sources: Vec<Ipv6Addr>) -> Self {
        self.sources = sources;
        self
    }
}

/// An MLD message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MldMessage {
    /// MLDv1 Multicast Listener Report.
    V1Report(Ipv6Addr),
    /// MLDv1 Multicast Listener Done.
    V1Done(Ipv6Addr),
    /// MLDv1 query for a group, or :: for a General Query.
    V1Query(Ipv6Addr),
    /// MLDv2 query for a group, or :: for a General Query (no sources).
    V2Query(Ipv6Addr),
    /// MLDv2 Multicast Listener Report.
    V2Report(Vec<AddressRecord>),
    /// MLDv2 report whose record-count field says `declared` whatever the records.
    V2ReportDeclaring {
        /// The value of "Nr of Mcast Address Records".
        declared: u16,
        /// The records actually present.
        records: Vec<AddressRecord>,
    },
}

impl MldMessage {
    /// The message bytes with a correct checksum for `source` to [`MldMessage::destination`].
    pub fn to_bytes(&self, source: Ipv6Addr) -> Vec<u8> {
        let (source, destination) = (source.octets(), self.destination().octets());
        let mut bytes = match self {
            Self::V1Report(group) => V1Message::new(MLDV1_REPORT, group.octets()).0.to_vec(),
            Self::V1Done(group) => V1Message::new(MLDV1_DONE, group.octets()).0.to_vec(),
            Self::V1Query(group) => V1Message::query(group.octets(), QUERY_RESPONSE_MS as u16)
                .0
                .to_vec(),
            Self::V2Query(group) => V2Query::group_specific(
                group.octets(),
                QUERY_RESPONSE_MS,
                ROBUSTNESS,
                QUERY_INTERVAL_S,
            )
            .0
            .to_vec(),
            Self::V2Report(records) => {
                return v2(records.len() as u16, records, source, destination);
            }
            Self::V2ReportDeclaring { declared, records } => {
                return v2(*declared, records, source, destination);
            }
        };
        fill_checksum(source, destination, &mut bytes);
        bytes
    }

    /// The IPv6 destination the kernel would use for this message: the group for v1 reports
    /// and group-specific queries, ff02::2 for Done (RFC 2710 section 4), ff02::16 for v2
    /// reports (RFC 3810 section 5.2.14), ff02::1 for General Queries (section 5.1.15).
    pub fn destination(&self) -> Ipv6Addr {
        match self {
            Self::V1Report(group) => *group,
            Self::V1Done(_) => ALL_ROUTERS.into(),
            Self::V1Query(group) | Self::V2Query(group) if group.is_unspecified() => {
                ALL_NODES.into()
            }
            Self::V1Query(group) | Self::V2Query(group) => *group,
            Self::V2Report(_) | Self::V2ReportDeclaring { .. } => ALL_MLDV2_ROUTERS.into(),
        }
    }

    /// The message in an IPv6 frame from `source` (link-local, such as [`TEST_LINK_LOCAL`]),
    /// Hop Limit 1, with the Hop-by-Hop Router Alert, as the kernel sends it.
    pub fn frame(&self, source: Ipv6Addr) -> Ipv6Frame {
        Ipv6Frame::new(
            source,
            self.destination(),
            NEXT_HEADER_ICMPV6,
            self.to_bytes(source),
        )
        .with_router_alert()
    }

    /// [`MldMessage::frame`] with a Hop-by-Hop header of padding only: no Router Alert.
    pub fn frame_without_router_alert(&self, source: Ipv6Addr) -> Ipv6Frame {
        let mut frame = self.frame(source);
        frame.hop_by_hop = Some(HopByHopHeader::padding(NEXT_HEADER_ICMPV6));
        frame
    }

    /// [`MldMessage::frame`] without the Hop-by-Hop header: ICMPv6 right after IPv6.
    pub fn frame_without_hop_by_hop(&self, source: Ipv6Addr) -> Ipv6Frame {
        let mut frame = self.frame(source);
        frame.hop_by_hop = None;
        frame
    }

    /// [`MldMessage::frame`] with a checksum that does not verify.
    pub fn frame_with_bad_checksum(&self, source: Ipv6Addr) -> Ipv6Frame {
        let mut frame = self.frame(source);
        corrupt_checksum(&mut frame.payload);
        frame
    }

    /// [`MldMessage::frame`] cut after `keep` bytes of the message, its Payload Length still
    /// that of the whole: a frame cut short on the wire.
    pub fn truncated_frame(&self, source: Ipv6Addr, keep: usize) -> Ipv6Frame {
        let mut frame = self.frame(source);
        frame.payload_len_override = Some((HopByHopHeader::LEN + frame.payload.len()) as u16);
        frame.payload.truncate(keep);
        frame
    }
}

fn v2(
    declared: u16,
    records: &[AddressRecord],
    source: [u8; 16],
    destination: [u8; 16],
) -> Vec<u8> {
    let len = MldHeader::LEN
        + records
            .iter()
            .map(|r| V2RecordHeader::LEN + 16 * r.sources.len() + 4 * usize::from(r.aux_words))
            .sum::<usize>();
    let mut bytes = vec![0; len];
    let mut writer = V2ReportWriter::new(&mut bytes).expect("buffer sized for the header");
    for record in records {
        let sources: Vec<[u8; 16]> = record.sources.iter().map(Ipv6Addr::octets).collect();
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
    writer.finish_declaring(declared, source, destination);
    bytes
}

/// Flips the checksum of an MLD payload so that it no longer verifies.
pub fn corrupt_checksum(payload: &mut [u8]) {
    payload[2] ^= 0xff;
}

/// Whether `message` is an MLD query (type 130), whatever its version.
pub fn is_query(message: &[u8]) -> bool {
    message.first() == Some(&MLD_QUERY)
}

#[cfg(test)]
mod tests {
    use mcastlab_common::{
        Reason,
        igmp::record,
        wire::mld::{Mld, parse_packet},
    };

    use super::*;
    use crate::frame::ETH_HLEN;

    fn group() -> Ipv6Addr {
        "ff0e::1:2".parse().expect("an address")
    }

    #[test]
    fn v1_report_frame_layout() {
        let frame = MldMessage::V1Report(group())
            .frame(TEST_LINK_LOCAL)
            .to_bytes();
        assert_eq!(frame.len(), 14 + 40 + 8 + 24);
        assert_eq!(&frame[..6], &[0x33, 0x33, 0, 1, 0, 2]);
        assert_eq!(&frame[12..14], &[0x86, 0xdd]);
        assert_eq!(
            (frame[20], frame[21]),
            (0, 1),
            "Hop-by-Hop next, hop limit 1"
        );
        assert_eq!(&frame[22..38], &TEST_LINK_LOCAL.octets());
        assert_eq!(&frame[54..62], &[58, 0, 5, 2, 0, 0, 1, 0]);
        assert_eq!(frame[62], 131);
        let packet = parse_packet(&frame[ETH_HLEN..]).expect("an MLD packet");
        assert_eq!(
            packet.message,
            Mld::V1Report {
                group: group().octets()
            }
        );
    }

    #[test]
    fn v2_report_layout() {
        let records = vec![
            AddressRecord::new(record::CHANGE_TO_EXCLUDE_MODE, group()),
            AddressRecord::new(
                record::ALLOW_NEW_SOURCES,
                "ff3e::8000:1".parse().expect("a group"),
            )
            .with_sources(vec!["2001:db8::1".parse().expect("a source")]),
        ];
        let message = MldMessage::V2Report(records);
        let bytes = message.to_bytes(TEST_LINK_LOCAL);
        assert_eq!(bytes.len(), 8 + 20 + 36);
        assert_eq!(bytes[0], 143);
        assert_eq!(u16::from_be_bytes([bytes[6], bytes[7]]), 2);
        assert_eq!(&bytes[28..32], &[record::ALLOW_NEW_SOURCES, 0, 0, 1]);
        let frame = message.frame(TEST_LINK_LOCAL).to_bytes();
        assert_eq!(&frame[..6], &[0x33, 0x33, 0, 0, 0, 0x16]);
        let Ok(packet) = parse_packet(&frame[ETH_HLEN..]) else {
            panic!("an MLDv2 report packet");
        };
        let Mld::V2Report(report) = packet.message else {
            panic!("a v2 report");
        };
        assert_eq!(report.records().count(), 2);
    }

    #[test]
    fn wrong_frames_are_refused_for_their_reason() {
        let message = MldMessage::V1Report(group());
        let parse = |frame: Ipv6Frame| parse_packet(&frame.to_bytes()[ETH_HLEN..]).map(|_| ());
        assert_eq!(parse(message.frame(TEST_LINK_LOCAL)), Ok(()));
        assert_eq!(
            parse(message.frame_with_bad_checksum(TEST_LINK_LOCAL)),
            Err(Reason::BadChecksum)
        );
        assert_eq!(
            parse(message.frame_without_router_alert(TEST_LINK_LOCAL)),
            Err(Reason::Malformed)
        );
        assert_eq!(
            parse(message.frame_without_hop_by_hop(TEST_LINK_LOCAL)),
            Err(Reason::Malformed)
        );
        let truncated = message.truncated_frame(TEST_LINK_LOCAL, 20);
        assert_eq!(truncated.to_bytes().len(), 14 + 40 + 8 + 20);
        assert_eq!(parse(truncated), Err(Reason::Malformed));
        let declaring = MldMessage::V2ReportDeclaring {
            declared: 2,
            records: vec![AddressRecord::new(record::CHANGE_TO_EXCLUDE_MODE, group())],
        };
        assert_eq!(
            parse(declaring.frame(TEST_LINK_LOCAL)),
            Err(Reason::Malformed)
        );
    }

    #[test]
    fn queries_go_to_all_nodes_or_their_group() {
        let general = MldMessage::V2Query(Ipv6Addr::UNSPECIFIED);
        assert_eq!(
            general.destination(),
            "ff02::1".parse::<Ipv6Addr>().expect("ff02::1")
        );
        let bytes = general.to_bytes(TEST_LINK_LOCAL);
        assert_eq!(bytes.len(), 28);
        assert!(is_query(&bytes));
        assert_eq!(MldMessage::V1Query(group()).destination(), group());
        assert_eq!(
            MldMessage::V1Query(group()).to_bytes(TEST_LINK_LOCAL).len(),
            24
        );
        let frame = general.frame(TEST_LINK_LOCAL).to_bytes();
        assert_eq!(
            parse_packet(&frame[ETH_HLEN..]).map(|_| ()),
            Err(Reason::IgmpUnhandledType)
        );
    }
}
