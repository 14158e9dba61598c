//! The Ethernet and IPv4 headers the dataplane reads (RFC 894, RFC 791), through the common
//! crate's wire views.
//!
//! Everything is read with `bpf_skb_load_bytes` (`TcContext::load`): headers may sit in the
//! non-linear part of the skb, and the helper does the bounds check at any offset.

use aya_ebpf::programs::TcContext;
use mcastlab_common::wire::{ethernet::EthernetHeader, ipv4::Ipv4Header};

/// Length of the Ethernet header before the IPv4 header.
pub const ETH_HLEN: u32 = EthernetHeader::LEN as u32;

/// Loads the IPv4 header of an Ethernet frame; `None` for anything that is not IPv4 or whose
/// header is not a valid IPv4 header (such packets are not the dataplane's business).
#[inline(always)]
pub fn ipv4(ctx: &TcContext) -> Option<Ipv4Header> {
    let ethernet: EthernetHeader = ctx.load(0).ok()?;
    if !ethernet.is_ipv4() {
        return None;
    }
    let header: Ipv4Header = ctx.load(ETH_HLEN as usize).ok()?;
    header.check().ok()?;
    Some(header)
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
