//! MLD messages (ICMPv6, RFC 4443): MLDv1 (RFC 2710 section 3) and MLDv2 (RFC 3810 sections
//! 5.1 and 5.2). The 8-byte header every MLD message starts with, the whole MLDv1 message, the
//! MLDv2 multicast address record header, the checks the dataplane makes of them, a parser and
//! emitter of whole messages for userspace, and the MLDv2 query the agent sends.
//!
//! The eBPF side loads [`MldHeader`], [`V1Message`] and [`V2RecordHeader`] whole (it cannot hold
//! a slice over packet data) and decides through [`MldHeader::check`], [`V1Message::check`] and
//! [`V2RecordHeader::check`]; its checksum loop starts from
//! [`checksum::add_ipv6_pseudo_header`]. [`parse`] makes the same decisions, in the same order,
//! over a slice; [`parse_packet`] adds the IPv6 and Hop-by-Hop checks ([`super::ipv6`]).
//!
//! MLDv2 record types are IGMPv3's, with the same values and meaning (RFC 3810 section 5.2.12,
//! RFC 3376 section 4.2.12): [`crate::igmp::record`], and their any-source effect is
//! [`crate::igmp::record_effect`]. Reasons are IGMP's: an MLD query or unknown type is
//! `IgmpUnhandledType`, a report of too many records `TooManyRecords`.

use crate::{
    MAX_IGMPV3_RECORDS, MAX_MLD_LEN, Reason,
    igmp::{RecordEffect, record_effect},
    wire::{
        checksum,
        igmp::{EmitError, put},
        ipv6::{self, HopByHopHeader, Ipv6Header, NEXT_HEADER_HOP_BY_HOP, NEXT_HEADER_ICMPV6},
        query::encode_code,
        report::{self, Record, Report, ReportWriter},
    },
};

/// Multicast Listener Query, MLDv1 and MLDv2 (RFC 2710 section 3, RFC 3810 section 5.1).
pub const MLD_QUERY: u8 = 130;
/// Version 1 Multicast Listener Report (RFC 2710 section 3).
pub const MLDV1_REPORT: u8 = 131;
/// Version 1 Multicast Listener Done (RFC 2710 section 3).
pub const MLDV1_DONE: u8 = 132;
/// Version 2 Multicast Listener Report (RFC 3810 section 5.2).
pub const MLDV2_REPORT: u8 = 143;

/// ff02::1, the link-scope all-nodes address: destination of General Queries (RFC 3810
/// section 5.1.15).
pub const ALL_NODES: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01];
/// ff02::2, the link-scope all-routers address: destination of MLDv1 Done (RFC 2710 section 4).
pub const ALL_ROUTERS: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02];
/// ff02::16, all MLDv2-capable routers: destination of MLDv2 reports (RFC 3810 section
/// 5.2.14).
pub const ALL_MLDV2_ROUTERS: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16];

/// Byte ranges of the fields (RFC 2710 section 3, RFC 3810 sections 5.1 and 5.2).
mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const MAX_RESP: Range<usize> = 4..6;
    pub const V2_NUM_RECORDS: Range<usize> = 6..8;
    pub const GROUP: Range<usize> = 8..24;
    pub const QUERY_S_QRV: usize = 24;
    pub const QUERY_QQIC: usize = 25;
    pub const QUERY_NUM_SOURCES: Range<usize> = 26..28;

    pub const RECORD_TYPE: usize = 0;
    pub const RECORD_AUX_LEN: usize = 1;
    pub const RECORD_NUM_SOURCES: Range<usize> = 2..4;
    pub const RECORD_GROUP: Range<usize> = 4..20;
}

/// Bytes of one source address (RFC 3810 section 5.2.9).
const SOURCE_LEN: u32 = 16;
/// The unit of the auxiliary data length: 32-bit words (RFC 3810 section 5.2.6).
const WORD: u32 = 4;

/// The group of a message or record as its sixteen wire octets, copied out of `bytes`.
#[inline(always)]
fn address(bytes: &[u8]) -> [u8; 16] {
    let mut address = [0; 16];
    address.copy_from_slice(bytes);
    address
}

/// Whether an ICMPv6 type is one of MLD's: query, MLDv1 report and done, MLDv2 report. The
/// dataplane consumes every such message from a pod, as it does IGMP; other ICMPv6 (neighbor
/// discovery) passes.
#[inline(always)]
pub const fn is_mld_type(kind: u8) -> bool {
    matches!(kind, MLD_QUERY | MLDV1_REPORT | MLDV1_DONE | MLDV2_REPORT)
}

/// What a message asks of the dataplane, as far as its header tells ([`MldHeader::check`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MldType {
    /// Version 1 Report for [`V1Message::group`]: a join (RFC 2710 section 3).
    V1Report,
    /// Version 1 Done for [`V1Message::group`]: a leave (RFC 2710 section 3).
    V1Done,
    /// Version 2 Report of [`MldHeader::num_records`] records, at most the node's record limit
    /// (RFC 3810 section 5.2).
    V2Report,
}

/// The first 8 bytes of an MLD message, as they sit on the wire: Type, Code, Checksum, and
/// the Maximum Response Delay (v1, RFC 2710 section 3.4) or Code (v2 query, RFC 3810 section
/// 5.1.3) and Reserved, or Reserved and the Nr of Mcast Address Records (v2 report, RFC 3810
/// section 5.2.3).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MldHeader(pub [u8; MldHeader::LEN]);

const _: () = assert!(core::mem::size_of::<MldHeader>() == MldHeader::LEN);

impl MldHeader {
    /// Length of the header: the whole header of an MLDv2 report.
    pub const LEN: usize = 8;

    /// The header of an MLDv2 report declaring `num_records` records, checksum zero.
    pub const fn v2_report(num_records: u16) -> Self {
        let [n0, n1] = num_records.to_be_bytes();
        Self([MLDV2_REPORT, 0, 0, 0, 0, 0, n0, n1])
    }

    /// Type (RFC 2710 section 3, RFC 3810 section 5).
    #[inline(always)]
    pub fn kind(&self) -> u8 {
        self.0[field::TYPE]
    }

    /// Code: zero from senders, ignored by receivers (RFC 2710 section 3, RFC 3810 section
    /// 5.1.1).
    #[inline(always)]
    pub fn code(&self) -> u8 {
        self.0[field::CODE]
    }

    /// Checksum over the IPv6 pseudo-header and the whole message (RFC 4443 section 2.3).
    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        let b = &self.0[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Maximum Response Delay in milliseconds of a v1 query (RFC 2710 section 3.4), Maximum
    /// Response Code of a v2 query (RFC 3810 section 5.1.3, [`decode_max_resp_code`]); zero in
    /// v1 reports and Done, Reserved in v2 reports.
    #[inline(always)]
    pub fn max_resp_code(&self) -> u16 {
        let b = &self.0[field::MAX_RESP];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Nr of Mcast Address Records of a v2 report (RFC 3810 section 5.2.3).
    #[inline(always)]
    pub fn num_records(&self) -> u16 {
        let b = &self.0[field::V2_NUM_RECORDS];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// What the message of `len` bytes (already [`check_len`]ed) asks, decided from the header
    /// as the dataplane decides it:
    /// - v1 reports and Done shorter than [`V1Message::LEN`]: `Malformed` (their group is
    ///   checked by [`V1Message::check`]);
    /// - v2 reports of more than `max_records` records (the node's record limit,
    ///   [`crate::NodeConfig::record_limit`]): `TooManyRecords`;
    /// - queries and other types: `IgmpUnhandledType` (a pod has no business querying).
    #[inline(always)]
    pub fn check(&self, len: u32, max_records: u16) -> Result<MldType, Reason> {
        let kind = match self.kind() {
            MLDV1_REPORT => MldType::V1Report,
            MLDV1_DONE => MldType::V1Done,
            MLDV2_REPORT => {
                if self.num_records() > max_records {
                    return Err(Reason::TooManyRecords);
                }
                return Ok(MldType::V2Report);
            }
            _ => return Err(Reason::IgmpUnhandledType),
        };
        if len < V1Message::LEN as u32 {
            return Err(Reason::Malformed);
        }
        Ok(kind)
    }

    /// Sets the Type.
    pub fn set_kind(&mut self, kind: u8) {
        self.0[field::TYPE] = kind;
    }

    /// Sets the Checksum.
    pub fn set_checksum(&mut self, checksum: u16) {
        self.0[field::CHECKSUM].copy_from_slice(&checksum.to_be_bytes());
    }

    /// Sets the Nr of Mcast Address Records of a v2 report.
    pub fn set_num_records(&mut self, num_records: u16) {
        self.0[field::V2_NUM_RECORDS].copy_from_slice(&num_records.to_be_bytes());
    }
}

/// A whole MLDv1 message (RFC 2710 section 3), as it sits on the wire: a report, a Done or an
/// MLDv1 query. Also the first 24 bytes of an MLDv2 query, which have the same layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V1Message(pub [u8; V1Message::LEN]);

const _: () = assert!(core::mem::size_of::<V1Message>() == V1Message::LEN);

impl V1Message {
    /// Length of an MLDv1 message.
    pub const LEN: usize = 24;

    /// A message of type `kind` for `group`, Maximum Response Delay and checksum zero; see
    /// [`fill_checksum`].
    pub const fn new(kind: u8, group: [u8; 16]) -> Self {
        let g = group;
        Self([
            kind, 0, 0, 0, 0, 0, 0, 0, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9],
            g[10], g[11], g[12], g[13], g[14], g[15],
        ])
    }

    /// An MLDv1 query for `group` (:: for a General Query) asking for answers within
    /// `max_response_ms` milliseconds (RFC 2710 section 3.4), checksum zero.
    pub const fn query(group: [u8; 16], max_response_ms: u16) -> Self {
        let mut message = Self::new(MLD_QUERY, group);
        let [d0, d1] = max_response_ms.to_be_bytes();
        message.0[field::MAX_RESP.start] = d0;
        message.0[field::MAX_RESP.start + 1] = d1;
        message
    }

    /// The first 8 bytes.
    #[inline(always)]
    pub fn header(&self) -> MldHeader {
        let b = &self.0;
        MldHeader([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// Type (RFC 2710 section 3).
    #[inline(always)]
    pub fn kind(&self) -> u8 {
        self.0[field::TYPE]
    }

    /// Maximum Response Delay, in milliseconds (RFC 2710 section 3.4).
    #[inline(always)]
    pub fn max_response_delay(&self) -> u16 {
        self.header().max_resp_code()
    }

    /// Multicast Address, as its sixteen wire octets (RFC 2710 section 3.6): the group a
    /// report or Done is about; :: in a General Query.
    #[inline(always)]
    pub fn group(&self) -> [u8; 16] {
        address(&self.0[field::GROUP])
    }

    /// The group as a map key ([`ipv6::addr_key`]).
    #[inline(always)]
    pub fn group_key(&self) -> ipv6::Ipv6Key {
        ipv6::addr_key(self.group())
    }

    /// Checks the group of a report or Done: multicast (ff00::/8); `Malformed` otherwise.
    /// Link-scope groups pass ([`ipv6::is_link_scope_group`] is the membership decision's).
    #[inline(always)]
    pub fn check(&self) -> Result<(), Reason> {
        if !ipv6::is_multicast(self.group()) {
            return Err(Reason::Malformed);
        }
        Ok(())
    }
}

/// The first 20 bytes of an MLDv2 multicast address record, before its sources and auxiliary
/// data (RFC 3810 section 5.2.4), as they sit on the wire.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V2RecordHeader(pub [u8; V2RecordHeader::LEN]);

const _: () = assert!(core::mem::size_of::<V2RecordHeader>() == V2RecordHeader::LEN);

impl V2RecordHeader {
    /// Length of the record header.
    pub const LEN: usize = 20;

    /// A record header of `record_type` for `group` announcing `num_sources` sources and
    /// `aux_words` 32-bit words of auxiliary data.
    pub const fn new(record_type: u8, aux_words: u8, num_sources: u16, group: [u8; 16]) -> Self {
        let [n0, n1] = num_sources.to_be_bytes();
        let g = group;
        Self([
            record_type,
            aux_words,
            n0,
            n1,
            g[0],
            g[1],
            g[2],
            g[3],
            g[4],
            g[5],
            g[6],
            g[7],
            g[8],
            g[9],
            g[10],
            g[11],
            g[12],
            g[13],
            g[14],
            g[15],
        ])
    }

    /// Record Type (RFC 3810 section 5.2.5): see [`crate::igmp::record`].
    #[inline(always)]
    pub fn record_type(&self) -> u8 {
        self.0[field::RECORD_TYPE]
    }

    /// Aux Data Len, in 32-bit words (RFC 3810 section 5.2.6).
    #[inline(always)]
    pub fn aux_words(&self) -> u8 {
        self.0[field::RECORD_AUX_LEN]
    }

    /// Number of Sources (RFC 3810 section 5.2.7).
    #[inline(always)]
    pub fn num_sources(&self) -> u16 {
        let b = &self.0[field::RECORD_NUM_SOURCES];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Multicast Address, as its sixteen wire octets (RFC 3810 section 5.2.8).
    #[inline(always)]
    pub fn group(&self) -> [u8; 16] {
        address(&self.0[field::RECORD_GROUP])
    }

    /// The group as a map key ([`ipv6::addr_key`]).
    #[inline(always)]
    pub fn group_key(&self) -> ipv6::Ipv6Key {
        ipv6::addr_key(self.group())
    }

    /// Length of the whole record: header, sources (RFC 3810 section 5.2.9) and auxiliary data
    /// (section 5.2.10).
    #[inline(always)]
    pub fn record_len(&self) -> u32 {
        Self::LEN as u32
            + u32::from(self.num_sources()) * SOURCE_LEN
            + u32::from(self.aux_words()) * WORD
    }

    /// Checks the record that starts at `offset` of a message ending at `end`: it must end
    /// within the message and name a multicast group; `Malformed` otherwise. Returns the
    /// offset of the next record.
    #[inline(always)]
    pub fn check(&self, offset: u32, end: u32) -> Result<u32, Reason> {
        let next = offset + self.record_len();
        if next > end || self.0[field::RECORD_GROUP.start] != 0xff {
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

/// Checks the length of an MLD message as the dataplane does: at least the 8-byte header, at
/// most [`MAX_MLD_LEN`] (the longest the dataplane verifies); `Malformed` otherwise.
#[inline(always)]
pub fn check_len(len: u32) -> Result<(), Reason> {
    if len < MldHeader::LEN as u32 || len > MAX_MLD_LEN {
        return Err(Reason::Malformed);
    }
    Ok(())
}

/// Writes the checksum of `message`, sent from `source` to `destination`, into its Checksum
/// field (RFC 4443 section 2.3: over the IPv6 pseudo-header of RFC 8200 section 8.1 and the
/// whole message). Messages shorter than 4 bytes have no Checksum field and are left alone.
pub fn fill_checksum(source: [u8; 16], destination: [u8; 16], message: &mut [u8]) {
    let Some(field) = message.get_mut(field::CHECKSUM) else {
        return;
    };
    field.copy_from_slice(&[0, 0]);
    let sum = checksum::checksum_ipv6(source, destination, NEXT_HEADER_ICMPV6, message);
    message[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
}

/// A message the dataplane acts on, parsed by [`parse`] without copying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mld<'a> {
    /// Version 1 Multicast Listener Report (RFC 2710 section 3) for a group.
    V1Report {
        /// The group, as its wire octets.
        group: [u8; 16],
    },
    /// Version 1 Multicast Listener Done (RFC 2710 section 3) for a group.
    V1Done {
        /// The group, as its wire octets.
        group: [u8; 16],
    },
    /// Version 2 Multicast Listener Report (RFC 3810 section 5.2).
    V2Report(V2Report<'a>),
}

/// The records of an MLDv2 report, each checked ([`V2RecordHeader::check`]).
pub type V2Report<'a> = Report<'a, V2RecordHeader>;

/// Iterator over the multicast address records of a parsed [`V2Report`].
pub type Records<'a> = report::Records<'a, V2RecordHeader>;

/// One MLDv2 multicast address record (RFC 3810 section 5.2.4) of a parsed report.
pub type AddressRecord<'a> = Record<'a, V2RecordHeader>;

report::impl_record_header!(V2RecordHeader, [u8; 16], SOURCE_LEN as usize, address);

/// Parses a whole MLD message sent from `source` to `destination` as a node with the default
/// record limit ([`MAX_IGMPV3_RECORDS`], the node's limit for IGMPv3 and MLDv2 alike) does:
/// [`parse_with_record_limit`].
pub fn parse(source: [u8; 16], destination: [u8; 16], bytes: &[u8]) -> Result<Mld<'_>, Reason> {
    parse_with_record_limit(source, destination, bytes, MAX_IGMPV3_RECORDS)
}

/// Parses a whole MLD message (the ICMPv6 message, from its Type) sent from `source` to
/// `destination`, as the dataplane of a node whose record limit is `max_records` does,
/// returning the reason it would count when it does not act on it: `Malformed` (length outside
/// 8..=[`MAX_MLD_LEN`], a v1 message shorter than 24 bytes, a v1 group or a v2 record group
/// that is not multicast, a record cut short), `BadChecksum` (over the pseudo-header and
/// `bytes`), `TooManyRecords` (more than `max_records`), `IgmpUnhandledType` (queries, unknown
/// types). Bytes after the last v2 record, or after the 24 bytes of a v1 message, are covered
/// by the checksum and otherwise ignored. The IPv6 and Hop-by-Hop headers are
/// [`parse_packet`]'s.
pub fn parse_with_record_limit(
    source: [u8; 16],
    destination: [u8; 16],
    bytes: &[u8],
    max_records: u16,
) -> Result<Mld<'_>, Reason> {
    let len = u32::try_from(bytes.len()).map_err(|_| Reason::Malformed)?;
    check_len(len)?;
    if !checksum::verifies_ipv6(source, destination, NEXT_HEADER_ICMPV6, bytes) {
        return Err(Reason::BadChecksum);
    }
    let Some(header) = bytes.first_chunk::<{ MldHeader::LEN }>() else {
        return Err(Reason::Malformed);
    };
    let header = MldHeader(*header);
    let kind = header.check(len, max_records)?;
    if kind == MldType::V2Report {
        return Ok(Mld::V2Report(V2Report::parse(
            bytes,
            header.num_records(),
            len,
        )?));
    }
    let Some(message) = bytes.first_chunk::<{ V1Message::LEN }>() else {
        return Err(Reason::Malformed);
    };
    let message = V1Message(*message);
    message.check()?;
    let group = message.group();
    Ok(match kind {
        MldType::V1Report => Mld::V1Report { group },
        _ => Mld::V1Done { group },
    })
}

/// An MLD message with the IPv6 header it came in, parsed by [`parse_packet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MldPacket<'a> {
    /// The IPv6 header.
    pub ipv6: Ipv6Header,
    /// The message.
    pub message: Mld<'a>,
}

/// Parses an IPv6 packet (from its IPv6 header to its end) carrying an MLD message, as the
/// dataplane checks one, in its order: the IPv6 header ([`Ipv6Header::check`]); a Hop-by-Hop
/// header next ([`NEXT_HEADER_HOP_BY_HOP`]) holding the Router Alert for MLD
/// ([`HopByHopHeader::check_mld`]) and followed by ICMPv6; the lengths
/// ([`Ipv6Header::mld_len`]); then the message ([`parse_with_record_limit`] with the default
/// limit). A packet that is not IPv6 + Hop-by-Hop + ICMPv6 is `Malformed` here (the dataplane
/// passes such packets on as traffic before it gets this far); bytes after the Payload Length
/// are ignored. Hop Limit and source address (RFC 3810 section 5: 1 and link-local) are not
/// checked.
pub fn parse_packet(packet: &[u8]) -> Result<MldPacket<'_>, Reason> {
    let ipv6 = Ipv6Header::parse(packet)?;
    if ipv6.next_header() != NEXT_HEADER_HOP_BY_HOP {
        return Err(Reason::Malformed);
    }
    let Some(hop_by_hop) = packet
        .get(Ipv6Header::LEN..)
        .and_then(|rest| rest.first_chunk::<{ HopByHopHeader::LEN }>())
    else {
        return Err(Reason::Malformed);
    };
    let hop_by_hop = HopByHopHeader(*hop_by_hop);
    if hop_by_hop.next_header() != NEXT_HEADER_ICMPV6 {
        return Err(Reason::Malformed);
    }
    hop_by_hop.check_mld()?;
    let available = u32::try_from(packet.len()).map_err(|_| Reason::Malformed)?;
    let len = ipv6.mld_len(hop_by_hop.header_len(), available)?;
    let start = Ipv6Header::LEN + HopByHopHeader::LEN;
    let message = &packet[start..start + len as usize];
    let message = parse(ipv6.source(), ipv6.destination(), message)?;
    Ok(MldPacket { ipv6, message })
}

impl Mld<'_> {
    /// Length of the message [`Mld::emit`] writes.
    pub fn len(&self) -> usize {
        match self {
            Self::V1Report { .. } | Self::V1Done { .. } => V1Message::LEN,
            Self::V2Report(report) => report.len(),
        }
    }

    /// Whether the message is empty: never, every message has its 8-byte header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the message, with its checksum for `source` to `destination`, at the start of
    /// `buf`; returns its length.
    pub fn emit(
        &self,
        source: [u8; 16],
        destination: [u8; 16],
        buf: &mut [u8],
    ) -> Result<usize, EmitError> {
        let len = match self {
            Self::V1Report { group } => put(buf, 0, &V1Message::new(MLDV1_REPORT, *group).0)?,
            Self::V1Done { group } => put(buf, 0, &V1Message::new(MLDV1_DONE, *group).0)?,
            Self::V2Report(report) => {
                let mut writer = V2ReportWriter::new(buf)?;
                for record in report.records() {
                    writer.0.push_parsed(&record)?;
                }
                return Ok(writer.finish(source, destination));
            }
        };
        fill_checksum(source, destination, &mut buf[..len]);
        Ok(len)
    }
}

/// Builds an MLDv2 report (RFC 3810 section 5.2) record by record in a caller's buffer.
#[derive(Debug)]
pub struct V2ReportWriter<'a>(ReportWriter<'a, V2RecordHeader>);

impl<'a> V2ReportWriter<'a> {
    /// Starts a report at the start of `buf` by writing its header.
    pub fn new(buf: &'a mut [u8]) -> Result<Self, EmitError> {
        ReportWriter::new(buf, &MldHeader::v2_report(0).0).map(Self)
    }

    /// Appends a record of `record_type` for `group` with `sources` and `aux_data` (whole
    /// 32-bit words).
    pub fn push_record(
        &mut self,
        record_type: u8,
        group: [u8; 16],
        sources: &[[u8; 16]],
        aux_data: &[u8],
    ) -> Result<(), EmitError> {
        self.0.push_record(record_type, group, sources, aux_data)
    }

    /// Writes the record count and the checksum for `source` to `destination`; returns the
    /// report's length.
    pub fn finish(self, source: [u8; 16], destination: [u8; 16]) -> usize {
        let num_records = self.0.num_records();
        self.finish_declaring(num_records, source, destination)
    }

    /// Like [`V2ReportWriter::finish`], but with `declared` as the Nr of Mcast Address Records
    /// whatever was written: a report that lies about its records.
    pub fn finish_declaring(self, declared: u16, source: [u8; 16], destination: [u8; 16]) -> usize {
        let message = self.0.declare(declared);
        fill_checksum(source, destination, message);
        message.len()
    }
}

/// Largest Maximum Response Delay the 16-bit code can carry, in milliseconds: mantissa 0xfff,
/// exponent 7 (RFC 3810 section 5.1.3): (0x0fff | 0x1000) << (7 + 3).
pub const MAX_CODED_RESPONSE_MS: u32 = 8_387_584;

/// Robustness values above 7 are sent as 0 in QRV (RFC 3810 section 5.1.8).
const MAX_QRV: u8 = 7;

/// The Maximum Response Code of `max_response_ms` milliseconds (RFC 3810 section 5.1.3): below
/// 32768 the value itself; above, `1 exp(3) mant(12)` standing for
/// `(mant | 0x1000) << (exp + 3)`, the largest code not above the value (a querier must not
/// promise more than it waits). Values above [`MAX_CODED_RESPONSE_MS`] are sent as that.
pub const fn encode_max_resp_code(max_response_ms: u32) -> u16 {
    if max_response_ms < 32_768 {
        return max_response_ms as u16;
    }
    let value = if max_response_ms > MAX_CODED_RESPONSE_MS {
        MAX_CODED_RESPONSE_MS
    } else {
        max_response_ms
    };
    let mut exp = 7u32;
    loop {
        let mant = (value >> (exp + 3)) & 0x1fff;
        if mant >= 0x1000 || exp == 0 {
            return 0x8000 | ((exp as u16) << 12) | ((mant & 0x0fff) as u16);
        }
        exp -= 1;
    }
}

/// The Maximum Response Delay, in milliseconds, of a Maximum Response Code (RFC 3810 section
/// 5.1.3).
pub const fn decode_max_resp_code(code: u16) -> u32 {
    if code < 32_768 {
        return code as u32;
    }
    let mant = (code & 0x0fff) as u32;
    let exp = ((code >> 12) & 0x07) as u32;
    (mant | 0x1000) << (exp + 3)
}

/// An MLDv2 query without sources (RFC 3810 section 5.1): 28 bytes. MLDv1 nodes read its first
/// 24 bytes as an MLDv1 query (RFC 3810 section 8.1 tells the versions apart by length), so one
/// query form serves listeners of both versions, as [`super::query::V3Query`] does for IGMP.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V2Query(pub [u8; V2Query::LEN]);

const _: () = assert!(core::mem::size_of::<V2Query>() == V2Query::LEN);

impl V2Query {
    /// Length of a query without sources.
    pub const LEN: usize = 28;

    /// A General Query (Multicast Address ::, no sources; RFC 3810 section 5.1.12): listeners
    /// answer within `max_response_ms` milliseconds; `robustness` and `query_interval_s` tell
    /// them the querier's settings (QRV, QQIC in the code of RFC 3810 section 5.1.9, IGMPv3's).
    /// Checksum zero; see [`fill_checksum`] (sent from a link-local address to [`ALL_NODES`]).
    pub const fn general(max_response_ms: u32, robustness: u8, query_interval_s: u32) -> Self {
        let [c0, c1] = encode_max_resp_code(max_response_ms).to_be_bytes();
        let qrv = if robustness > MAX_QRV { 0 } else { robustness };
        let mut query = [0; Self::LEN];
        query[field::TYPE] = MLD_QUERY;
        query[field::MAX_RESP.start] = c0;
        query[field::MAX_RESP.start + 1] = c1;
        query[field::QUERY_S_QRV] = qrv;
        query[field::QUERY_QQIC] = encode_code(query_interval_s);
        Self(query)
    }

    /// A Multicast Address Specific Query (RFC 3810 section 5.1.12): only listeners of `group`
    /// answer, within `max_response_ms` (the Last Listener Query Interval, section 9.8); other
    /// fields as in [`V2Query::general`]. Sent to `group` itself (section 5.1.15).
    pub const fn group_specific(
        group: [u8; 16],
        max_response_ms: u32,
        robustness: u8,
        query_interval_s: u32,
    ) -> Self {
        let mut query = Self::general(max_response_ms, robustness, query_interval_s);
        let mut i = 0;
        while i < 16 {
            query.0[field::GROUP.start + i] = group[i];
            i += 1;
        }
        query
    }

    /// The first 8 bytes.
    pub fn header(&self) -> MldHeader {
        let b = &self.0;
        MldHeader([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// The first 24 bytes, as an MLDv1 node reads them.
    pub fn v1(&self) -> V1Message {
        let mut message = V1Message([0; V1Message::LEN]);
        message.0.copy_from_slice(&self.0[..V1Message::LEN]);
        message
    }

    /// Maximum Response Code (RFC 3810 section 5.1.3).
    pub fn max_resp_code(&self) -> u16 {
        self.header().max_resp_code()
    }

    /// Multicast Address (RFC 3810 section 5.1.5): :: in a General Query.
    pub fn group(&self) -> [u8; 16] {
        address(&self.0[field::GROUP])
    }

    /// S Flag, Suppress Router-Side Processing (RFC 3810 section 5.1.7).
    pub fn suppress_router_side(&self) -> bool {
        self.0[field::QUERY_S_QRV] & 0x08 != 0
    }

    /// QRV, the querier's robustness variable (RFC 3810 section 5.1.8).
    pub fn qrv(&self) -> u8 {
        self.0[field::QUERY_S_QRV] & 0x07
    }

    /// QQIC, the querier's query interval code (RFC 3810 section 5.1.9).
    pub fn qqic(&self) -> u8 {
        self.0[field::QUERY_QQIC]
    }

    /// Number of Sources (RFC 3810 section 5.1.10).
    pub fn num_sources(&self) -> u16 {
        let b = &self.0[field::QUERY_NUM_SOURCES];
        u16::from_be_bytes([b[0], b[1]])
    }
}

#[cfg(test)]
mod tests {
    //! Messages as scapy 2.5 writes them (an independent implementation of the RFC layouts and
    //! the ICMPv6 checksum), from fe80::1.

    use super::*;
    use crate::igmp::record;

    fn address(text: &str) -> [u8; 16] {
        text.parse::<core::net::Ipv6Addr>()
            .expect("an IPv6 address")
            .octets()
    }

    fn link_local() -> [u8; 16] {
        address("fe80::1")
    }

    /// `ICMPv6MLReport(mladdr="ff0e::1:2")` to ff0e::1:2.
    const V1_REPORT: [u8; 24] = [
        0x83, 0x00, 0x80, 0x07, 0x00, 0x00, 0x00,
        0x00, // type 131, code, checksum, delay, reserved
        0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0x02, // ff0e::1:2
    ];
    /// `ICMPv6MLDone(mladdr="ff0e::1:2")` to ff02::2.
    const V1_DONE: [u8; 24] = [
        0x84, 0x00, 0x7f, 0x14, 0x00, 0x00, 0x00, 0x00, // type 132
        0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0x02, // ff0e::1:2
    ];
    /// The whole packet of `IPv6(hlim=1)/IPv6ExtHdrHopByHop(RouterAlert, PadN)/ICMPv6MLReport2`
    /// to ff02::16 with two records: CHANGE_TO_EXCLUDE_MODE for ff3e::8000:1 without sources,
    /// and MODE_IS_INCLUDE for ff0e::1:2 with source 2001:db8::1.
    const V2_REPORT_PACKET: [u8; 112] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x48, 0x00, 0x01, // IPv6: payload 72, HbH, hop limit 1
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // fe80::1
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16, // ff02::16
        0x3a, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00, // HbH: ICMPv6, Router Alert, PadN
        0x8f, 0x00, 0xc1, 0xda, 0x00, 0x00, 0x00, 0x02, // type 143, checksum, 2 records
        0x04, 0x00, 0x00, 0x00, // CHANGE_TO_EXCLUDE_MODE, no aux data, no sources
        0xff, 0x3e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x00, 0x00, 0x01, // ff3e::8000:1
        0x01, 0x00, 0x00, 0x01, // MODE_IS_INCLUDE, no aux data, one source
        0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0x02, // ff0e::1:2
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // 2001:db8::1
    ];
    /// `ICMPv6MLQuery2(mrd=10000, QRV=2, QQIC=125)` to ff02::1.
    const V2_GENERAL_QUERY: [u8; 28] = [
        0x82, 0x00, 0x56, 0x96, 0x27, 0x10, 0x00, 0x00, // type 130, checksum, 10000 ms
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ::
        0x02, 0x7d, 0x00, 0x00, // QRV 2, QQIC 125, no sources
    ];
    /// `ICMPv6MLQuery2(mrd=1000, mladdr="ff0e::1:2", QRV=2, QQIC=125)` to ff0e::1:2.
    const V2_GROUP_QUERY: [u8; 28] = [
        0x82, 0x00, 0x7a, 0x9e, 0x03, 0xe8, 0x00, 0x00, // type 130, checksum, 1000 ms
        0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0x02, // ff0e::1:2
        0x02, 0x7d, 0x00, 0x00, // QRV 2, QQIC 125, no sources
    ];

    fn v2_report() -> &'static [u8] {
        &V2_REPORT_PACKET[48..]
    }

    fn emitted(message: &Mld<'_>, destination: [u8; 16]) -> ([u8; 128], usize) {
        let mut buf = [0u8; 128];
        let len = message
            .emit(link_local(), destination, &mut buf)
            .expect("fits");
        (buf, len)
    }

    #[test]
    fn v1_report() {
        let group = address("ff0e::1:2");
        let header = V1Message(V1_REPORT);
        assert_eq!(header.kind(), MLDV1_REPORT);
        assert_eq!(header.header().checksum(), 0x8007);
        assert_eq!(header.header().check(24, 24), Ok(MldType::V1Report));
        assert_eq!(header.check(), Ok(()));
        assert_eq!(ipv6::key_addr(header.group_key()), group);
        let message = parse(link_local(), group, &V1_REPORT).expect("parses");
        assert_eq!(message, Mld::V1Report { group });
        let (buf, len) = emitted(&message, group);
        assert_eq!(&buf[..len], &V1_REPORT);
    }

    #[test]
    fn v1_done() {
        let group = address("ff0e::1:2");
        let message = parse(link_local(), ALL_ROUTERS, &V1_DONE).expect("parses");
        assert_eq!(message, Mld::V1Done { group });
        let (buf, len) = emitted(&message, ALL_ROUTERS);
        assert_eq!(&buf[..len], &V1_DONE);
    }

    #[test]
    fn the_checksum_covers_the_pseudo_header() {
        // The same Done to another destination, or from another source, does not verify.
        assert_eq!(
            parse(link_local(), ALL_NODES, &V1_DONE),
            Err(Reason::BadChecksum)
        );
        assert_eq!(
            parse(address("fe80::2"), ALL_ROUTERS, &V1_DONE),
            Err(Reason::BadChecksum)
        );
        // By hand: pseudo-header words fe80 + 0001 (source) + ff02 + 0002 (destination) +
        // 0018 (length 24) + 003a (next header 58), message words 8400 + ff0e + 0001 + 0002
        // (checksum zeroed) = 0x380e8, folded 0x80eb, complement 0x7f14.
        let mut zeroed = V1_DONE;
        zeroed[2..4].copy_from_slice(&[0, 0]);
        assert_eq!(
            checksum::checksum_ipv6(link_local(), ALL_ROUTERS, NEXT_HEADER_ICMPV6, &zeroed),
            0x7f14
        );
    }

    #[test]
    fn v2_report_with_records_and_sources() {
        let Ok(MldPacket { ipv6, message }) = parse_packet(&V2_REPORT_PACKET) else {
            panic!("an MLDv2 report packet");
        };
        assert_eq!(ipv6.destination(), ALL_MLDV2_ROUTERS);
        assert_eq!(ipv6.hop_limit(), 1);
        let Mld::V2Report(report) = message else {
            panic!("a v2 report, got {message:?}");
        };
        assert_eq!(report.num_records(), 2);
        assert_eq!(report.len(), 64);
        let records: [_; 2] = core::array::from_fn(|i| report.records().nth(i).expect("record"));
        assert_eq!(records[0].record_type(), record::CHANGE_TO_EXCLUDE_MODE);
        assert_eq!(records[0].group(), address("ff3e::8000:1"));
        assert_eq!(records[0].sources().len(), 0);
        assert_eq!(records[0].effect(), RecordEffect::Join);
        assert_eq!(records[1].record_type(), record::MODE_IS_INCLUDE);
        assert_eq!(records[1].group(), address("ff0e::1:2"));
        assert_eq!(records[1].header().record_len(), 36);
        assert_eq!(records[1].sources().next(), Some(address("2001:db8::1")));
        assert_eq!(records[1].aux_data(), &[] as &[u8]);
        assert_eq!(records[1].effect(), RecordEffect::Join);

        let (buf, len) = emitted(&message, ALL_MLDV2_ROUTERS);
        assert_eq!(&buf[..len], v2_report());
        let mut buf = [0u8; 64];
        let mut writer = V2ReportWriter::new(&mut buf).expect("fits");
        writer
            .push_record(
                record::CHANGE_TO_EXCLUDE_MODE,
                address("ff3e::8000:1"),
                &[],
                &[],
            )
            .expect("fits");
        writer
            .push_record(
                record::MODE_IS_INCLUDE,
                address("ff0e::1:2"),
                &[address("2001:db8::1")],
                &[],
            )
            .expect("fits");
        assert_eq!(writer.finish(link_local(), ALL_MLDV2_ROUTERS), 64);
        assert_eq!(&buf[..], v2_report());
    }

    #[test]
    fn aux_data_round_trips() {
        let mut buf = [0u8; 32];
        let mut writer = V2ReportWriter::new(&mut buf).expect("fits");
        writer
            .push_record(
                record::MODE_IS_EXCLUDE,
                address("ff0e::1"),
                &[],
                &[0xde, 0xad, 0xbe, 0xef],
            )
            .expect("fits");
        assert_eq!(writer.finish(link_local(), ALL_MLDV2_ROUTERS), 32);
        assert_eq!(&buf[8..12], &[record::MODE_IS_EXCLUDE, 1, 0, 0]);
        let Ok(Mld::V2Report(report)) = parse(link_local(), ALL_MLDV2_ROUTERS, &buf) else {
            panic!("a v2 report");
        };
        let record = report.records().next().expect("one record");
        assert_eq!(record.header().record_len(), 24);
        assert_eq!(record.aux_data(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn queries_are_built_to_the_rfc_layout_and_not_the_dataplanes() {
        let general = V2Query::general(10_000, 2, 125);
        let mut bytes = general.0;
        fill_checksum(link_local(), ALL_NODES, &mut bytes);
        assert_eq!(bytes, V2_GENERAL_QUERY);
        assert_eq!(general.group(), [0; 16]);
        assert_eq!((general.qrv(), general.qqic()), (2, 125));
        assert!(!general.suppress_router_side());
        assert_eq!(general.num_sources(), 0);
        assert_eq!(decode_max_resp_code(general.max_resp_code()), 10_000);
        assert_eq!(general.v1().max_response_delay(), 10_000);

        let group = address("ff0e::1:2");
        let specific = V2Query::group_specific(group, 1000, 2, 125);
        let mut bytes = specific.0;
        fill_checksum(link_local(), group, &mut bytes);
        assert_eq!(bytes, V2_GROUP_QUERY);
        assert_eq!(specific.v1().group(), group);

        assert_eq!(
            parse(link_local(), ALL_NODES, &V2_GENERAL_QUERY),
            Err(Reason::IgmpUnhandledType)
        );
        let mut v1_query = V1Message::query([0; 16], 10_000).0;
        fill_checksum(link_local(), ALL_NODES, &mut v1_query);
        // The general query's sum (complement of 0x5696: 0xa969) less its last word (0x027d)
        // and 4 bytes of length: 0xa6e8, complement 0x5917.
        assert_eq!(&v1_query[..8], &[0x82, 0, 0x59, 0x17, 0x27, 0x10, 0, 0]);
        assert_eq!(
            parse(link_local(), ALL_NODES, &v1_query),
            Err(Reason::IgmpUnhandledType)
        );
        assert_eq!(
            V2Query::general(10, 9, 10).qrv(),
            0,
            "robustness above 7 is sent as 0"
        );
    }

    #[test]
    fn max_resp_codes_from_32768_use_the_exponential_form() {
        assert_eq!(encode_max_resp_code(0), 0);
        assert_eq!(encode_max_resp_code(32_767), 32_767);
        // RFC 3810 section 5.1.3: 0x8000 = mant 0, exp 0 = 0x1000 << 3 = 32768.
        assert_eq!(encode_max_resp_code(32_768), 0x8000);
        assert_eq!(decode_max_resp_code(0x8000), 32_768);
        // 100 s: exp 1 (0x1000 << 4 = 65536), mant 0x86a (0x186a << 4 = 100000).
        assert_eq!(encode_max_resp_code(100_000), 0x986a);
        assert_eq!(decode_max_resp_code(0x986a), 100_000);
        // 100001 ms has no code of its own: the largest code not above it.
        assert_eq!(encode_max_resp_code(100_001), 0x986a);
        assert_eq!(encode_max_resp_code(MAX_CODED_RESPONSE_MS), 0xffff);
        assert_eq!(encode_max_resp_code(u32::MAX), 0xffff);
        assert_eq!(decode_max_resp_code(0xffff), MAX_CODED_RESPONSE_MS);
    }

    #[test]
    fn trailing_bytes_are_checksummed_and_ignored() {
        // V1_REPORT followed by a zero word: the sum does not change but the length does, so
        // the checksum is recomputed over the longer message.
        let group = address("ff0e::1:2");
        let mut bytes = [0u8; 28];
        bytes[..24].copy_from_slice(&V1_REPORT);
        fill_checksum(link_local(), group, &mut bytes);
        assert_eq!(
            parse(link_local(), group, &bytes),
            Ok(Mld::V1Report { group })
        );
    }

    #[test]
    fn truncated_messages_are_malformed() {
        let group = address("ff0e::1:2");
        assert_eq!(parse(link_local(), group, &[]), Err(Reason::Malformed));
        assert_eq!(
            parse(link_local(), group, &V1_REPORT[..7]),
            Err(Reason::Malformed)
        );
        // A v1 report of 20 bytes whose checksum verifies: the group is cut short.
        let mut short = [0u8; 20];
        short.copy_from_slice(&V1_REPORT[..20]);
        fill_checksum(link_local(), group, &mut short);
        assert_eq!(parse(link_local(), group, &short), Err(Reason::Malformed));
        assert_eq!(
            MldHeader(*V1_REPORT.first_chunk().expect("8 bytes")).check(23, 24),
            Err(Reason::Malformed)
        );
        // The v2 report with its last source cut short (and its checksum made good again).
        let mut cut = [0u8; 63];
        cut.copy_from_slice(&v2_report()[..63]);
        fill_checksum(link_local(), ALL_MLDV2_ROUTERS, &mut cut);
        assert_eq!(
            parse(link_local(), ALL_MLDV2_ROUTERS, &cut),
            Err(Reason::Malformed)
        );
        let record = V2RecordHeader(*v2_report()[28..].first_chunk().expect("20 bytes"));
        assert_eq!(record.check(28, 63), Err(Reason::Malformed));
        assert_eq!(record.check(28, 64), Ok(64));
    }

    #[test]
    fn longer_than_the_dataplane_verifies_is_malformed() {
        let group = address("ff0e::1:2");
        let mut bytes = [0u8; 1453];
        bytes[..24].copy_from_slice(&V1_REPORT);
        fill_checksum(link_local(), group, &mut bytes);
        assert_eq!(parse(link_local(), group, &bytes), Err(Reason::Malformed));
        fill_checksum(link_local(), group, &mut bytes[..1452]);
        assert!(parse(link_local(), group, &bytes[..1452]).is_ok());
    }

    #[test]
    fn a_flipped_bit_is_a_bad_checksum() {
        let group = address("ff0e::1:2");
        let mut bytes = V1_REPORT;
        bytes[23] ^= 0x10;
        assert_eq!(parse(link_local(), group, &bytes), Err(Reason::BadChecksum));
    }

    #[test]
    fn a_group_outside_ff00_8_is_malformed() {
        let unicast = address("2001:db8::1");
        let mut bytes = V1Message::new(MLDV1_REPORT, unicast).0;
        fill_checksum(link_local(), unicast, &mut bytes);
        assert_eq!(parse(link_local(), unicast, &bytes), Err(Reason::Malformed));
        let mut buf = [0u8; 28];
        let mut writer = V2ReportWriter::new(&mut buf).expect("fits");
        writer
            .push_record(record::CHANGE_TO_EXCLUDE_MODE, unicast, &[], &[])
            .expect("fits");
        writer.finish(link_local(), ALL_MLDV2_ROUTERS);
        assert_eq!(
            parse(link_local(), ALL_MLDV2_ROUTERS, &buf),
            Err(Reason::Malformed)
        );
    }

    #[test]
    fn link_scope_groups_parse_and_are_told_apart() {
        // A solicited-node group (what a host reports for each of its addresses) is a valid
        // report; the membership decision refuses it.
        let group = address("ff02::1:ff00:1");
        let mut bytes = V1Message::new(MLDV1_REPORT, group).0;
        fill_checksum(link_local(), group, &mut bytes);
        assert_eq!(
            parse(link_local(), group, &bytes),
            Ok(Mld::V1Report { group })
        );
        assert!(ipv6::is_link_scope_group(group));
    }

    #[test]
    fn the_record_limit_is_the_callers() {
        assert_eq!(MldHeader::v2_report(24).check(8, 24), Ok(MldType::V2Report));
        assert_eq!(
            MldHeader::v2_report(25).check(8, 24),
            Err(Reason::TooManyRecords)
        );
        // A report of 40 records for ff0e::1..=40: refused by the default limit, parsed whole
        // under a limit of 40.
        let mut buf = [0u8; 8 + 40 * 20];
        let mut writer = V2ReportWriter::new(&mut buf).expect("fits");
        for i in 1..=40u8 {
            let mut group = address("ff0e::");
            group[15] = i;
            writer
                .push_record(record::CHANGE_TO_EXCLUDE_MODE, group, &[], &[])
                .expect("fits");
        }
        assert_eq!(writer.finish(link_local(), ALL_MLDV2_ROUTERS), 808);
        assert_eq!(
            parse(link_local(), ALL_MLDV2_ROUTERS, &buf),
            Err(Reason::TooManyRecords)
        );
        let Ok(Mld::V2Report(report)) =
            parse_with_record_limit(link_local(), ALL_MLDV2_ROUTERS, &buf, 40)
        else {
            panic!("a v2 report of 40 records");
        };
        assert_eq!(report.records().count(), 40);
    }

    #[test]
    fn a_report_declaring_more_records_than_it_holds_is_malformed() {
        let mut buf = [0u8; 28];
        let mut writer = V2ReportWriter::new(&mut buf).expect("fits");
        writer
            .push_record(record::CHANGE_TO_EXCLUDE_MODE, address("ff0e::1"), &[], &[])
            .expect("fits");
        writer.finish_declaring(2, link_local(), ALL_MLDV2_ROUTERS);
        assert_eq!(
            parse(link_local(), ALL_MLDV2_ROUTERS, &buf),
            Err(Reason::Malformed)
        );
    }

    #[test]
    fn packets_without_the_router_alert_or_cut_short_are_malformed() {
        let mut no_alert = V2_REPORT_PACKET;
        no_alert[42..48].copy_from_slice(&[0x01, 0x04, 0, 0, 0, 0]);
        assert_eq!(parse_packet(&no_alert), Err(Reason::Malformed));
        let mut no_hop_by_hop = V2_REPORT_PACKET;
        no_hop_by_hop[6] = NEXT_HEADER_ICMPV6;
        assert_eq!(parse_packet(&no_hop_by_hop), Err(Reason::Malformed));
        assert_eq!(
            parse_packet(&V2_REPORT_PACKET[..111]),
            Err(Reason::Malformed)
        );
        assert_eq!(
            parse_packet(&V2_REPORT_PACKET[..45]),
            Err(Reason::Malformed)
        );
        let mut bad_checksum = V2_REPORT_PACKET;
        bad_checksum[50] ^= 0xff;
        assert_eq!(parse_packet(&bad_checksum), Err(Reason::BadChecksum));
    }

    #[test]
    fn emitting_into_a_short_buffer_fails() {
        let message = Mld::V1Report {
            group: address("ff0e::1"),
        };
        assert_eq!(
            message.emit(link_local(), ALL_MLDV2_ROUTERS, &mut [0u8; 23]),
            Err(EmitError::BufferTooShort {
                needed: 24,
                available: 23
            })
        );
        let mut buf = [0u8; 32];
        let mut writer = V2ReportWriter::new(&mut buf).expect("fits");
        assert_eq!(
            writer.push_record(1, address("ff0e::1"), &[], &[1, 2, 3]),
            Err(EmitError::FieldOverflow)
        );
    }
}
