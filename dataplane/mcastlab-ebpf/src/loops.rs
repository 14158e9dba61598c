//! The dataplane's loops (the fan-out list's scans, the passes over a report's records and over
//! a record's sources), run by a helper so that their length costs the verifier nothing:
//!
//! - `bpf_loop` (Linux 5.17+), where the kernel has it;
//! - before that, `bpf_for_each_map_elem` (5.13) over [`MCAST_LOOP_STEPS`], an array of
//!   `MAX_LOOP_STEPS` entries, whose callback stops once the loop's count is reached.
//!
//! Userspace picks one at load by setting [`MCAST_USE_BPF_LOOP`]
//! (`mcastlab_common::names::GLOBAL_USE_BPF_LOOP`) in the read-only data; the verifier sees a
//! constant and prunes the other way unseen, so a kernel without `bpf_loop` never meets the call.
//!
//! A loop's body is a [`Step`]: one type per body, whose two callbacks ([`loop_callback`],
//! [`each_callback`]) the helpers call.

use core::{ffi::c_void, marker::PhantomData};

use aya_ebpf::{
    btf_maps::Array,
    helpers::{bpf_for_each_map_elem, bpf_loop},
    macros::btf_map,
};
use mcastlab_common::MAX_LOOP_STEPS;

/// A callback's result that goes on to the next step.
pub const CONTINUE: i64 = 0;
/// A callback's result that ends the loop.
pub const STOP: i64 = 1;

/// 1: loops run in `bpf_loop`; 0: in `bpf_for_each_map_elem` over [`MCAST_LOOP_STEPS`]. Set by
/// userspace before load (`names::GLOBAL_USE_BPF_LOOP`); the default suits every kernel that
/// has `bpf_loop`.
#[unsafe(no_mangle)]
static MCAST_USE_BPF_LOOP: u8 = 1;

/// Stands in for `bpf_loop`'s steps where the kernel has no `bpf_loop`: entry `i` is step `i`;
/// the values are never read. Private to the loaded object (not in `names::MAPS`).
#[btf_map]
static MCAST_LOOP_STEPS: Array<u8, { MAX_LOOP_STEPS as usize }> = Array::new();

/// The body of a loop over a context of type [`Step::Context`].
pub trait Step {
    /// What the steps share: the caller's state, which outlives the loop.
    type Context;

    /// Step `index` (from 0): [`CONTINUE`] or [`STOP`].
    fn step(index: u32, context: &mut Self::Context) -> i64;
}

/// Runs `S`'s step `count` times (at most `MAX_LOOP_STEPS`) over `context`, from index 0, until
/// a step returns [`STOP`].
#[inline(always)]
pub fn run<S: Step>(count: u32, context: &mut S::Context) {
    // SAFETY: a read of a read-only global of this object.
    if unsafe { core::ptr::read_volatile(&MCAST_USE_BPF_LOOP) } != 0 {
        // SAFETY: the callback has the signature bpf_loop expects and only touches `context`,
        // which outlives the call.
        unsafe {
            bpf_loop(
                count,
                loop_callback::<S> as *mut c_void,
                core::ptr::from_mut(context).cast::<c_void>(),
                0,
            );
        }
    } else {
        let mut bounded = Bounded::<S> {
            count,
            context: core::ptr::from_mut(context),
            step: PhantomData,
        };
        // SAFETY: the map is this object's array; the callback has the signature
        // bpf_for_each_map_elem expects and only touches `bounded`, which outlives the call.
        unsafe {
            bpf_for_each_map_elem(
                core::ptr::from_ref(&MCAST_LOOP_STEPS)
                    .cast_mut()
                    .cast::<c_void>(),
                each_callback::<S> as *mut c_void,
                core::ptr::from_mut(&mut bounded).cast::<c_void>(),
                0,
            );
        }
    }
}

/// A loop's context as `bpf_for_each_map_elem`'s callback gets it: the count to stop at and the
/// caller's context.
#[repr(C)]
struct Bounded<S: Step> {
    count: u32,
    context: *mut S::Context,
    step: PhantomData<S>,
}

/// `bpf_loop` callback: step `index` of `S`.
extern "C" fn loop_callback<S: Step>(index: u64, context: *mut S::Context) -> i64 {
    // SAFETY: bpf_loop passes the context `run` gave it, which outlives the loop.
    S::step(index as u32, unsafe { &mut *context })
}

/// `bpf_for_each_map_elem` callback over [`MCAST_LOOP_STEPS`]: step `*index` of `S`, or the end
/// of the loop once the count is reached.
extern "C" fn each_callback<S: Step>(
    _map: *mut c_void,
    index: *const u32,
    _value: *const u8,
    bounded: *mut Bounded<S>,
) -> i64 {
    // SAFETY: the helper passes a valid key and the context `run` gave it, which points to the
    // caller's context; both outlive the loop.
    let bounded = unsafe { &mut *bounded };
    let index = unsafe { *index };
    if index >= bounded.count {
        return STOP;
    }
    S::step(index, unsafe { &mut *bounded.context })
}
