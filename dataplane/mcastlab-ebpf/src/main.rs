//! mcastlab's tc programs, following Cilium's multicast datapath (cilium PR 29469):
//!
//! - [`mcast_pod_ingress`] at ingress of each pod's host-side veth: IGMP reports and leaves
//!   update the group map and are consumed; multicast to a configured group is replicated to
//!   local subscribers and, through the tunnel, to remote nodes.
//! - [`mcast_overlay_ingress`] at ingress of the node's vxlan device: multicast from the overlay
//!   goes to local subscribers only, never back into the overlay.
//!
//! [`mcast_seed_pod_ingress`] is not part of the dataplane: it is the benchmark's baseline of
//! the reference's own replication ([`seed`]). Neither is [`mcast_xdp_broadcast`], the
//! benchmark's XDP devmap-broadcast experiment ([`xdp_broadcast`]).
#![no_std]
#![no_main]
#![feature(core_intrinsics)]
#![allow(internal_features)]

mod atomic;
mod checksum;
mod counters;
mod events;
mod fanout;
mod group;
mod igmp;
mod loops;
mod maps;
mod membership;
mod mld;
mod overlay_ingress;
mod packet;
mod pod_identity;
mod pod_ingress;
mod records;
mod replicate;
mod seed;
mod xdp_broadcast;

use aya_ebpf::{
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};

/// Entry point at ingress of a pod's host-side veth (the pod's egress).
#[classifier]
pub fn mcast_pod_ingress(ctx: TcContext) -> i32 {
    pod_ingress::handle(&ctx)
}

/// Entry point at ingress of the node's vxlan device.
#[classifier]
pub fn mcast_overlay_ingress(ctx: TcContext) -> i32 {
    overlay_ingress::handle(&ctx)
}

/// Entry point of the seed baseline (Cilium PR 29469's replication, benchmarks only; see
/// [`seed`]): attached by the fan-out benchmark's `seed` mode, never by the dataplane's attach.
#[classifier]
pub fn mcast_seed_pod_ingress(ctx: TcContext) -> i32 {
    seed::handle(&ctx)
}

/// Entry point of the XDP devmap-broadcast experiment (not part of the dataplane, benchmarks
/// only; see [`xdp_broadcast`]): attached in native XDP mode at the sender pod's host-side veth
/// by the fan-out benchmark's `xdp-devmap` mode, never by the dataplane's attach.
#[xdp]
pub fn mcast_xdp_broadcast(ctx: XdpContext) -> u32 {
    xdp_broadcast::handle(&ctx)
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
