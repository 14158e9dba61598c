//! Replication: one `bpf_clone_redirect` per subscriber of a group, walked with
//! `bpf_for_each_map_elem` over the group's fan-out list (as Cilium's
//! `mcast_send_to_subscribers`), stopping at the list's high-water mark. A member whose source
//! filter refuses the packet's source gets no copy (looked up only in groups that have had a
//! filter). Each copy that left is counted to its member (`fanout::delivered`): one packet and
//! the packet's length in bytes. With the node's last-copy experiment on
//! (`CONFIG_LAST_COPY_REDIRECT`), the last local member gets the original (`bpf_redirect`)
//! instead of a clone.

use core::ffi::c_void;

use aya_ebpf::{
    bindings::{__sk_buff, TC_ACT_OK, TC_ACT_SHOT, bpf_tunnel_key},
    helpers::{bpf_clone_redirect, bpf_for_each_map_elem, bpf_redirect, bpf_skb_set_tunnel_key},
    programs::TcContext,
};
use mcastlab_common::{
    Reason,
    igmp::group_mac,
    slots::{HEADER_SLOT, Member},
    sources::SourceKey,
    wire::{
        ipv4::Ipv4Header,
        ipv6::{self, Ipv6Header},
    },
};

use crate::{
    atomic,
    counters::count,
    fanout,
    maps::{GroupSlots, MCAST_GROUPS, MCAST_GROUPS6, MCAST_SOURCES, node_config},
    packet::{self, ifindex},
};

/// TTL of the outer header of remote copies.
const TUNNEL_TTL: u8 = 64;

/// Where copies of one packet go; shared with [`deliver_one`] through the callback context.
#[repr(C)]
struct Delivery {
    /// The packet being replicated. Kept as a full 8-byte slot so the verifier keeps its type.
    skb: *mut __sk_buff,
    /// The interface the packet came in on: never sent back there.
    ingress_ifindex: u32,
    /// Tunnel device for remote copies; 0 when the node has none.
    tunnel_ifindex: u32,
    /// VNI of remote copies.
    vni: u32,
    /// Non-zero for packets from the overlay: remote subscribers are skipped.
    local_only: u32,
    /// The walk stops at this slot (the list's high-water mark).
    high_water: u32,
    /// The packet's length (`skb->len`: the Ethernet frame), counted to each member per copy.
    len: u32,
    /// The group, for its members' source filters.
    group: u32,
    /// The packet's IPv4 source, as a map key.
    source: u32,
    /// Non-zero when a member of the group has had a source filter: each member's is looked up.
    filtered: u32,
    /// Non-zero when the last local member gets the original (`CONFIG_LAST_COPY_REDIRECT`):
    /// each local member waits in `held_*` until the next one is found.
    last_copy: u32,
    /// The local member whose copy waits (host-side veth), 0 for none.
    held_ifindex: u32,
    /// The slot of the local member whose copy waits, for its counters.
    held_slot: u32,
}

/// Which subscribers get a copy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Local pods and remote nodes (a packet sent by a local pod).
    LocalAndRemote,
    /// Local pods only (a packet from the overlay).
    LocalOnly,
}

/// Replicates an IPv4 packet to the subscribers of its destination group and returns the
/// verdict for the original, or `None` when the group is not configured (the packet is not
/// ours and passes untouched).
#[inline(always)]
fn to_subscribers(ctx: &TcContext, ip: &Ipv4Header, scope: Scope) -> Option<i32> {
    let group = ip.destination_key();
    // SAFETY: the inner map is only used through helpers and atomics.
    let slots = unsafe { MCAST_GROUPS.get(&group) }?;
    let filtering = Filtering {
        group,
        source: ip.source_key(),
        filtered: u32::from(fanout::has_source_filters(slots)),
    };
    Some(replicate(
        ctx,
        slots,
        group_mac(group.to_ne_bytes()),
        filtering,
        scope,
    ))
}

/// Replicates an IPv6 packet to the subscribers of its destination group, as
/// [`to_subscribers`]; IPv6 members take every source.
#[inline(always)]
fn to_subscribers6(ctx: &TcContext, ip: &Ipv6Header, scope: Scope) -> Option<i32> {
    // SAFETY: as above.
    let slots = unsafe { MCAST_GROUPS6.get(&ip.destination_key()) }?;
    let filtering = Filtering {
        group: 0,
        source: 0,
        filtered: 0,
    };
    Some(replicate(
        ctx,
        slots,
        ipv6::group_mac(ip.destination()),
        filtering,
        scope,
    ))
}

/// Which members' source filters apply to a packet.
#[derive(Clone, Copy)]
struct Filtering {
    /// The IPv4 group, for its members' filters.
    group: u32,
    /// The packet's IPv4 source, as a map key.
    source: u32,
    /// Non-zero when a member of the group has had a source filter.
    filtered: u32,
}

/// Sends one copy of the packet to each subscriber in `slots`, to Ethernet destination `mac`,
/// and returns the verdict for the original.
#[inline(always)]
fn replicate(
    ctx: &TcContext,
    slots: &GroupSlots,
    mac: [u8; 6],
    filtering: Filtering,
    scope: Scope,
) -> i32 {
    let high_water = fanout::header(slots).map_or(0, |header| header.high_water);
    // The group's MAC (RFC 1112 section 6.4, RFC 2464 section 7), once for all copies.
    if ctx.store(0, &mac, 0).is_err() {
        count(Reason::RewriteFailed);
        return TC_ACT_SHOT;
    }
    let config = node_config();
    let mut delivery = Delivery {
        skb: ctx.skb.skb,
        ingress_ifindex: ifindex(ctx),
        tunnel_ifindex: config.tunnel_ifindex,
        vni: config.vni,
        local_only: u32::from(scope == Scope::LocalOnly),
        high_water,
        len: ctx.len(),
        group: filtering.group,
        source: filtering.source,
        filtered: filtering.filtered,
        last_copy: u32::from(config.last_copy_redirect()),
        held_ifindex: 0,
        held_slot: 0,
    };
    // SAFETY: the map pointer is the caller's lookup; the callback has the signature
    // bpf_for_each_map_elem expects and only touches `delivery`, which outlives the call.
    unsafe {
        bpf_for_each_map_elem(
            core::ptr::from_ref(slots).cast_mut().cast::<c_void>(),
            deliver_one as *mut c_void,
            core::ptr::from_mut(&mut delivery).cast::<c_void>(),
            0,
        );
    }
    count(match scope {
        Scope::LocalAndRemote => Reason::Replicated,
        Scope::LocalOnly => Reason::OverlayDelivered,
    });
    if delivery.held_ifindex != 0 {
        // The last local member gets the original: the kernel redirects it once the program
        // returns, with no clone and no head copy.
        count(Reason::CopyLocal);
        fanout::delivered(slots, delivery.held_slot, delivery.len);
        // SAFETY: bpf_redirect has no preconditions.
        return unsafe { bpf_redirect(delivery.held_ifindex, 0) } as i32;
    }
    // The copies are the delivery; the original is consumed.
    TC_ACT_SHOT
}

/// Replicates an IPv6 packet to the subscribers of its destination group, or lets it pass
/// untouched (counted when it is multicast to a group that is not configured). Returns the
/// verdict for the original. A subprogram of its own, as `to_subscribers_or_pass`.
#[inline(never)]
pub fn ipv6_to_subscribers_or_pass(ctx: &TcContext, scope: Scope) -> i32 {
    match packet::ipv6(ctx) {
        Some(ip) if ip.has_multicast_destination() => or_pass(to_subscribers6(ctx, &ip, scope)),
        _ => TC_ACT_OK,
    }
}

/// The verdict of a replication, or the pass verdict (counted) for an unconfigured group.
#[inline(always)]
fn or_pass(verdict: Option<i32>) -> i32 {
    match verdict {
        Some(verdict) => verdict,
        None => {
            count(Reason::UnconfiguredPassed);
            TC_ACT_OK
        }
    }
}

/// Replicates the packet (IPv4 header `ip`) to the subscribers of its destination group, or
/// lets it pass untouched (counted) when the group is not configured. Returns the verdict for
/// the original. A BPF subprogram of its own: its stack frame (the walk's delivery context) is
/// not added to the IGMP and MLD paths' frames along one call chain.
#[inline(never)]
pub fn to_subscribers_or_pass(ctx: &TcContext, ip: &Ipv4Header, scope: Scope) -> i32 {
    or_pass(to_subscribers(ctx, ip, scope))
}

/// `bpf_for_each_map_elem` callback: sends one copy to the member of one slot and counts it to
/// the member if it left. Returns 0 to go on, 1 to stop at the high-water mark.
#[inline(never)]
extern "C" fn deliver_one(
    map: *mut c_void,
    slot: *const u32,
    word: *const u64,
    delivery: *mut Delivery,
) -> i64 {
    // SAFETY: the kernel passes valid key and value pointers and our context.
    let (slot, delivery) = unsafe { (*slot, &mut *delivery) };
    if slot >= delivery.high_water {
        return 1;
    }
    if slot == HEADER_SLOT {
        return 0;
    }
    // SAFETY: an aligned 8-byte value of the array.
    let Some(member) = Member::from_word(unsafe { atomic::load(word) }) else {
        return 0;
    };
    if delivery.filtered != 0 && !wants_source(delivery, member) {
        count(Reason::SourceFiltered);
        return 0;
    }
    // SAFETY: bpf_for_each_map_elem passes the map it walks: the group's inner map, which is
    // only used through helpers and atomics.
    let group = unsafe { &*map.cast_const().cast::<GroupSlots>() };
    if member.is_remote() {
        if delivery.local_only == 0 && to_remote(delivery, member.address) {
            fanout::delivered(group, slot, delivery.len);
        }
        return 0;
    }
    if member.target == delivery.ingress_ifindex {
        return 0;
    }
    // With the last-copy experiment, this member's copy waits until the next local member is
    // found (or the walk ends: then it gets the original); the one that waited is cloned now.
    let (target, target_slot) = if delivery.last_copy != 0 {
        let held = (delivery.held_ifindex, delivery.held_slot);
        delivery.held_ifindex = member.target;
        delivery.held_slot = slot;
        if held.0 == 0 {
            return 0;
        }
        held
    } else {
        (member.target, slot)
    };
    if to_local(delivery, target) {
        fanout::delivered(group, target_slot, delivery.len);
    }
    0
}

/// Whether `member`'s source filter for the group lets the packet's source through (no filter:
/// every source).
#[inline(always)]
fn wants_source(delivery: &Delivery, member: Member) -> bool {
    // SAFETY: the value is read at once.
    match unsafe { MCAST_SOURCES.get(SourceKey::new(delivery.group, member)) } {
        Some(filter) => filter.passes(delivery.source),
        None => true,
    }
}

/// Sends one copy to the pod behind host-side veth `ifindex`; returns whether it left.
#[inline(always)]
fn to_local(delivery: &Delivery, ifindex: u32) -> bool {
    // SAFETY: `skb` is the program's context pointer.
    let ret = unsafe { bpf_clone_redirect(delivery.skb, ifindex, 0) };
    count(if ret == 0 {
        Reason::CopyLocal
    } else {
        Reason::CloneFailed
    });
    ret == 0
}

/// Sends one copy into the tunnel towards the node at `address`; returns whether it left.
#[inline(always)]
fn to_remote(delivery: &Delivery, address: u32) -> bool {
    if delivery.tunnel_ifindex == 0 {
        count(Reason::NoTunnel);
        return false;
    }
    // SAFETY: an all-zero bpf_tunnel_key is valid.
    let mut key: bpf_tunnel_key = unsafe { core::mem::zeroed() };
    key.tunnel_id = delivery.vni;
    // The helper takes the remote address in host byte order.
    key.__bindgen_anon_1.remote_ipv4 = u32::from_be(address);
    key.tunnel_ttl = TUNNEL_TTL;
    // SAFETY: `skb` is the program's context pointer; `key` lives on the stack.
    let ret = unsafe {
        bpf_skb_set_tunnel_key(
            delivery.skb,
            &mut key,
            core::mem::size_of::<bpf_tunnel_key>() as u32,
            0,
        )
    };
    if ret != 0 {
        count(Reason::TunnelKeyFailed);
        return false;
    }
    // SAFETY: as above.
    let ret = unsafe { bpf_clone_redirect(delivery.skb, delivery.tunnel_ifindex, 0) };
    count(if ret == 0 {
        Reason::CopyRemote
    } else {
        Reason::CloneFailed
    });
    ret == 0
}
