//! The verdicts and map effects of `mcast_pod_ingress`, checked with `BPF_PROG_TEST_RUN` on
//! hand-built frames against a dataplane attached in a namespace of the test's own. Copies made
//! by `bpf_clone_redirect` really leave through the veths and are captured on the pod ends.
#![allow(
    unused_crate_dependencies,
    reason = "the package's dependencies are not all this test's"
)]

use std::{net::Ipv4Addr, time::Duration};

use mcastlab_common::names::PROG_POD_INGRESS;
use mcastlab_common::{
    MAX_IGMPV3_RECORDS_PER_MTU, Reason,
    igmp::{IPPROTO_IGMP, record},
    sources::SourceFilter,
    wire::igmp::fill_checksum,
};
use mcastlab_dataplane::{
    AttachMode, PodIface, SubscriberEntry, SubscriberKind,
    kernel::{self, Loops},
    object,
};
use mcastlab_testbed::capture::Capture;
use mcastlab_testbed::{
    frame::{Ipv4Frame, arp_request},
    igmp::{GroupRecord, IgmpMessage, corrupt_checksum},
};
use mcastlab_testkit::{TestNode, delta, expect, require_datapath};
use rstest::rstest;

const TC_ACT_OK: u32 = 0;
const TC_ACT_SHOT: u32 = 2;
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
/// The pods behind h1, h2, h3: their identities (`TestNode::pod_address`).
const POD1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);
const POD2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 12);
const POD3: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 13);
#[path = "datapath/identity.rs"]
mod identity;
#[path = "datapath/leaves.rs"]
mod leaves;
#[path = "datapath/mld.rs"]
mod mld;
#[path = "datapath/seed.rs"]
mod seed;
#[path = "datapath/sources.rs"]
mod sources;
#[path = "datapath/xdp_broadcast.rs"]
mod xdp_broadcast;

/// How long a copy may take to cross a veth before a test gives up on it.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(5);

/// Given a node with `GROUP` configured.
fn node_with_group(pods: usize) -> TestNode {
    node_with_group_in(pods, AttachMode::Auto)
}

/// Given a node attached with `mode` and `GROUP` configured.
fn node_with_group_in(pods: usize, mode: AttachMode) -> TestNode {
    let node = TestNode::with_mode(pods, mode);
    node.node
        .groups()
        .expect("group table")
        .add_group(GROUP)
        .expect("add group");
    node
}

fn subscribers(node: &TestNode, group: Ipv4Addr) -> Vec<SubscriberEntry> {
    node.node
        .groups()
        .expect("group table")
        .subscribers_of(group)
        .expect("subscribers")
}

fn addresses(entries: &[SubscriberEntry]) -> Vec<Ipv4Addr> {
    entries.iter().map(|s| s.address).collect()
}

/// Sends `message` from `source` through `iface` and returns the counter changes.
fn send_igmp(
    node: &TestNode,
    iface: &str,
    source: Ipv4Addr,
    frame: &Ipv4Frame,
) -> std::collections::BTreeMap<&'static str, u64> {
    let before = node.counters();
    let verdict = node.run_pod_ingress(iface, &frame.to_bytes());
    assert_eq!(verdict, TC_ACT_SHOT, "IGMP from {source} must be consumed");
    delta(&before, &node.counters())
}

#[rstest]
#[case::auto(AttachMode::Auto)]
#[case::tc_filters(AttachMode::Netlink)]
fn igmpv2_report_with_router_alert_joins_and_leave_leaves(#[case] mode: AttachMode) {
    require_datapath!();
    // Given a node with a configured group.
    let node = node_with_group_in(1, mode);
    // When a pod sends an IGMPv2 report (IHL 6, Router Alert) and then a leave.
    let joined = send_igmp(&node, "h1", POD1, &IgmpMessage::V2Report(GROUP).frame(POD1));
    let after_join = subscribers(&node, GROUP);
    let left = send_igmp(&node, "h1", POD1, &IgmpMessage::V2Leave(GROUP).frame(POD1));
    // Then it was a local subscriber behind h1 in between, and is gone after.
    assert_eq!(
        joined,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Subscribed, 1)])
    );
    assert_eq!(addresses(&after_join), vec![POD1]);
    assert_eq!(after_join[0].kind, SubscriberKind::Local);
    assert_eq!(left, expect(&[(Reason::IgmpHandled, 1), (Reason::Left, 1)]));
    assert!(subscribers(&node, GROUP).is_empty());
}

#[test]
fn igmpv1_report_without_router_alert_joins() {
    require_datapath!();
    let node = node_with_group(1);
    // An IGMPv1 report with a plain 20-byte header (IHL 5).
    let frame = Ipv4Frame::new(
        POD1,
        GROUP,
        IPPROTO_IGMP,
        IgmpMessage::V1Report(GROUP).to_bytes(),
    );
    let changes = send_igmp(&node, "h1", POD1, &frame);
    assert_eq!(
        changes,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Subscribed, 1)])
    );
    assert_eq!(addresses(&subscribers(&node, GROUP)), vec![POD1]);
}

#[test]
fn repeated_report_refreshes_and_a_leave_of_a_stranger_changes_nothing() {
    require_datapath!();
    let node = node_with_group(2);
    send_igmp(&node, "h1", POD1, &IgmpMessage::V2Report(GROUP).frame(POD1));
    let again = send_igmp(&node, "h1", POD1, &IgmpMessage::V2Report(GROUP).frame(POD1));
    let stranger = send_igmp(&node, "h2", POD2, &IgmpMessage::V2Leave(GROUP).frame(POD2));
    assert_eq!(
        again,
        expect(&[(Reason::IgmpHandled, 1), (Reason::JoinRefreshed, 1)])
    );
    assert_eq!(
        stranger,
        expect(&[(Reason::IgmpHandled, 1), (Reason::LeaveNotSubscribed, 1)])
    );
    assert_eq!(addresses(&subscribers(&node, GROUP)), vec![POD1]);
}

#[test]
fn igmpv3_records_join_and_leave_as_rfc3376_means() {
    require_datapath!();
    let node = TestNode::new(1);
    let groups: Vec<Ipv4Addr> = (1..=6).map(|i| Ipv4Addr::new(239, 3, 0, i)).collect();
    let mut table = node.node.groups().expect("group table");
    for group in &groups {
        table.add_group(*group).expect("add group");
    }
    let source = vec![Ipv4Addr::new(10, 9, 9, 9)];
    // Given: a report with each kind of record.
    let records = vec![
        GroupRecord::new(record::CHANGE_TO_EXCLUDE_MODE, groups[0]),
        GroupRecord::new(record::MODE_IS_EXCLUDE, groups[1]),
        GroupRecord::new(record::MODE_IS_INCLUDE, groups[2]).with_sources(source.clone()),
        GroupRecord::new(record::ALLOW_NEW_SOURCES, groups[3]).with_sources(source.clone()),
        GroupRecord::new(record::BLOCK_OLD_SOURCES, groups[4]).with_sources(source.clone()),
        GroupRecord::new(record::ALLOW_NEW_SOURCES, groups[5]),
    ];
    let joined = send_igmp(
        &node,
        "h1",
        POD1,
        &IgmpMessage::V3Report(records).frame(POD1),
    );
    // Then the four joining records subscribed the pod; the other two changed nothing.
    assert_eq!(
        joined,
        expect(&[
            (Reason::IgmpHandled, 1),
            (Reason::Subscribed, 4),
            (Reason::RecordNoEffect, 2),
        ])
    );
    for (i, group) in groups.iter().enumerate() {
        let expected = if i < 4 { vec![POD1] } else { vec![] };
        assert_eq!(
            addresses(&subscribers(&node, *group)),
            expected,
            "group {group}"
        );
    }
    // When: TO_IN{} and IS_IN{} (no sources) arrive for the first two.
    let records = vec![
        GroupRecord::new(record::CHANGE_TO_INCLUDE_MODE, groups[0]),
        GroupRecord::new(record::MODE_IS_INCLUDE, groups[1]),
    ];
    let left = send_igmp(
        &node,
        "h1",
        POD1,
        &IgmpMessage::V3Report(records).frame(POD1),
    );
    // Then the pod left both.
    assert_eq!(left, expect(&[(Reason::IgmpHandled, 1), (Reason::Left, 2)]));
    assert!(subscribers(&node, groups[0]).is_empty());
    assert!(subscribers(&node, groups[1]).is_empty());
}

/// A v3 report joining `count` configured groups `239.24.0.<i>`.
fn report_of(count: usize) -> (Vec<Ipv4Addr>, IgmpMessage) {
    let groups: Vec<Ipv4Addr> = (1..=count as u8)
        .map(|i| Ipv4Addr::new(239, 24, 0, i))
        .collect();
    let records = groups
        .iter()
        .map(|g| GroupRecord::new(record::CHANGE_TO_EXCLUDE_MODE, *g))
        .collect();
    (groups, IgmpMessage::V3Report(records))
}

/// At the node's record limit a report joins every group it names; one record more and it is
/// refused whole: at the default (24, the reference's) and with the limit set to 40 (a pod in
/// 40 groups answers a query with one report of 40 records).
#[rstest]
#[case::default_24(None, 24)]
#[case::set_to_40(Some(40), 40)]
fn a_report_at_the_record_limit_joins_all_and_one_record_more_joins_none(
    #[case] set: Option<u32>,
    #[case] limit: usize,
) {
    require_datapath!();
    // Given a node with its record limit (as attached, or set), and limit + 1 groups.
    let node = TestNode::new(2);
    if let Some(set) = set {
        let config = node
            .node
            .set_record_limit(set)
            .expect("set the record limit");
        assert_eq!(usize::from(config.record_limit()), limit);
    }
    let mut table = node.node.groups().expect("group table");
    let (groups, at_limit) = report_of(limit);
    let (over_groups, over_limit) = report_of(limit + 1);
    for group in &over_groups {
        table.add_group(*group).expect("add group");
    }
    // When pod 1 reports `limit` records and pod 2 one more.
    let accepted = send_igmp(&node, "h1", POD1, &at_limit.frame(POD1));
    let rejected = send_igmp(&node, "h2", POD2, &over_limit.frame(POD2));
    // Then pod 1 joined every group; pod 2's report was refused whole: no group has it.
    assert_eq!(
        accepted,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Subscribed, limit as u64)])
    );
    assert_eq!(
        rejected,
        expect(&[(Reason::IgmpHandled, 1), (Reason::TooManyRecords, 1)])
    );
    for group in &groups {
        assert_eq!(
            addresses(&subscribers(&node, *group)),
            vec![POD1],
            "group {group}"
        );
    }
    assert!(subscribers(&node, over_groups[limit]).is_empty());
}

#[test]
fn with_the_record_limit_at_40_a_report_whose_last_record_is_bad_joins_none() {
    require_datapath!();
    // Given a node whose record limit is 40, and 40 configured groups.
    let node = TestNode::new(1);
    node.node
        .set_record_limit(40)
        .expect("set the record limit");
    let mut table = node.node.groups().expect("group table");
    let (groups, _) = report_of(40);
    for group in &groups {
        table.add_group(*group).expect("add group");
    }
    // When pod 1 reports 39 good records and a 40th for a unicast address.
    let mut records: Vec<GroupRecord> = groups[..39]
        .iter()
        .map(|g| GroupRecord::new(record::CHANGE_TO_EXCLUDE_MODE, *g))
        .collect();
    records.push(GroupRecord::new(
        record::CHANGE_TO_EXCLUDE_MODE,
        Ipv4Addr::new(10, 1, 2, 3),
    ));
    let changes = send_igmp(
        &node,
        "h1",
        POD1,
        &IgmpMessage::V3Report(records).frame(POD1),
    );
    // Then the report was refused whole: every record is checked before the first applies.
    assert_eq!(
        changes,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Malformed, 1)])
    );
    assert!(subscribers(&node, groups[0]).is_empty());
}

#[test]
fn at_the_highest_record_limit_a_report_filling_the_mtu_joins_all() {
    require_datapath!();
    // Given a node at the highest record limit (183) and 183 configured groups.
    let node = TestNode::new(1);
    let highest = u32::from(MAX_IGMPV3_RECORDS_PER_MTU);
    assert_eq!(highest, 183);
    node.node
        .set_record_limit(highest)
        .expect("set the record limit");
    let mut table = node.node.groups().expect("group table");
    let (groups, report) = report_of(183);
    for group in &groups {
        table.add_group(*group).expect("add group");
    }
    // When pod 1 sends the 1500-byte report of 183 records (IPv4 with Router Alert: 24 bytes,
    // report header: 8, records: 183 x 8).
    let frame = report.frame(POD1);
    assert_eq!(frame.to_bytes().len(), 14 + 24 + 8 + 183 * 8);
    let changes = send_igmp(&node, "h1", POD1, &frame);
    // Then it joined every group.
    assert_eq!(
        changes,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Subscribed, 183)])
    );
    assert_eq!(addresses(&subscribers(&node, groups[182])), vec![POD1]);
}

#[test]
fn record_limits_outside_1_to_183_are_refused_and_a_re_attach_keeps_the_limit_set() {
    require_datapath!();
    // Given a node whose record limit is set to 40.
    let node = TestNode::new(1);
    assert_eq!(node.node.config().expect("config").record_limit(), 24);
    node.node
        .set_record_limit(40)
        .expect("set the record limit");
    // When limits of 0 and 184 are asked for, by `set_record_limit` and by attach.
    for limit in [0, 184] {
        let err = node
            .node
            .set_record_limit(limit)
            .expect_err("a limit outside 1..=183");
        assert_eq!(
            err.to_string(),
            format!(
                "record limit {limit} is not in 1..=183 (the most records one IGMPv3 report on \
                 a 1500-byte MTU holds)"
            )
        );
        let err = node
            .node
            .attach(&mcastlab_dataplane::AttachOptions {
                mode: AttachMode::Auto,
                pod_ifaces: vec![PodIface::without_address("h1")],
                tunnel: None,
                max_records: Some(limit),
            })
            .expect_err("an attach with a limit outside 1..=183");
        assert!(err.to_string().contains("is not in 1..=183"), "{err}");
    }
    // Then the limit is still 40, and a re-attach without a limit keeps it.
    assert_eq!(node.node.config().expect("config").max_records, 40);
    let report = node
        .node
        .attach(&mcastlab_dataplane::AttachOptions {
            mode: AttachMode::Auto,
            pod_ifaces: vec![PodIface::without_address("h1")],
            tunnel: None,
            max_records: None,
        })
        .expect("re-attach");
    assert_eq!(report.max_records, 40);
    assert_eq!(node.node.config().expect("config").max_records, 40);
    // And a re-attach with a limit sets it.
    let report = node
        .node
        .attach(&mcastlab_dataplane::AttachOptions {
            mode: AttachMode::Auto,
            pod_ifaces: vec![PodIface::without_address("h1")],
            tunnel: None,
            max_records: Some(30),
        })
        .expect("re-attach with a limit");
    assert_eq!(report.max_records, 30);
    assert_eq!(node.node.config().expect("config").record_limit(), 30);
}

#[test]
fn join_for_a_group_that_is_not_configured_is_ignored() {
    require_datapath!();
    let node = node_with_group(1);
    let other = Ipv4Addr::new(239, 9, 9, 9);
    let changes = send_igmp(&node, "h1", POD1, &IgmpMessage::V2Report(other).frame(POD1));
    assert_eq!(
        changes,
        expect(&[(Reason::IgmpHandled, 1), (Reason::IgnoredGroup, 1)])
    );
    assert!(subscribers(&node, GROUP).is_empty());
}

/// A v2 report for `GROUP` from pod 1: the good message the malformed cases are made from.
fn good_report() -> Ipv4Frame {
    IgmpMessage::V2Report(GROUP).frame(POD1)
}

fn igmp_shorter_than_8_bytes() -> Ipv4Frame {
    let mut frame = good_report();
    frame.payload.truncate(6);
    frame
}

fn total_length_beyond_the_frame() -> Ipv4Frame {
    let mut frame = good_report();
    frame.total_len_override = Some(24 + 8 + 40);
    frame
}

fn bad_checksum() -> Ipv4Frame {
    let mut frame = good_report();
    corrupt_checksum(&mut frame.payload);
    frame
}

fn non_multicast_group() -> Ipv4Frame {
    let mut frame = IgmpMessage::V2Report(Ipv4Addr::new(10, 1, 2, 3)).frame(POD1);
    frame.destination = GROUP;
    frame
}

/// A v3 record that claims more sources than the message holds.
fn v3_record_cut_short() -> Ipv4Frame {
    let mut frame = IgmpMessage::V3Report(vec![
        GroupRecord::new(record::CHANGE_TO_EXCLUDE_MODE, GROUP)
            .with_sources(vec![Ipv4Addr::new(10, 9, 9, 9)]),
    ])
    .frame(POD1);
    frame.payload.truncate(8 + 8 + 2);
    fill_checksum(&mut frame.payload);
    frame
}

fn v3_record_for_a_unicast_group() -> Ipv4Frame {
    IgmpMessage::V3Report(vec![GroupRecord::new(
        record::CHANGE_TO_EXCLUDE_MODE,
        Ipv4Addr::new(10, 1, 2, 3),
    )])
    .frame(POD1)
}

#[rstest]
#[case::igmp_shorter_than_8_bytes(igmp_shorter_than_8_bytes(), Reason::Malformed)]
#[case::total_length_beyond_the_frame(total_length_beyond_the_frame(), Reason::Malformed)]
#[case::bad_checksum(bad_checksum(), Reason::BadChecksum)]
#[case::non_multicast_group(non_multicast_group(), Reason::Malformed)]
#[case::v3_record_cut_short(v3_record_cut_short(), Reason::Malformed)]
#[case::v3_record_for_a_unicast_group(v3_record_for_a_unicast_group(), Reason::Malformed)]
#[case::query_from_a_pod(IgmpMessage::Query(GROUP).frame(POD1), Reason::IgmpUnhandledType)]
fn malformed_igmp_is_counted_and_dropped(#[case] frame: Ipv4Frame, #[case] reason: Reason) {
    require_datapath!();
    // Given a node with a configured group.
    let node = node_with_group(1);
    // When a pod sends the malformed message.
    let changes = send_igmp(&node, "h1", POD1, &frame);
    // Then it is consumed and counted under its reason, and nothing else changed.
    assert_eq!(changes, expect(&[(Reason::IgmpHandled, 1), (reason, 1)]));
    assert!(subscribers(&node, GROUP).is_empty());
    // And the dataplane keeps working: a good report still joins.
    let changes = send_igmp(&node, "h1", POD1, &good_report());
    assert_eq!(
        changes,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Subscribed, 1)])
    );
}

#[test]
fn traffic_that_is_not_the_dataplanes_passes_untouched() {
    require_datapath!();
    let node = node_with_group(1);
    let cases = [
        (
            "unicast UDP",
            Ipv4Frame::udp(POD1, POD2, 5000, b"x").to_bytes(),
            None,
        ),
        ("ARP", arp_request(POD1, POD2), None),
        (
            "multicast to a group that is not configured",
            Ipv4Frame::udp(POD1, Ipv4Addr::new(239, 7, 7, 7), 5000, b"x").to_bytes(),
            Some(Reason::UnconfiguredPassed),
        ),
    ];
    for (what, frame, reason) in cases {
        let before = node.counters();
        assert_eq!(node.run_pod_ingress("h1", &frame), TC_ACT_OK, "{what}");
        let expected = reason.map(|r| expect(&[(r, 1)])).unwrap_or_default();
        assert_eq!(delta(&before, &node.counters()), expected, "{what}");
    }
}

/// RFC 1112 section 6.4: 01:00:5e and the low 23 bits of the group, written out by hand. The
/// second group's high bit of its second octet (129 = 0x81) is not part of the address.
#[rstest]
#[case::auto(AttachMode::Auto, GROUP, [0x01, 0x00, 0x5e, 0x01, 0x01, 0x01])]
#[case::tc_filters(
    AttachMode::Netlink,
    Ipv4Addr::new(224, 129, 2, 3),
    [0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]
)]
fn multicast_is_cloned_to_every_subscriber_but_the_sender_with_the_rfc1112_mac(
    #[case] mode: AttachMode,
    #[case] group: Ipv4Addr,
    #[case] group_mac: [u8; 6],
) {
    require_datapath!();
    // Given three pods on one node, all subscribed to `group`.
    let node = TestNode::with_mode(3, mode);
    node.node
        .groups()
        .expect("group table")
        .add_group(group)
        .expect("add group");
    for (iface, pod) in [("h1", POD1), ("h2", POD2), ("h3", POD3)] {
        send_igmp(&node, iface, pod, &IgmpMessage::V2Report(group).frame(pod));
    }
    let captures: Vec<Capture> = {
        let _netns = node.node.enter().expect("enter");
        ["p1", "p2", "p3"]
            .iter()
            .map(|pod| {
                let ifindex = nix::net::if_::if_nametoindex(*pod).expect("pod iface");
                Capture::open(ifindex).expect("capture")
            })
            .collect()
    };
    // When pod 1 sends a datagram whose Ethernet destination is not the group's MAC.
    let mut frame = Ipv4Frame::udp(POD1, group, 5000, b"payload");
    frame.dst_mac = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
    let before = node.counters();
    let verdict = node.run_pod_ingress("h1", &frame.to_bytes());
    // Then the original is consumed and pods 2 and 3 get one copy each, addressed to the
    // group's MAC; pod 1 gets nothing back.
    assert_eq!(verdict, TC_ACT_SHOT);
    let is_copy = |f: &Vec<u8>| f.len() > 34 && f[30..34] == group.octets();
    for (pod, capture) in ["p2", "p3"].iter().zip(&captures[1..]) {
        let frames = capture.until(DELIVERY_DEADLINE, |frames| frames.iter().any(is_copy));
        let copies: Vec<&Vec<u8>> = frames.iter().filter(|f| is_copy(f)).collect();
        assert_eq!(copies.len(), 1, "{pod} expected one copy, saw {frames:?}");
        assert_eq!(copies[0][0..6], group_mac, "{pod} destination MAC");
        assert!(copies[0].ends_with(b"payload"), "{pod} payload");
    }
    // Copies are queued in order on this CPU: p1's would have arrived with the others.
    let back_to_sender: Vec<Vec<u8>> = captures[0].now().into_iter().filter(is_copy).collect();
    assert!(back_to_sender.is_empty(), "sender got {back_to_sender:?}");
    assert_eq!(
        delta(&before, &node.counters()),
        expect(&[(Reason::Replicated, 1), (Reason::CopyLocal, 2)])
    );
}

/// The programs' loops run in `bpf_loop` or, for kernels before 5.17, in `bpf_for_each_map_elem`
/// (`MCASTLAB_LOOPS` picks one for a whole run of this suite; CI runs it both ways). Here: the
/// choice reaches the verifier, which prunes the other way, so the translated programs differ.
#[test]
fn each_way_of_running_the_loops_is_verified_and_prunes_the_other() {
    require_datapath!();
    if !kernel::has_bpf_loop() {
        eprintln!("SKIPPED: this kernel has no bpf_loop, so only one way can load");
        return;
    }
    let sizes = [Loops::BpfLoop, Loops::ForEachMapElem].map(|loops| {
        let mut ebpf = object::load_with(None, loops).expect("parse the object");
        let program = object::load_program(&mut ebpf, PROG_POD_INGRESS).expect("verified");
        program
            .info()
            .expect("program info")
            .size_translated()
            .expect("translated size")
    });
    assert_ne!(
        sizes[0], sizes[1],
        "loaded with bpf_loop and with bpf_for_each_map_elem, mcast_pod_ingress is the same \
         program: the choice did not reach it"
    );
}

#[test]
fn remote_subscriber_on_a_node_without_a_tunnel_is_refused() {
    require_datapath!();
    let node = node_with_group(1);
    let err = node
        .node
        .groups()
        .expect("group table")
        .add_remote_subscriber(GROUP, Ipv4Addr::new(192, 168, 1, 2))
        .expect_err("no tunnel configured");
    assert!(err.to_string().contains("has no tunnel"), "{err}");
}

#[rstest]
#[case::auto(AttachMode::Auto)]
#[case::tc_filters(AttachMode::Netlink)]
fn re_attach_swaps_programs_and_keeps_membership(#[case] mode: AttachMode) {
    require_datapath!();
    // Given a subscriber in a configured group.
    let node = node_with_group_in(2, mode);
    send_igmp(&node, "h1", POD1, &IgmpMessage::V2Report(GROUP).frame(POD1));
    // When the dataplane is attached again (as after an upgrade or an agent restart).
    let report = node
        .node
        .attach(&mcastlab_dataplane::AttachOptions {
            mode,
            pod_ifaces: vec![
                PodIface::without_address("h1"),
                PodIface::without_address("h2"),
            ],
            tunnel: None,
            max_records: None,
        })
        .expect("re-attach");
    // Then the links were replaced in place and the membership is still there and used.
    assert!(
        report
            .links
            .iter()
            .all(|link| link.action == mcastlab_dataplane::LinkAction::Replaced),
        "{report:?}"
    );
    assert_eq!(addresses(&subscribers(&node, GROUP)), vec![POD1]);
    let before = node.counters();
    let verdict = node.run_pod_ingress("h2", &Ipv4Frame::udp(POD2, GROUP, 5000, b"x").to_bytes());
    assert_eq!(verdict, TC_ACT_SHOT);
    assert_eq!(
        delta(&before, &node.counters()),
        expect(&[(Reason::Replicated, 1), (Reason::CopyLocal, 1)])
    );
}

#[test]
fn a_group_refuses_joins_beyond_its_capacity() {
    require_datapath!();
    // Given a group with room for two subscribers.
    let node = TestNode::new(3);
    let mut table = node.node.groups().expect("group table");
    table.add_group_with_capacity(GROUP, 2).expect("add group");
    assert_eq!(table.groups().unwrap()[0].capacity, 2);
    // When three pods join.
    for (iface, pod) in [("h1", POD1), ("h2", POD2)] {
        send_igmp(&node, iface, pod, &IgmpMessage::V2Report(GROUP).frame(pod));
    }
    let third = send_igmp(&node, "h3", POD3, &IgmpMessage::V2Report(GROUP).frame(POD3));
    // Then the third is refused and counted, and a capacity outside 1..=1024 is an error.
    assert_eq!(
        third,
        expect(&[(Reason::IgmpHandled, 1), (Reason::SubscriberTableFull, 1)])
    );
    assert_eq!(addresses(&subscribers(&node, GROUP)), vec![POD1, POD2]);
    for capacity in [0, 1025] {
        let err = table
            .add_group_with_capacity(Ipv4Addr::new(239, 5, 5, 5), capacity)
            .expect_err("capacity out of range");
        assert!(err.to_string().contains("is not in 1..=1024"), "{err}");
    }
}

#[test]
fn a_leave_frees_a_slot_that_the_next_join_reuses_and_copies_follow_the_members() {
    require_datapath!();
    // Given a full group of two: pods 1 and 2 joined.
    let node = TestNode::new(3);
    let mut table = node.node.groups().expect("group table");
    table.add_group_with_capacity(GROUP, 2).expect("add group");
    for (iface, pod) in [("h1", POD1), ("h2", POD2)] {
        send_igmp(&node, iface, pod, &IgmpMessage::V2Report(GROUP).frame(pod));
    }
    // When pod 1 leaves and pod 3 joins.
    let leave = send_igmp(&node, "h1", POD1, &IgmpMessage::V2Leave(GROUP).frame(POD1));
    let join = send_igmp(&node, "h3", POD3, &IgmpMessage::V2Report(GROUP).frame(POD3));
    // Then pod 3 takes the freed slot, the group is full again for userspace too, and a
    // datagram from pod 1 is copied to exactly pods 2 and 3.
    assert_eq!(
        leave,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Left, 1)])
    );
    assert_eq!(
        join,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Subscribed, 1)])
    );
    assert_eq!(addresses(&subscribers(&node, GROUP)), vec![POD2, POD3]);
    let err = node
        .node
        .groups()
        .expect("group table")
        .delete_subscriber(GROUP, POD1)
        .expect_err("pod 1 left");
    assert!(err.to_string().contains("does not subscribe"), "{err}");
    let before = node.counters();
    let verdict = node.run_pod_ingress("h1", &Ipv4Frame::udp(POD1, GROUP, 5000, b"x").to_bytes());
    assert_eq!(verdict, TC_ACT_SHOT);
    assert_eq!(
        delta(&before, &node.counters()),
        expect(&[(Reason::Replicated, 1), (Reason::CopyLocal, 2)])
    );
}

#[test]
fn joins_racing_on_two_cpus_leave_every_pod_in_exactly_one_slot() {
    use mcastlab_testbed::blast::pin_to_cpu;
    use std::{collections::HashSet, sync::Barrier};

    require_datapath!();
    const PODS: u8 = 200;
    const ROUNDS: u8 = 3;
    let cpus = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(2);
    if cpus < 2 {
        eprintln!("note: one CPU only, the joins do not race");
    }
    // Given 200 pods, each behind its own veth h<i>, and, per round, a group of their own.
    let node = TestNode::new(usize::from(PODS));
    let pods: Vec<(String, Ipv4Addr)> = (1..=usize::from(PODS))
        .map(|i| (format!("h{i}"), TestNode::pod_address(i)))
        .collect();
    for round in 0..ROUNDS {
        let group = Ipv4Addr::new(239, 1, 2, round);
        node.node
            .groups()
            .expect("group table")
            .add_group(group)
            .expect("add group");
        let joins: Vec<(&str, Vec<u8>)> = pods
            .iter()
            .map(|(iface, pod)| {
                let join = IgmpMessage::V2Report(group).frame(*pod).to_bytes();
                (iface.as_str(), join)
            })
            .collect();
        // When two threads on different CPUs send the same joins in the same order at once,
        // so that they claim slots for the same pod at the same moment.
        let before = node.counters();
        let barrier = Barrier::new(2);
        std::thread::scope(|scope| {
            for cpu in 0..2 {
                let (node, joins, barrier) = (&node, &joins, &barrier);
                scope.spawn(move || {
                    pin_to_cpu(cpu % cpus).expect("pin");
                    barrier.wait();
                    for (iface, join) in joins {
                        assert_eq!(node.run_pod_ingress(iface, join), TC_ACT_SHOT);
                    }
                });
            }
        });
        // Then each pod holds exactly one slot, and every join was counted as new or as a
        // refresh.
        let listed = addresses(&subscribers(&node, group));
        let distinct: HashSet<&Ipv4Addr> = listed.iter().collect();
        assert_eq!(distinct.len(), usize::from(PODS), "{listed:?}");
        assert_eq!(listed.len(), usize::from(PODS), "duplicates in {listed:?}");
        let counted = delta(&before, &node.counters());
        let new = counted.get("subscribed").copied().unwrap_or(0);
        let refreshed = counted.get("join_refreshed").copied().unwrap_or(0);
        assert_eq!(new + refreshed, 2 * u64::from(PODS), "{counted:?}");
        assert!(new >= u64::from(PODS), "{counted:?}");
    }
}

/// The fan-out list of `group` on `node`, mapped into this process.
fn fan_out(node: &TestNode, group: Ipv4Addr) -> mcastlab_dataplane::fanout::MappedGroup {
    use aya::maps::{HashOfMaps, Map, MapData};

    let pin = node.node.pins().map(mcastlab_common::names::MAP_GROUPS);
    let groups: HashOfMaps<MapData, u32, MapData> = MapData::from_pin(&pin)
        .and_then(Map::from_map_data)
        .and_then(HashOfMaps::try_from)
        .expect("open the group map");
    let list = groups
        .get(&mcastlab_common::addr_key(group), 0)
        .expect("the group's fan-out list");
    mcastlab_dataplane::fanout::MappedGroup::map(&list).expect("map the fan-out list")
}

#[test]
fn userspace_adds_racing_joins_on_another_cpu_leave_every_subscriber_in_one_slot() {
    use mcastlab_testbed::blast::pin_to_cpu;
    use std::{collections::HashSet, sync::Barrier};

    require_datapath!();
    const SUBSCRIBERS: u8 = 100;
    const ROUNDS: u8 = 3;
    let cpus = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(2);
    if cpus < 2 {
        eprintln!("note: one CPU only, the writers do not race");
    }
    // Given a node with a tunnel (userspace adds remote subscribers 10.2.0.<i>) and 100 pods
    // behind h1..h100 that join the same groups.
    let node = TestNode::new(usize::from(SUBSCRIBERS));
    node.attach_tunnel(42);
    let remotes: Vec<Ipv4Addr> = (1..=SUBSCRIBERS)
        .map(|i| Ipv4Addr::new(10, 2, 0, i))
        .collect();
    let veths: HashSet<u32> = {
        let _netns = node.node.enter().expect("enter");
        (1..=SUBSCRIBERS)
            .map(|i| nix::net::if_::if_nametoindex(format!("h{i}").as_str()).expect("veth"))
            .collect()
    };
    for round in 0..ROUNDS {
        let group = Ipv4Addr::new(239, 2, 2, round);
        node.node
            .groups()
            .expect("group table")
            .add_group(group)
            .expect("add group");
        let joins: Vec<(String, Vec<u8>)> = (1..=usize::from(SUBSCRIBERS))
            .map(|i| {
                let join = IgmpMessage::V2Report(group).frame(TestNode::pod_address(i));
                (format!("h{i}"), join.to_bytes())
            })
            .collect();
        // When one thread adds the remote subscribers through the group table while another,
        // on the other CPU, runs the pods' joins through mcast_pod_ingress, one of each in step
        // (both claim the lowest free slot at the same moment).
        let before = node.counters();
        let barrier = Barrier::new(2);
        let added = std::thread::scope(|scope| {
            let (node, joins, barrier, remotes) = (&node, &joins, &barrier, &remotes);
            scope.spawn(move || {
                pin_to_cpu(1 % cpus).expect("pin");
                for (iface, join) in joins {
                    barrier.wait();
                    assert_eq!(node.run_pod_ingress(iface, join), TC_ACT_SHOT);
                }
            });
            let adds = scope.spawn(move || {
                pin_to_cpu(0).expect("pin");
                let mut table = node.node.groups().expect("group table");
                let mut added = 0u64;
                for &address in remotes {
                    barrier.wait();
                    match table.add_remote_subscriber(group, address) {
                        Ok(()) => added += 1,
                        Err(err) => panic!("adding {address}: {err}"),
                    }
                }
                added
            });
            adds.join().expect("the adding thread")
        });
        // Then each remote address and each veth holds exactly one slot, every slot is below
        // the high-water mark, and every add and join was reported done.
        let mapped = fan_out(&node, group);
        let slots = mapped.slots();
        let members = slots.members();
        let remote: HashSet<Ipv4Addr> = members
            .iter()
            .filter(|(_, m)| m.is_remote())
            .map(|(_, m)| mcastlab_common::key_addr(m.address))
            .collect();
        let local: HashSet<u32> = members
            .iter()
            .filter(|(_, m)| !m.is_remote())
            .map(|(_, m)| m.target)
            .collect();
        assert_eq!(remote, remotes.iter().copied().collect(), "round {round}");
        assert_eq!(local, veths, "round {round}");
        assert_eq!(
            members.len(),
            2 * usize::from(SUBSCRIBERS),
            "round {round}: duplicates in {members:?}"
        );
        let highest = members.iter().map(|(slot, _)| *slot).max().unwrap_or(0);
        let high_water = slots.header().high_water;
        assert!(
            high_water > highest,
            "round {round}: high-water mark {high_water}, a member in slot {highest}"
        );
        assert_eq!(added, u64::from(SUBSCRIBERS), "round {round}");
        assert_eq!(
            delta(&before, &node.counters()),
            expect(&[
                (Reason::IgmpHandled, u64::from(SUBSCRIBERS)),
                (Reason::Subscribed, u64::from(SUBSCRIBERS)),
            ]),
            "round {round}"
        );
    }
}

#[rstest]
#[case::auto(AttachMode::Auto)]
#[case::tc_filters(AttachMode::Netlink)]
fn attached_programs_handle_real_traffic_and_detach_removes_them(#[case] mode: AttachMode) {
    use mcastlab_testbed::raw::send_frames;

    require_datapath!();
    // Given a node attached with `mode` (TCX links or tc filters) and a configured group.
    let node = node_with_group_in(3, mode);
    let netns = node.node.name().to_owned();
    let captures: Vec<Capture> = ["p2", "p3"]
        .iter()
        .map(|pod| Capture::open_in(&netns, pod).expect("capture"))
        .collect();
    // When p2 and p3 send joins out of their veths (through the attached programs, not
    // BPF_PROG_TEST_RUN) and p1 then sends a datagram.
    for (pod, address) in [("p2", POD2), ("p3", POD3)] {
        let join = IgmpMessage::V2Report(GROUP).frame(address).to_bytes();
        send_frames(&netns, pod, &[join]).expect("send a join");
    }
    let deadline = std::time::Instant::now() + DELIVERY_DEADLINE;
    while addresses(&subscribers(&node, GROUP)) != vec![POD2, POD3] {
        assert!(
            std::time::Instant::now() < deadline,
            "joins through the attached programs did not arrive: {:?}",
            subscribers(&node, GROUP)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let datagram = Ipv4Frame::udp(POD1, GROUP, 5000, b"real").to_bytes();
    send_frames(&netns, "p1", &[datagram]).expect("send a datagram");
    // Then both subscribers get their copy.
    for (pod, capture) in ["p2", "p3"].iter().zip(&captures) {
        let copies = capture.wait_count_to(GROUP, 1, DELIVERY_DEADLINE);
        assert_eq!(copies, 1, "{pod} copies");
    }
    // And detach removes every link or filter record.
    let report = node.node.detach().expect("detach");
    assert_eq!(report.links.len(), 3, "{report:?}");
    assert!(node.node.links().unwrap().is_empty());
}

/// Now on `CLOCK_MONOTONIC`, the clock the datapath stamps members with.
fn monotonic_ns() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("clock");
    now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64
}

#[test]
fn joins_and_refreshes_stamp_when_a_member_was_heard() {
    require_datapath!();
    // Given a node with the group.
    let node = node_with_group(1);
    let heard = || {
        node.node
            .groups()
            .expect("group table")
            .heard_members()
            .expect("heard members")
    };
    // When pod 1 joins.
    let before_join = monotonic_ns();
    send_igmp(&node, "h1", POD1, &IgmpMessage::V2Report(GROUP).frame(POD1));
    let after_join = monotonic_ns();
    // Then it is heard, stamped between the two readings of the clock.
    let joined = heard();
    assert_eq!(joined.len(), 1, "{joined:?}");
    assert_eq!(mcastlab_common::key_addr(joined[0].member.address), POD1);
    assert!(
        (before_join..=after_join).contains(&joined[0].heard_ns),
        "stamped {} outside {before_join}..={after_join}",
        joined[0].heard_ns
    );
    // When it reports again.
    send_igmp(&node, "h1", POD1, &IgmpMessage::V2Report(GROUP).frame(POD1));
    // Then its stamp moves forward.
    let refreshed = heard();
    assert_eq!(refreshed.len(), 1, "{refreshed:?}");
    assert!(
        refreshed[0].heard_ns > joined[0].heard_ns,
        "the refresh did not move the stamp: {} then {}",
        joined[0].heard_ns,
        refreshed[0].heard_ns
    );
}

#[test]
fn learned_remotes_are_stamped_and_static_ones_never_even_in_a_slot_a_member_left() {
    use mcastlab_dataplane::{Learned, SubscriberOrigin};
    require_datapath!();
    const STATIC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
    const LEARNED: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 3);
    // Given a node with a tunnel and the group; pod 1 joined (stamped in slot 1) and left, so
    // slot 1 is free but keeps pod 1's stamp.
    let node = TestNode::new(1);
    node.attach_tunnel(42);
    let mut table = node.node.groups().expect("group table");
    table.add_group(GROUP).expect("add group");
    send_igmp(&node, "h1", POD1, &IgmpMessage::V2Report(GROUP).frame(POD1));
    send_igmp(&node, "h1", POD1, &IgmpMessage::V2Leave(GROUP).frame(POD1));
    let origin = |address: Ipv4Addr| {
        subscribers(&node, GROUP)
            .into_iter()
            .find(|s| s.address == address)
            .map(|s| (s.origin, s.age_s.is_some()))
    };

    // When a static subscriber is added (it takes slot 1) and another node is learned.
    table
        .add_remote_subscriber(GROUP, STATIC)
        .expect("static add");
    let now = monotonic_ns();
    assert_eq!(
        table
            .learn_remote(GROUP, LEARNED, SourceFilter::ANY_SOURCE, now)
            .expect("learn"),
        Learned::Added
    );
    // Then the static one is never heard, the learned one is, with an age.
    assert_eq!(origin(STATIC), Some((SubscriberOrigin::Static, false)));
    assert_eq!(origin(LEARNED), Some((SubscriberOrigin::Learned, true)));
    let heard: Vec<Ipv4Addr> = table
        .heard_members()
        .expect("heard")
        .iter()
        .map(|h| mcastlab_common::key_addr(h.member.address))
        .collect();
    assert_eq!(heard, [LEARNED], "only the learned node ages");

    // When both are announced again and then withdrawn.
    assert_eq!(
        table
            .learn_remote(GROUP, LEARNED, SourceFilter::ANY_SOURCE, now + 1)
            .expect("refresh"),
        Learned::Refreshed
    );
    assert_eq!(
        table
            .learn_remote(GROUP, STATIC, SourceFilter::ANY_SOURCE, now + 1)
            .expect("static"),
        Learned::Static
    );
    assert!(
        !table.withdraw_learned(GROUP, STATIC).expect("withdraw"),
        "a static entry is not withdrawn"
    );
    assert!(
        table.withdraw_learned(GROUP, LEARNED).expect("withdraw"),
        "the learned entry is withdrawn"
    );
    // Then the static one stays static, the learned one is gone.
    assert_eq!(
        addresses(&subscribers(&node, GROUP)),
        [STATIC],
        "after the withdrawals"
    );
    assert_eq!(origin(STATIC), Some((SubscriberOrigin::Static, false)));
}

/// A 100-byte frame from `source` to `group`: 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + 58.
fn hundred_byte_datagram(source: Ipv4Addr, group: Ipv4Addr) -> Vec<u8> {
    let frame = Ipv4Frame::udp(source, group, 5000, &[0x5a; 58]).to_bytes();
    assert_eq!(frame.len(), 100, "the frame the counts below are made of");
    frame
}

/// Each subscriber of `group` with what was delivered to it: (address, packets, bytes).
fn deliveries(node: &TestNode, group: Ipv4Addr) -> Vec<(Ipv4Addr, u64, u64)> {
    subscribers(node, group)
        .iter()
        .map(|s| (s.address, s.packets, s.bytes))
        .collect()
}

/// Sends `count` 100-byte datagrams to `group` from pod 1 (h1) and returns the counter changes.
fn send_datagrams(
    node: &TestNode,
    group: Ipv4Addr,
    count: usize,
) -> std::collections::BTreeMap<&'static str, u64> {
    let before = node.counters();
    for _ in 0..count {
        let verdict = node.run_pod_ingress("h1", &hundred_byte_datagram(POD1, group));
        assert_eq!(verdict, TC_ACT_SHOT, "the original is consumed");
    }
    delta(&before, &node.counters())
}

#[test]
fn each_member_counts_the_copies_that_left_for_it_from_the_join_on() {
    require_datapath!();
    const POD4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 14);
    // Given pods 2, 3 and 4 subscribed to the group, and pod 4's veth deleted since (its
    // membership stays: no agent runs here), so its copies cannot be cloned.
    let node = node_with_group(4);
    for (iface, pod) in [("h2", POD2), ("h3", POD3), ("h4", POD4)] {
        send_igmp(&node, iface, pod, &IgmpMessage::V2Report(GROUP).frame(pod));
    }
    assert_eq!(
        deliveries(&node, GROUP),
        [(POD2, 0, 0), (POD3, 0, 0), (POD4, 0, 0)],
        "a new member has had nothing"
    );
    mcastlab_testkit::ip(&["-n", node.node.name(), "link", "del", "h4"]);

    // When pod 1 sends three 100-byte datagrams.
    let changes = send_datagrams(&node, GROUP, 3);
    // Then pods 2 and 3 have 3 copies and 300 bytes each, pod 4 none: its clones failed.
    assert_eq!(
        changes,
        expect(&[
            (Reason::Replicated, 3),
            (Reason::CopyLocal, 6),
            (Reason::CloneFailed, 3),
        ])
    );
    assert_eq!(
        deliveries(&node, GROUP),
        [(POD2, 3, 300), (POD3, 3, 300), (POD4, 0, 0)]
    );

    // When pod 2 leaves and joins again (taking its old slot), and one more datagram is sent.
    send_igmp(&node, "h2", POD2, &IgmpMessage::V2Leave(GROUP).frame(POD2));
    send_igmp(&node, "h2", POD2, &IgmpMessage::V2Report(GROUP).frame(POD2));
    let rejoined = deliveries(&node, GROUP);
    send_datagrams(&node, GROUP, 1);
    // Then pod 2 counted from 0 at its new join; pod 3 goes on.
    assert_eq!(rejoined, [(POD2, 0, 0), (POD3, 3, 300), (POD4, 0, 0)]);
    assert_eq!(
        deliveries(&node, GROUP),
        [(POD2, 1, 100), (POD3, 4, 400), (POD4, 0, 0)]
    );
}

#[test]
fn a_remote_member_counts_its_tunnel_copies_and_counts_from_0_when_added_again() {
    require_datapath!();
    const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
    // Given a node with a tunnel, pod 2 subscribed and a remote node added by hand.
    let node = node_with_group(2);
    node.attach_tunnel(42);
    send_igmp(&node, "h2", POD2, &IgmpMessage::V2Report(GROUP).frame(POD2));
    let mut table = node.node.groups().expect("group table");
    table
        .add_remote_subscriber(GROUP, REMOTE)
        .expect("add remote");

    // When pod 1 sends two 100-byte datagrams.
    let changes = send_datagrams(&node, GROUP, 2);
    // Then the pod and the remote node have 2 copies and 200 bytes each (the frame as
    // replicated: the tunnel's headers are not counted).
    assert_eq!(
        changes,
        expect(&[
            (Reason::Replicated, 2),
            (Reason::CopyLocal, 2),
            (Reason::CopyRemote, 2),
        ])
    );
    assert_eq!(deliveries(&node, GROUP), [(POD2, 2, 200), (REMOTE, 2, 200)]);

    // When the remote node is deleted and added again (into its old slot).
    table
        .delete_subscriber(GROUP, REMOTE)
        .expect("delete remote");
    table
        .add_remote_subscriber(GROUP, REMOTE)
        .expect("add again");
    // Then it counts from 0; the pod keeps its counts.
    assert_eq!(deliveries(&node, GROUP), [(POD2, 2, 200), (REMOTE, 0, 0)]);
}

/// The last-copy experiment (`CONFIG_LAST_COPY_REDIRECT`, off by default): the last local member
/// gets the original, redirected after the walk. `BPF_PROG_TEST_RUN` returns that redirect as
/// the verdict without performing it, so the copies are checked on real traffic.
#[test]
fn with_the_last_copy_handed_over_each_member_gets_one_copy_and_counts_it() {
    use mcastlab_testbed::raw::send_frames;

    require_datapath!();
    const POD4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 14);
    const TC_ACT_REDIRECT: u32 = 7;
    // Given pods 2, 3 and 4 subscribed, the experiment on, and captures on every pod end.
    let node = node_with_group(4);
    for (iface, pod) in [("h2", POD2), ("h3", POD3), ("h4", POD4)] {
        send_igmp(&node, iface, pod, &IgmpMessage::V2Report(GROUP).frame(pod));
    }
    node.node
        .set_last_copy_redirect(true)
        .expect("turn the experiment on");
    let netns = node.node.name().to_owned();
    let captures: Vec<Capture> = ["p1", "p2", "p3", "p4"]
        .iter()
        .map(|pod| Capture::open_in(&netns, pod).expect("capture"))
        .collect();
    // When pod 1 sends one datagram out of its veth (through the attached program).
    let before = node.counters();
    send_frames(&netns, "p1", &[hundred_byte_datagram(POD1, GROUP)]).expect("send");
    // Then pods 2, 3 and 4 each get exactly one copy with the group's MAC, pod 1 none.
    for (pod, capture) in ["p2", "p3", "p4"].iter().zip(&captures[1..]) {
        let frames = capture.until(DELIVERY_DEADLINE, |frames| {
            frames
                .iter()
                .any(|f| mcastlab_testbed::capture::is_ipv4_to(f, GROUP))
        });
        let copies: Vec<&Vec<u8>> = frames
            .iter()
            .filter(|f| mcastlab_testbed::capture::is_ipv4_to(f, GROUP))
            .collect();
        assert_eq!(copies.len(), 1, "{pod} copies");
        assert_eq!(
            copies[0][..6],
            [0x01, 0x00, 0x5e, 0x01, 0x01, 0x01],
            "{pod} MAC"
        );
    }
    assert_eq!(captures[0].count_to(GROUP), 0, "the sender's own copy");
    // And each member counts its copy: two clones and the original.
    assert_eq!(
        delta(&before, &node.counters()),
        expect(&[(Reason::Replicated, 1), (Reason::CopyLocal, 3)])
    );
    assert_eq!(
        deliveries(&node, GROUP),
        [(POD2, 1, 100), (POD3, 1, 100), (POD4, 1, 100)]
    );
    // And the program's verdict for the original is the redirect.
    let verdict = node.run_pod_ingress("h1", &hundred_byte_datagram(POD1, GROUP));
    assert_eq!(verdict, TC_ACT_REDIRECT);
}
