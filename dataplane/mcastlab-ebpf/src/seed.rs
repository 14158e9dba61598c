//! The seed baseline, for benchmarks only: the replication of Cilium's multicast datapath
//! (cilium PR 29469, `bpf/lib/mcast.h`), the design mcastlab started from, ported as it is so
//! that the fan-out benchmark sets ours beside it.
//!
//! - Membership: a hash of maps, group -> a `BPF_MAP_TYPE_HASH` of up to
//!   `MAX_SUBSCRIBERS_PER_GROUP` subscribers keyed by address ([`SeedSubscriber`]), both
//!   without preallocation (Cilium's default).
//! - Per packet: one `bpf_for_each_map_elem` over the group's hash (the kernel walks every
//!   bucket of it, however few subscribers it holds) and one `bpf_clone_redirect` per
//!   subscriber; the walk stops at the first clone that fails, as the reference's callback
//!   does. The destination MAC is rewritten once before the walk; the original is dropped.
//!
//! Where it differs from the reference: the MAC is RFC 1112's (as ours), the veth the packet
//! came in on gets no copy (as ours), subscribers are local only (no tunnel), nothing is
//! counted, and IGMP passes untouched: userspace writes the membership
//! (`mcastlab_dataplane::seed`), since the benchmark measures forwarding only.

use core::ffi::c_void;

use aya_ebpf::{
    bindings::{__sk_buff, BPF_F_NO_PREALLOC, TC_ACT_OK, TC_ACT_SHOT},
    btf_maps::{HashMap, HashOfMaps},
    helpers::{bpf_clone_redirect, bpf_for_each_map_elem},
    macros::btf_map,
    programs::TcContext,
};
use mcastlab_common::{
    MAX_GROUPS, MAX_SUBSCRIBERS_PER_GROUP,
    igmp::{IPPROTO_IGMP, group_mac},
    seed::SeedSubscriber,
};

use crate::packet::{self, Network, ifindex, is_multicast};

/// Inner map of a group: subscriber address -> the subscriber.
pub type SeedSubscribers = HashMap<
    u32,
    SeedSubscriber,
    { MAX_SUBSCRIBERS_PER_GROUP as usize },
    { BPF_F_NO_PREALLOC as usize },
>;

/// Group address -> its subscriber hash. Written by userspace only.
#[btf_map]
pub static MCAST_SEED_GRP: HashOfMaps<
    u32,
    SeedSubscribers,
    { MAX_GROUPS as usize },
    { BPF_F_NO_PREALLOC as usize },
> = HashOfMaps::new();

/// What the walk needs to send copies (the reference's `_mcast_ep_delivery_ctx`).
#[repr(C)]
struct SeedDelivery {
    /// The packet being replicated. Kept as a full 8-byte slot so the verifier keeps its type.
    skb: *mut __sk_buff,
    /// The interface the packet came in on: never sent back there.
    ingress_ifindex: u32,
    /// Explicit padding.
    _pad: u32,
}

/// Multicast to a configured group is cloned to its subscribers and dropped; everything else
/// (IGMP included) passes untouched.
#[inline(always)]
pub fn handle(ctx: &TcContext) -> i32 {
    let Some(Network::V4(ip)) = packet::network(ctx) else {
        return TC_ACT_OK;
    };
    let group = ip.destination_key();
    if ip.protocol() == IPPROTO_IGMP || !is_multicast(group) {
        return TC_ACT_OK;
    }
    // SAFETY: the inner map is only used through helpers.
    let Some(subscribers) = (unsafe { MCAST_SEED_GRP.get(&group) }) else {
        return TC_ACT_OK;
    };
    // RFC 1112 section 6.4 destination, once for all copies.
    if ctx.store(0, &group_mac(group.to_ne_bytes()), 0).is_err() {
        return TC_ACT_SHOT;
    }
    let mut delivery = SeedDelivery {
        skb: ctx.skb.skb,
        ingress_ifindex: ifindex(ctx),
        _pad: 0,
    };
    // SAFETY: the map pointer comes from the outer lookup; the callback has the signature
    // bpf_for_each_map_elem expects and only reads `delivery`, which outlives the call.
    unsafe {
        bpf_for_each_map_elem(
            core::ptr::from_ref(subscribers).cast_mut().cast::<c_void>(),
            deliver_one as *mut c_void,
            core::ptr::from_mut(&mut delivery).cast::<c_void>(),
            0,
        );
    }
    TC_ACT_SHOT
}

/// `bpf_for_each_map_elem` callback (the reference's `__mcast_ep_delivery`): one copy to one
/// subscriber. Returns 0 to go on, 1 to stop: after a failed clone.
#[inline(never)]
extern "C" fn deliver_one(
    _map: *mut c_void,
    _address: *const u32,
    subscriber: *const SeedSubscriber,
    delivery: *mut SeedDelivery,
) -> i64 {
    // SAFETY: the kernel passes a valid value pointer and our context.
    let (subscriber, delivery) = unsafe { (&*subscriber, &*delivery) };
    if subscriber.ifindex == 0 || subscriber.ifindex == delivery.ingress_ifindex {
        return 0;
    }
    // SAFETY: `skb` is the program's context pointer.
    let ret = unsafe { bpf_clone_redirect(delivery.skb, subscriber.ifindex, 0) };
    i64::from(ret != 0)
}
