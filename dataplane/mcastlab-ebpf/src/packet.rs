//! The Ethernet, IPv4 and IPv6 headers the dataplane reads (RFC 894, RFC 791, RFC 2464, RFC
//! 8200), through the common crate's wire views.
//!
//! Everything is read with `bpf_skb_load_bytes` (`TcContext::load`): headers may sit in the
//! non-linear part of the skb, and the helper does the bounds check at any offset.

use aya_ebpf::programs::TcContext;
use mcastlab_common::wire::{ethernet::EthernetHeader, ipv4::Ipv4Header, ipv6::Ipv6Header};

/// Length of the Ethernet header before the IPv4 header.
pub const ETH_HLEN: u32 = EthernetHeader::LEN as u32;

/// The network protocols the dataplane handles.
#[derive(Clone, Copy)]
pub enum Ethertype {
    /// IPv4 (0x0800).
    Ipv4,
    /// IPv6 (0x86dd).
    Ipv6,
}

/// The network protocol of an Ethernet frame, if it is one the dataplane handles.
#[inline(always)]
pub fn ethertype(ctx: &TcContext) -> Option<Ethertype> {
    let ethernet: EthernetHeader = ctx.load(0).ok()?;
    if ethernet.is_ipv4() {
        Some(Ethertype::Ipv4)
    } else if ethernet.is_ipv6() {
        Some(Ethertype::Ipv6)
    } else {
        None
    }
}

/// Loads and checks the IPv4 header of a frame whose ethertype is IPv4.
#[inline(always)]
pub fn ipv4(ctx: &TcContext) -> Option<Ipv4Header> {
    let header: Ipv4Header = ctx.load(ETH_HLEN as usize).ok()?;
    header.check().ok()?;
    Some(header)
}

/// Loads and checks the IPv6 header of a frame whose ethertype is IPv6.
#[inline(always)]
pub fn ipv6(ctx: &TcContext) -> Option<Ipv6Header> {
    let header: Ipv6Header = ctx.load(ETH_HLEN as usize).ok()?;
    header.check().ok()?;
    Some(header)
}

/// The network header of an Ethernet frame, loaded and checked.
pub enum Network {
    /// An IPv4 packet.
    V4(Ipv4Header),
    /// An IPv6 packet.
    V6(Ipv6Header),
}

/// Loads the network header of an Ethernet frame; `None` for anything that is neither IPv4
/// nor IPv6, or whose header is not valid (such packets are not the dataplane's business).
#[inline(always)]
pub fn network(ctx: &TcContext) -> Option<Network> {
    match ethertype(ctx)? {
        Ethertype::Ipv4 => ipv4(ctx).map(Network::V4),
        Ethertype::Ipv6 => ipv6(ctx).map(Network::V6),
    }
}

/// Offset of the IPv4 payload from the start of the frame.
#[inline(always)]
pub fn payload_offset(ip: &Ipv4Header) -> u32 {
    ETH_HLEN + ip.header_len()
}

/// Whether an address (wire octets as a native `u32`) is in 224.0.0.0/4.
#[inline(always)]
pub fn is_multicast(address: u32) -> bool {
    mcastlab_common::igmp::is_multicast_octet(address.to_ne_bytes()[0])
}

/// The ifindex of the device the packet is on (for ingress programs: where it entered).
#[inline(always)]
pub fn ifindex(ctx: &TcContext) -> u32 {
    // SAFETY: the context pointer is valid for the whole program run.
    unsafe { (*ctx.skb.skb).ifindex }
}
