//! Ethernet + IPv4 frames (RFC 894, RFC 791) and Ethernet + IPv6 frames (RFC 2464, RFC 8200),
//! built for tests and raw sends.

use std::net::{Ipv4Addr, Ipv6Addr};

use mcastlab_common::{
    igmp::group_mac,
    wire::{
        checksum::checksum_ipv6,
        ethernet::{ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, EthernetHeader},
        ipv4::Ipv4Header,
        ipv6::{self, HopByHopHeader, Ipv6Header, NEXT_HEADER_HOP_BY_HOP, NEXT_HEADER_UDP},
    },
};

/// EtherType of IPv4.
pub const ETH_P_IP: u16 = ETHERTYPE_IPV4;
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = ETHERTYPE_IPV6;
/// EtherType of ARP.
pub const ETH_P_ARP: u16 = ETHERTYPE_ARP;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// The IP Router Alert option (RFC 2113), carried by IGMP reports (RFC 2236 section 2).
pub const ROUTER_ALERT: [u8; 4] = [0x94, 0x04, 0x00, 0x00];
/// A locally administered source MAC for crafted frames.
pub const TEST_SOURCE_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// Length of the Ethernet header.
pub const ETH_HLEN: usize = EthernetHeader::LEN;

/// An IPv4 packet in an Ethernet frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4Frame {
    /// Ethernet destination; for multicast destinations the RFC 1112 address by default.
    pub dst_mac: [u8; 6],
    /// Ethernet source.
    pub src_mac: [u8; 6],
    /// IPv4 source.
    pub source: Ipv4Addr,
    /// IPv4 destination.
    pub destination: Ipv4Addr,
    /// IPv4 protocol.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// IPv4 options (length a multiple of 4, at most 40 bytes).
    pub options: Vec<u8>,
    /// The IPv4 payload.
    pub payload: Vec<u8>,
    /// Replaces the Total Length field, for malformed-length cases.
    pub total_len_override: Option<u16>,
}

impl Ipv4Frame {
    /// A frame from `source` to `destination` carrying `payload` of `protocol`, TTL 1.
    pub fn new(source: Ipv4Addr, destination: Ipv4Addr, protocol: u8, payload: Vec<u8>) -> Self {
        let dst_mac = if destination.is_multicast() {
            group_mac(destination.octets())
        } else {
            [0x02, 0, 0, 0, 0, 0x02]
        };
        Self {
            dst_mac,
            src_mac: TEST_SOURCE_MAC,
            source,
            destination,
            protocol,
            ttl: 1,
            options: Vec::new(),
            payload,
            total_len_override: None,
        }
    }

    /// A UDP datagram (RFC 768) with checksum 0 (none), from `source:5001` to `destination:port`.
    pub fn udp(source: Ipv4Addr, destination: Ipv4Addr, port: u16, data: &[u8]) -> Self {
        let mut payload = Vec::with_capacity(8 + data.len());
        payload.extend_from_slice(&5001u16.to_be_bytes());
        payload.extend_from_slice(&port.to_be_bytes());
        payload.extend_from_slice(&(8 + data.len() as u16).to_be_bytes());
        payload.extend_from_slice(&[0, 0]);
        payload.extend_from_slice(data);
        Self::new(source, destination, IPPROTO_UDP, payload)
    }

    /// Adds the Router Alert option (IHL 6), as the kernel does for IGMP.
    pub fn with_router_alert(mut self) -> Self {
        self.options = ROUTER_ALERT.to_vec();
        self
    }

    /// The frame's bytes, with a correct IPv4 header checksum.
    pub fn to_bytes(&self) -> Vec<u8> {
        assert!(self.options.len().is_multiple_of(4) && self.options.len() <= 40);
        let header_len = Ipv4Header::LEN + self.options.len();
        let total_len = self
            .total_len_override
            .unwrap_or((header_len + self.payload.len()) as u16);
        let mut header = Ipv4Header::new(
            self.source.octets(),
            self.destination.octets(),
            self.protocol,
            self.ttl,
            header_len as u32,
            total_len,
        );
        header.fill_checksum(&self.options);

        let mut frame = Vec::with_capacity(ETH_HLEN + header_len + self.payload.len());
        frame.extend_from_slice(&EthernetHeader::new(self.dst_mac, self.src_mac, ETH_P_IP).0);
        frame.extend_from_slice(&header.0);
        frame.extend_from_slice(&self.options);
        frame.extend_from_slice(&self.payload);
        frame
    }
}

/// An IPv6 packet in an Ethernet frame, with an optional 8-byte Hop-by-Hop header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6Frame {
    /// Ethernet destination; for multicast destinations the RFC 2464 address by default.
    pub dst_mac: [u8; 6],
    /// Ethernet source.
    pub src_mac: [u8; 6],
    /// IPv6 source.
    pub source: Ipv6Addr,
    /// IPv6 destination.
    pub destination: Ipv6Addr,
    /// Next Header of the payload (after the Hop-by-Hop header when there is one).
    pub next_header: u8,
    /// Hop Limit.
    pub hop_limit: u8,
    /// A Hop-by-Hop Options header between the IPv6 header and the payload; its Next Header
    /// is replaced by [`Ipv6Frame::next_header`].
    pub hop_by_hop: Option<HopByHopHeader>,
    /// The upper-layer payload.
    pub payload: Vec<u8>,
    /// Replaces the Payload Length field, for malformed-length cases.
    pub payload_len_override: Option<u16>,
}

impl Ipv6Frame {
    /// A frame from `source` to `destination` carrying `payload` of `next_header`, Hop Limit 1.
    pub fn new(source: Ipv6Addr, destination: Ipv6Addr, next_header: u8, payload: Vec<u8>) -> Self {
        let dst_mac = if destination.is_multicast() {
            ipv6::group_mac(destination.octets())
        } else {
            [0x02, 0, 0, 0, 0, 0x02]
        };
        Self {
            dst_mac,
            src_mac: TEST_SOURCE_MAC,
            source,
            destination,
            next_header,
            hop_limit: 1,
            hop_by_hop: None,
            payload,
            payload_len_override: None,
        }
    }

    /// A UDP datagram (RFC 768) from `source:5001` to `destination:port`, with its checksum:
    /// mandatory over IPv6 (RFC 8200 section 8.1).
    pub fn udp(source: Ipv6Addr, destination: Ipv6Addr, port: u16, data: &[u8]) -> Self {
        let len = 8 + data.len() as u16;
        let mut payload = Vec::with_capacity(usize::from(len));
        payload.extend_from_slice(&5001u16.to_be_bytes());
        payload.extend_from_slice(&port.to_be_bytes());
        payload.extend_from_slice(&len.to_be_bytes());
        payload.extend_from_slice(&[0, 0]);
        payload.extend_from_slice(data);
        let checksum = match checksum_ipv6(
            source.octets(),
            destination.octets(),
            NEXT_HEADER_UDP,
            &payload,
        ) {
            // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
            0 => 0xffff,
            checksum => checksum,
        };
        payload[6..8].copy_from_slice(&checksum.to_be_bytes());
        Self::new(source, destination, NEXT_HEADER_UDP, payload)
    }

    /// Adds the Hop-by-Hop header with the Router Alert for MLD (RFC 2711), as the kernel
    /// sends MLD.
    pub fn with_router_alert(mut self) -> Self {
        self.hop_by_hop = Some(HopByHopHeader::router_alert(self.next_header));
        self
    }

    /// The frame's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let hop_by_hop = self.hop_by_hop.map(|mut header| {
            header.0[0] = self.next_header;
            header
        });
        let extension_len = hop_by_hop.map_or(0, |_| HopByHopHeader::LEN);
        let payload_len = self
            .payload_len_override
            .unwrap_or((extension_len + self.payload.len()) as u16);
        let first = if hop_by_hop.is_some() {
            NEXT_HEADER_HOP_BY_HOP
        } else {
            self.next_header
        };
        let header = Ipv6Header::new(
            self.source.octets(),
            self.destination.octets(),
            first,
            self.hop_limit,
            payload_len,
        );
        let mut frame =
            Vec::with_capacity(ETH_HLEN + Ipv6Header::LEN + extension_len + self.payload.len());
        frame.extend_from_slice(&EthernetHeader::new(self.dst_mac, self.src_mac, ETH_P_IPV6).0);
        frame.extend_from_slice(&header.0);
        if let Some(hop_by_hop) = hop_by_hop {
            frame.extend_from_slice(&hop_by_hop.0);
        }
        frame.extend_from_slice(&self.payload);
        frame
    }
}

/// An ARP request frame (RFC 826) for `target` from `sender`: not IPv4, must pass untouched.
pub fn arp_request(sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut frame = Vec::with_capacity(42);
    frame.extend_from_slice(&EthernetHeader::new([0xff; 6], TEST_SOURCE_MAC, ETH_P_ARP).0);
    frame.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    frame.extend_from_slice(&TEST_SOURCE_MAC);
    frame.extend_from_slice(&sender.octets());
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&target.octets());
    frame
}

#[cfg(test)]
mod tests {
    use mcastlab_common::wire::checksum::verifies;

    use super::*;

    #[test]
    fn ipv4_header_verifies_and_lengths_add_up() {
        let frame = Ipv4Frame::udp(
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(239, 1, 2, 3),
            5000,
            b"hi",
        )
        .to_bytes();
        assert_eq!(&frame[0..6], &[0x01, 0x00, 0x5e, 1, 2, 3]);
        assert_eq!(frame[14], 0x45);
        assert_eq!(u16::from_be_bytes([frame[16], frame[17]]), 20 + 8 + 2);
        assert!(verifies(&frame[14..34]));
    }

    #[test]
    fn ipv6_udp_checksum_verifies_and_lengths_add_up() {
        let source: Ipv6Addr = "fd00::2".parse().expect("an address");
        let group: Ipv6Addr = "ff0e::1:2".parse().expect("an address");
        let frame = Ipv6Frame::udp(source, group, 5000, b"hi").to_bytes();
        assert_eq!(&frame[0..6], &[0x33, 0x33, 0, 1, 0, 2]);
        assert_eq!(&frame[12..14], &[0x86, 0xdd]);
        assert_eq!(frame[14], 0x60);
        assert_eq!(u16::from_be_bytes([frame[18], frame[19]]), 8 + 2);
        assert_eq!(
            (frame[20], frame[21]),
            (17, 1),
            "next header UDP, hop limit 1"
        );
        assert_eq!(
            &frame[54..58],
            &[0x13, 0x89, 0x13, 0x88],
            "ports 5001, 5000"
        );
        assert_ne!(&frame[60..62], &[0, 0]);
        assert!(mcastlab_common::wire::checksum::verifies_ipv6(
            source.octets(),
            group.octets(),
            17,
            &frame[54..]
        ));
    }

    #[test]
    fn ipv6_router_alert_inserts_hop_by_hop() {
        let frame = Ipv6Frame::new(
            "fe80::1".parse().expect("an address"),
            "ff02::16".parse().expect("an address"),
            58,
            vec![0; 8],
        )
        .with_router_alert()
        .to_bytes();
        assert_eq!(frame.len(), 14 + 40 + 8 + 8);
        assert_eq!(frame[20], 0, "next header Hop-by-Hop");
        assert_eq!(u16::from_be_bytes([frame[18], frame[19]]), 16);
        assert_eq!(&frame[54..62], &[58, 0, 5, 2, 0, 0, 1, 0]);
    }

    #[test]
    fn router_alert_makes_ihl_6() {
        let frame = Ipv4Frame::new(Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST, 2, vec![0; 8])
            .with_router_alert()
            .to_bytes();
        assert_eq!(frame[14], 0x46);
        assert_eq!(&frame[34..38], &ROUTER_ALERT);
        assert!(verifies(&frame[14..38]));
    }
}
