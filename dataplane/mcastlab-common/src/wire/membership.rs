//! The node membership message: how one node's agent tells the other nodes of its lab which
//! groups it has local members for, and from which sources they want traffic
//! (docs/cross-node.md). mcastlab's own format, in the spirit of an IGMPv3 report (RFC 3376
//! section 4.2) or an MLDv2 report (RFC 3810 section 5.2) sent by a node rather than a host: a
//! header naming the lab and the node, then one record per group, IPv4 or IPv6, with the
//! node's merged source filter. It travels as the payload of a UDP datagram from the node's
//! underlay address to port [`MEMBERSHIP_PORT`] of each other node's underlay address; the
//! receiver makes the sender a remote subscriber of each group it has members for, with that
//! filter, and removes it from each group it has none for any more.
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
//! +---------------+---------------+-------------------------------+
//! |  Record Type  |    Family     |       Number of Sources       |  one record
//! +---------------+---------------+-------------------------------+
//! |     Multicast Address (4 bytes for IPv4, 16 for IPv6) ...     |
//! +---------------------------------------------------------------+
//! |   Source Address [1 .. Number of Sources] (IPv4 groups only)  |
//! +---------------------------------------------------------------+
//! ```
//!
//! All fields are in network byte order. A record's Family ([`family`]) says how long its
//! addresses are. An IPv4 group's record lists at most
//! [`crate::sources::MAX_SOURCES_PER_MEMBER`] sources (the bound of the filter the receiver
//! keeps); an IPv6 group's lists none: IPv6 members take every source, so a node with members
//! of an IPv6 group wants every source of it. A message of zero records is a hello: it makes
//! the sender known as a peer (a node added to a running lab announces itself this way). A
//! message with [`FLAG_SOLICIT`] asks each receiver to answer at once with its own groups, as a
//! General Query does (RFC 3376 section 4.1.9): an agent that starts, or whose dataplane starts
//! anew, learns the other nodes' members without waiting for their next refresh. Answers never
//! solicit.
//!
//! The checks ([`parse`]) return the reason a message is dropped: `MembershipMalformed`
//! for anything that is not exactly this layout. The receiver checks the rest (the lab id,
//! that the node address is the datagram's source and inside the lab's underlay prefix).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{
    Reason,
    igmp::is_multicast_octet,
    sources::{MAX_SOURCES_PER_MEMBER, MODE_EXCLUDE, MODE_INCLUDE, SourceFilter},
    wire::ipv6,
};

/// UDP port the node agents send membership messages to and receive them on, on each node's
/// underlay address. IANA lists 4791 for RoCEv2, which a lab underlay does not carry; an
/// underlay that does would need another port here.
pub const MEMBERSHIP_PORT: u16 = 4791;

/// Most records one message carries. A node with members for more groups sends more messages.
pub const MAX_MEMBERSHIP_RECORDS: u16 = 128;

/// Longest message: what one UDP datagram carries unfragmented on a 1500-byte underlay
/// (1500 - 20 bytes of IPv4 header - 8 of UDP). Senders split their records to fit.
pub const MAX_MEMBERSHIP_LEN: usize = 1472;

/// The magic that starts every message: "MCLM".
pub const MAGIC: [u8; 4] = *b"MCLM";

/// The version of the format described here. Version 1 had no sources and version 2 no
/// IPv6 groups (its record's second byte was reserved); their messages are malformed to a
/// version 3 receiver.
pub const VERSION: u8 = 3;

/// Flags bit: "answer me with your groups now".
pub const FLAG_SOLICIT: u8 = 0x01;

/// Record types: what the sending node says about one group.
pub mod record {
    /// The node has local members that want every source but the listed ones (none listed:
    /// every source): add or refresh it as a remote subscriber with that filter (the node's
    /// IGMPv3 `MODE_IS_EXCLUDE`, RFC 3376 section 4.2.12; MLDv2's, RFC 3810 section 5.2.12).
    /// An IPv6 group's lists none.
    pub const HAS_MEMBERS: u8 = 1;
    /// The node's last local member of the group left: remove it as a remote subscriber (the
    /// node's `CHANGE_TO_INCLUDE_MODE` with no sources). Lists no sources.
    pub const NO_MEMBERS: u8 = 2;
    /// The node has local members that want only the listed sources (at least one): add or
    /// refresh it as a remote subscriber with that filter (the node's `MODE_IS_INCLUDE`).
    /// IPv4 groups only.
    pub const HAS_SOURCE_MEMBERS: u8 = 3;
}

/// Address families of a record's addresses: the IANA Address Family Numbers, as PIM's
/// encoded addresses carry them (RFC 7761 section 4.9.1).
pub mod family {
    /// IPv4: 4-byte group and sources.
    pub const IPV4: u8 = 1;
    /// IPv6: a 16-byte group, no sources.
    pub const IPV6: u8 = 2;
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
    pub const RECORD_FAMILY: usize = 1;
    pub const RECORD_NUM_SOURCES: Range<usize> = 2..4;
}

/// What a node says about one group: its members' merged source filter, or no members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupState {
    /// The group: IPv4 (224.0.0.0/4) or IPv6 (ff00::/8).
    pub group: IpAddr,
    /// What the node's members want (RFC 3376 section 3.2's merge of their filters), or `None`
    /// when it has none left. An IPv6 group's members want every source
    /// ([`SourceFilter::ANY_SOURCE`]).
    pub members: Option<SourceFilter>,
}

impl GroupState {
    /// Length of this group's record: its fixed part, its group and its sources.
    pub fn record_len(&self) -> usize {
        let (address_len, sources) = match self.group {
            IpAddr::V4(_) => (IPV4_LEN, self.members.map_or(0, |f| f.listed().len())),
            IpAddr::V6(_) => (IPV6_LEN, 0),
        };
        MembershipRecord::LEN + address_len + IPV4_LEN * sources
    }
}

/// Length of an IPv4 address in a record: an IPv4 group or a source.
const IPV4_LEN: usize = 4;

/// Length of an IPv6 address in a record: an IPv6 group.
const IPV6_LEN: usize = 16;

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

/// The fixed part of one record of a membership message (its group and sources follow, as
/// long as its family says), as it sits on the wire.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MembershipRecord(pub [u8; MembershipRecord::LEN]);

const _: () = assert!(core::mem::size_of::<MembershipRecord>() == MembershipRecord::LEN);

impl MembershipRecord {
    /// Length of a record's fixed part.
    pub const LEN: usize = 4;

    /// A record of `record_type` ([`record`]) for a group of `family` ([`family`]), followed
    /// by `num_sources` sources.
    pub const fn new(record_type: u8, family: u8, num_sources: u16) -> Self {
        let [n0, n1] = num_sources.to_be_bytes();
        Self([record_type, family, n0, n1])
    }

    /// Record Type: one of [`record`].
    pub fn record_type(&self) -> u8 {
        self.0[field::RECORD_TYPE]
    }

    /// Family: one of [`family`].
    pub fn family(&self) -> u8 {
        self.0[field::RECORD_FAMILY]
    }

    /// Number of Sources that follow the group.
    pub fn num_sources(&self) -> u16 {
        let b = &self.0[field::RECORD_NUM_SOURCES];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The filter mode the record's sources are in ([`MODE_INCLUDE`], [`MODE_EXCLUDE`]), or
    /// `None` for [`record::NO_MEMBERS`]; `Malformed` for an unknown record type or family,
    /// more sources than [`MAX_SOURCES_PER_MEMBER`], sources on a `NO_MEMBERS` record or on an
    /// IPv6 one, none on a `HAS_SOURCE_MEMBERS` one, or a `HAS_SOURCE_MEMBERS` IPv6 one. The
    /// group is checked by [`parse_group`].
    pub fn check(&self) -> Result<Option<u32>, Reason> {
        let sources = u32::from(self.num_sources());
        if sources > MAX_SOURCES_PER_MEMBER {
            return Err(Reason::MembershipMalformed);
        }
        match (self.family(), self.record_type(), sources) {
            (family::IPV4, record::HAS_MEMBERS, _) | (family::IPV6, record::HAS_MEMBERS, 0) => {
                Ok(Some(MODE_EXCLUDE))
            }
            (family::IPV4, record::HAS_SOURCE_MEMBERS, 1..) => Ok(Some(MODE_INCLUDE)),
            (family::IPV4 | family::IPV6, record::NO_MEMBERS, 0) => Ok(None),
            _ => Err(Reason::MembershipMalformed),
        }
    }
}

/// The group of a record of `family` at the start of `bytes`, and the bytes after it;
/// `Malformed` when `bytes` is shorter than the family's address, the family is unknown, or
/// the group is not multicast (224.0.0.0/4, RFC 5771; ff00::/8, RFC 4291 section 2.7).
pub fn parse_group(family: u8, bytes: &[u8]) -> Result<(IpAddr, &[u8]), Reason> {
    let malformed = Reason::MembershipMalformed;
    match family {
        family::IPV4 => {
            let (group, rest) = bytes.split_first_chunk::<IPV4_LEN>().ok_or(malformed)?;
            if !is_multicast_octet(group[0]) {
                return Err(malformed);
            }
            Ok((IpAddr::V4(Ipv4Addr::from(*group)), rest))
        }
        family::IPV6 => {
            let (group, rest) = bytes.split_first_chunk::<IPV6_LEN>().ok_or(malformed)?;
            if !ipv6::is_multicast(*group) {
                return Err(malformed);
            }
            Ok((IpAddr::V6(Ipv6Addr::from(*group)), rest))
        }
        _ => Err(malformed),
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

    /// Each record's group state, in message order; every record was checked by [`parse`].
    pub fn records(&self) -> impl Iterator<Item = GroupState> + 'a {
        let mut rest = self.records;
        core::iter::from_fn(move || {
            let (state, after) = split_record(rest).ok()?;
            rest = after;
            Some(state)
        })
    }
}

/// The record at the start of `bytes`, checked, and the bytes after it.
fn split_record(bytes: &[u8]) -> Result<(GroupState, &[u8]), Reason> {
    let (fixed, rest) = bytes
        .split_first_chunk::<{ MembershipRecord::LEN }>()
        .ok_or(Reason::MembershipMalformed)?;
    let record = MembershipRecord(*fixed);
    let mode = record.check()?;
    let (group, rest) = parse_group(record.family(), rest)?;
    let (sources, rest) = rest
        .split_at_checked(usize::from(record.num_sources()) * IPV4_LEN)
        .ok_or(Reason::MembershipMalformed)?;
    let members = match mode {
        None => None,
        Some(mode) => {
            let mut keys = [0u32; MAX_SOURCES_PER_MEMBER as usize];
            for (key, source) in keys.iter_mut().zip(sources.chunks_exact(IPV4_LEN)) {
                *key = u32::from_ne_bytes([source[0], source[1], source[2], source[3]]);
            }
            let listed = &keys[..usize::from(record.num_sources())];
            Some(SourceFilter::new(mode, listed).ok_or(Reason::MembershipMalformed)?)
        }
    };
    Ok((GroupState { group, members }, rest))
}

/// Checks `message` (a UDP payload) and returns it, or the reason it is dropped whole:
/// `MembershipMalformed` when it is shorter than its header, carries another magic or version,
/// more than [`MAX_MEMBERSHIP_RECORDS`] records or bytes than [`MAX_MEMBERSHIP_LEN`], a length
/// other than its records', or a record that is not one ([`MembershipRecord::check`],
/// [`parse_group`]).
pub fn parse(message: &[u8]) -> Result<Membership<'_>, Reason> {
    let Some((header, records)) = message.split_first_chunk::<{ MembershipHeader::LEN }>() else {
        return Err(Reason::MembershipMalformed);
    };
    let header = MembershipHeader(*header);
    if header.magic() != MAGIC
        || header.version() != VERSION
        || header.num_records() > MAX_MEMBERSHIP_RECORDS
        || message.len() > MAX_MEMBERSHIP_LEN
    {
        return Err(Reason::MembershipMalformed);
    }
    let mut rest = records;
    for _ in 0..header.num_records() {
        rest = split_record(rest)?.1;
    }
    if !rest.is_empty() {
        return Err(Reason::MembershipMalformed);
    }
    Ok(Membership { header, records })
}

/// Writes a message from `node` in lab `lab_id` with `flags` and the records of `groups` into
/// `out`; returns its length, or `None` when `out` is too short, there are more than
/// [`MAX_MEMBERSHIP_RECORDS`] groups, the message would be longer than [`MAX_MEMBERSHIP_LEN`]
/// (split with [`fitting`] first), or an IPv6 group's members want anything but every source
/// (the format has no IPv6 sources).
pub fn emit(
    lab_id: u32,
    node: [u8; 4],
    flags: u8,
    groups: &[GroupState],
    out: &mut [u8],
) -> Option<usize> {
    if groups.len() > usize::from(MAX_MEMBERSHIP_RECORDS) {
        return None;
    }
    let len = MembershipHeader::LEN + groups.iter().map(GroupState::record_len).sum::<usize>();
    if len > MAX_MEMBERSHIP_LEN {
        return None;
    }
    let out = out.get_mut(..len)?;
    out[..MembershipHeader::LEN]
        .copy_from_slice(&MembershipHeader::new(lab_id, node, flags, groups.len() as u16).0);
    let mut at = MembershipHeader::LEN;
    for state in groups {
        let (record_type, listed): (u8, &[u32]) = match &state.members {
            None => (record::NO_MEMBERS, &[]),
            Some(filter) if filter.is_include() => (record::HAS_SOURCE_MEMBERS, filter.listed()),
            Some(filter) => (record::HAS_MEMBERS, filter.listed()),
        };
        let (group_family, group): (u8, &[u8]) = match &state.group {
            IpAddr::V4(group) => (family::IPV4, &group.octets()[..]),
            IpAddr::V6(_) if !listed.is_empty() || record_type == record::HAS_SOURCE_MEMBERS => {
                return None;
            }
            IpAddr::V6(group) => (family::IPV6, &group.octets()[..]),
        };
        let fixed = MembershipRecord::new(record_type, group_family, listed.len() as u16);
        out[at..at + MembershipRecord::LEN].copy_from_slice(&fixed.0);
        at += MembershipRecord::LEN;
        out[at..at + group.len()].copy_from_slice(group);
        at += group.len();
        for source in listed {
            out[at..at + IPV4_LEN].copy_from_slice(&source.to_ne_bytes());
            at += IPV4_LEN;
        }
    }
    Some(len)
}

/// How many of `groups`, from the first, fit one message (at least one when there are any:
/// every record fits alone).
pub fn fitting(groups: &[GroupState]) -> usize {
    let mut len = MembershipHeader::LEN;
    let mut count = 0;
    for state in groups.iter().take(usize::from(MAX_MEMBERSHIP_RECORDS)) {
        len += state.record_len();
        if len > MAX_MEMBERSHIP_LEN {
            break;
        }
        count += 1;
    }
    count
}

const _: () = assert!(
    MembershipHeader::LEN
        + MAX_MEMBERSHIP_RECORDS as usize
            * (MembershipRecord::LEN + IPV4_LEN + IPV4_LEN * MAX_SOURCES_PER_MEMBER as usize)
        > MAX_MEMBERSHIP_LEN,
    "records with sources need splitting by length, not only by count"
);

const _: () = assert!(
    MembershipHeader::LEN + MAX_MEMBERSHIP_RECORDS as usize * (MembershipRecord::LEN + IPV6_LEN)
        > MAX_MEMBERSHIP_LEN,
    "IPv6 records need splitting by length, not only by count"
);

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;

    /// Lab 42, node 172.31.255.2: members of 239.1.1.1 for every source, none left of
    /// 239.2.2.2, members of 232.3.3.3 for 10.0.0.1 only, members of ff0e::7:1, none left of
    /// ff05::2.
    const MESSAGE: [u8; 84] = [
        b'M', b'C', b'L', b'M', 3, 0, 0, 5, 0, 0, 0, 42, 172, 31, 255, 2, //
        1, 1, 0, 0, 239, 1, 1, 1, //
        2, 1, 0, 0, 239, 2, 2, 2, //
        3, 1, 0, 1, 232, 3, 3, 3, 10, 0, 0, 1, //
        1, 2, 0, 0, 0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 1, //
        2, 2, 0, 0, 0xff, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
    ];

    fn states() -> [GroupState; 5] {
        let source = u32::from_ne_bytes([10, 0, 0, 1]);
        [
            GroupState {
                group: Ipv4Addr::new(239, 1, 1, 1).into(),
                members: Some(SourceFilter::ANY_SOURCE),
            },
            GroupState {
                group: Ipv4Addr::new(239, 2, 2, 2).into(),
                members: None,
            },
            GroupState {
                group: Ipv4Addr::new(232, 3, 3, 3).into(),
                members: SourceFilter::new(MODE_INCLUDE, &[source]),
            },
            GroupState {
                group: Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 7, 1).into(),
                members: Some(SourceFilter::ANY_SOURCE),
            },
            GroupState {
                group: Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 2).into(),
                members: None,
            },
        ]
    }

    #[test]
    fn a_message_parses_into_its_header_and_group_states() {
        let message = parse(&MESSAGE).expect("valid");
        let header = message.header();
        assert_eq!(header.lab_id(), 42);
        assert_eq!(header.node(), [172, 31, 255, 2]);
        assert_eq!(header.num_records(), 5);
        let records: Vec<GroupState> = message.records().collect();
        assert_eq!(records, states());
    }

    #[test]
    fn emit_writes_the_documented_layout() {
        let mut out = [0u8; MAX_MEMBERSHIP_LEN];
        let len = emit(42, [172, 31, 255, 2], 0, &states(), &mut out).expect("room");
        assert_eq!(&out[..len], &MESSAGE);
        assert!(!parse(&out[..len]).expect("valid").header().solicits());
        assert_eq!(
            emit(42, [172, 31, 255, 2], 0, &states(), &mut out[..83]),
            None
        );
        let hello = emit(7, [10, 0, 0, 1], FLAG_SOLICIT, &[], &mut out).expect("room");
        assert_eq!(
            &out[..hello],
            &[b'M', b'C', b'L', b'M', 3, 1, 0, 0, 0, 0, 0, 7, 10, 0, 0, 1]
        );
        let hello = parse(&out[..hello]).expect("valid");
        assert!(hello.header().solicits());
        assert_eq!(hello.records().count(), 0);
    }

    #[test]
    fn an_ipv6_group_with_sources_is_not_emitted() {
        let source = u32::from_ne_bytes([10, 0, 0, 1]);
        let mut out = [0u8; MAX_MEMBERSHIP_LEN];
        for members in [
            SourceFilter::new(MODE_INCLUDE, &[source]),
            SourceFilter::new(MODE_EXCLUDE, &[source]),
        ] {
            let state = GroupState {
                group: Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 7, 1).into(),
                members,
            };
            assert_eq!(
                emit(1, [10, 0, 0, 1], 0, &[state], &mut out),
                None,
                "{state:?}"
            );
        }
    }

    #[test]
    fn records_are_split_to_fit_one_datagram() {
        let eight: [u32; 8] = core::array::from_fn(|i| u32::from_ne_bytes([10, 0, 0, i as u8 + 1]));
        let full = GroupState {
            group: Ipv4Addr::new(232, 0, 0, 1).into(),
            members: SourceFilter::new(MODE_INCLUDE, &eight),
        };
        assert_eq!(full.record_len(), 40);
        // (1472 - 16) / 40 = 36 full records fit one message.
        let many = [full; 100];
        assert_eq!(fitting(&many), 36);
        let mut out = [0u8; MAX_MEMBERSHIP_LEN];
        let len = emit(1, [10, 0, 0, 1], 0, &many[..36], &mut out).expect("fits");
        assert_eq!(parse(&out[..len]).expect("valid").records().count(), 36);
        assert_eq!(emit(1, [10, 0, 0, 1], 0, &many[..37], &mut out), None);
        // Without sources the count bound comes first for IPv4 groups.
        let bare = [states()[0]; 200];
        assert_eq!(fitting(&bare), usize::from(MAX_MEMBERSHIP_RECORDS));
        // IPv6 groups take 20 bytes each: (1472 - 16) / 20 = 72 fit one message.
        let ipv6 = states()[3];
        assert_eq!(ipv6.record_len(), 20);
        let many6 = [ipv6; 200];
        assert_eq!(fitting(&many6), 72);
        let len = emit(1, [10, 0, 0, 1], 0, &many6[..72], &mut out).expect("fits");
        assert_eq!(len, 1456);
        assert_eq!(parse(&out[..len]).expect("valid").records().count(), 72);
        assert_eq!(emit(1, [10, 0, 0, 1], 0, &many6[..73], &mut out), None);
        // Mixed: after 10 IPv4 groups (16 + 10 x 8 = 96 bytes), 68 IPv6 ones fit; after 100
        // (816 bytes) 32 would, but the count bound comes first.
        let mixed: Vec<GroupState> = [states()[0]; 100].into_iter().chain(many6).collect();
        assert_eq!(fitting(&mixed[90..]), 10 + 68);
        assert_eq!(fitting(&mixed), usize::from(MAX_MEMBERSHIP_RECORDS));
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
        assert_eq!(parse(&MESSAGE[..43]), malformed, "a source cut short");
        assert_eq!(parse(&MESSAGE[..63]), malformed, "an IPv6 group cut short");
        assert_eq!(parse(&MESSAGE[..83]), malformed, "the last group cut short");
        let mut longer = [0u8; 85];
        longer[..84].copy_from_slice(&MESSAGE);
        assert_eq!(parse(&longer), malformed, "a byte too many");
        assert_eq!(parse(&with(0, b'X')), malformed, "magic");
        assert_eq!(parse(&with(4, 2)), malformed, "version 2");
        assert_eq!(
            parse(&with(7, 6)),
            malformed,
            "more records declared than sent"
        );
        assert_eq!(parse(&with(16, 4)), malformed, "unknown record type");
        assert_eq!(
            parse(&with(17, 0)),
            malformed,
            "family 0 (version 2's reserved byte)"
        );
        assert_eq!(parse(&with(17, 3)), malformed, "unknown family");
        assert_eq!(
            parse(&with(20, 10)),
            malformed,
            "a group outside 224.0.0.0/4"
        );
        assert_eq!(parse(&with(27, 1)), malformed, "NO_MEMBERS with a source");
        assert_eq!(parse(&with(35, 0)), malformed, "HAS_SOURCE_MEMBERS without");
        assert_eq!(
            parse(&with(35, 9)),
            malformed,
            "more sources than the bound"
        );
        assert_eq!(
            parse(&with(48, 0xfe)),
            malformed,
            "an IPv6 group outside ff00::/8"
        );
        // The first four records alone (the IPv6 HAS_MEMBERS record last) are a message; with
        // a source after that record's group (its count says one), the lengths agree but an
        // IPv6 record has no sources.
        let mut four = [0u8; 64];
        four.copy_from_slice(&MESSAGE[..64]);
        four[7] = 4;
        assert!(parse(&four).is_ok(), "the first four records");
        let mut sourced = [0u8; 68];
        sourced[..64].copy_from_slice(&four);
        sourced[47] = 1;
        sourced[64..].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(parse(&sourced), malformed, "an IPv6 group with a source");
        sourced[44] = record::HAS_SOURCE_MEMBERS;
        assert_eq!(
            parse(&sourced),
            malformed,
            "HAS_SOURCE_MEMBERS for an IPv6 group"
        );
        let mut many = [0u8; MembershipHeader::LEN + 129 * 8];
        many[..16].copy_from_slice(&MembershipHeader::new(42, [10, 0, 0, 1], 0, 129).0);
        for record in many[16..].chunks_exact_mut(8) {
            record[..4]
                .copy_from_slice(&MembershipRecord::new(record::HAS_MEMBERS, family::IPV4, 0).0);
            record[4..].copy_from_slice(&[239, 0, 0, 1]);
        }
        assert_eq!(parse(&many), malformed, "more than MAX_MEMBERSHIP_RECORDS");
    }
}
