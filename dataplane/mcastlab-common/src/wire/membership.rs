//! The node membership message: how one node's agent tells the other nodes of its lab which
//! groups it has local members for (docs/cross-node.md). mcastlab's own format, in the spirit
//! of an IGMPv3 report (RFC 3376 section 4.2) sent by a node rather than a host: a header
//! naming the lab and the node, then one fixed-size record per group. It travels as the payload
//! of a UDP datagram from the node's underlay address to port [`MEMBERSHIP_PORT`] of each other
//! node's underlay address; the receiver makes the sender a remote subscriber of each group it
//! has members for, and removes it from each group it has none for any more.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Magic ("MCLM", 0x4d434c4d)                   |
//! +---------------+---------------+-------------------------------+
//! |    Version    |     Flags     |       Number of Records       |
//! +---------------+---------------+-------------------------------+
//! |                 Lab Id (the lab's VNI, 24 bits)               |
//! +---------------------------------------------------------------+
//! |                Node Address (the sender's underlay)           |
//! +---------------+-----------------------------------------------+
//! |  Record Type  |                 Reserved                      |  one record
//! +---------------+-----------------------------------------------+
//! |                       Multicast Address                       |
//! +---------------------------------------------------------------+
//! ```
//!
//! All fields are in network byte order. A message of zero records is a hello: it makes the
//! sender known as a peer (a node added to a running lab announces itself this way). A message
//! with [`FLAG_SOLICIT`] asks each receiver to answer at once with its own groups, as a General
//! Query does (RFC 3376 section 4.1.9): an agent that starts, or whose dataplane starts anew,
//! learns the other nodes' members without waiting for their next refresh. Answers never
//! solicit.
//!
//! The checks ([`parse`]) return the reason a message is dropped: `MembershipMalformed`
//! for anything that is not exactly this layout. The receiver checks the rest (the lab id,
//! that the node address is the datagram's source and inside the lab's underlay prefix).

use crate::{Reason, igmp::is_multicast_octet};

/// UDP port the node agents send membership messages to and receive them on, on each node's
/// underlay address. IANA lists 4791 for RoCEv2, which a lab underlay does not carry; an
/// underlay that does would need another port here.
pub const MEMBERSHIP_PORT: u16 = 4791;

/// Most records one message carries: 16 + 128 x 8 = 1040 bytes, one unfragmented datagram on
/// a 1500-byte underlay. A node with members for more groups sends more messages.
pub const MAX_MEMBERSHIP_RECORDS: u16 = 128;

/// The magic that starts every message: "MCLM".
pub const MAGIC: [u8; 4] = *b"MCLM";

/// The version of the format described here.
pub const VERSION: u8 = 1;

/// Flags bit: "answer me with your groups now".
pub const FLAG_SOLICIT: u8 = 0x01;

/// Record types: what the sending node says about one group.
pub mod record {
    /// The node has at least one local member of the group: add or refresh it as a remote
    /// subscriber (the node's IGMPv3 `MODE_IS_EXCLUDE` with no sources, RFC 3376 section
    /// 4.2.12).
    pub const HAS_MEMBERS: u8 = 1;
    /// The node's last local member of the group left: remove it as a remote subscriber (the
    /// node's `CHANGE_TO_INCLUDE_MODE` with no sources, RFC 3376 section 4.2.12).
    pub const NO_MEMBERS: u8 = 2;
}

/// Byte ranges of the fields.
mod field {
    use core::ops::Range;

    pub const MAGIC: Range<usize> = 0..4;
    pub const VERSION: usize = 4;
    pub const FLAGS: usize = 5;
    pub const NUM_RECORDS: Range<usize> = 6..8;
    pub const LAB_ID: Range<usize> = 8..12;
    pub const NODE: Range<usize> = 12..16;

    pub const RECORD_TYPE: usize = 0;
    pub const RECORD_GROUP: Range<usize> = 4..8;
}

/// The header of a membership message, as it sits on the wire.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MembershipHeader(pub [u8; MembershipHeader::LEN]);

const _: () = assert!(core::mem::size_of::<MembershipHeader>() == MembershipHeader::LEN);

impl MembershipHeader {
    /// Length of the header.
    pub const LEN: usize = 16;

    /// The header of a message of `num_records` records from the node at `node` (its underlay
    /// address, wire octets) in lab `lab_id` (the lab's VNI), with `flags` ([`FLAG_SOLICIT`]).
    pub const fn new(lab_id: u32, node: [u8; 4], flags: u8, num_records: u16) -> Self {
        let [m0, m1, m2, m3] = MAGIC;
        let [n0, n1] = num_records.to_be_bytes();
        let [l0, l1, l2, l3] = lab_id.to_be_bytes();
        let [a0, a1, a2, a3] = node;
        Self([
            m0, m1, m2, m3, VERSION, flags, n0, n1, l0, l1, l2, l3, a0, a1, a2, a3,
        ])
    }

    /// Magic: [`MAGIC`].
    pub fn magic(&self) -> [u8; 4] {
        let b = &self.0[field::MAGIC];
        [b[0], b[1], b[2], b[3]]
    }

    /// Version: [`VERSION`].
    pub fn version(&self) -> u8 {
        self.0[field::VERSION]
    }

    /// Flags: [`FLAG_SOLICIT`]; unknown bits are ignored.
    pub fn flags(&self) -> u8 {
        self.0[field::FLAGS]
    }

    /// Whether the sender asks for an answer ([`FLAG_SOLICIT`]).
    pub fn solicits(&self) -> bool {
        self.flags() & FLAG_SOLICIT != 0
    }

    /// Number of Records that follow the header.
    pub fn num_records(&self) -> u16 {
        let b = &self.0[field::NUM_RECORDS];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Lab Id: the VNI of the sender's lab (vxlan's 24 bits, RFC 7348 section 5).
    pub fn lab_id(&self) -> u32 {
        let b = &self.0[field::LAB_ID];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Node Address: the sender's underlay address, as wire octets; the address the receiver
    /// sends copies to.
    pub fn node(&self) -> [u8; 4] {
        let b = &self.0[field::NODE];
        [b[0], b[1], b[2], b[3]]
    }
}

/// One record of a membership message, as it sits on the wire.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MembershipRecord(pub [u8; MembershipRecord::LEN]);

const _: () = assert!(core::mem::size_of::<MembershipRecord>() == MembershipRecord::LEN);

impl MembershipRecord {
    /// Length of a record.
    pub const LEN: usize = 8;

    /// A record of `record_type` ([`record`]) for `group` (wire octets).
    pub const fn new(record_type: u8, group: [u8; 4]) -> Self {
        let [g0, g1, g2, g3] = group;
        Self([record_type, 0, 0, 0, g0, g1, g2, g3])
    }

    /// Record Type: [`record::HAS_MEMBERS`] or [`record::NO_MEMBERS`].
    pub fn record_type(&self) -> u8 {
        self.0[field::RECORD_TYPE]
    }

    /// Multicast Address, as its wire octets.
    pub fn group(&self) -> [u8; 4] {
        let b = &self.0[field::RECORD_GROUP];
        [b[0], b[1], b[2], b[3]]
    }

    /// Whether the sender has local members of the group; `Malformed` for an unknown record
    /// type or a group that is not multicast.
    pub fn check(&self) -> Result<bool, Reason> {
        if !is_multicast_octet(self.0[field::RECORD_GROUP.start]) {
            return Err(Reason::MembershipMalformed);
        }
        match self.record_type() {
            record::HAS_MEMBERS => Ok(true),
            record::NO_MEMBERS => Ok(false),
            _ => Err(Reason::MembershipMalformed),
        }
    }
}

/// A checked membership message, without copying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership<'a> {
    header: MembershipHeader,
    records: &'a [u8],
}

impl<'a> Membership<'a> {
    /// The header.
    pub fn header(&self) -> MembershipHeader {
        self.header
    }

    /// Each record's group (wire octets) with whether the sender has members of it, in message
    /// order; every record was checked by [`parse`].
    pub fn records(&self) -> impl Iterator<Item = ([u8; 4], bool)> + 'a {
        self.records
            .chunks_exact(MembershipRecord::LEN)
            .map(|bytes| {
                let mut record = MembershipRecord([0; MembershipRecord::LEN]);
                record.0.copy_from_slice(bytes);
                (record.group(), record.check() == Ok(true))
            })
    }
}

/// Checks `message` (a UDP payload) and returns it, or the reason it is dropped whole:
/// `MembershipMalformed` when it is shorter than its header, carries another magic or version,
/// more than [`MAX_MEMBERSHIP_RECORDS`] records, a length other than its records', a record of
/// an unknown type or a group outside 224.0.0.0/4.
pub fn parse(message: &[u8]) -> Result<Membership<'_>, Reason> {
    let Some((header, records)) = message.split_first_chunk::<{ MembershipHeader::LEN }>() else {
        return Err(Reason::MembershipMalformed);
    };
    let header = MembershipHeader(*header);
    if header.magic() != MAGIC
        || header.version() != VERSION
        || header.num_records() > MAX_MEMBERSHIP_RECORDS
        || records.len() != usize::from(header.num_records()) * MembershipRecord::LEN
    {
        return Err(Reason::MembershipMalformed);
    }
    for bytes in records.chunks_exact(MembershipRecord::LEN) {
        let mut record = MembershipRecord([0; MembershipRecord::LEN]);
        record.0.copy_from_slice(bytes);
        record.check()?;
    }
    Ok(Membership { header, records })
}

/// Writes a message from `node` in lab `lab_id` with `flags` and `records` (at most
/// [`MAX_MEMBERSHIP_RECORDS`]; more are left out) into `out`; returns its length, or `None`
/// when `out` is too short.
pub fn emit(
    lab_id: u32,
    node: [u8; 4],
    flags: u8,
    records: &[MembershipRecord],
    out: &mut [u8],
) -> Option<usize> {
    let records = &records[..records.len().min(usize::from(MAX_MEMBERSHIP_RECORDS))];
    let len = MembershipHeader::LEN + records.len() * MembershipRecord::LEN;
    let out = out.get_mut(..len)?;
    out[..MembershipHeader::LEN]
        .copy_from_slice(&MembershipHeader::new(lab_id, node, flags, records.len() as u16).0);
    for (record, bytes) in records
        .iter()
        .zip(out[MembershipHeader::LEN..].chunks_exact_mut(MembershipRecord::LEN))
    {
        bytes.copy_from_slice(&record.0);
    }
    Some(len)
}

/// Longest message: header and [`MAX_MEMBERSHIP_RECORDS`] records.
pub const MAX_MEMBERSHIP_LEN: usize =
    MembershipHeader::LEN + MAX_MEMBERSHIP_RECORDS as usize * MembershipRecord::LEN;

#[cfg(test)]
mod tests {
    use super::*;

    /// Lab 42, node 172.31.255.2, members of 239.1.1.1, none left of 239.2.2.2.
    const MESSAGE: [u8; 32] = [
        b'M', b'C', b'L', b'M', 1, 0, 0, 2, 0, 0, 0, 42, 172, 31, 255, 2, //
        1, 0, 0, 0, 239, 1, 1, 1, //
        2, 0, 0, 0, 239, 2, 2, 2,
    ];

    #[test]
    fn a_message_parses_into_its_header_and_records() {
        let message = parse(&MESSAGE).expect("valid");
        let header = message.header();
        assert_eq!(header.lab_id(), 42);
        assert_eq!(header.node(), [172, 31, 255, 2]);
        assert_eq!(header.num_records(), 2);
        let mut records = message.records();
        assert_eq!(records.next(), Some(([239, 1, 1, 1], true)));
        assert_eq!(records.next(), Some(([239, 2, 2, 2], false)));
        assert_eq!(records.next(), None);
    }

    #[test]
    fn emit_writes_the_documented_layout() {
        let mut out = [0u8; MAX_MEMBERSHIP_LEN];
        let records = [
            MembershipRecord::new(record::HAS_MEMBERS, [239, 1, 1, 1]),
            MembershipRecord::new(record::NO_MEMBERS, [239, 2, 2, 2]),
        ];
        let len = emit(42, [172, 31, 255, 2], 0, &records, &mut out).expect("room");
        assert_eq!(&out[..len], &MESSAGE);
        assert!(!parse(&out[..len]).expect("valid").header().solicits());
        assert_eq!(
            emit(42, [172, 31, 255, 2], 0, &records, &mut out[..31]),
            None
        );
        let hello = emit(7, [10, 0, 0, 1], FLAG_SOLICIT, &[], &mut out).expect("room");
        assert_eq!(
            &out[..hello],
            &[b'M', b'C', b'L', b'M', 1, 1, 0, 0, 0, 0, 0, 7, 10, 0, 0, 1]
        );
        let hello = parse(&out[..hello]).expect("valid");
        assert!(hello.header().solicits());
        assert_eq!(hello.records().count(), 0);
    }

    #[test]
    fn anything_but_the_exact_layout_is_malformed() {
        let malformed = Err(Reason::MembershipMalformed);
        let with = |index: usize, value: u8| {
            let mut message = MESSAGE;
            message[index] = value;
            message
        };
        assert_eq!(parse(&MESSAGE[..15]), malformed, "shorter than the header");
        assert_eq!(parse(&MESSAGE[..31]), malformed, "a record cut short");
        let mut longer = [0u8; 33];
        longer[..32].copy_from_slice(&MESSAGE);
        assert_eq!(parse(&longer), malformed, "a byte too many");
        assert_eq!(parse(&with(0, b'X')), malformed, "magic");
        assert_eq!(parse(&with(4, 2)), malformed, "version");
        assert_eq!(
            parse(&with(7, 3)),
            malformed,
            "more records declared than sent"
        );
        assert_eq!(parse(&with(16, 3)), malformed, "unknown record type");
        assert_eq!(
            parse(&with(20, 10)),
            malformed,
            "a group outside 224.0.0.0/4"
        );
        let mut many = [0u8; MembershipHeader::LEN + 129 * MembershipRecord::LEN];
        many[..16].copy_from_slice(&MembershipHeader::new(42, [10, 0, 0, 1], 0, 129).0);
        for record in many[16..].chunks_exact_mut(8) {
            record.copy_from_slice(&MembershipRecord::new(record::HAS_MEMBERS, [239, 0, 0, 1]).0);
        }
        assert_eq!(parse(&many), malformed, "more than MAX_MEMBERSHIP_RECORDS");
    }
}
