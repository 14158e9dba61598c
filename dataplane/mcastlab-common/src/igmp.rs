//! IGMP wire constants (RFC 1112, RFC 2236, RFC 3376), shared by the eBPF parser and the
//! testbed's packet crafter.

/// IP protocol number of IGMP (RFC 1112 appendix I).
pub const IPPROTO_IGMP: u8 = 2;

/// Membership Query, all versions (RFC 3376 section 4.1).
pub const MEMBERSHIP_QUERY: u8 = 0x11;
/// Version 1 Membership Report (RFC 1112 appendix I).
pub const V1_MEMBERSHIP_REPORT: u8 = 0x12;
/// Version 2 Membership Report (RFC 2236 section 2.1).
pub const V2_MEMBERSHIP_REPORT: u8 = 0x16;
/// Version 2 Leave Group (RFC 2236 section 2.1).
pub const V2_LEAVE_GROUP: u8 = 0x17;
/// Version 3 Membership Report (RFC 3376 section 4.2).
pub const V3_MEMBERSHIP_REPORT: u8 = 0x22;

/// Group record types (RFC 3376 section 4.2.12).
pub mod record {
    /// Current-state: the interface is in INCLUDE mode for the listed sources.
    pub const MODE_IS_INCLUDE: u8 = 1;
    /// Current-state: the interface is in EXCLUDE mode for the listed sources.
    pub const MODE_IS_EXCLUDE: u8 = 2;
    /// Filter-mode-change to INCLUDE.
    pub const CHANGE_TO_INCLUDE_MODE: u8 = 3;
    /// Filter-mode-change to EXCLUDE.
    pub const CHANGE_TO_EXCLUDE_MODE: u8 = 4;
    /// Source-list-change: listed sources are now wanted.
    pub const ALLOW_NEW_SOURCES: u8 = 5;
    /// Source-list-change: listed sources are no longer wanted.
    pub const BLOCK_OLD_SOURCES: u8 = 6;
}

/// What an IGMPv3 group record means for an any-source member, the only kind the reference
/// dataplane tracks (it replicates whole groups; the receiving socket's kernel filters sources).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordEffect {
    /// The sender wants traffic of the group.
    Join,
    /// The sender wants no traffic of the group.
    Leave,
    /// Membership does not change.
    NoEffect,
}

/// Maps a record type and its number of sources to its effect (RFC 3376 section 4.2.12 read for
/// an any-source member):
/// - `MODE_IS_EXCLUDE`, `CHANGE_TO_EXCLUDE_MODE`: join, whatever the sources (EXCLUDE{} is the
///   any-source join; EXCLUDE{S} still wants every source but S).
/// - `MODE_IS_INCLUDE`, `CHANGE_TO_INCLUDE_MODE`: no sources is a leave; with sources the member
///   wants those sources, so the group is joined.
/// - `ALLOW_NEW_SOURCES` with sources: join. Without sources: no effect.
/// - `BLOCK_OLD_SOURCES` and unknown types: no effect. A member leaving its last source in
///   INCLUDE mode sends only BLOCK{S}; it stays subscribed until a leave or `subscriber delete`.
pub const fn record_effect(record_type: u8, num_sources: u16) -> RecordEffect {
    match record_type {
        record::MODE_IS_EXCLUDE | record::CHANGE_TO_EXCLUDE_MODE => RecordEffect::Join,
        record::MODE_IS_INCLUDE | record::CHANGE_TO_INCLUDE_MODE => {
            if num_sources == 0 {
                RecordEffect::Leave
            } else {
                RecordEffect::Join
            }
        }
        record::ALLOW_NEW_SOURCES if num_sources > 0 => RecordEffect::Join,
        _ => RecordEffect::NoEffect,
    }
}

/// Whether the first octet of an address puts it in 224.0.0.0/4 (RFC 5771).
pub const fn is_multicast_octet(first_octet: u8) -> bool {
    first_octet & 0xf0 == 0xe0
}

/// The Ethernet destination of an IPv4 multicast group: 01:00:5e followed by the low 23 bits of
/// the group (RFC 1112 section 6.4). `group` is the four wire octets.
pub const fn group_mac(group: [u8; 4]) -> [u8; 6] {
    [0x01, 0x00, 0x5e, group[1] & 0x7f, group[2], group[3]]
}
