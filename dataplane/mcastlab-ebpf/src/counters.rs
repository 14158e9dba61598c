//! Bumps the per-CPU reason counters.

use mcastlab_common::Reason;

use crate::maps::MCAST_REASONS;

/// Adds one to the counter of `reason`.
#[inline(always)]
pub fn count(reason: Reason) {
    if let Some(counter) = MCAST_REASONS.get_ptr_mut(reason.code()) {
        // SAFETY: a per-CPU slot is only touched by this CPU, and programs do not preempt each
        // other on it.
        unsafe { *counter += 1 };
    }
}
