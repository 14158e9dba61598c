//! Traffic arriving from the overlay, seen at ingress of the node's vxlan device (decapsulated).

use aya_ebpf::{
    bindings::{TC_ACT_OK, bpf_tunnel_key},
    helpers::bpf_skb_get_tunnel_key,
    programs::TcContext,
};
use mcastlab_common::{CONFIG_KEY, Reason};

use crate::{
    counters::count,
    maps::MCAST_CONFIG,
    packet::{self, Network, is_multicast},
    replicate::{self, Scope},
};

/// Multicast to a configured group, carrying the node's VNI, goes to local subscribers only:
/// never back into the overlay. Everything else passes untouched.
#[inline(always)]
pub fn handle(ctx: &TcContext) -> i32 {
    let network = packet::network(ctx);
    let multicast = match &network {
        Some(Network::V4(ip)) => is_multicast(ip.destination_key()),
        Some(Network::V6(ip)) => ip.has_multicast_destination(),
        None => false,
    };
    if !multicast {
        return TC_ACT_OK;
    }
    if !carries_node_vni(ctx) {
        count(Reason::OverlayForeignVni);
        return TC_ACT_OK;
    }
    match network {
        Some(Network::V4(ip)) => replicate::to_subscribers_or_pass(ctx, &ip, Scope::LocalOnly),
        Some(Network::V6(_)) => replicate::ipv6_to_subscribers_or_pass(ctx, Scope::LocalOnly),
        None => TC_ACT_OK,
    }
}

/// Whether the tunnel metadata of the packet names the node's VNI.
#[inline(always)]
fn carries_node_vni(ctx: &TcContext) -> bool {
    let Some(config) = MCAST_CONFIG.get(CONFIG_KEY) else {
        return false;
    };
    // SAFETY: an all-zero bpf_tunnel_key is valid.
    let mut key: bpf_tunnel_key = unsafe { core::mem::zeroed() };
    // SAFETY: the context pointer is valid; `key` lives on the stack.
    let ret = unsafe {
        bpf_skb_get_tunnel_key(
            ctx.skb.skb,
            &mut key,
            core::mem::size_of::<bpf_tunnel_key>() as u32,
            0,
        )
    };
    ret == 0 && key.tunnel_id == config.vni
}
