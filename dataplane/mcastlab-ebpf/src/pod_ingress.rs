//! Traffic leaving a pod, seen at ingress of its host-side veth.

use aya_ebpf::{
    bindings::{TC_ACT_OK, TC_ACT_SHOT},
    programs::TcContext,
};
use mcastlab_common::igmp::IPPROTO_IGMP;

use crate::{
    igmp, mld,
    packet::{self, Ethertype, is_multicast},
    replicate::{self, Scope},
};

/// IGMP and MLD are consumed; multicast to a configured group is replicated (and the original
/// dropped); everything else passes untouched.
#[inline(always)]
pub fn handle(ctx: &TcContext) -> i32 {
    match packet::ethertype(ctx) {
        Some(Ethertype::Ipv4) => handle_ipv4(ctx),
        Some(Ethertype::Ipv6) => handle_ipv6(ctx),
        None => TC_ACT_OK,
    }
}

/// An IPv4 packet from a pod. A function of its own (a BPF subprogram), so that the IPv4 and
/// IPv6 paths do not add up in one stack frame (the verifier allows 512 bytes along a chain of
/// calls, `bpf_loop` callbacks included).
#[inline(never)]
fn handle_ipv4(ctx: &TcContext) -> i32 {
    let Some(ip) = packet::ipv4(ctx) else {
        return TC_ACT_OK;
    };
    if ip.protocol() == IPPROTO_IGMP {
        igmp::consume(ctx, &ip);
        return TC_ACT_SHOT;
    }
    if !is_multicast(ip.destination_key()) {
        return TC_ACT_OK;
    }
    replicate::to_subscribers_or_pass(ctx, &ip, Scope::LocalAndRemote)
}

/// An IPv6 packet from a pod (a subprogram, as [`handle_ipv4`]).
#[inline(never)]
fn handle_ipv6(ctx: &TcContext) -> i32 {
    if mld::carries_mld(ctx) {
        mld::consume(ctx);
        return TC_ACT_SHOT;
    }
    replicate::ipv6_to_subscribers_or_pass(ctx, Scope::LocalAndRemote)
}
