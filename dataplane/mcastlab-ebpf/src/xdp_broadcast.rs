//! The XDP devmap-broadcast experiment, for benchmarks only: can the kernel's devmap broadcast
//! replace one `bpf_clone_redirect` per subscriber (clone, head copy, redirect, veth transmit;
//! `results/20261202T022004Z-profile`, conclusion 4)?
//!
//! Attached in native XDP mode at the sender pod's host-side veth, the program sends every IPv4
//! multicast frame (destination in 224.0.0.0/4 outside 224.0.0.0/24, not IGMP) to every device
//! of [`MCAST_XDP_DEVS`] with one `bpf_redirect_map(BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS)`:
//! the kernel copies the frame for each device but the last (`xdpf_clone`) and hands each copy
//! to the device's `ndo_xdp_xmit`. Everything else passes. There are no groups: whatever
//! multicast the sender sends goes to every device of the map, which userspace writes
//! (`mcastlab_dataplane::xdp_broadcast`); nothing is counted and IGMP is not read.
//!
//! A veth delivers an XDP frame only into a peer with NAPI on (GRO, or an XDP program of its
//! own); the receivers' pod ends need `napi: true`, or the frames are dropped.

use aya_ebpf::{
    bindings::{BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, xdp_action},
    btf_maps::DevMap,
    macros::btf_map,
    programs::XdpContext,
};
use mcastlab_common::{
    MAX_SUBSCRIBERS_PER_GROUP,
    identity::is_link_local_group,
    igmp::IPPROTO_IGMP,
    wire::{ethernet::EthernetHeader, ipv4::Ipv4Header},
};

use crate::packet::{ETH_HLEN, is_multicast};

/// The receivers: slot -> a host-side veth (`struct bpf_devmap_val`, ifindex and no program).
/// `MAX_SUBSCRIBERS_PER_GROUP` slots unless userspace loads it with fewer; a broadcast visits
/// every slot, empty ones included. Written by userspace only.
#[btf_map]
pub static MCAST_XDP_DEVS: DevMap<{ MAX_SUBSCRIBERS_PER_GROUP as usize }> = DevMap::new();

/// `BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS`: every device of the map but the one the frame
/// came in on. Its two low bits, the action on a failed lookup, are 0 (`XDP_ABORTED`).
const BROADCAST: u64 = (BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS) as u64;

/// IPv4 multicast outside the Local Network Control Block is broadcast to every device of
/// [`MCAST_XDP_DEVS`] (`XDP_REDIRECT`); everything else passes (`XDP_PASS`).
#[inline(always)]
pub fn handle(ctx: &XdpContext) -> u32 {
    if !is_broadcast(ctx) {
        return xdp_action::XDP_PASS;
    }
    match MCAST_XDP_DEVS.redirect(0, BROADCAST) {
        Ok(action) | Err(action) => action,
    }
}

/// Whether the frame is IPv4 multicast to a group outside 224.0.0.0/24 (RFC 5771 section 4)
/// that does not carry IGMP.
#[inline(always)]
fn is_broadcast(ctx: &XdpContext) -> bool {
    let Some(ethernet) = ptr_at::<EthernetHeader>(ctx, 0) else {
        return false;
    };
    if !ethernet.is_ipv4() {
        return false;
    }
    let Some(ip) = ptr_at::<Ipv4Header>(ctx, ETH_HLEN as usize) else {
        return false;
    };
    let group = ip.destination_key();
    ip.check().is_ok()
        && is_multicast(group)
        && !is_link_local_group(group)
        && ip.protocol() != IPPROTO_IGMP
}

// `ptr_at` hands out references into the frame at any byte offset.
const _: () = assert!(align_of::<EthernetHeader>() == 1 && align_of::<Ipv4Header>() == 1);

/// The `T` at `offset` bytes into the frame, if the whole of it lies before the frame's end.
/// `T` is one of the common crate's wire views, byte arrays with alignment 1.
#[inline(always)]
fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Option<&T> {
    let start = ctx.data() + offset;
    // The verifier wants this exact comparison of the packet pointer against data_end.
    if start + size_of::<T>() > ctx.data_end() {
        return None;
    }
    // SAFETY: the bounds check above keeps `T` inside the frame, and `T` has alignment 1.
    Some(unsafe { &*(start as *const T) })
}
