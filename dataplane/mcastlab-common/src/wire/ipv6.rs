//! The IPv6 header (RFC 8200 section 3), the Hop-by-Hop Options header that carries the Router
//! Alert option of every MLD message (RFC 8200 section 4.3, RFC 2711), IPv6 multicast address
//! scopes (RFC 4291 section 2.7), and the checks the dataplane makes of an IPv6 packet that
//! carries MLD.
//!
//! How much Hop-by-Hop the dataplane accepts: the 8-byte header only (Hdr Ext Len 0), which
//! holds six bytes of options, exactly what an MLD message needs (Router Alert, 4 bytes, and
//! padding). Linux, the BSDs and Windows send MLD with exactly that header. The six option bytes
//! are walked as options (Pad1, PadN, Router Alert, and any option a node may skip), so the
//! padding may come before or after the Router Alert. A longer Hop-by-Hop header under an MLD
//! message is `Malformed`.

use crate::{Reason, wire::mld};

/// Next Header of a Hop-by-Hop Options header (RFC 8200 section 4.3).
pub const NEXT_HEADER_HOP_BY_HOP: u8 = 0;
/// Next Header of UDP (RFC 768; the IANA protocol number, as in IPv4).
pub const NEXT_HEADER_UDP: u8 = 17;
/// Next Header of ICMPv6 (RFC 4443 section 1), which carries MLD (RFC 2710 section 3).
pub const NEXT_HEADER_ICMPV6: u8 = 58;

/// Option Type of Pad1: one byte of padding, no length field (RFC 8200 section 4.2).
pub const OPTION_PAD1: u8 = 0;
/// Option Type of PadN: padding of 2 bytes and more (RFC 8200 section 4.2).
pub const OPTION_PADN: u8 = 1;
/// Option Type of Router Alert (RFC 2711 section 2.1).
pub const OPTION_ROUTER_ALERT: u8 = 5;
/// Router Alert value of a datagram that "contains a Multicast Listener Discovery message"
/// (RFC 2711 section 2.1).
pub const ROUTER_ALERT_MLD: u16 = 0;

/// The multicast scopes of RFC 4291 section 2.7 (the low nibble of the second octet of a
/// multicast address; realm-local from RFC 7346).
pub mod scope {
    /// Interface-local: loopback transmission of multicast only.
    pub const INTERFACE_LOCAL: u8 = 0x1;
    /// Link-local: the same link, never forwarded by routers (ff02::1, ff02::1:ffxx:xxxx).
    pub const LINK_LOCAL: u8 = 0x2;
    /// Realm-local (RFC 7346).
    pub const REALM_LOCAL: u8 = 0x3;
    /// Admin-local: the smallest scope that must be administratively configured.
    pub const ADMIN_LOCAL: u8 = 0x4;
    /// Site-local.
    pub const SITE_LOCAL: u8 = 0x5;
    /// Organization-local.
    pub const ORGANIZATION_LOCAL: u8 = 0x8;
    /// Global.
    pub const GLOBAL: u8 = 0xe;
}

/// Byte ranges of the fixed header's fields (RFC 8200 section 3).
mod field {
    use core::ops::Range;

    pub const VERSION_CLASS_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LENGTH: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SOURCE: Range<usize> = 8..24;
    pub const DESTINATION: Range<usize> = 24..40;

    pub const HBH_NEXT_HEADER: usize = 0;
    pub const HBH_EXT_LEN: usize = 1;
}

/// An IPv6 address as a map key: its sixteen wire octets read as four native `u32`s, the
/// IPv4 convention ([`crate::addr_key`]) four times over. Four-byte aligned, so a key struct
/// of an address and a `u32` needs no padding.
pub type Ipv6Key = [u32; 4];

/// The map key of `address` (wire octets, `Ipv6Addr::octets()`).
#[inline(always)]
pub const fn addr_key(address: [u8; 16]) -> Ipv6Key {
    let a = address;
    [
        u32::from_ne_bytes([a[0], a[1], a[2], a[3]]),
        u32::from_ne_bytes([a[4], a[5], a[6], a[7]]),
        u32::from_ne_bytes([a[8], a[9], a[10], a[11]]),
        u32::from_ne_bytes([a[12], a[13], a[14], a[15]]),
    ]
}

/// The wire octets of a map key ([`addr_key`]).
pub const fn key_addr(key: Ipv6Key) -> [u8; 16] {
    let [a, b, c, d] = [
        key[0].to_ne_bytes(),
        key[1].to_ne_bytes(),
        key[2].to_ne_bytes(),
        key[3].to_ne_bytes(),
    ];
    [
        a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3], c[0], c[1], c[2], c[3], d[0], d[1], d[2],
        d[3],
    ]
}

/// Whether `address` is multicast: in ff00::/8 (RFC 4291 section 2.7).
#[inline(always)]
pub const fn is_multicast(address: [u8; 16]) -> bool {
    address[0] == 0xff
}

/// The scope of a multicast `address` (RFC 4291 section 2.7): [`scope`]. Meaningless for
/// other addresses.
#[inline(always)]
pub const fn multicast_scope(address: [u8; 16]) -> u8 {
    address[1] & 0x0f
}

/// Whether `address` is a multicast group that never leaves its link: scope 2 (link-local:
/// ff02::/16, all-nodes, solicited-node groups) or below (interface-local ff01::/16, and the
/// reserved scope 0). Such groups never become memberships, as 224.0.0.0/24 in IPv4
/// ([`crate::identity::is_link_local_group`]). Hosts send no MLD for ff02::1 or scopes 0 and 1
/// (RFC 3810 section 6) but do report their other link-scope groups, solicited-node groups
/// (RFC 4291 section 2.7.1) on every address they configure.
#[inline(always)]
pub const fn is_link_scope_group(address: [u8; 16]) -> bool {
    is_multicast(address) && multicast_scope(address) <= scope::LINK_LOCAL
}

/// Whether `address` may be the source of an MLD report or done: link-local (fe80::/10, RFC
/// 4291 section 2.5.6) or the unspecified address `::` (RFC 3810 section 5.2.13; RFC 2710
/// section 3 asks for link-local). Routers discard the rest.
#[inline(always)]
pub const fn is_mld_source(address: [u8; 16]) -> bool {
    let link_local = address[0] == 0xfe && address[1] & 0xc0 == 0x80;
    let key = addr_key(address);
    link_local || (key[0] | key[1] | key[2] | key[3]) == 0
}

/// The Ethernet destination of an IPv6 multicast address: 33:33 followed by its last four
/// octets (RFC 2464 section 7). `group` is the sixteen wire octets.
#[inline(always)]
pub const fn group_mac(group: [u8; 16]) -> [u8; 6] {
    [0x33, 0x33, group[12], group[13], group[14], group[15]]
}

/// The 40 bytes of an IPv6 header (RFC 8200 section 3), as they sit on the wire. The eBPF side
/// loads it whole with `bpf_skb_load_bytes`; userspace builds it with [`Ipv6Header::new`] and
/// the setters.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Header(pub [u8; Ipv6Header::LEN]);

const _: () = assert!(core::mem::size_of::<Ipv6Header>() == Ipv6Header::LEN);

impl Ipv6Header {
    /// Length of the header; extension headers follow it.
    pub const LEN: usize = 40;

    /// A header from `source` to `destination` whose payload (extension headers included) is
    /// `payload_len` bytes starting with a header of `next_header`, with Hop Limit `hop_limit`.
    /// Traffic class and flow label are zero.
    pub fn new(
        source: [u8; 16],
        destination: [u8; 16],
        next_header: u8,
        hop_limit: u8,
        payload_len: u16,
    ) -> Self {
        let mut header = Self([0; Self::LEN]);
        header.set_version_class_flow(0, 0);
        header.set_payload_len(payload_len);
        header.set_next_header(next_header);
        header.set_hop_limit(hop_limit);
        header.set_source(source);
        header.set_destination(destination);
        header
    }

    /// The first word: Version (4 bits), Traffic Class (8), Flow Label (20).
    #[inline(always)]
    fn first_word(&self) -> u32 {
        let b = &self.0[field::VERSION_CLASS_FLOW];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Version (RFC 8200 section 3): 6.
    #[inline(always)]
    pub fn version(&self) -> u8 {
        (self.first_word() >> 28) as u8
    }

    /// Traffic Class (RFC 8200 section 7; DSCP and ECN since RFC 2474, RFC 3168).
    #[inline(always)]
    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    /// Flow Label, 20 bits (RFC 8200 section 6).
    #[inline(always)]
    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }

    /// Payload Length: the bytes after this header, extension headers included (RFC 8200
    /// section 3).
    #[inline(always)]
    pub fn payload_len(&self) -> u16 {
        let b = &self.0[field::PAYLOAD_LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Next Header: the type of the header after this one (RFC 8200 section 3), such as
    /// [`NEXT_HEADER_HOP_BY_HOP`].
    #[inline(always)]
    pub fn next_header(&self) -> u8 {
        self.0[field::NEXT_HEADER]
    }

    /// Hop Limit (RFC 8200 section 3): 1 in every MLD message (RFC 3810 section 5).
    #[inline(always)]
    pub fn hop_limit(&self) -> u8 {
        self.0[field::HOP_LIMIT]
    }

    /// Source Address, as its sixteen wire octets (RFC 8200 section 3).
    #[inline(always)]
    pub fn source(&self) -> [u8; 16] {
        let mut address = [0; 16];
        address.copy_from_slice(&self.0[field::SOURCE]);
        address
    }

    /// Destination Address, as its sixteen wire octets (RFC 8200 section 3).
    #[inline(always)]
    pub fn destination(&self) -> [u8; 16] {
        let mut address = [0; 16];
        address.copy_from_slice(&self.0[field::DESTINATION]);
        address
    }

    /// The source address as a map key ([`addr_key`]).
    #[inline(always)]
    pub fn source_key(&self) -> Ipv6Key {
        addr_key(self.source())
    }

    /// The destination address as a map key ([`addr_key`]).
    #[inline(always)]
    pub fn destination_key(&self) -> Ipv6Key {
        addr_key(self.destination())
    }

    /// Whether the destination is multicast (ff00::/8), read from its first octet alone.
    #[inline(always)]
    pub fn has_multicast_destination(&self) -> bool {
        self.0[field::DESTINATION.start] == 0xff
    }

    /// Whether this is an IPv6 header: version 6 (RFC 8200 section 3). `Malformed` otherwise.
    #[inline(always)]
    pub fn check(&self) -> Result<(), Reason> {
        if self.version() != 6 {
            return Err(Reason::Malformed);
        }
        Ok(())
    }

    /// The length of the MLD message this (checked) header carries after `hop_by_hop_len`
    /// bytes of Hop-by-Hop header ([`HopByHopHeader::header_len`]), checked as the dataplane
    /// checks it: the payload holds the Hop-by-Hop header, the message is
    /// [`mld::check_len`]'s length, and the packet (`40 + payload`) lies within the `available`
    /// bytes from the start of the IPv6 header to the end of the packet. `Malformed` otherwise.
    /// (IPv6 has no fragment fields here: a fragment's next header is a Fragment header, never
    /// Hop-by-Hop, RFC 8200 section 4.1.)
    #[inline(always)]
    pub fn mld_len(&self, hop_by_hop_len: u32, available: u32) -> Result<u32, Reason> {
        let payload_len = u32::from(self.payload_len());
        if payload_len < hop_by_hop_len {
            return Err(Reason::Malformed);
        }
        let len = payload_len - hop_by_hop_len;
        mld::check_len(len)?;
        if Self::LEN as u32 + payload_len > available {
            return Err(Reason::Malformed);
        }
        Ok(len)
    }

    /// Sets the version to 6 with `traffic_class` and the low 20 bits of `flow_label`.
    pub fn set_version_class_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let word = (6 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        self.0[field::VERSION_CLASS_FLOW].copy_from_slice(&word.to_be_bytes());
    }

    /// Sets the Payload Length.
    pub fn set_payload_len(&mut self, payload_len: u16) {
        self.0[field::PAYLOAD_LENGTH].copy_from_slice(&payload_len.to_be_bytes());
    }

    /// Sets the Next Header.
    pub fn set_next_header(&mut self, next_header: u8) {
        self.0[field::NEXT_HEADER] = next_header;
    }

    /// Sets the Hop Limit.
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.0[field::HOP_LIMIT] = hop_limit;
    }

    /// Sets the Source Address.
    pub fn set_source(&mut self, source: [u8; 16]) {
        self.0[field::SOURCE].copy_from_slice(&source);
    }

    /// Sets the Destination Address.
    pub fn set_destination(&mut self, destination: [u8; 16]) {
        self.0[field::DESTINATION].copy_from_slice(&destination);
    }

    /// The header at the start of `bytes`, checked with [`Ipv6Header::check`]; `Malformed` if
    /// `bytes` is shorter than 40 bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, Reason> {
        let Some(fixed) = bytes.first_chunk::<{ Self::LEN }>() else {
            return Err(Reason::Malformed);
        };
        let header = Self(*fixed);
        header.check()?;
        Ok(header)
    }
}

/// Bytes of options a [`HopByHopHeader`] holds, and so the most options it can hold (each
/// takes at least a byte): the bound of the option walk in [`HopByHopHeader::check_mld`].
pub const HOP_BY_HOP_OPTION_BYTES: u32 = 6;

/// The first 8 bytes of a Hop-by-Hop Options header (RFC 8200 section 4.3), as they sit on the
/// wire: the whole of one with Hdr Ext Len 0, which is what MLD messages carry (Next Header 58,
/// Router Alert for MLD, and a PadN of two bytes: `3a 00 05 02 00 00 01 00` from Linux). The
/// eBPF side loads it whole and decides with [`HopByHopHeader::check_mld`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HopByHopHeader(pub [u8; HopByHopHeader::LEN]);

const _: () = assert!(core::mem::size_of::<HopByHopHeader>() == HopByHopHeader::LEN);

impl HopByHopHeader {
    /// Length of the header with Hdr Ext Len 0, the only one the dataplane accepts under MLD.
    pub const LEN: usize = 8;

    /// The header MLD messages carry (RFC 3810 section 5, RFC 2711): `next_header` (58), then
    /// Router Alert with value 0 (MLD) and a PadN of two bytes, as Linux sends it.
    pub const fn router_alert(next_header: u8) -> Self {
        let [v0, v1] = ROUTER_ALERT_MLD.to_be_bytes();
        Self([
            next_header,
            0,
            OPTION_ROUTER_ALERT,
            2,
            v0,
            v1,
            OPTION_PADN,
            0,
        ])
    }

    /// A header of padding only (a PadN of six bytes): no Router Alert, for negative tests.
    pub const fn padding(next_header: u8) -> Self {
        Self([next_header, 0, OPTION_PADN, 4, 0, 0, 0, 0])
    }

    /// Next Header: the type of the header after this one (RFC 8200 section 4.3).
    #[inline(always)]
    pub fn next_header(&self) -> u8 {
        self.0[field::HBH_NEXT_HEADER]
    }

    /// Hdr Ext Len: the header's length in 8-byte units, not counting the first 8 bytes (RFC
    /// 8200 section 4.3).
    #[inline(always)]
    pub fn hdr_ext_len(&self) -> u8 {
        self.0[field::HBH_EXT_LEN]
    }

    /// Length of the whole header in bytes, `(Hdr Ext Len + 1) * 8`: the next header starts
    /// this far after the IPv6 header.
    #[inline(always)]
    pub fn header_len(&self) -> u32 {
        (u32::from(self.hdr_ext_len()) + 1) * 8
    }

    /// The byte at `at` (0..8) of the header, read from a register copy: a variable index into
    /// the stack copy would be a variable-offset stack read, which older verifiers refuse.
    #[inline(always)]
    fn byte_at(word: u64, at: u32) -> u8 {
        (word >> (8 * (7 - (at & 7)))) as u8
    }

    /// Whether this header is the Hop-by-Hop header of an MLD message: Hdr Ext Len 0 (see the
    /// module documentation) and, among its options, a Router Alert of length 2 with value
    /// [`ROUTER_ALERT_MLD`] (RFC 2711 section 2.1; RFC 3810 section 5 and RFC 2710 section 3:
    /// MLD is always sent with it). The options are walked in order (RFC 8200 section 4.2):
    /// Pad1, PadN and options whose type says "skip over this option" (the two high-order bits
    /// 00) are passed over; any other option, an option running past the header, a Router Alert
    /// of another length or value, or no Router Alert at all: `Malformed`.
    #[inline(always)]
    pub fn check_mld(&self) -> Result<(), Reason> {
        if self.hdr_ext_len() != 0 {
            return Err(Reason::Malformed);
        }
        let word = u64::from_be_bytes(self.0);
        let end = Self::LEN as u32;
        let mut at = end - HOP_BY_HOP_OPTION_BYTES;
        let mut router_alert = false;
        let mut i = 0;
        while i < HOP_BY_HOP_OPTION_BYTES && at < end {
            let kind = Self::byte_at(word, at);
            if kind == OPTION_PAD1 {
                at += 1;
                i += 1;
                continue;
            }
            if at + 1 >= end {
                return Err(Reason::Malformed);
            }
            let next = at + 2 + u32::from(Self::byte_at(word, at + 1));
            if next > end {
                return Err(Reason::Malformed);
            }
            if kind == OPTION_ROUTER_ALERT {
                let value =
                    u16::from_be_bytes([Self::byte_at(word, at + 2), Self::byte_at(word, at + 3)]);
                if next - at != 4 || value != ROUTER_ALERT_MLD {
                    return Err(Reason::Malformed);
                }
                router_alert = true;
            } else if kind != OPTION_PADN && kind >> 6 != 0 {
                return Err(Reason::Malformed);
            }
            at = next;
            i += 1;
        }
        if !router_alert {
            return Err(Reason::Malformed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An MLDv1 report's IPv6 and Hop-by-Hop headers, fe80::1 to ff0e::1:2, as scapy 2.5
    /// writes them (`IPv6(hlim=1)/IPv6ExtHdrHopByHop(RouterAlert, PadN)/ICMPv6MLReport`).
    const REPORT_HEADERS: [u8; 48] = [
        0x60, 0x00, 0x00, 0x00, // version 6, traffic class 0, flow label 0
        0x00, 0x20, 0x00, 0x01, // payload length 32, next header 0 (HbH), hop limit 1
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // fe80::1
        0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0x02, // ff0e::1:2
        0x3a, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00, // ICMPv6, Router Alert MLD, PadN
    ];

    fn address(text: &str) -> [u8; 16] {
        text.parse::<core::net::Ipv6Addr>()
            .expect("an IPv6 address")
            .octets()
    }

    #[test]
    fn fields_of_a_literal_header() {
        let header = Ipv6Header::parse(&REPORT_HEADERS).expect("an IPv6 header");
        assert_eq!(header.version(), 6);
        assert_eq!(header.traffic_class(), 0);
        assert_eq!(header.flow_label(), 0);
        assert_eq!(header.payload_len(), 32);
        assert_eq!(header.next_header(), NEXT_HEADER_HOP_BY_HOP);
        assert_eq!(header.hop_limit(), 1);
        assert_eq!(header.source(), address("fe80::1"));
        assert_eq!(header.destination(), address("ff0e::1:2"));
        assert_eq!(key_addr(header.destination_key()), address("ff0e::1:2"));
        assert_eq!(
            Ipv6Header::new(address("fe80::1"), address("ff0e::1:2"), 0, 1, 32).0[..],
            REPORT_HEADERS[..40]
        );
        let mut classy = header;
        classy.set_version_class_flow(0xb8, 0x1_2345);
        assert_eq!(&classy.0[..4], &[0x6b, 0x81, 0x23, 0x45]);
        assert_eq!(
            (classy.traffic_class(), classy.flow_label()),
            (0xb8, 0x1_2345)
        );
    }

    #[test]
    fn not_ipv6_is_refused() {
        let mut bytes = REPORT_HEADERS;
        bytes[0] = 0x45;
        assert_eq!(Ipv6Header::parse(&bytes), Err(Reason::Malformed));
        assert_eq!(
            Ipv6Header::parse(&REPORT_HEADERS[..39]),
            Err(Reason::Malformed)
        );
    }

    #[test]
    fn mld_lengths_are_checked_against_the_payload_and_the_packet() {
        let header = Ipv6Header::parse(&REPORT_HEADERS).expect("an IPv6 header");
        // 32 bytes of payload: 8 of Hop-by-Hop, 24 of MLDv1 report; the packet is 72 bytes.
        assert_eq!(header.mld_len(8, 72), Ok(24));
        assert_eq!(header.mld_len(8, 71), Err(Reason::Malformed));
        let mut short = header;
        short.set_payload_len(15);
        assert_eq!(
            short.mld_len(8, 72),
            Err(Reason::Malformed),
            "7 bytes of MLD"
        );
        short.set_payload_len(7);
        assert_eq!(
            short.mld_len(8, 72),
            Err(Reason::Malformed),
            "no room for HbH"
        );
        let mut long = header;
        long.set_payload_len(8 + 1453);
        assert_eq!(long.mld_len(8, 2000), Err(Reason::Malformed));
        long.set_payload_len(8 + 1452);
        assert_eq!(long.mld_len(8, 2000), Ok(1452));
    }

    #[test]
    fn the_router_alert_for_mld_is_found_among_padding() {
        let linux = HopByHopHeader(*REPORT_HEADERS[40..].first_chunk().expect("8 bytes"));
        assert_eq!(linux, HopByHopHeader::router_alert(NEXT_HEADER_ICMPV6));
        assert_eq!(linux.next_header(), NEXT_HEADER_ICMPV6);
        assert_eq!((linux.hdr_ext_len(), linux.header_len()), (0, 8));
        assert_eq!(linux.check_mld(), Ok(()));
        for options in [
            [0x01, 0x00, 0x05, 0x02, 0x00, 0x00], // PadN first
            [0x00, 0x00, 0x05, 0x02, 0x00, 0x00], // two Pad1 first
            [0x00, 0x05, 0x02, 0x00, 0x00, 0x00], // Pad1, Router Alert, Pad1
            [0x05, 0x02, 0x00, 0x00, 0x00, 0x00], // Router Alert, two Pad1
            [0x05, 0x02, 0x00, 0x00, 0x1e, 0x00], // an unknown option a node skips over
        ] {
            let mut header = linux;
            header.0[2..].copy_from_slice(&options);
            assert_eq!(header.check_mld(), Ok(()), "{options:02x?}");
        }
    }

    #[test]
    fn hop_by_hop_without_the_mld_router_alert_is_malformed() {
        let linux = HopByHopHeader::router_alert(NEXT_HEADER_ICMPV6);
        for options in [
            [0x01, 0x04, 0x00, 0x00, 0x00, 0x00], // padding only
            [0x05, 0x02, 0x00, 0x01, 0x01, 0x00], // Router Alert for RSVP (value 1)
            [0x05, 0x03, 0x00, 0x00, 0x00, 0x00], // Router Alert of length 3
            [0x05, 0x02, 0x00, 0x00, 0x01, 0x01], // PadN running past the header
            [0x00, 0x00, 0x00, 0x00, 0x00, 0x05], // an option without its length byte
            [0x05, 0x02, 0x00, 0x00, 0x5e, 0x00], // an option that says "discard" (01)
            [0x05, 0x02, 0x00, 0x00, 0xc2, 0x00], // a Jumbo Payload (11): not skipped
        ] {
            let mut header = linux;
            header.0[2..].copy_from_slice(&options);
            assert_eq!(header.check_mld(), Err(Reason::Malformed), "{options:02x?}");
        }
        let mut longer = linux;
        longer.0[1] = 1;
        assert_eq!(longer.header_len(), 16);
        assert_eq!(longer.check_mld(), Err(Reason::Malformed), "Hdr Ext Len 1");
        assert_eq!(
            HopByHopHeader::padding(NEXT_HEADER_ICMPV6).check_mld(),
            Err(Reason::Malformed)
        );
    }

    #[test]
    fn multicast_scopes() {
        for (group, scope, link) in [
            ("ff01::1", scope::INTERFACE_LOCAL, true),
            ("ff02::1", scope::LINK_LOCAL, true),
            ("ff02::1:ff00:1", scope::LINK_LOCAL, true),
            ("ff12::1234", scope::LINK_LOCAL, true), // transient, link-local
            ("ff00::1", 0, true),                    // reserved scope 0
            ("ff03::1", scope::REALM_LOCAL, false),
            ("ff05::2", scope::SITE_LOCAL, false),
            ("ff0e::1:2", scope::GLOBAL, false),
            ("ff3e::8000:1", scope::GLOBAL, false), // source-specific (RFC 4607)
        ] {
            let group = address(group);
            assert!(is_multicast(group));
            assert_eq!(multicast_scope(group), scope, "{group:02x?}");
            assert_eq!(is_link_scope_group(group), link, "{group:02x?}");
        }
        assert!(!is_multicast(address("fe80::1")));
        assert!(is_mld_source(address("fe80::1")));
        assert!(is_mld_source(address("febf::1")));
        assert!(is_mld_source(address("::")));
        assert!(!is_mld_source(address("fec0::1")));
        assert!(!is_mld_source(address("2001:db8::1")));
        assert!(!is_mld_source(address("::1")));
        assert!(!is_link_scope_group(address("fe80::1")));
        assert!(!is_link_scope_group(address("::")));
    }

    #[test]
    fn group_macs_are_33_33_and_the_last_four_octets() {
        // RFC 2464 section 7: ff02::1 maps to 33:33:00:00:00:01; FF0E::1:2 to 33:33:00:01:00:02.
        assert_eq!(group_mac(address("ff02::1")), [0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(group_mac(address("ff0e::1:2")), [0x33, 0x33, 0, 1, 0, 2]);
        assert_eq!(
            group_mac(address("ff02::1:ffab:cdef")),
            [0x33, 0x33, 0xff, 0xab, 0xcd, 0xef]
        );
    }

    #[test]
    fn address_keys_are_wire_octets() {
        let group = address("ff0e::1:2");
        let key = addr_key(group);
        assert_eq!(key[0].to_ne_bytes(), [0xff, 0x0e, 0, 0]);
        assert_eq!(key[3].to_ne_bytes(), [0, 1, 0, 2]);
        assert_eq!(key_addr(key), group);
    }
}
