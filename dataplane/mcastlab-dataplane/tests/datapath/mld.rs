//! MLD (RFC 2710, RFC 3810) from pods and IPv6 replication: the IPv6 counterparts of the IGMP
//! and IPv4 cases, on crafted frames (`mcastlab_testbed::mld`).

use std::net::Ipv6Addr;

use mcastlab_dataplane::DataplaneError;
use mcastlab_testbed::{
    frame::Ipv6Frame,
    mld::{AddressRecord, MldMessage, TEST_LINK_LOCAL},
};

use super::*;

/// A global-scope IPv6 group; its MAC is 33:33 and its last four octets.
const GROUP6: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 1, 1);
const GROUP6_MAC: [u8; 6] = [0x33, 0x33, 0, 1, 0, 1];
/// Pod 1's IPv6 address (any address of its own does as a data source).
const POD1_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 11);

/// Given a node with `pods` pods and `GROUP6` configured.
fn node_with_group6(pods: usize) -> TestNode {
    let node = TestNode::new(pods);
    node.node
        .groups()
        .expect("group table")
        .add_group(GROUP6)
        .expect("add an IPv6 group");
    node
}

/// Sends an MLD `frame` through `iface`; the dataplane must consume it. Returns the counter
/// changes.
fn send_mld(
    node: &TestNode,
    iface: &str,
    frame: &Ipv6Frame,
) -> std::collections::BTreeMap<&'static str, u64> {
    let before = node.counters();
    let verdict = node.run_pod_ingress(iface, &frame.to_bytes());
    assert_eq!(verdict, TC_ACT_SHOT, "MLD must be consumed");
    delta(&before, &node.counters())
}

fn members6(node: &TestNode) -> Vec<Ipv4Addr> {
    addresses(
        &node
            .node
            .groups()
            .expect("group table")
            .subscribers_of(GROUP6)
            .expect("subscribers"),
    )
}

fn mld(reason: Reason) -> std::collections::BTreeMap<&'static str, u64> {
    expect(&[(Reason::MldHandled, 1), (reason, 1)])
}

#[test]
fn mldv1_and_mldv2_reports_join_and_done_or_to_in_leaves_an_ipv6_group() {
    require_datapath!();
    let node = node_with_group6(2);
    // When pod 1 sends an MLDv1 report. Then it is a member, named by its pod's address.
    let v1 = MldMessage::V1Report(GROUP6).frame(TEST_LINK_LOCAL);
    assert_eq!(send_mld(&node, "h1", &v1), mld(Reason::Subscribed));
    assert_eq!(members6(&node), [POD1]);
    // When it sends a Done. Then it leaves.
    let done = MldMessage::V1Done(GROUP6).frame(TEST_LINK_LOCAL);
    assert_eq!(send_mld(&node, "h1", &done), mld(Reason::Left));
    assert!(members6(&node).is_empty());

    // When pod 2 sends an MLDv2 report with TO_EX{} (from ::, as a host without an address
    // yet may). Then it joins; IS_IN{} leaves.
    let to_ex = MldMessage::V2Report(vec![AddressRecord::new(
        record::CHANGE_TO_EXCLUDE_MODE,
        GROUP6,
    )]);
    assert_eq!(
        send_mld(&node, "h2", &to_ex.frame(Ipv6Addr::UNSPECIFIED)),
        mld(Reason::Subscribed)
    );
    assert_eq!(members6(&node), [POD2]);
    let is_in = MldMessage::V2Report(vec![AddressRecord::new(record::MODE_IS_INCLUDE, GROUP6)]);
    assert_eq!(
        send_mld(&node, "h2", &is_in.frame(TEST_LINK_LOCAL)),
        mld(Reason::Left)
    );
    assert!(members6(&node).is_empty());
}

#[test]
fn ipv6_multicast_is_cloned_to_every_member_but_the_sender_with_the_3333_mac() {
    require_datapath!();
    // Given pods 2 and 3 members of the IPv6 group (MLDv2 and MLDv1).
    let node = node_with_group6(3);
    let to_ex = MldMessage::V2Report(vec![AddressRecord::new(
        record::CHANGE_TO_EXCLUDE_MODE,
        GROUP6,
    )]);
    send_mld(&node, "h2", &to_ex.frame(TEST_LINK_LOCAL));
    send_mld(
        &node,
        "h3",
        &MldMessage::V1Report(GROUP6).frame(TEST_LINK_LOCAL),
    );
    let captures: Vec<Capture> = {
        let _netns = node.node.enter().expect("enter");
        ["p2", "p3"]
            .iter()
            .map(|pod| {
                let ifindex = nix::net::if_::if_nametoindex(*pod).expect("pod iface");
                Capture::open(ifindex).expect("capture")
            })
            .collect()
    };
    // When pod 1 sends a UDP datagram to the group with a unicast Ethernet destination.
    let mut frame = Ipv6Frame::udp(POD1_V6, GROUP6, 5000, b"payload6");
    frame.dst_mac = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
    let before = node.counters();
    let verdict = node.run_pod_ingress("h1", &frame.to_bytes());
    // Then the original is consumed and pods 2 and 3 get one copy each, to 33:33:00:01:00:01.
    assert_eq!(verdict, TC_ACT_SHOT);
    let is_copy = |f: &Vec<u8>| f.len() > 54 && f[38..54] == GROUP6.octets();
    for (pod, capture) in ["p2", "p3"].iter().zip(&captures) {
        let frames = capture.until(DELIVERY_DEADLINE, |frames| frames.iter().any(is_copy));
        let copies: Vec<&Vec<u8>> = frames.iter().filter(|f| is_copy(f)).collect();
        assert_eq!(copies.len(), 1, "{pod} expected one copy, saw {frames:?}");
        assert_eq!(copies[0][0..6], GROUP6_MAC, "{pod} destination MAC");
        assert!(copies[0].ends_with(b"payload6"), "{pod} payload");
    }
    assert_eq!(
        delta(&before, &node.counters()),
        expect(&[(Reason::Replicated, 1), (Reason::CopyLocal, 2)])
    );
}

fn report() -> MldMessage {
    MldMessage::V1Report(GROUP6)
}

#[rstest]
#[case::bad_checksum(report().frame_with_bad_checksum(TEST_LINK_LOCAL), Reason::BadChecksum)]
#[case::truncated(report().truncated_frame(TEST_LINK_LOCAL, 20), Reason::Malformed)]
#[case::no_router_alert(report().frame_without_router_alert(TEST_LINK_LOCAL), Reason::MldNoRouterAlert)]
#[case::no_hop_by_hop(report().frame_without_hop_by_hop(TEST_LINK_LOCAL), Reason::MldNoRouterAlert)]
#[case::global_source(report().frame(POD1_V6), Reason::MldSourceNotLinkLocal)]
fn bad_mld_is_counted_and_dropped_and_joins_nothing(
    #[case] frame: Ipv6Frame,
    #[case] reason: Reason,
) {
    require_datapath!();
    let node = node_with_group6(1);
    // When pod 1 sends the bad report. Then it is consumed, counted, and joins nothing.
    assert_eq!(send_mld(&node, "h1", &frame), mld(reason));
    assert!(members6(&node).is_empty());
}

#[test]
fn link_scope_groups_are_never_configured_or_subscribed_and_neighbor_discovery_passes() {
    require_datapath!();
    let node = node_with_group6(1);
    let solicited = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 0x11);
    // When a link-scope group is configured. Then it is refused, naming its scope.
    let refused = node.node.groups().expect("table").add_group(solicited);
    assert!(
        matches!(refused, Err(DataplaneError::LinkScopeGroup { group }) if group == solicited),
        "{refused:?}"
    );
    // When pod 1 reports it (as kernels report solicited-node groups). Then it is refused.
    let report = MldMessage::V1Report(solicited).frame(TEST_LINK_LOCAL);
    assert_eq!(send_mld(&node, "h1", &report), mld(Reason::LinkLocalGroup));
    // When pod 1 sends a Neighbor Solicitation (ICMPv6 135) to that group. Then it passes.
    let mut solicitation = vec![135, 0, 0, 0, 0, 0, 0, 0];
    solicitation.extend_from_slice(&POD1_V6.octets());
    let frame = Ipv6Frame::new(TEST_LINK_LOCAL, solicited, 58, solicitation);
    let before = node.counters();
    assert_eq!(node.run_pod_ingress("h1", &frame.to_bytes()), TC_ACT_OK);
    assert_eq!(
        delta(&before, &node.counters()),
        expect(&[(Reason::UnconfiguredPassed, 1)])
    );
}
