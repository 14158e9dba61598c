//! Traffic leaving a pod, seen at ingress of its host-side veth.

use aya_ebpf::{
    bindings::{TC_ACT_OK, TC_ACT_SHOT},
    programs::TcContext,
};
use mcastlab_common::igmp::IPPROTO_IGMP;

use crate::{
    igmp,
    packet::{self, is_multicast},
    replicate::{self, Scope},
};

/// IGMP is consumed; multicast to a configured group is replicated (and the original dropped);
/// everything else passes untouched.
#[inline(always)]
pub fn handle(ctx: &TcContext) -> i32 {
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
