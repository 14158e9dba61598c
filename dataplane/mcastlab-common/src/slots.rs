//! A group's fan-out list: the inner map of the group map, a dense array of 64-bit slots.
//!
//! Replication reads slots `1..high_water` and nothing else, so a packet costs in proportion to
//! the subscribers present, not to what the group could hold (a hash map's
//! `bpf_for_each_map_elem` walks every bucket: about 5.5 µs per packet at 1024 buckets).
//!
//! - Slot [`HEADER_SLOT`] holds the [`GroupHeader`]: the high-water mark (one past the highest
//!   slot ever claimed) and the group's capacity.
//! - Slots `1..=capacity` hold one subscriber each as a [`Member`] word, or [`FREE`].
//!
//! Writers are the eBPF programs (IGMP joins and leaves, on any CPU) and userspace (remote
//! subscribers, deletes; through a memory mapping of the array), so every change is one atomic
//! compare-and-exchange of a whole word:
//!
//! - join: a member already present is refreshed in place; otherwise the lowest free slot is
//!   claimed (`FREE -> member`), then the high-water mark is raised to cover it. Two writers
//!   that claim slots for the same address at once both look again afterwards and the higher
//!   slot is freed (by whoever sees it), so each address holds at most one slot.
//! - leave: `member -> FREE`. The high-water mark does not come down: the next join reuses the
//!   freed slot, so the walk covers the group's peak membership.
//!
//! A reader may see a join or leave one packet late; it never sees half a member.

/// Index of the header slot.
pub const HEADER_SLOT: u32 = 0;

/// Slots of every group's array: the header and [`crate::MAX_SUBSCRIBERS_PER_GROUP`] members.
pub const GROUP_SLOTS: u32 = crate::MAX_SUBSCRIBERS_PER_GROUP + 1;

/// A free slot.
pub const FREE: u64 = 0;

/// [`Member::target`] of a remote subscriber: copies go through the node's tunnel, with the
/// member's address as the tunnel remote. Never an ifindex.
pub const TARGET_REMOTE: u32 = u32::MAX;

/// `BPF_F_MMAPABLE`: the group arrays are memory-mapped by userspace for atomic updates.
pub const GROUP_MAP_FLAGS: u32 = 1 << 10;

/// One subscriber of a group, as one slot word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// The subscriber's IPv4 address as a map key ([`crate::addr_key`]): a pod's address or a
    /// remote node's. Never 0.
    pub address: u32,
    /// Where copies go: the pod's host-side veth ifindex, or [`TARGET_REMOTE`].
    pub target: u32,
}

impl Member {
    /// A pod behind the host-side veth `ifindex`.
    pub const fn local(address: u32, ifindex: u32) -> Self {
        Self {
            address,
            target: ifindex,
        }
    }

    /// A remote node at `address`, reached through the tunnel.
    pub const fn remote(address: u32) -> Self {
        Self {
            address,
            target: TARGET_REMOTE,
        }
    }

    /// Whether copies go through the tunnel.
    pub const fn is_remote(self) -> bool {
        self.target == TARGET_REMOTE
    }

    /// The slot word: the address in the low half, the target in the high half.
    pub const fn word(self) -> u64 {
        (self.target as u64) << 32 | self.address as u64
    }

    /// The member in a slot word, or `None` for a free slot.
    pub const fn from_word(word: u64) -> Option<Self> {
        if word == FREE {
            None
        } else {
            Some(Self {
                address: word as u32,
                target: (word >> 32) as u32,
            })
        }
    }
}

/// The header slot of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupHeader {
    /// One past the highest slot ever claimed; replication reads slots below it.
    pub high_water: u32,
    /// Most members the group holds: slots `1..=capacity` (1 to
    /// [`crate::MAX_SUBSCRIBERS_PER_GROUP`]).
    pub capacity: u32,
}

impl GroupHeader {
    /// The header of a new, empty group.
    pub const fn empty(capacity: u32) -> Self {
        Self {
            high_water: 1,
            capacity,
        }
    }

    /// The slot word: the high-water mark in the low half, the capacity in the high half.
    pub const fn word(self) -> u64 {
        (self.capacity as u64) << 32 | self.high_water as u64
    }

    /// The header in a slot word.
    pub const fn from_word(word: u64) -> Self {
        Self {
            high_water: word as u32,
            capacity: (word >> 32) as u32,
        }
    }

    /// The header once slot `slot` is claimed: the high-water mark covers it.
    pub const fn covering(self, slot: u32) -> Self {
        Self {
            high_water: if slot >= self.high_water {
                slot + 1
            } else {
                self.high_water
            },
            capacity: self.capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_words_round_trip_and_are_never_free() {
        for member in [
            Member::local(u32::from_ne_bytes([10, 0, 0, 1]), 7),
            Member::remote(u32::from_ne_bytes([192, 168, 1, 2])),
            Member::local(1, 0),
        ] {
            assert_ne!(member.word(), FREE);
            assert_eq!(Member::from_word(member.word()), Some(member));
        }
        assert_eq!(Member::from_word(FREE), None);
        assert!(Member::remote(5).is_remote());
        assert!(!Member::local(5, 3).is_remote());
    }

    #[test]
    fn headers_round_trip_and_cover_claimed_slots() {
        let header = GroupHeader::empty(1024);
        assert_eq!(GroupHeader::from_word(header.word()), header);
        assert_eq!(header.high_water, 1);
        assert_eq!(header.covering(1).high_water, 2);
        assert_eq!(header.covering(5).covering(3).high_water, 6);
        assert_eq!(header.covering(5).capacity, 1024);
    }
}
