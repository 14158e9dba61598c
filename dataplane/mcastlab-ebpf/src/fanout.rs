//! The eBPF side of a group's fan-out list (`mcastlab_common::slots`): the loops of the protocol
//! over the inner map, around the steps userspace uses too, safe against other CPUs and
//! userspace changing the same group at the same time.
//!
//! Scans are [`loops`](crate::loops), so their length (up to the group's capacity) costs the
//! verifier nothing; their steps are `#[inline(always)]` and inline into the loop callbacks.

use mcastlab_common::slots::{self, Dedup, FREE, Found, GroupHeader, Member, SlotWords};

use crate::{
    atomic,
    loops::{CONTINUE, STOP, Step, run},
    maps::GroupSlots,
};

/// The words of a group's inner map, for the protocol's steps.
#[derive(Clone, Copy)]
struct Words<'a>(&'a GroupSlots);

impl SlotWords for Words<'_> {
    #[inline(always)]
    fn load(&self, slot: u32) -> Option<u64> {
        let pointer = self.0.get_ptr(slot)?;
        // SAFETY: an aligned 8-byte value of the array.
        Some(unsafe { atomic::load(pointer) })
    }

    #[inline(always)]
    fn store(&self, index: u32, value: u64) {
        if let Some(pointer) = self.0.get_ptr_mut(index) {
            // SAFETY: an aligned 8-byte value of the array.
            unsafe { atomic::store(pointer, value) };
        }
    }

    #[inline(always)]
    fn compare_exchange(&self, slot: u32, old: u64, new: u64) -> bool {
        match self.0.get_ptr_mut(slot) {
            // SAFETY: an aligned 8-byte value of the array.
            Some(pointer) => unsafe { atomic::compare_exchange(pointer, old, new) },
            None => false,
        }
    }
}

/// What became of a claim.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The member holds this slot, covered by the high-water mark.
    Kept(u32),
    /// Another writer added the same subscriber at the same time; its slot stays.
    Lost,
    /// Every slot of the group's capacity is taken.
    Full,
    /// The high-water mark could not be raised over the slot in
    /// [`slots::RAISE_ATTEMPTS`]; the slot was given back.
    Uncovered,
}

/// The header of a group.
#[inline(always)]
pub fn header(group: &GroupSlots) -> Option<GroupHeader> {
    slots::header(&Words(group))
}

/// Where `member`'s subscriber (a pod: its veth) is, among the slots below the high-water mark.
#[inline(always)]
pub fn find(group: &GroupSlots, high_water: u32, member: Member) -> Option<Found> {
    let mut search = Search {
        group: core::ptr::from_ref(group),
        member,
        found: Found { slot: 0, word: 0 },
    };
    run::<FindStep>(high_water.saturating_sub(1), &mut search);
    (search.found.slot != 0).then_some(search.found)
}

/// Adds `member`: claims the lowest free slot of the group's capacity, raises the high-water
/// mark over it, and keeps the lowest slot if another writer added the same subscriber at once.
#[inline(always)]
pub fn claim(group: &GroupSlots, header: GroupHeader, member: Member) -> Claim {
    let words = Words(group);
    let mut claim = Claiming {
        group: core::ptr::from_ref(group),
        member,
        slot: 0,
    };
    run::<ClaimStep>(header.capacity, &mut claim);
    if claim.slot == 0 {
        return Claim::Full;
    }
    let own = Found {
        slot: claim.slot,
        word: member.word(),
    };
    if !slots::raise_high_water(&words, own.slot) {
        slots::replace(&words, own, FREE);
        return Claim::Uncovered;
    }
    if keep_lowest(group, own) {
        Claim::Kept(own.slot)
    } else {
        Claim::Lost
    }
}

/// Records that the member in `slot` was heard now (`bpf_ktime_get_ns`, `CLOCK_MONOTONIC`).
/// One aligned 8-byte store: the agent reads it whole.
#[inline(always)]
pub fn heard(group: &GroupSlots, slot: u32) {
    if let Some(word) = group.get_ptr_mut(slots::heard_index(slot)) {
        // SAFETY: an aligned 8-byte value of the array; bpf_ktime_get_ns has no preconditions.
        unsafe { word.write_volatile(aya_ebpf::helpers::bpf_ktime_get_ns()) };
    }
}

/// Counts one copy of `bytes` bytes delivered to the member in `slot`: atomic adds to its
/// packets and bytes words (`slots::packets_index`, `slots::bytes_index`), which replication
/// on other CPUs adds to at the same time.
#[inline(always)]
pub fn delivered(group: &GroupSlots, slot: u32, bytes: u32) {
    add(group, slots::packets_index(slot), 1);
    add(group, slots::bytes_index(slot), u64::from(bytes));
}

/// Adds `value` to the word at `index` of the group's array, atomically.
#[inline(always)]
fn add(group: &GroupSlots, index: u32, value: u64) {
    if let Some(word) = group.get_ptr_mut(index) {
        // SAFETY: an aligned 8-byte value of the array.
        unsafe { atomic::add(word, value) };
    }
}

/// Whether a member of the group ever had a source filter (`slots::SOURCE_FILTERS_INDEX`).
#[inline(always)]
pub fn has_source_filters(group: &GroupSlots) -> bool {
    Words(group).load(slots::SOURCE_FILTERS_INDEX).unwrap_or(0) != 0
}

/// Marks that a member of the group has a source filter: from now on replication looks its
/// members' filters up. Set before the filter is written, never cleared.
#[inline(always)]
pub fn mark_source_filters(group: &GroupSlots) {
    if !has_source_filters(group) {
        Words(group).store(slots::SOURCE_FILTERS_INDEX, 1);
    }
}

/// Replaces the word of `found` with `new` if nobody changed it since it was read.
#[inline(always)]
pub fn replace(group: &GroupSlots, found: Found, new: u64) -> bool {
    slots::replace(&Words(group), found, new)
}

/// Frees the slot of `found` if it still holds the same member.
#[inline(always)]
pub fn free(group: &GroupSlots, found: Found) -> bool {
    replace(group, found, FREE)
}

/// After claiming `own`: settles every other slot of the same subscriber below the high-water
/// mark (see `slots::settle`). Returns whether `own` was kept.
#[inline(always)]
fn keep_lowest(group: &GroupSlots, own: Found) -> bool {
    let high_water = header(group).map_or(0, |h| h.high_water);
    let mut dedup = Deduplicating {
        group: core::ptr::from_ref(group),
        own,
        given_back: 0,
    };
    run::<DedupStep>(high_water.saturating_sub(1), &mut dedup);
    dedup.given_back == 0
}

/// The member slot a loop index stands for.
#[inline(always)]
fn slot_of(index: u32) -> u32 {
    index + 1
}

/// The words of the group a callback context points to.
///
/// # Safety
/// `group` is the inner map pointer the caller looked up, alive for the whole loop.
#[inline(always)]
unsafe fn words<'a>(group: *const GroupSlots) -> Words<'a> {
    // SAFETY: the caller's promise.
    Words(unsafe { &*group })
}

#[repr(C)]
struct Search {
    group: *const GroupSlots,
    member: Member,
    found: Found,
}

/// A step of [`find`]: whether the slot holds the member.
struct FindStep;

impl Step for FindStep {
    type Context = Search;

    #[inline(always)]
    fn step(index: u32, search: &mut Search) -> i64 {
        // SAFETY: the context holds the looked-up group.
        let words = unsafe { words(search.group) };
        match slots::find_subscriber_step(&words, slot_of(index), search.member) {
            Some(found) => {
                search.found = found;
                STOP
            }
            None => CONTINUE,
        }
    }
}

#[repr(C)]
struct Claiming {
    group: *const GroupSlots,
    member: Member,
    slot: u32,
}

/// A step of [`claim`]: takes the slot if it is free.
struct ClaimStep;

impl Step for ClaimStep {
    type Context = Claiming;

    #[inline(always)]
    fn step(index: u32, claim: &mut Claiming) -> i64 {
        // SAFETY: the context holds the looked-up group.
        let words = unsafe { words(claim.group) };
        let slot = slot_of(index);
        if slots::claim_step(&words, slot, claim.member) {
            claim.slot = slot;
            return STOP;
        }
        CONTINUE
    }
}

#[repr(C)]
struct Deduplicating {
    group: *const GroupSlots,
    own: Found,
    given_back: u32,
}

/// A step of [`keep_lowest`]: settles the slot against the claimed one.
struct DedupStep;

impl Step for DedupStep {
    type Context = Deduplicating;

    #[inline(always)]
    fn step(index: u32, dedup: &mut Deduplicating) -> i64 {
        // SAFETY: the context holds the looked-up group.
        let words = unsafe { words(dedup.group) };
        match slots::dedup_step(&words, dedup.own, slot_of(index)) {
            Dedup::GaveBack(_) => {
                dedup.given_back = 1;
                STOP
            }
            Dedup::Unrelated | Dedup::FreedTheirs => CONTINUE,
        }
    }
}
