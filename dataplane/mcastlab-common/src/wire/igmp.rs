//! IGMP messages (RFC 1112 appendix I, RFC 2236 section 2, RFC 3376 section 4): the 8-byte
//! header of every version, the IGMPv3 group record header, the checks the dataplane makes of
//! them, and a parser and emitter of whole messages for userspace.
//!
//! The eBPF side loads [`IgmpHeader`] and [`V3RecordHeader`] whole (it cannot hold a slice over
//! packet data) and decides through [`IgmpHeader::check`] and [`V3RecordHeader::check`];
//! [`parse`] makes the same decisions, in the same order, over a slice.

use core::fmt;

use crate::{
    MAX_IGMP_LEN, MAX_IGMPV3_RECORDS, Reason,
    igmp::{
        RecordEffect, V1_MEMBERSHIP_REPORT, V2_LEAVE_GROUP, V2_MEMBERSHIP_REPORT,
        V3_MEMBERSHIP_REPORT, is_multicast_octet, record_effect,
    },
    wire::{
        checksum,
        report::{self, Record, Report, ReportWriter},
    },
};

/// Byte ranges of the header's fields (RFC 2236 section 2, RFC 3376 section 4.2).
mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const MAX_RESP: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const GROUP: Range<usize> = 4..8;
    pub const V3_NUM_RECORDS: Range<usize> = 6..8;

    pub const RECORD_TYPE: usize = 0;
    pub const RECORD_AUX_LEN: usize = 1;
    pub const RECORD_NUM_SOURCES: Range<usize> = 2..4;
    pub const RECORD_GROUP: Range<usize> = 4..8;
}

/// Bytes of one source address, and the unit of the auxiliary data length (RFC 3376 section
/// 4.2.6, 4.2.10).
const WORD: u32 = 4;

/// What a message asks of the dataplane, as far as its header tells
/// ([`IgmpHeader::check`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgmpType {
    /// Version 1 Membership Report for [`IgmpHeader::group`]: a join (RFC 1112 appendix I).
    V1Report,
    /// Version 2 Membership Report for [`IgmpHeader::group`]: a join (RFC 2236 section 2.1).
    V2Report,
    /// Version 2 Leave Group for [`IgmpHeader::group`]: a leave (RFC 2236 section 2.1).
    V2Leave,
    /// Version 3 Membership Report of [`IgmpHeader::num_records`] records, at most the node's
    /// record limit (RFC 3376 section 4.2).
    V3Report,
}

/// The first 8 bytes of an IGMP message, as they sit on the wire: the whole of a v1/v2 message
/// (RFC 2236 section 2) and the header of a v3 report (RFC 3376 section 4.2).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IgmpHeader(pub [u8; IgmpHeader::LEN]);

const _: () = assert!(core::mem::size_of::<IgmpHeader>() == IgmpHeader::LEN);

impl IgmpHeader {
    /// Length of the header: a whole v1/v2 message, the shortest message of any version.
    pub const LEN: usize = 8;

    /// A v1/v2 message (or a v2-form query) of type `kind` for `group`, Max Resp Time and
    /// checksum zero; see [`fill_checksum`].
    pub const fn new(kind: u8, group: [u8; 4]) -> Self {
        let g = group;
        Self([kind, 0, 0, 0, g[0], g[1], g[2], g[3]])
    }

    /// The header of a v3 report declaring `num_records` records, checksum zero.
    pub const fn v3_report(num_records: u16) -> Self {
        let [n0, n1] = num_records.to_be_bytes();
        Self([V3_MEMBERSHIP_REPORT, 0, 0, 0, 0, 0, n0, n1])
    }

    /// Type (RFC 2236 section 2.1, RFC 3376 section 4).
    #[inline(always)]
    pub fn kind(&self) -> u8 {
        self.0[field::TYPE]
    }

    /// Max Resp Time of a v2 query (RFC 2236 section 2.2), Max Resp Code of a v3 query (RFC 3376
    /// section 4.1.1); zero in reports, "Reserved" in v3 reports (RFC 3376 section 4.2).
    #[inline(always)]
    pub fn max_resp_code(&self) -> u8 {
        self.0[field::MAX_RESP]
    }

    /// Checksum over the whole message (RFC 2236 section 2.3, RFC 3376 section 4.2.3).
    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        let b = &self.0[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Group Address of a v1/v2 message, as its four wire octets (RFC 2236 section 2.4).
    #[inline(always)]
    pub fn group(&self) -> [u8; 4] {
        let b = &self.0[field::GROUP];
        [b[0], b[1], b[2], b[3]]
    }

    /// The group as a map key (wire octets read as a native `u32`).
    #[inline(always)]
    pub fn group_key(&self) -> u32 {
        u32::from_ne_bytes(self.group())
    }

    /// Number of Group Records of a v3 report (RFC 3376 section 4.2.5).
    #[inline(always)]
    pub fn num_records(&self) -> u16 {
        let b = &self.0[field::V3_NUM_RECORDS];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// What the message asks, decided from the header as the dataplane decides it:
    /// - v1/v2 reports and leaves whose group is not multicast: `Malformed`;
    /// - v3 reports of more than `max_records` records (the node's record limit,
    ///   [`crate::NodeConfig::record_limit`]): `TooManyRecords`;
    /// - queries and unknown types: `IgmpUnhandledType` (a pod has no business querying).
    #[inline(always)]
    pub fn check(&self, max_records: u16) -> Result<IgmpType, Reason> {
        let kind = match self.kind() {
            V1_MEMBERSHIP_REPORT => IgmpType::V1Report,
            V2_MEMBERSHIP_REPORT => IgmpType::V2Report,
            V2_LEAVE_GROUP => IgmpType::V2Leave,
            V3_MEMBERSHIP_REPORT => {
                if self.num_records() > max_records {
                    return Err(Reason::TooManyRecords);
                }
                return Ok(IgmpType::V3Report);
            }
            _ => return Err(Reason::IgmpUnhandledType),
        };
        if !is_multicast_octet(self.0[field::GROUP.start]) {
            return Err(Reason::Malformed);
        }
        Ok(kind)
    }

    /// Sets the Type.
    pub fn set_kind(&mut self, kind: u8) {
        self.0[field::TYPE] = kind;
    }

    /// Sets the Max Resp Time (Code).
    pub fn set_max_resp_code(&mut self, code: u8) {
        self.0[field::MAX_RESP] = code;
    }

    /// Sets the Checksum.
    pub fn set_checksum(&mut self, checksum: u16) {
        self.0[field::CHECKSUM].copy_from_slice(&checksum.to_be_bytes());
    }

    /// Sets the Group Address of a v1/v2 message.
    pub fn set_group(&mut self, group: [u8; 4]) {
        self.0[field::GROUP].copy_from_slice(&group);
    }

    /// Sets the Number of Group Records of a v3 report.
    pub fn set_num_records(&mut self, num_records: u16) {
        self.0[field::V3_NUM_RECORDS].copy_from_slice(&num_records.to_be_bytes());
    }
}

/// The first 8 bytes of an IGMPv3 group record, before its sources and auxiliary data (RFC 3376
/// section 4.2.4), as they sit on the wire.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V3RecordHeader(pub [u8; V3RecordHeader::LEN]);

const _: () = assert!(core::mem::size_of::<V3RecordHeader>() == V3RecordHeader::LEN);

impl V3RecordHeader {
    /// Length of the record header.
    pub const LEN: usize = 8;

    /// A record header of `record_type` for `group` announcing `num_sources` sources and
    /// `aux_words` 32-bit words of auxiliary data.
    pub const fn new(record_type: u8, aux_words: u8, num_sources: u16, group: [u8; 4]) -> Self {
        let [n0, n1] = num_sources.to_be_bytes();
        let g = group;
        Self([record_type, aux_words, n0, n1, g[0], g[1], g[2], g[3]])
    }

    /// Record Type (RFC 3376 section 4.2.12): see [`crate::igmp::record`].
    #[inline(always)]
    pub fn record_type(&self) -> u8 {
        self.0[field::RECORD_TYPE]
    }

    /// Aux Data Len, in 32-bit words (RFC 3376 section 4.2.6).
    #[inline(always)]
    pub fn aux_words(&self) -> u8 {
        self.0[field::RECORD_AUX_LEN]
    }

    /// Number of Sources (RFC 3376 section 4.2.7).
    #[inline(always)]
    pub fn num_sources(&self) -> u16 {
        let b = &self.0[field::RECORD_NUM_SOURCES];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Multicast Address, as its four wire octets (RFC 3376 section 4.2.8).
    #[inline(always)]
    pub fn group(&self) -> [u8; 4] {
        let b = &self.0[field::RECORD_GROUP];
        [b[0], b[1], b[2], b[3]]
    }

    /// The group as a map key (wire octets read as a native `u32`).
    #[inline(always)]
    pub fn group_key(&self) -> u32 {
        u32::from_ne_bytes(self.group())
    }

    /// Length of the whole record: header, sources (RFC 3376 section 4.2.9) and auxiliary data
    /// (section 4.2.10).
    #[inline(always)]
    pub fn record_len(&self) -> u32 {
        Self::LEN as u32 + (u32::from(self.num_sources()) + u32::from(self.aux_words())) * WORD
    }

    /// Checks the record that starts at `offset` of a message ending at `end`: it must end
    /// within the message and name a multicast group; `Malformed` otherwise. Returns the
    /// offset of the next record.
    #[inline(always)]
    pub fn check(&self, offset: u32, end: u32) -> Result<u32, Reason> {
        let next = offset + self.record_len();
        if next > end || !is_multicast_octet(self.0[field::RECORD_GROUP.start]) {
            return Err(Reason::Malformed);
        }
        Ok(next)
    }

    /// What the record means for an any-source member ([`record_effect`]).
    #[inline(always)]
    pub fn effect(&self) -> RecordEffect {
        record_effect(self.record_type(), self.num_sources())
    }
}

/// Checks the length of an IGMP message as the dataplane does: at least the 8-byte header, at
/// most [`MAX_IGMP_LEN`] (the longest the dataplane verifies); `Malformed` otherwise.
#[inline(always)]
pub fn check_len(len: u32) -> Result<(), Reason> {
    if len < IgmpHeader::LEN as u32 || len > MAX_IGMP_LEN {
        return Err(Reason::Malformed);
    }
    Ok(())
}

/// Writes the checksum of `message` into its Checksum field (RFC 2236 section 2.3: "the 16-bit
/// one's complement of the one's complement sum of the whole IGMP message"). Messages shorter
/// than 4 bytes have no Checksum field and are left alone.
pub fn fill_checksum(message: &mut [u8]) {
    let Some(field) = message.get_mut(field::CHECKSUM) else {
        return;
    };
    field.copy_from_slice(&[0, 0]);
    let sum = checksum::checksum(message);
    message[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
}

/// A message the dataplane acts on, parsed by [`parse`] without copying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Igmp<'a> {
    /// Version 1 Membership Report (RFC 1112 appendix I) for a group.
    V1Report {
        /// The group, as its wire octets.
        group: [u8; 4],
    },
    /// Version 2 Membership Report (RFC 2236 section 2.1) for a group.
    V2Report {
        /// The group, as its wire octets.
        group: [u8; 4],
    },
    /// Version 2 Leave Group (RFC 2236 section 2.1) for a group.
    V2Leave {
        /// The group, as its wire octets.
        group: [u8; 4],
    },
    /// Version 3 Membership Report (RFC 3376 section 4.2).
    V3Report(V3Report<'a>),
}

/// The records of an IGMPv3 report, each checked ([`V3RecordHeader::check`]).
pub type V3Report<'a> = Report<'a, V3RecordHeader>;

/// Iterator over the group records of a parsed [`V3Report`].
pub type Records<'a> = report::Records<'a, V3RecordHeader>;

/// One IGMPv3 group record (RFC 3376 section 4.2.4) of a parsed report.
pub type GroupRecord<'a> = Record<'a, V3RecordHeader>;

report::impl_record_header!(V3RecordHeader, [u8; 4], WORD as usize, source_address);

/// A source address (RFC 3376 section 4.2.9) as its four wire octets, from the first four of
/// `bytes`.
fn source_address(bytes: &[u8]) -> [u8; 4] {
    [bytes[0], bytes[1], bytes[2], bytes[3]]
}

/// Parses a whole IGMP message as a node with the default record limit
/// ([`MAX_IGMPV3_RECORDS`]) does: [`parse_with_record_limit`].
pub fn parse(bytes: &[u8]) -> Result<Igmp<'_>, Reason> {
    parse_with_record_limit(bytes, MAX_IGMPV3_RECORDS)
}

/// Parses a whole IGMP message as the dataplane of a node whose record limit is `max_records`
/// does, returning the reason it would count when it does not act on it: `Malformed` (length
/// outside 8..=[`MAX_IGMP_LEN`], a v1/v2 group or a v3 record group that is not multicast, a
/// record cut short), `BadChecksum`, `TooManyRecords` (more than `max_records`),
/// `IgmpUnhandledType` (queries, unknown types). Bytes after the last v3 record, or after the 8
/// bytes of a v1/v2 message, are covered by the checksum and otherwise ignored.
pub fn parse_with_record_limit(bytes: &[u8], max_records: u16) -> Result<Igmp<'_>, Reason> {
    let len = u32::try_from(bytes.len()).map_err(|_| Reason::Malformed)?;
    check_len(len)?;
    if !checksum::verifies(bytes) {
        return Err(Reason::BadChecksum);
    }
    let Some(header) = bytes.first_chunk::<{ IgmpHeader::LEN }>() else {
        return Err(Reason::Malformed);
    };
    let header = IgmpHeader(*header);
    let group = header.group();
    match header.check(max_records)? {
        IgmpType::V1Report => Ok(Igmp::V1Report { group }),
        IgmpType::V2Report => Ok(Igmp::V2Report { group }),
        IgmpType::V2Leave => Ok(Igmp::V2Leave { group }),
        IgmpType::V3Report => Ok(Igmp::V3Report(V3Report::parse(
            bytes,
            header.num_records(),
            len,
        )?)),
    }
}

/// Why a message (IGMP here, MLD in [`crate::wire::mld`]) could not be emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmitError {
    /// The buffer is shorter than the message.
    BufferTooShort {
        /// Bytes the message needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A record's sources or auxiliary data do not fit their length fields (65535 sources,
    /// 255 words of auxiliary data), or the auxiliary data is not whole 32-bit words.
    FieldOverflow,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooShort { needed, available } => write!(
                f,
                "a message of {needed} bytes does not fit a buffer of {available}"
            ),
            Self::FieldOverflow => write!(
                f,
                "a group record's sources or auxiliary data overflow their length fields"
            ),
        }
    }
}

impl core::error::Error for EmitError {}

/// Writes `bytes` at `at` of `buf`, or says how long `buf` would have to be.
pub(crate) fn put(buf: &mut [u8], at: usize, bytes: &[u8]) -> Result<usize, EmitError> {
    let end = at + bytes.len();
    let Some(target) = buf.get_mut(at..end) else {
        return Err(EmitError::BufferTooShort {
            needed: end,
            available: buf.len(),
        });
    };
    target.copy_from_slice(bytes);
    Ok(end)
}

impl Igmp<'_> {
    /// Length of the message [`Igmp::emit`] writes.
    pub fn len(&self) -> usize {
        match self {
            Self::V1Report { .. } | Self::V2Report { .. } | Self::V2Leave { .. } => IgmpHeader::LEN,
            Self::V3Report(report) => report.len(),
        }
    }

    /// Whether the message is empty: never, every message has its 8-byte header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the message, with its checksum, at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let len = match self {
            Self::V1Report { group } => {
                put(buf, 0, &IgmpHeader::new(V1_MEMBERSHIP_REPORT, *group).0)?
            }
            Self::V2Report { group } => {
                put(buf, 0, &IgmpHeader::new(V2_MEMBERSHIP_REPORT, *group).0)?
            }
            Self::V2Leave { group } => put(buf, 0, &IgmpHeader::new(V2_LEAVE_GROUP, *group).0)?,
            Self::V3Report(report) => {
                let mut writer = V3ReportWriter::new(buf)?;
                for record in report.records() {
                    writer.0.push_parsed(&record)?;
                }
                return Ok(writer.finish());
            }
        };
        fill_checksum(&mut buf[..len]);
        Ok(len)
    }
}

/// Builds an IGMPv3 report (RFC 3376 section 4.2) record by record in a caller's buffer.
#[derive(Debug)]
pub struct V3ReportWriter<'a>(ReportWriter<'a, V3RecordHeader>);

impl<'a> V3ReportWriter<'a> {
    /// Starts a report at the start of `buf` by writing its header.
    pub fn new(buf: &'a mut [u8]) -> Result<Self, EmitError> {
        ReportWriter::new(buf, &IgmpHeader::v3_report(0).0).map(Self)
    }

    /// Appends a record of `record_type` for `group` with `sources` and `aux_data` (whole 32-bit
    /// words).
    pub fn push_record(
        &mut self,
        record_type: u8,
        group: [u8; 4],
        sources: &[[u8; 4]],
        aux_data: &[u8],
    ) -> Result<(), EmitError> {
        self.0.push_record(record_type, group, sources, aux_data)
    }

    /// Writes the record count and the checksum; returns the report's length.
    pub fn finish(self) -> usize {
        let num_records = self.0.num_records();
        self.finish_declaring(num_records)
    }

    /// Like [`V3ReportWriter::finish`], but with `declared` as the Number of Group Records
    /// whatever was written: a report that lies about its records.
    pub fn finish_declaring(self, declared: u16) -> usize {
        let message = self.0.declare(declared);
        fill_checksum(message);
        message.len()
    }
}

#[cfg(test)]
mod tests {
    //! Messages written out by hand from the RFC layouts, checksums included (each checksum is
    //! the complement of the folded sum of the message's 16-bit words).

    use super::{EmitError, Igmp, IgmpHeader, IgmpType, V3RecordHeader, V3ReportWriter, parse};
    use crate::{
        Reason,
        igmp::{RecordEffect, record},
    };

    /// RFC 1112 appendix I: version 1, type 2 (0x12), unused, checksum, group 239.1.1.1.
    const V1_REPORT: [u8; 8] = [0x12, 0x00, 0xfd, 0xfc, 239, 1, 1, 1];
    /// RFC 2236 section 2: type 0x16, max resp time 0, checksum, group 239.1.1.1.
    const V2_REPORT: [u8; 8] = [0x16, 0x00, 0xf9, 0xfc, 239, 1, 1, 1];
    /// RFC 2236 section 2: type 0x17, max resp time 0, checksum, group 239.1.1.1.
    const V2_LEAVE: [u8; 8] = [0x17, 0x00, 0xf8, 0xfc, 239, 1, 1, 1];
    /// RFC 2236 section 2: a group-specific query, max resp time 10 s (100).
    const V2_QUERY: [u8; 8] = [0x11, 100, 0xfe, 0x98, 239, 1, 1, 1];
    /// RFC 3376 section 4.2: two records, CHANGE_TO_EXCLUDE_MODE for 239.0.0.1 without sources,
    /// and MODE_IS_INCLUDE for 239.0.0.2 with source 10.0.0.1 and one word of aux data.
    const V3_REPORT: [u8; 32] = [
        0x22, 0x00, 0x53, 0x58, // type, reserved, checksum
        0x00, 0x00, 0x00, 0x02, // reserved, number of group records
        0x04, 0x00, 0x00, 0x00, // record type 4, aux data len 0, number of sources 0
        239, 0, 0, 1, // multicast address
        0x01, 0x01, 0x00, 0x01, // record type 1, aux data len 1, number of sources 1
        239, 0, 0, 2, // multicast address
        10, 0, 0, 1, // source address
        0xde, 0xad, 0xbe, 0xef, // auxiliary data
    ];

    fn emitted(message: &Igmp<'_>) -> ([u8; 64], usize) {
        let mut buf = [0u8; 64];
        let len = message.emit(&mut buf).expect("fits");
        (buf, len)
    }

    #[test]
    fn v1_report() {
        let message = parse(&V1_REPORT).expect("parses");
        assert_eq!(
            message,
            Igmp::V1Report {
                group: [239, 1, 1, 1]
            }
        );
        let (buf, len) = emitted(&message);
        assert_eq!(&buf[..len], &V1_REPORT);
    }

    #[test]
    fn v2_report() {
        let header = IgmpHeader(V2_REPORT);
        assert_eq!(header.kind(), 0x16);
        assert_eq!(header.checksum(), 0xf9fc);
        assert_eq!(header.group_key().to_ne_bytes(), [239, 1, 1, 1]);
        assert_eq!(header.check(24), Ok(IgmpType::V2Report));
        let message = parse(&V2_REPORT).expect("parses");
        assert_eq!(
            message,
            Igmp::V2Report {
                group: [239, 1, 1, 1]
            }
        );
        let (buf, len) = emitted(&message);
        assert_eq!(&buf[..len], &V2_REPORT);
    }

    #[test]
    fn v2_leave() {
        let message = parse(&V2_LEAVE).expect("parses");
        assert_eq!(
            message,
            Igmp::V2Leave {
                group: [239, 1, 1, 1]
            }
        );
        let (buf, len) = emitted(&message);
        assert_eq!(&buf[..len], &V2_LEAVE);
    }

    #[test]
    fn v2_query_is_not_the_dataplanes() {
        let header = IgmpHeader(V2_QUERY);
        assert_eq!(header.max_resp_code(), 100);
        assert_eq!(parse(&V2_QUERY), Err(Reason::IgmpUnhandledType));
    }

    #[test]
    fn v3_report_with_records_sources_and_aux_data() {
        let Ok(Igmp::V3Report(report)) = parse(&V3_REPORT) else {
            panic!("a v3 report");
        };
        assert_eq!(report.num_records(), 2);
        assert_eq!(report.len(), 32);
        let records: [_; 2] = core::array::from_fn(|i| report.records().nth(i).expect("record"));
        assert_eq!(records[0].record_type(), record::CHANGE_TO_EXCLUDE_MODE);
        assert_eq!(records[0].group(), [239, 0, 0, 1]);
        assert_eq!(records[0].sources().len(), 0);
        assert_eq!(records[0].effect(), RecordEffect::Join);
        assert_eq!(records[1].record_type(), record::MODE_IS_INCLUDE);
        assert_eq!(records[1].header().aux_words(), 1);
        assert_eq!(records[1].header().num_sources(), 1);
        assert_eq!(records[1].header().record_len(), 16);
        assert_eq!(records[1].sources().next(), Some([10, 0, 0, 1]));
        assert_eq!(records[1].aux_data(), &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(records[1].effect(), RecordEffect::Join);
        assert_eq!(report.records().count(), 2);

        let (buf, len) = emitted(&Igmp::V3Report(report));
        assert_eq!(&buf[..len], &V3_REPORT);
        let mut buf = [0u8; 32];
        let mut writer = V3ReportWriter::new(&mut buf).expect("fits");
        writer
            .push_record(record::CHANGE_TO_EXCLUDE_MODE, [239, 0, 0, 1], &[], &[])
            .expect("fits");
        writer
            .push_record(
                record::MODE_IS_INCLUDE,
                [239, 0, 0, 2],
                &[[10, 0, 0, 1]],
                &[0xde, 0xad, 0xbe, 0xef],
            )
            .expect("fits");
        assert_eq!(writer.finish(), 32);
        assert_eq!(buf, V3_REPORT);
    }

    #[test]
    fn trailing_bytes_are_checksummed_and_ignored() {
        // V2_REPORT followed by a zero word: the sum does not change.
        let mut bytes = [0u8; 12];
        bytes[..8].copy_from_slice(&V2_REPORT);
        assert_eq!(
            parse(&bytes),
            Ok(Igmp::V2Report {
                group: [239, 1, 1, 1]
            })
        );
    }

    #[test]
    fn shorter_than_a_header_is_malformed() {
        assert_eq!(parse(&V2_REPORT[..7]), Err(Reason::Malformed));
        assert_eq!(parse(&[]), Err(Reason::Malformed));
    }

    #[test]
    fn longer_than_the_dataplane_verifies_is_malformed() {
        // V2_REPORT followed by zeros to 1481 bytes: the checksum still verifies.
        let mut bytes = [0u8; 1481];
        bytes[..8].copy_from_slice(&V2_REPORT);
        assert_eq!(parse(&bytes), Err(Reason::Malformed));
        assert!(parse(&bytes[..1480]).is_ok());
    }

    #[test]
    fn a_flipped_bit_is_a_bad_checksum() {
        let mut bytes = V2_REPORT;
        bytes[7] ^= 0x10;
        assert_eq!(parse(&bytes), Err(Reason::BadChecksum));
    }

    #[test]
    fn a_unicast_group_is_malformed() {
        // An IGMPv2 report for 10.1.2.3.
        assert_eq!(
            parse(&[0x16, 0x00, 0xdd, 0xfb, 10, 1, 2, 3]),
            Err(Reason::Malformed)
        );
    }

    #[test]
    fn more_than_24_records_is_too_many() {
        // A v3 report declaring 25 records (and holding none).
        assert_eq!(
            parse(&[0x22, 0x00, 0xdd, 0xe6, 0, 0, 0, 25]),
            Err(Reason::TooManyRecords)
        );
    }

    #[test]
    fn the_record_limit_is_the_callers() {
        // Headers declaring 40 and 41 records, checked against a limit of 40.
        assert_eq!(IgmpHeader::v3_report(40).check(40), Ok(IgmpType::V3Report));
        assert_eq!(
            IgmpHeader::v3_report(41).check(40),
            Err(Reason::TooManyRecords)
        );
        assert_eq!(
            IgmpHeader::v3_report(25).check(24),
            Err(Reason::TooManyRecords)
        );
        // A report of 40 CHANGE_TO_EXCLUDE_MODE records for 239.0.0.1..=40: refused by the
        // default limit, parsed whole under a limit of 40.
        let mut buf = [0u8; 8 + 40 * 8];
        let mut writer = V3ReportWriter::new(&mut buf).expect("fits");
        for i in 1..=40 {
            writer
                .push_record(record::CHANGE_TO_EXCLUDE_MODE, [239, 0, 0, i], &[], &[])
                .expect("fits");
        }
        let len = writer.finish();
        assert_eq!(len, 328);
        assert_eq!(parse(&buf), Err(Reason::TooManyRecords));
        let Ok(Igmp::V3Report(report)) = super::parse_with_record_limit(&buf, 40) else {
            panic!("a v3 report of 40 records");
        };
        assert_eq!(report.records().count(), 40);
    }

    #[test]
    fn a_record_cut_short_is_malformed() {
        // One CHANGE_TO_EXCLUDE_MODE record announcing a source of which two bytes are present.
        let bytes = [
            0x22, 0x00, 0xe0, 0xfb, 0, 0, 0, 1, 0x04, 0x00, 0x00, 0x01, 239, 0, 0, 1, 10, 0,
        ];
        assert_eq!(parse(&bytes), Err(Reason::Malformed));
        let header = V3RecordHeader([0x04, 0x00, 0x00, 0x01, 239, 0, 0, 1]);
        assert_eq!(header.check(8, 18), Err(Reason::Malformed));
        assert_eq!(header.check(8, 20), Ok(20));
    }

    #[test]
    fn a_record_for_a_unicast_group_is_malformed() {
        let bytes = [
            0x22, 0x00, 0xcf, 0xfd, 0, 0, 0, 1, 0x04, 0x00, 0x00, 0x00, 10, 0, 0, 1,
        ];
        assert_eq!(parse(&bytes), Err(Reason::Malformed));
    }

    #[test]
    fn an_unknown_type_is_unhandled() {
        assert_eq!(
            IgmpHeader::new(0x99, [239, 1, 1, 1]).check(24),
            Err(Reason::IgmpUnhandledType)
        );
    }

    #[test]
    fn emitting_into_a_short_buffer_fails() {
        let message = Igmp::V2Report {
            group: [239, 1, 1, 1],
        };
        assert_eq!(
            message.emit(&mut [0u8; 7]),
            Err(EmitError::BufferTooShort {
                needed: 8,
                available: 7
            })
        );
        let mut buf = [0u8; 16];
        let mut writer = V3ReportWriter::new(&mut buf).expect("fits");
        assert_eq!(
            writer.push_record(1, [239, 0, 0, 1], &[], &[1, 2, 3]),
            Err(EmitError::FieldOverflow)
        );
    }
}
