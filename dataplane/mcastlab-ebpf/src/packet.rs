//! The Ethernet and IPv4 fields the dataplane reads (RFC 894, RFC 791).
//!
//! Everything is read with `bpf_skb_load_bytes` (`TcContext::load`): headers may sit in the
//! non-linear part of the skb, and the helper does the bounds check at any offset.

use aya_ebpf::programs::TcContext;

/// Length of the Ethernet header before the IPv4 header.
pub const ETH_HLEN: u32 = 14;
/// Offset of the EtherType.
const ETH_TYPE_OFFSET: usize = 12;
/// EtherType of IPv4.
const ETH_P_IP: u16 = 0x0800;
/// Smallest IPv4 header (IHL 5); reports with Router Alert have IHL 6 (RFC 2113).
const IPV4_MIN_HLEN: u32 = 20;
/// IPv4 flags and fragment offset, without the DF bit: non-zero for a fragment.
const IPV4_FRAGMENT_MASK: u16 = 0x3fff;

/// The IPv4 header fields the dataplane needs. Addresses are the four wire octets read as a
/// native `u32`, the map key format.
pub struct Ipv4 {
    /// Header length in bytes (IHL * 4).
    pub header_len: u32,
    /// Total length field: header plus payload.
    pub total_len: u32,
    /// Protocol field.
    pub protocol: u8,
    /// Whether this is a fragment (MF set or a non-zero offset).
    pub is_fragment: bool,
    /// Source address.
    pub source: u32,
    /// Destination address.
    pub destination: u32,
}

impl Ipv4 {
    /// Offset of the IPv4 payload from the start of the frame.
    #[inline(always)]
    pub fn payload_offset(&self) -> u32 {
        ETH_HLEN + self.header_len
    }
}

/// Parses the IPv4 header of an Ethernet frame; `None` for anything that is not IPv4 or whose
/// header is not a valid IPv4 header (such packets are not the dataplane's business).
#[inline(always)]
pub fn ipv4(ctx: &TcContext) -> Option<Ipv4> {
    let ethertype: u16 = ctx.load(ETH_TYPE_OFFSET).ok()?;
    if u16::from_be(ethertype) != ETH_P_IP {
        return None;
    }
    let header: [u8; IPV4_MIN_HLEN as usize] = ctx.load(ETH_HLEN as usize).ok()?;
    if header[0] >> 4 != 4 {
        return None;
    }
    let header_len = u32::from(header[0] & 0x0f) * 4;
    if header_len < IPV4_MIN_HLEN {
        return None;
    }
    let flags_fragment = u16::from_be_bytes([header[6], header[7]]);
    Some(Ipv4 {
        header_len,
        total_len: u32::from(u16::from_be_bytes([header[2], header[3]])),
        protocol: header[9],
        is_fragment: flags_fragment & IPV4_FRAGMENT_MASK != 0,
        source: u32::from_ne_bytes([header[12], header[13], header[14], header[15]]),
        destination: u32::from_ne_bytes([header[16], header[17], header[18], header[19]]),
    })
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
