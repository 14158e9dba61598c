//! The eBPF side of a group's fan-out list (`mcastlab_common::slots`): finding, claiming and
//! freeing member slots with atomic compare-and-exchange, safe against other CPUs and userspace
//! changing the same group at the same time.
//!
//! Scans run in `bpf_loop` callbacks, so their length (up to the group's capacity) costs the
//! verifier nothing.

use core::ffi::c_void;

use aya_ebpf::helpers::bpf_loop;
use mcastlab_common::slots::{FREE, GroupHeader, HEADER_SLOT, Member};

use crate::{atomic, maps::GroupSlots};

/// Most attempts at raising the high-water mark; each failed one means another writer changed
/// the header meanwhile (and most likely raised it past our slot already).
const RAISE_ATTEMPTS: u32 = 8;

/// The header of a group.
#[inline(always)]
pub fn header(slots: &GroupSlots) -> Option<GroupHeader> {
    let slot = slots.get_ptr(HEADER_SLOT)?;
    // SAFETY: an aligned 8-byte value of the array.
    Some(GroupHeader::from_word(unsafe { atomic::load(slot) }))
}

/// A slot and the word it held when it was read.
#[derive(Clone, Copy)]
pub struct Found {
    /// The slot index.
    pub slot: u32,
    /// Its word.
    pub word: u64,
}

/// Where `address` is, among the slots below the high-water mark.
#[inline(always)]
pub fn find(slots: &GroupSlots, high_water: u32, address: u32) -> Option<Found> {
    let mut search = Search {
        slots: core::ptr::from_ref(slots),
        address,
        found: Found { slot: 0, word: 0 },
    };
    run(
        high_water.saturating_sub(1),
        find_step as *mut c_void,
        &mut search,
    );
    (search.found.slot != 0).then_some(search.found)
}

/// Claims the lowest free slot of the group's capacity for `member` and raises the high-water
/// mark over it. Returns the slot, or `None` when every slot is taken.
#[inline(always)]
pub fn claim(slots: &GroupSlots, header: GroupHeader, member: Member) -> Option<u32> {
    let mut claim = Claim {
        slots: core::ptr::from_ref(slots),
        word: member.word(),
        slot: 0,
    };
    run(header.capacity, claim_step as *mut c_void, &mut claim);
    if claim.slot == 0 {
        return None;
    }
    raise_high_water(slots, claim.slot);
    Some(claim.slot)
}

/// After claiming `slot` for `member`: frees every other slot holding the same address above
/// it, or gives `slot` back if one lies below (two writers claimed at once; the lowest slot
/// stays). Returns whether `slot` was kept.
#[inline(always)]
pub fn keep_lowest(slots: &GroupSlots, member: Member, slot: u32) -> bool {
    let high_water = header(slots).map_or(0, |h| h.high_water);
    let mut dedup = Dedup {
        slots: core::ptr::from_ref(slots),
        address: member.address,
        own_slot: slot,
        own_word: member.word(),
        given_back: 0,
    };
    run(
        high_water.saturating_sub(1),
        dedup_step as *mut c_void,
        &mut dedup,
    );
    dedup.given_back == 0
}

/// Replaces the word of `found` with `new` if nobody changed it since it was read.
#[inline(always)]
pub fn replace(slots: &GroupSlots, found: Found, new: u64) -> bool {
    match slots.get_ptr_mut(found.slot) {
        // SAFETY: an aligned 8-byte value of the array.
        Some(slot) => unsafe { atomic::compare_exchange(slot, found.word, new) },
        None => false,
    }
}

/// Frees the slot of `found` if it still holds the same member.
#[inline(always)]
pub fn free(slots: &GroupSlots, found: Found) -> bool {
    replace(slots, found, FREE)
}

#[inline(always)]
fn raise_high_water(slots: &GroupSlots, slot: u32) {
    let Some(header_slot) = slots.get_ptr_mut(HEADER_SLOT) else {
        return;
    };
    for _ in 0..RAISE_ATTEMPTS {
        // SAFETY: an aligned 8-byte value of the array.
        let word = unsafe { atomic::load(header_slot) };
        let raised = GroupHeader::from_word(word).covering(slot).word();
        // SAFETY: as above.
        if raised == word || unsafe { atomic::compare_exchange(header_slot, word, raised) } {
            return;
        }
    }
}

/// Runs `step` over member slots `1..=count` (its index argument is the slot minus one).
#[inline(always)]
fn run<T>(count: u32, step: *mut c_void, context: &mut T) {
    // SAFETY: `step` has the callback signature bpf_loop expects and only touches `context`,
    // which outlives the call.
    unsafe {
        bpf_loop(
            count,
            step,
            core::ptr::from_mut(context).cast::<c_void>(),
            0,
        );
    }
}

/// The word of member slot `index + 1`, with its slot number, if inside the array.
#[inline(always)]
fn member_slot(slots: *const GroupSlots, index: u64) -> Option<(u32, *mut u64)> {
    let slot = index as u32 + 1;
    // SAFETY: `slots` is the inner map pointer the caller looked up.
    let pointer = unsafe { &*slots }.get_ptr_mut(slot)?;
    Some((slot, pointer))
}

#[repr(C)]
struct Search {
    slots: *const GroupSlots,
    address: u32,
    found: Found,
}

extern "C" fn find_step(index: u64, context: *mut Search) -> i64 {
    // SAFETY: bpf_loop passes our context.
    let search = unsafe { &mut *context };
    let Some((slot, pointer)) = member_slot(search.slots, index) else {
        return 1;
    };
    // SAFETY: an aligned 8-byte value of the array.
    let word = unsafe { atomic::load(pointer) };
    match Member::from_word(word) {
        Some(member) if member.address == search.address => {
            search.found = Found { slot, word };
            1
        }
        _ => 0,
    }
}

#[repr(C)]
struct Claim {
    slots: *const GroupSlots,
    word: u64,
    slot: u32,
}

extern "C" fn claim_step(index: u64, context: *mut Claim) -> i64 {
    // SAFETY: bpf_loop passes our context.
    let claim = unsafe { &mut *context };
    let Some((slot, pointer)) = member_slot(claim.slots, index) else {
        return 1;
    };
    // SAFETY: an aligned 8-byte value of the array.
    if unsafe { atomic::load(pointer) } == FREE
        && unsafe { atomic::compare_exchange(pointer, FREE, claim.word) }
    {
        claim.slot = slot;
        return 1;
    }
    0
}

#[repr(C)]
struct Dedup {
    slots: *const GroupSlots,
    address: u32,
    own_slot: u32,
    own_word: u64,
    given_back: u32,
}

extern "C" fn dedup_step(index: u64, context: *mut Dedup) -> i64 {
    // SAFETY: bpf_loop passes our context.
    let dedup = unsafe { &mut *context };
    let Some((slot, pointer)) = member_slot(dedup.slots, index) else {
        return 1;
    };
    if slot == dedup.own_slot {
        return 0;
    }
    // SAFETY: an aligned 8-byte value of the array.
    let word = unsafe { atomic::load(pointer) };
    match Member::from_word(word) {
        Some(member) if member.address == dedup.address => {
            if slot < dedup.own_slot {
                // The other writer's slot is lower: ours goes back.
                if let Some((_, own)) = member_slot(dedup.slots, u64::from(dedup.own_slot) - 1) {
                    // SAFETY: as above.
                    unsafe { atomic::compare_exchange(own, dedup.own_word, FREE) };
                }
                dedup.given_back = 1;
                1
            } else {
                // SAFETY: as above.
                unsafe { atomic::compare_exchange(pointer, word, FREE) };
                0
            }
        }
        _ => 0,
    }
}
