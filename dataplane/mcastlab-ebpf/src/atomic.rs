//! Atomic access to 64-bit map values (BPF_ATOMIC instructions; the target has no atomic types
//! with compare-and-exchange or add, so the intrinsics are used directly).

use core::intrinsics::{AtomicOrdering, atomic_cxchg, atomic_xadd};

/// Reads the word at `slot`: one aligned 8-byte load, which no CPU tears (BPF has no
/// load-acquire before ISA v4; the compare-and-exchange writers use is a full barrier).
///
/// # Safety
/// `slot` points to an 8-byte aligned map value.
#[inline(always)]
pub unsafe fn load(slot: *const u64) -> u64 {
    // SAFETY: the caller's promise.
    unsafe { slot.read_volatile() }
}

/// Replaces the word at `slot` with `new` if it still is `old`; returns whether it did.
///
/// # Safety
/// `slot` points to an 8-byte aligned map value.
#[inline(always)]
pub unsafe fn compare_exchange(slot: *mut u64, old: u64, new: u64) -> bool {
    // SAFETY: the caller's promise.
    unsafe {
        atomic_cxchg::<u64, { AtomicOrdering::SeqCst }, { AtomicOrdering::SeqCst }>(slot, old, new)
            .1
    }
}

/// Adds `value` to the word at `slot` (one BPF_ATOMIC add, safe against other CPUs adding to
/// the same word; the old value is not fetched).
///
/// # Safety
/// `slot` points to an 8-byte aligned map value.
#[inline(always)]
pub unsafe fn add(slot: *mut u64, value: u64) {
    // SAFETY: the caller's promise.
    unsafe {
        atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(slot, value);
    }
}

/// Writes `value` to the word at `slot`: one aligned 8-byte store, which no CPU tears.
///
/// # Safety
/// `slot` points to an 8-byte aligned map value.
#[inline(always)]
pub unsafe fn store(slot: *mut u64, value: u64) {
    // SAFETY: the caller's promise.
    unsafe { slot.write_volatile(value) }
}
