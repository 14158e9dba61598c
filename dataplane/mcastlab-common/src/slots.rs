//! A group's fan-out list: the inner map of the group map, a dense array of 64-bit slots.
//!
//! Replication reads slots `1..high_water` and nothing else, so a packet costs in proportion to
//! the subscribers present, not to what the group could hold (a hash map's
//! `bpf_for_each_map_elem` walks every bucket: about 5.5 µs per packet at 1024 buckets).
//!
//! - Slot [`HEADER_SLOT`] holds the [`GroupHeader`]: the high-water mark (one past the highest
//!   slot ever claimed) and the group's capacity.
//! - Slots `1..=capacity` hold one subscriber each as a [`Member`] word, or [`FREE`].
//! - After the slots, word [`heard_index`]`(slot)` holds when the member in `slot` was last
//!   heard: the `CLOCK_MONOTONIC` nanoseconds (`bpf_ktime_get_ns`) of its latest join or
//!   refresh, written by the eBPF programs; [`NEVER_HEARD`] for members userspace added. The
//!   node agent expires local members not heard for the Group Membership Interval. Replication
//!   never reads these words.
//! - After those, word [`packets_index`]`(slot)` counts the copies delivered to the member in
//!   `slot` and word [`bytes_index`]`(slot)` their bytes (each copy's length as replicated: the
//!   Ethernet frame, before any tunnel header). Replication adds to both (atomically, on any
//!   CPU) after each copy that left; a copy whose clone failed is not counted. Whoever claims a
//!   slot starts its counters at 0 ([`claim_step`]), so they count the current member's copies
//!   only. A copy replicated while a freed slot is claimed again may be counted to the new
//!   member (an in-flight copy of the old one) or to nobody (a copy to the new member before
//!   its counters were cleared).
//!
//! Writers are the eBPF programs (IGMP joins and leaves, on any CPU) and userspace (remote
//! subscribers, deletes; through a memory mapping of the array), so every change is one atomic
//! compare-and-exchange of a whole word:
//!
//! A slot belongs to a *subscriber* ([`Member::subscriber_key`]): a pod is its host-side veth
//! (one member per group and veth, whatever address it reports), a remote node its address.
//!
//! - join: a subscriber already present is refreshed in place (a pod whose address changed gets
//!   the new member word in its own slot); otherwise the lowest free slot is claimed
//!   (`FREE -> member`), then the high-water mark is raised to cover it (in at most
//!   [`RAISE_ATTEMPTS`] tries; a writer that runs out gives the slot back). Two writers
//!   that claim slots for the same subscriber at once both look again afterwards and the higher
//!   slot is freed (by whoever sees it), so each subscriber holds at most one slot.
//! - leave: `member -> FREE`, of the leaving subscriber's own slot only. The high-water mark does
//!   not come down: the next join reuses the freed slot, so the walk covers the group's peak
//!   membership.
//!
//! A reader may see a join or leave one packet late; it never sees half a member.
//!
//! The decisions of each step (does this slot hold the address, claim it, settle a duplicate,
//! raise the high-water mark) are written once below, over [`SlotWords`]: the eBPF programs
//! implement it over the inner map, userspace over the array mapped into its memory. Each side
//! keeps only its loops over the slots (loop helper callbacks; ranges).

/// Index of the header slot.
pub const HEADER_SLOT: u32 = 0;

/// Slots of every group's array: the header and [`crate::MAX_SUBSCRIBERS_PER_GROUP`] members.
pub const GROUP_SLOTS: u32 = crate::MAX_SUBSCRIBERS_PER_GROUP + 1;

/// Words of every group's array: the header and member slots, then one last-heard word per
/// slot ([`heard_index`]), one delivered-packets word per slot ([`packets_index`]) and one
/// delivered-bytes word per slot ([`bytes_index`]): 32 bytes per slot.
pub const GROUP_ARRAY_LEN: u32 = 4 * GROUP_SLOTS;

/// The last-heard word of a member nobody heard: one that userspace added (a remote node).
pub const NEVER_HEARD: u64 = 0;

/// The index of the word that holds when the member in `slot` was last heard.
pub const fn heard_index(slot: u32) -> u32 {
    GROUP_SLOTS + slot
}

/// The index of the word that says whether the group ever had a member with a source filter
/// (non-zero), the header slot's unused last-heard word. The eBPF programs set it before they
/// write the first filter of the group and nothing clears it, so replication looks up
/// filters (`crate::sources`) only for groups that have had one.
pub const SOURCE_FILTERS_INDEX: u32 = heard_index(HEADER_SLOT);

/// The index of the word that counts the copies delivered to the member in `slot`.
pub const fn packets_index(slot: u32) -> u32 {
    2 * GROUP_SLOTS + slot
}

/// The index of the word that counts the bytes of the copies delivered to the member in
/// `slot`.
pub const fn bytes_index(slot: u32) -> u32 {
    3 * GROUP_SLOTS + slot
}

/// A free slot.
pub const FREE: u64 = 0;

/// [`Member::target`] of a remote subscriber: copies go through the node's tunnel, with the
/// member's address as the tunnel remote. Never an ifindex.
pub const TARGET_REMOTE: u32 = u32::MAX;

/// `BPF_F_MMAPABLE`: the group arrays are memory-mapped by userspace for atomic updates.
pub const GROUP_MAP_FLAGS: u32 = 1 << 10;

/// One subscriber of a group, as one slot word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// Who holds the slot, whatever else the word says: a pod is its veth (`target << 32`, the
    /// address bits zero), a remote node its address (its whole word). Two members with the same
    /// key are one subscriber, which holds at most one slot of a group.
    pub const fn subscriber_key(self) -> u64 {
        if self.is_remote() {
            self.word()
        } else {
            (self.target as u64) << 32
        }
    }

    /// Whether `self` and `other` are the same subscriber ([`Member::subscriber_key`]).
    pub const fn same_subscriber(self, other: Member) -> bool {
        self.subscriber_key() == other.subscriber_key()
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

/// Most attempts at raising the high-water mark over a claimed slot, on either side. Each failed
/// attempt means another writer raised the header in between without covering the slot; a
/// writer that runs out gives its slot back (see [`raise_high_water`]).
pub const RAISE_ATTEMPTS: u32 = 8;

/// The loads, stores and compare-and-exchanges of one group's array: all the protocol needs of
/// memory. An index is a slot or any other word of the array ([`heard_index`],
/// [`packets_index`], [`bytes_index`]).
pub trait SlotWords {
    /// The word at `index`, or `None` when the array has no such word.
    fn load(&self, index: u32) -> Option<u64>;

    /// Writes `value` to the word at `index` (one aligned 8-byte store); nothing when the array
    /// has no such word.
    fn store(&self, index: u32, value: u64);

    /// Replaces the word at `index` with `new` if it still is `old`; returns whether it did
    /// (`false` too when the array has no such word).
    fn compare_exchange(&self, index: u32, old: u64, new: u64) -> bool;
}

/// The words of a group array in memory (userspace: the array mapped from the kernel).
#[cfg(target_has_atomic = "64")]
impl SlotWords for [core::sync::atomic::AtomicU64] {
    #[inline(always)]
    fn load(&self, slot: u32) -> Option<u64> {
        use core::sync::atomic::Ordering;
        self.get(slot as usize)
            .map(|word| word.load(Ordering::SeqCst))
    }

    #[inline(always)]
    fn store(&self, index: u32, value: u64) {
        use core::sync::atomic::Ordering;
        if let Some(word) = self.get(index as usize) {
            word.store(value, Ordering::SeqCst);
        }
    }

    #[inline(always)]
    fn compare_exchange(&self, slot: u32, old: u64, new: u64) -> bool {
        use core::sync::atomic::Ordering;
        self.get(slot as usize).is_some_and(|word| {
            word.compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        })
    }
}

/// A slot and the word it held when it was read. Stays in one program or process (never in a
/// map), so it is not `#[repr(C)]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// The slot index.
    pub slot: u32,
    /// Its word.
    pub word: u64,
}

/// The header of a group, or `None` when the array has no header slot.
#[inline(always)]
pub fn header<W: SlotWords + ?Sized>(words: &W) -> Option<GroupHeader> {
    words.load(HEADER_SLOT).map(GroupHeader::from_word)
}

/// Find step: `slot` and its word if it holds a member at `address`.
#[inline(always)]
pub fn find_step<W: SlotWords + ?Sized>(words: &W, slot: u32, address: u32) -> Option<Found> {
    let word = words.load(slot)?;
    match Member::from_word(word) {
        Some(member) if member.address == address => Some(Found { slot, word }),
        _ => None,
    }
}

/// Find step by subscriber: `slot` and its word if it holds `member`'s subscriber
/// ([`Member::same_subscriber`]: the same veth for a pod, the same address for a remote node).
#[inline(always)]
pub fn find_subscriber_step<W: SlotWords + ?Sized>(
    words: &W,
    slot: u32,
    member: Member,
) -> Option<Found> {
    let word = words.load(slot)?;
    match Member::from_word(word) {
        Some(present) if present.same_subscriber(member) => Some(Found { slot, word }),
        _ => None,
    }
}

/// Claim step: takes `slot` for `member` if it is free (`FREE -> member`) and starts its
/// delivery counters at 0 ([`packets_index`], [`bytes_index`]); returns whether it did. A
/// claimed slot is not visible to readers until [`raise_high_water`] covers it (a slot below the
/// high-water mark, freed by a leave, is visible at once: see the module docs for the copies
/// that race a claim).
#[inline(always)]
pub fn claim_step<W: SlotWords + ?Sized>(words: &W, slot: u32, member: Member) -> bool {
    let claimed =
        words.load(slot) == Some(FREE) && words.compare_exchange(slot, FREE, member.word());
    if claimed {
        words.store(packets_index(slot), 0);
        words.store(bytes_index(slot), 0);
    }
    claimed
}

/// Raises the high-water mark to cover `slot`, in at most [`RAISE_ATTEMPTS`] attempts; returns
/// whether it is covered. A writer that gets `false` gives its slot back ([`replace`] with
/// [`FREE`]) and reports the change as failed: a member the walk cannot see is no member.
#[inline(always)]
pub fn raise_high_water<W: SlotWords + ?Sized>(words: &W, slot: u32) -> bool {
    for _ in 0..RAISE_ATTEMPTS {
        let Some(word) = words.load(HEADER_SLOT) else {
            return false;
        };
        let raised = GroupHeader::from_word(word).covering(slot).word();
        if raised == word || words.compare_exchange(HEADER_SLOT, word, raised) {
            return true;
        }
    }
    false
}

/// Replaces the word of `found` with `new` if nobody changed it since it was read (a leave or a
/// delete: `new` is [`FREE`]; a pod that moved behind another veth: its new member word).
#[inline(always)]
pub fn replace<W: SlotWords + ?Sized>(words: &W, found: Found, new: u64) -> bool {
    words.compare_exchange(found.slot, found.word, new)
}

/// What a writer that claimed a slot does about another slot holding the same subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dedup {
    /// The other slot is the writer's own or holds another subscriber (or nothing): no change.
    Unrelated,
    /// The other slot lies above the writer's: it was freed (unless it changed since it was
    /// read). The scan goes on.
    FreedTheirs,
    /// The other slot lies below the writer's: the writer's own slot was given back, and the
    /// subscriber keeps this one. The scan stops; the writer's add did not happen.
    GaveBack(Found),
}

/// Dedup decision for `other`, read holding the same subscriber as `own` (a slot this writer
/// claimed): of two slots of one subscriber the lower stays, whoever sees the pair frees the
/// higher. Both writers of a pair look after raising the high-water mark, so at least one sees
/// the other.
#[inline(always)]
pub fn settle<W: SlotWords + ?Sized>(words: &W, own: Found, other: Found) -> Dedup {
    if other.slot == own.slot {
        Dedup::Unrelated
    } else if other.slot < own.slot {
        replace(words, own, FREE);
        Dedup::GaveBack(other)
    } else {
        replace(words, other, FREE);
        Dedup::FreedTheirs
    }
}

/// Dedup step: reads `slot` and [`settle`]s it against `own` if it holds the same subscriber.
#[inline(always)]
pub fn dedup_step<W: SlotWords + ?Sized>(words: &W, own: Found, slot: u32) -> Dedup {
    let Some(member) = Member::from_word(own.word) else {
        return Dedup::Unrelated;
    };
    match find_subscriber_step(words, slot, member) {
        Some(other) => settle(words, own, other),
        None => Dedup::Unrelated,
    }
}

/// What an IGMP join of a pod does, given where its subscriber (its veth) already is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// The veth holds no slot: claim one.
    Claim,
    /// The veth's slot holds this member already (or `present` is a remote subscriber's,
    /// userspace's, left alone): nothing to change.
    Refresh,
    /// The veth's pod reports another address than its slot holds (its address changed): the
    /// slot gets the new member word in place, so a pod never holds two slots.
    Replace(Found),
}

/// Join decision for `joining`, whose subscriber ([`find_subscriber_step`]) was found at
/// `present` (or nowhere).
#[inline(always)]
pub fn join_decision(present: Option<Found>, joining: Member) -> Join {
    let Some(found) = present else {
        return Join::Claim;
    };
    match Member::from_word(found.word) {
        Some(member) if !member.is_remote() && member != joining => Join::Replace(found),
        _ => Join::Refresh,
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

#[cfg(test)]
mod step_tests {
    use core::{
        cell::Cell,
        sync::atomic::{AtomicU64, Ordering},
    };

    use super::*;

    const A: u32 = 0x0b00_000a;
    const B: u32 = 0x0c00_000a;

    /// A group of capacity 6 with `members` in slots 1.., high-water mark `high_water`.
    fn group(high_water: u32, members: &[u64]) -> [AtomicU64; 8] {
        let words = [const { AtomicU64::new(FREE) }; 8];
        words[0].store((6u64 << 32) | u64::from(high_water), Ordering::SeqCst);
        for (i, word) in members.iter().enumerate() {
            words[i + 1].store(*word, Ordering::SeqCst);
        }
        words
    }

    fn read(words: &[AtomicU64]) -> [u64; 8] {
        core::array::from_fn(|i| words[i].load(Ordering::SeqCst))
    }

    #[test]
    fn find_step_matches_the_address_only() {
        let remote_a = Member::remote(A).word();
        let words = group(4, &[Member::local(B, 3).word(), FREE, remote_a]);
        assert_eq!(
            find_step(&words[..], 3, A),
            Some(Found {
                slot: 3,
                word: 0xffff_ffff_0b00_000a
            })
        );
        assert_eq!(find_step(&words[..], 1, A), None, "another address");
        assert_eq!(find_step(&words[..], 2, A), None, "a free slot");
        assert_eq!(find_step(&words[..], 8, A), None, "past the array");
        assert_eq!(
            header(&words[..]),
            Some(GroupHeader {
                high_water: 4,
                capacity: 6
            })
        );
    }

    #[test]
    fn claim_step_takes_free_slots_only() {
        let words = group(2, &[Member::remote(B).word()]);
        assert!(!claim_step(&words[..], 1, Member::local(A, 7)));
        assert!(claim_step(&words[..], 2, Member::local(A, 7)));
        assert!(!claim_step(&words[..], 2, Member::local(A, 9)));
        assert!(!claim_step(&words[..], 8, Member::local(A, 7)));
        assert_eq!(
            read(&words)[..3],
            [(6 << 32) | 2, 0xffff_ffff_0c00_000a, 0x0000_0007_0b00_000a]
        );
    }

    #[test]
    fn a_claim_starts_the_slots_delivery_counters_and_a_refused_one_leaves_them() {
        // A whole group array: slot 1 held a member that got 5 copies (300 bytes) and left;
        // slot 2 holds remote B with 7 copies (420 bytes).
        let words = [const { AtomicU64::new(FREE) }; GROUP_ARRAY_LEN as usize];
        words[0].store(GroupHeader::empty(6).covering(2).word(), Ordering::SeqCst);
        words[2].store(Member::remote(B).word(), Ordering::SeqCst);
        for (slot, packets, bytes) in [(1, 5, 300), (2, 7, 420)] {
            words[packets_index(slot) as usize].store(packets, Ordering::SeqCst);
            words[bytes_index(slot) as usize].store(bytes, Ordering::SeqCst);
        }
        let counters = |slot: u32| {
            (
                words[packets_index(slot) as usize].load(Ordering::SeqCst),
                words[bytes_index(slot) as usize].load(Ordering::SeqCst),
            )
        };
        // When A claims slot 1, and then slot 2 (taken).
        assert!(claim_step(&words[..], 1, Member::local(A, 7)));
        assert!(!claim_step(&words[..], 2, Member::local(A, 7)));
        // Then slot 1 counts from 0 and B keeps its counts.
        assert_eq!(counters(1), (0, 0));
        assert_eq!(counters(2), (7, 420));
        assert_eq!((packets_index(1), bytes_index(1)), (2051, 3076));
        assert_eq!(GROUP_ARRAY_LEN, 4100);
    }

    #[test]
    fn the_lower_slot_of_a_subscriber_stays_whoever_settles() {
        // Two words of one subscriber, the pod behind veth 3 (it reported two addresses).
        let (a3, a5) = (Member::local(A, 3).word(), Member::local(B, 3).word());
        let b = Member::remote(B).word();
        // Our claim is slot 2; veth 3 also sits in slot 4 (above) and slot 1 holds remote B.
        let words = group(5, &[b, a3, FREE, a5]);
        let own = Found { slot: 2, word: a3 };
        assert_eq!(dedup_step(&words[..], own, 1), Dedup::Unrelated);
        assert_eq!(dedup_step(&words[..], own, 2), Dedup::Unrelated);
        assert_eq!(dedup_step(&words[..], own, 3), Dedup::Unrelated);
        assert_eq!(dedup_step(&words[..], own, 4), Dedup::FreedTheirs);
        assert_eq!(read(&words)[1..6], [b, a3, FREE, FREE, FREE]);

        // Our claim is slot 4; veth 3 is in slot 2 (below): ours goes back.
        let words = group(5, &[b, a3, FREE, a5]);
        let own = Found { slot: 4, word: a5 };
        assert_eq!(
            dedup_step(&words[..], own, 2),
            Dedup::GaveBack(Found { slot: 2, word: a3 })
        );
        assert_eq!(read(&words)[1..6], [b, a3, FREE, FREE, FREE]);
    }

    #[test]
    fn settling_a_slot_that_changed_since_it_was_read_leaves_it() {
        let (a3, a5) = (Member::local(A, 3).word(), Member::local(A, 5).word());
        // Slot 3 held A behind veth 5 when read, and has been replaced by B since.
        let words = group(4, &[a3, FREE, Member::remote(B).word()]);
        let own = Found { slot: 1, word: a3 };
        let stale = Found { slot: 3, word: a5 };
        assert_eq!(settle(&words[..], own, stale), Dedup::FreedTheirs);
        assert_eq!(read(&words)[3], 0xffff_ffff_0c00_000a);
    }

    #[test]
    fn raising_covers_the_slot_once_and_never_lowers() {
        let words = group(1, &[]);
        assert!(raise_high_water(&words[..], 3));
        assert_eq!(read(&words)[0], (6 << 32) | 4);
        assert!(raise_high_water(&words[..], 2));
        assert_eq!(read(&words)[0], (6 << 32) | 4);
    }

    /// Slot words in which another writer raises the header by one (claims of lower slots)
    /// just before each of the first `interfere` header exchanges.
    struct Contended {
        words: [Cell<u64>; 8],
        interfere: Cell<u32>,
        exchanges: Cell<u32>,
    }

    impl Contended {
        fn new(interfere: u32) -> Self {
            let words = core::array::from_fn(|_| Cell::new(FREE));
            words[0].set(GroupHeader::empty(6).word());
            Self {
                words,
                interfere: Cell::new(interfere),
                exchanges: Cell::new(0),
            }
        }
    }

    impl SlotWords for Contended {
        fn load(&self, slot: u32) -> Option<u64> {
            self.words.get(slot as usize).map(Cell::get)
        }

        fn store(&self, index: u32, value: u64) {
            if let Some(word) = self.words.get(index as usize) {
                word.set(value);
            }
        }

        fn compare_exchange(&self, slot: u32, old: u64, new: u64) -> bool {
            let Some(word) = self.words.get(slot as usize) else {
                return false;
            };
            if slot == HEADER_SLOT {
                self.exchanges.set(self.exchanges.get() + 1);
                if self.interfere.get() > 0 {
                    self.interfere.set(self.interfere.get() - 1);
                    word.set(word.get() + 1);
                }
            }
            if word.get() != old {
                return false;
            }
            word.set(new);
            true
        }
    }

    #[test]
    fn raising_gives_up_after_eight_contended_attempts() {
        // Seven exchanges lost to raises that stay below slot 20: the eighth covers it.
        let words = Contended::new(7);
        assert!(raise_high_water(&words, 20));
        assert_eq!(words.exchanges.get(), 8);
        assert_eq!(words.words[0].get(), (6 << 32) | 21);
        // Eight lost: it gives up, and the header holds only the others' raises.
        let words = Contended::new(8);
        assert!(!raise_high_water(&words, 20));
        assert_eq!(words.exchanges.get(), 8);
        assert_eq!(words.words[0].get(), (6 << 32) | 9);
        // Raises of others that cover the slot end the attempts early.
        let words = Contended::new(u32::MAX);
        assert!(raise_high_water(&words, 3));
        assert_eq!(words.exchanges.get(), 3);
    }

    #[test]
    fn joins_claim_refresh_or_give_a_veths_slot_its_new_address() {
        let pod = Member::local(A, 4);
        let here = |word| Some(Found { slot: 3, word });
        assert_eq!(join_decision(None, pod), Join::Claim);
        assert_eq!(join_decision(here(pod.word()), pod), Join::Refresh);
        assert_eq!(
            join_decision(here(Member::remote(A).word()), pod),
            Join::Refresh
        );
        assert_eq!(
            join_decision(here(Member::local(B, 4).word()), pod),
            Join::Replace(Found {
                slot: 3,
                word: 0x0000_0004_0c00_000a
            })
        );
    }

    #[test]
    fn a_pod_is_its_veth_and_a_remote_node_its_address() {
        assert!(Member::local(A, 4).same_subscriber(Member::local(B, 4)));
        assert!(!Member::local(A, 4).same_subscriber(Member::local(A, 5)));
        assert!(Member::remote(A).same_subscriber(Member::remote(A)));
        assert!(!Member::remote(A).same_subscriber(Member::remote(B)));
        assert!(!Member::remote(A).same_subscriber(Member::local(A, 4)));
        assert_eq!(Member::local(A, 4).subscriber_key(), 0x0000_0004_0000_0000);
        // The veth's slot is found whatever address it holds; another veth's is not.
        let words = group(4, &[Member::local(B, 4).word(), Member::local(A, 5).word()]);
        assert_eq!(
            find_subscriber_step(&words[..], 1, Member::local(A, 4)),
            Some(Found {
                slot: 1,
                word: 0x0000_0004_0c00_000a
            })
        );
        assert_eq!(
            find_subscriber_step(&words[..], 2, Member::local(A, 4)),
            None
        );
    }

    #[test]
    fn two_claims_of_one_veth_keep_the_lower_slot_whatever_the_addresses() {
        // Slot 1 holds veth 4 with address B; we claimed slot 3 for veth 4 with address A.
        let words = group(
            4,
            &[Member::local(B, 4).word(), FREE, Member::local(A, 4).word()],
        );
        let own = Found {
            slot: 3,
            word: Member::local(A, 4).word(),
        };
        assert_eq!(
            dedup_step(&words[..], own, 1),
            Dedup::GaveBack(Found {
                slot: 1,
                word: 0x0000_0004_0c00_000a
            })
        );
        assert_eq!(read(&words)[3], FREE);
    }
}
