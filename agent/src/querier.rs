//! The querier's packets: IGMPv3 General and Group-Specific Queries (RFC 3376 section 4.1),
//! and MLDv2 General Queries (RFC 3810 section 5.1) for pods with IPv6, sent with an
//! `AF_PACKET` socket out of each pod's host-side veth, so that they arrive on the pod's
//! `eth0` as a router's queries would.
//!
//! An MLD query comes from [`QUERIER_LINK_LOCAL`], the link-local address of the querier's
//! MAC (hosts ignore MLD queries from other sources, RFC 3810 section 5.1.14), to all-nodes
//! (ff02::1), with Hop Limit 1 and the Router Alert.
//!
//! A query's IPv4 source is 0.0.0.0, as the Linux bridge's querier uses without an address of
//! its own (`multicast_query_use_ifaddr` off): the host-side veths have no address, and a pod
//! has no route to the node's underlay address. Hosts accept queries from 0.0.0.0 (RFC 3376
//! section 4.1.4 leaves the source to the querier; Linux exempts IGMP from its source check).

use std::{
    io,
    net::{Ipv4Addr, Ipv6Addr},
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

use mcastlab_common::{
    igmp::{IPPROTO_IGMP, group_mac},
    wire::{
        ethernet::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, EthernetHeader},
        igmp::fill_checksum,
        ipv4::Ipv4Header,
        ipv6::{self, HopByHopHeader, Ipv6Header, NEXT_HEADER_HOP_BY_HOP, NEXT_HEADER_ICMPV6},
        mld::{self, ALL_NODES, V2Query},
        query::V3Query,
    },
};
use mcastlab_dataplane::{Node, netns::NetnsGuard, netns::netns_path};

use crate::timers::Settings;

/// All-Systems group, destination of General Queries (RFC 3376 section 4.1.12).
pub const ALL_SYSTEMS: [u8; 4] = [224, 0, 0, 1];
/// The IP Router Alert option (RFC 2113), which IGMP messages carry (RFC 3376 section 4).
const ROUTER_ALERT: [u8; 4] = [0x94, 0x04, 0x00, 0x00];
/// Source MAC of queries: locally administered, "mc" in its middle bytes.
pub const QUERIER_MAC: [u8; 6] = [0x02, 0x6d, 0x63, 0x00, 0x00, 0x01];
/// Source of MLD queries: the link-local address of [`QUERIER_MAC`] (modified EUI-64, RFC 4291
/// appendix A), fe80::6d:63ff:fe00:1.
pub const QUERIER_LINK_LOCAL: [u8; 16] = [
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x00, 0x6d, 0x63, 0xff, 0xfe, 0x00, 0x00, 0x01,
];
/// Hop Limit of MLD messages (RFC 3810 section 5).
const MLD_HOP_LIMIT: u8 = 1;
/// Type of Service of IGMP messages: Internetwork Control (as Linux sends them).
const TOS_INTERNETWORK_CONTROL: u8 = 0xc0;
/// TTL of IGMP messages (RFC 3376 section 4).
const IGMP_TTL: u8 = 1;

/// The frame of a General Query with `settings`' Max Resp Time, QRV and QQIC, to All-Systems.
pub fn general_query_frame(settings: &Settings) -> Vec<u8> {
    let tenths = tenths(settings.query_response_interval);
    let seconds = u32::try_from(settings.query_interval.as_secs()).unwrap_or(u32::MAX);
    query_frame(
        V3Query::general(tenths, settings.robustness, seconds),
        ALL_SYSTEMS,
    )
}

/// The frame of a Group-Specific Query for `group` (RFC 3376 section 6.6.3.1), sent to the
/// group: Max Resp Time is `settings`' Last Member Query Interval.
pub fn group_query_frame(settings: &Settings, group: Ipv4Addr) -> Vec<u8> {
    let tenths = tenths(settings.last_member_query_interval);
    let seconds = u32::try_from(settings.query_interval.as_secs()).unwrap_or(u32::MAX);
    query_frame(
        V3Query::group_specific(group.octets(), tenths, settings.robustness, seconds),
        group.octets(),
    )
}

/// The frame of an MLDv2 General Query with `settings`' Maximum Response Delay, QRV and QQIC,
/// to all-nodes: the IPv6 counterpart of [`general_query_frame`], sent with it.
pub fn general_mld_query_frame(settings: &Settings) -> Vec<u8> {
    let max_response_ms =
        u32::try_from(settings.query_response_interval.as_millis()).unwrap_or(u32::MAX);
    let seconds = u32::try_from(settings.query_interval.as_secs()).unwrap_or(u32::MAX);
    mld_query_frame(
        V2Query::general(max_response_ms, settings.robustness, seconds),
        ALL_NODES,
    )
}

/// The frame of an MLDv2 Multicast Address Specific Query for `group` (RFC 3810 section
/// 5.1.12), sent to the group itself (section 5.1.15): Maximum Response Delay is `settings`'
/// Last Member Query Interval (the Last Listener Query Interval, section 9.8).
pub fn group_mld_query_frame(settings: &Settings, group: Ipv6Addr) -> Vec<u8> {
    let max_response_ms =
        u32::try_from(settings.last_member_query_interval.as_millis()).unwrap_or(u32::MAX);
    let seconds = u32::try_from(settings.query_interval.as_secs()).unwrap_or(u32::MAX);
    mld_query_frame(
        V2Query::group_specific(
            group.octets(),
            max_response_ms,
            settings.robustness,
            seconds,
        ),
        group.octets(),
    )
}

/// The frame of an MLD `query` to `destination` from [`QUERIER_LINK_LOCAL`], Hop Limit 1,
/// with the Router Alert.
fn mld_query_frame(query: V2Query, destination: [u8; 16]) -> Vec<u8> {
    let mut query = query.0;
    mld::fill_checksum(QUERIER_LINK_LOCAL, destination, &mut query);
    let hop_by_hop = HopByHopHeader::router_alert(NEXT_HEADER_ICMPV6);
    let payload_len = (HopByHopHeader::LEN + query.len()) as u16;
    let ip = Ipv6Header::new(
        QUERIER_LINK_LOCAL,
        destination,
        NEXT_HEADER_HOP_BY_HOP,
        MLD_HOP_LIMIT,
        payload_len,
    );
    let ethernet = EthernetHeader::new(ipv6::group_mac(destination), QUERIER_MAC, ETHERTYPE_IPV6);
    [&ethernet.0[..], &ip.0, &hop_by_hop.0, &query].concat()
}

/// A duration in tenths of a second (the unit of Max Resp Code).
fn tenths(interval: std::time::Duration) -> u32 {
    u32::try_from(interval.as_millis() / 100).unwrap_or(u32::MAX)
}

/// The frame of `query` to `destination` from 0.0.0.0, with Router Alert.
fn query_frame(query: V3Query, destination: [u8; 4]) -> Vec<u8> {
    let mut igmp = query.0;
    fill_checksum(&mut igmp);

    let header_len = Ipv4Header::LEN + ROUTER_ALERT.len();
    let total_len = (header_len + igmp.len()) as u16;
    let mut ip = Ipv4Header::new(
        [0, 0, 0, 0],
        destination,
        IPPROTO_IGMP,
        IGMP_TTL,
        header_len as u32,
        total_len,
    );
    ip.set_tos(TOS_INTERNETWORK_CONTROL);
    ip.fill_checksum(&ROUTER_ALERT);

    let ethernet = EthernetHeader::new(group_mac(destination), QUERIER_MAC, ETHERTYPE_IPV4);
    [&ethernet.0[..], &ip.0, &ROUTER_ALERT, &igmp].concat()
}

/// A raw socket in a node's network namespace that sends queries out of its pod veths.
pub struct Querier {
    node: String,
    socket: OwnedFd,
}

impl Querier {
    /// Opens the socket inside `node`'s namespace.
    pub fn open(node: &Node) -> io::Result<Self> {
        let _inside = NetnsGuard::enter(&netns_path(node.name()))?;
        // SAFETY: plain socket(2); protocol 0: the socket sends only.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            node: node.name().to_owned(),
            // SAFETY: a fresh descriptor we own.
            socket: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Sends `frame` out of interface `iface` of the node.
    pub fn send(&self, iface: &str, frame: &[u8]) -> io::Result<()> {
        let ifindex = {
            let _inside = NetnsGuard::enter(&netns_path(&self.node))?;
            nix::net::if_::if_nametoindex(iface).map_err(io::Error::from)?
        };
        self.send_to(ifindex, frame)
    }

    /// Sends `frame` out of the node's interface with index `ifindex`.
    pub fn send_to(&self, ifindex: u32, frame: &[u8]) -> io::Result<()> {
        // SAFETY: all-zero sockaddr_ll is valid.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_ifindex = ifindex as i32;
        address.sll_halen = 6;
        address.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: frame and address are valid for their lengths.
        let sent = unsafe {
            libc::sendto(
                self.socket.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                std::ptr::from_ref(&address).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use mcastlab_common::wire::checksum;

    use super::*;

    #[test]
    fn a_group_specific_query_goes_to_its_group_and_names_it() {
        let frame = group_query_frame(&Settings::RFC, Ipv4Addr::new(239, 1, 2, 3));
        // Ethernet to 01:00:5e:01:02:03, IPv4 0.0.0.0 -> 239.1.2.3.
        assert_eq!(frame[..6], [0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]);
        assert_eq!(frame[14 + 16..14 + 20], [239, 1, 2, 3]);
        // IGMP: query, Max Resp 10 tenths (Last Member Query Interval 1 s), group 239.1.2.3.
        let igmp = &frame[38..];
        assert_eq!(igmp[0..2], [0x11, 10]);
        assert_eq!(igmp[4..8], [239, 1, 2, 3]);
        assert_eq!(
            checksum::fold(checksum::sum(0, igmp)),
            0xffff,
            "IGMP checksum"
        );
    }

    #[test]
    fn a_general_mld_query_frame_parses_as_an_mldv2_query_from_the_querier() {
        let frame = general_mld_query_frame(&Settings::RFC);
        // Ethernet: 33:33:00:00:00:01 (RFC 2464 section 7), IPv6.
        assert_eq!(frame[..6], [0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(frame[12..14], [0x86, 0xdd]);
        // IPv6 from the querier's link-local address to ff02::1, Hop Limit 1, then the
        // Hop-by-Hop header with the Router Alert for MLD.
        let ip = Ipv6Header::parse(&frame[14..54]).expect("an IPv6 header");
        assert_eq!(ip.source(), QUERIER_LINK_LOCAL);
        assert_eq!(ip.destination(), ALL_NODES);
        assert_eq!(ip.hop_limit(), 1);
        assert_eq!(usize::from(ip.payload_len()), 8 + 28);
        let mut hop_by_hop = HopByHopHeader([0; 8]);
        hop_by_hop.0.copy_from_slice(&frame[54..62]);
        assert_eq!(hop_by_hop.check_mld(), Ok(()));
        // MLDv2 query (28 bytes): type 130, Maximum Response Code 10000 ms, QRV 2, QQIC 125.
        let message = &frame[62..];
        assert_eq!(message.len(), 28);
        assert!(checksum::verifies_ipv6(
            QUERIER_LINK_LOCAL,
            ALL_NODES,
            NEXT_HEADER_ICMPV6,
            message
        ));
        assert_eq!(message[0], 130);
        assert_eq!(u16::from_be_bytes([message[4], message[5]]), 10_000);
        assert_eq!((message[24] & 0x07, message[25]), (2, 125));
    }

    #[test]
    fn a_general_query_frame_is_an_igmpv3_query_to_all_systems() {
        let frame = general_query_frame(&Settings::RFC);
        assert_eq!(frame.len(), 14 + 24 + 12);
        // Ethernet: 01:00:5e:00:00:01 (RFC 1112 section 6.4), IPv4.
        assert_eq!(frame[..6], [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
        assert_eq!(frame[12..14], [0x08, 0x00]);
        // IPv4: IHL 6 with Router Alert, TOS 0xc0, total 36, TTL 1, IGMP, 0.0.0.0 -> 224.0.0.1.
        let ip = &frame[14..38];
        assert_eq!(ip[0], 0x46);
        assert_eq!(ip[1], 0xc0);
        assert_eq!(ip[2..4], [0, 36]);
        assert_eq!((ip[8], ip[9]), (1, 2));
        assert_eq!(ip[12..16], [0, 0, 0, 0]);
        assert_eq!(ip[16..20], [224, 0, 0, 1]);
        assert_eq!(ip[20..24], [0x94, 0x04, 0x00, 0x00]);
        assert_eq!(
            checksum::fold(checksum::sum(0, ip)),
            0xffff,
            "IPv4 checksum"
        );
        // IGMP: query, Max Resp 100 tenths, group 0, QRV 2, QQIC 125, no sources.
        let igmp = &frame[38..];
        assert_eq!(igmp[0..2], [0x11, 100]);
        assert_eq!(igmp[4..12], [0, 0, 0, 0, 2, 125, 0, 0]);
        assert_eq!(
            checksum::fold(checksum::sum(0, igmp)),
            0xffff,
            "IGMP checksum"
        );
    }
}
