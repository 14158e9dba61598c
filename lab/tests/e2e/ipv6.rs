//! IPv6 on dual-stack labs (`ipv6: true`): pods join IPv6 groups with real sockets, their
//! kernels send MLDv2 (or MLDv1 under `mld_version: 1`), and the dataplane delivers to them,
//! locally and from another node over the tunnel (the nodes' agents announce and learn IPv6
//! groups as they do IPv4 ones). Their kernels' reports of link-scope groups (solicited-node)
//! are refused and never become memberships. The agent's MLD queries keep members and, with
//! fast leave off, decide leaves.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use mcastlab_common::Reason;
use mcastlab_dataplane::SubscriberOrigin;
use mcastlab_testbed::{
    capture::Capture,
    mld::{MldMessage, TEST_LINK_LOCAL},
    raw::send_frames,
    receiver::Receiver6,
    sender::SendOptions,
};
use mcastlab_testkit::{delta, require_datapath};
use mcastlab_topology::model::POD_IFACE;

use crate::lab::{AGENT_SETTINGS, FAST_AGENT_SETTINGS, PORT, TestLab, aging_slack, deadline};

const COUNT: u64 = 30;
/// A global-scope IPv6 group.
const GROUP6: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 7, 1);

/// A dual-stack lab of `nodes` x `pods`, the pods of `mld_v1` (node, pod) speaking MLDv1.
fn dual_stack(nodes: usize, pods: usize, mld_v1: &[(usize, usize)]) -> TestLab {
    TestLab::new(nodes, pods, |spec| {
        spec.ipv6 = true;
        for &(node, pod) in mld_v1 {
            spec.nodes[node - 1].pods[pod - 1].mld_version = Some(1);
        }
    })
}

/// The members of `GROUP6` on `node`, by their pods' (IPv4) identity addresses.
fn members(lab: &TestLab, node: usize) -> Vec<Ipv4Addr> {
    lab.dataplane(node)
        .groups()
        .expect("group table")
        .subscribers_of(GROUP6)
        .expect("subscribers")
        .iter()
        .map(|s| s.address)
        .collect()
}

/// Each node's members of `GROUP6`, whether its agent ended, and its reason counters that are
/// not 0: what a failing cross-node case prints.
fn every_node(lab: &TestLab) -> String {
    (1..=lab.scenario.spec().nodes.len())
        .map(|node| {
            format!(
                "n{node} members {:?}, {}",
                members(lab, node),
                lab.node_state(node)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Waits until pod (node, pod) is a member of `GROUP6` on its node (`present`) or is not.
fn wait_member(lab: &TestLab, node: usize, pod: usize, present: bool) {
    let address = lab.pod(node, pod).address;
    let until = Instant::now() + deadline();
    while members(lab, node).contains(&address) != present {
        assert!(
            Instant::now() < until,
            "pod ({node}, {pod}) a member of {GROUP6}: expected {present} within {:?}",
            deadline()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Joins `GROUP6` from pod (node, pod) with a socket and waits for the membership.
fn join(lab: &TestLab, node: usize, pod: usize) -> Receiver6 {
    let receiver = lab
        .scenario
        .join6_socket(node, pod, GROUP6, PORT)
        .expect("join an IPv6 group");
    wait_member(lab, node, pod, true);
    receiver
}

/// Sends `COUNT` probes to `GROUP6` from pod (node, pod) as `sender`.
fn send(lab: &TestLab, node: usize, pod: usize, sender: u32) {
    lab.scenario
        .send6(
            node,
            pod,
            &SendOptions {
                group: GROUP6,
                port: PORT,
                count: COUNT,
                rate: None,
                size: 64,
                sender,
                first_seq: 0,
            },
        )
        .expect("send to an IPv6 group");
}

/// Receives until `count` distinct probes arrived (or the deadline); returns how many.
fn receive(receiver: &mut Receiver6, count: u64) -> u64 {
    receiver
        .receive_until(deadline(), |report| report.unique >= count)
        .expect("receive")
        .unique
}

/// How many frames a capture got to `GROUP6` (IPv6 destination at offset 38 of the frame).
fn frames_to_group(capture: &Capture) -> usize {
    capture
        .now()
        .iter()
        .filter(|frame| frame.len() >= 54 && frame[12..14] == [0x86, 0xdd])
        .filter(|frame| frame[38..54] == GROUP6.octets())
        .count()
}

#[test]
fn ipv6_members_joined_with_mldv2_and_mldv1_get_every_datagram_and_a_leave_stops_them() {
    require_datapath!();
    // Given a dual-stack node: p1 sends, p2 joins with MLDv2, p3 (mld_version 1) with MLDv1,
    // p4 does not join; the IPv6 group configured.
    let lab = dual_stack(1, 4, &[(1, 3)]);
    lab.dataplane(1)
        .groups()
        .expect("group table")
        .add_group(GROUP6)
        .expect("add the IPv6 group");
    let mut mldv2 = join(&lab, 1, 2);
    let mut mldv1 = join(&lab, 1, 3);
    let outsider = lab.spy(1, 4);
    // When p1 sends.
    send(&lab, 1, 1, 1);
    // Then p2 and p3 get every datagram once, and p4 none (with theirs in, p4's would be).
    assert_eq!(receive(&mut mldv2, COUNT), COUNT, "p2 (MLDv2)");
    assert_eq!(receive(&mut mldv1, COUNT), COUNT, "p3 (MLDv1)");
    assert_eq!(mldv2.report().duplicates, 0);
    assert_eq!(
        frames_to_group(&outsider),
        0,
        "copies to p4, which did not join"
    );
    // When p4 gets one more address (its kernel joins the address's solicited-node group,
    // ff02::1:ff00:abcd, and reports it). Then that link-scope report is refused and the node
    // has no group but the configured one.
    let before = lab.counters(1)[Reason::LinkLocalGroup.name()];
    mcastlab_testkit::ip(&[
        "-n",
        &lab.pod_netns(1, 4),
        "addr",
        "add",
        "fd00:200::abcd/64",
        "dev",
        "eth0",
        "nodad",
    ]);
    lab.wait_counter(1, Reason::LinkLocalGroup, before + 1);
    let groups: Vec<std::net::IpAddr> = lab
        .dataplane(1)
        .groups()
        .expect("group table")
        .groups()
        .expect("groups")
        .iter()
        .map(|entry| entry.group)
        .collect();
    assert_eq!(groups, [std::net::IpAddr::V6(GROUP6)]);

    // When p3 (MLDv1) leaves: its kernel sends a Done. Then it is no member, and the next
    // datagrams reach p2 only.
    mldv1.leave().expect("leave");
    wait_member(&lab, 1, 3, false);
    let p3_wire = lab.spy(1, 3);
    send(&lab, 1, 1, 2);
    assert_eq!(
        receive(&mut mldv2, 2 * COUNT),
        2 * COUNT,
        "p2 after p3 left"
    );
    assert_eq!(frames_to_group(&p3_wire), 0, "copies to p3 after its Done");
}

#[test]
fn an_ipv6_group_crosses_the_overlay_to_a_remote_member() {
    require_datapath!();
    // Given two dual-stack nodes with agents and the IPv6 group, no remote subscriber added
    // by hand; n2's p2 speaks MLDv1.
    let lab = TestLab::with_agents(2, 2, |spec| {
        spec.ipv6 = true;
        spec.nodes[1].pods[1].mld_version = Some(1);
    });
    for node in 1..=2 {
        lab.dataplane(node)
            .groups()
            .expect("group table")
            .add_group(GROUP6)
            .expect("add the IPv6 group");
    }
    let n2 = lab.scenario.node(2).underlay_address;
    assert_eq!(origin(&lab, 1, n2), None, "n2 has no member yet");
    let before = lab.counters(1);
    // When p1 on n2 joins with MLDv2 and p2 with MLDv1.
    let mut receiver = join(&lab, 2, 1);
    let mut mldv1 = join(&lab, 2, 2);
    // Then n2's agent announces the group and n1 learns n2 as a remote subscriber of it.
    wait_remote(&lab, 1, n2, true);
    assert_eq!(origin(&lab, 1, n2), Some(SubscriberOrigin::Learned));
    assert_eq!(
        delta(&before, &lab.counters(1)).get(Reason::RemoteLearned.name()),
        Some(&1)
    );
    // When p1 on n1 sends.
    send(&lab, 1, 1, 1);
    // Then both pods on n2 get every datagram once, carried over the tunnel once.
    assert_eq!(
        receive(&mut receiver, COUNT),
        COUNT,
        "datagrams on n2 (MLDv2)"
    );
    assert_eq!(receive(&mut mldv1, COUNT), COUNT, "datagrams on n2 (MLDv1)");
    assert_eq!(receiver.report().duplicates, 0);
    assert_eq!(
        delta(&before, &lab.counters(1)).get(Reason::CopyRemote.name()),
        Some(&COUNT)
    );
    assert_eq!(lab.counters(2)[Reason::OverlayDelivered.name()], COUNT);
    // When both pods leave (their kernels report TO_IN({}) and a Done).
    receiver.leave().expect("leave");
    mldv1.leave().expect("leave");
    // Then n2's agent announces it has no member left and n1 withdraws n2, counted once.
    wait_remote(&lab, 1, n2, false);
    assert_eq!(
        delta(&before, &lab.counters(1)).get(Reason::RemoteWithdrawn.name()),
        Some(&1)
    );
}

/// How `address` subscribes to `GROUP6` on `node`, if it does.
fn origin(lab: &TestLab, node: usize, address: Ipv4Addr) -> Option<SubscriberOrigin> {
    lab.dataplane(node)
        .groups()
        .expect("group table")
        .subscribers_of(GROUP6)
        .expect("subscribers")
        .into_iter()
        .find(|s| s.address == address)
        .map(|s| s.origin)
}

/// Waits until the node at underlay `remote` is a subscriber of `GROUP6` on `node`
/// (`present`) or is not.
fn wait_remote(lab: &TestLab, node: usize, remote: Ipv4Addr, present: bool) {
    let until = Instant::now() + deadline();
    while members(lab, node).contains(&remote) != present {
        assert!(
            Instant::now() < until,
            "n{node} has {remote} as a subscriber of {GROUP6}: expected {present} within \
             {:?}, subscribers {:?}; every node: {}",
            deadline(),
            members(lab, node),
            every_node(lab)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_agents_mld_queries_keep_an_ipv6_member_past_the_membership_interval() {
    require_datapath!();
    // Given a dual-stack node whose agent queries every 2 s (a member not heard for 5 s
    // expires), the IPv6 group, and p2 joined with MLDv2.
    let settings = FAST_AGENT_SETTINGS;
    let mut lab = dual_stack(1, 2, &[]);
    lab.dataplane(1)
        .groups()
        .expect("group table")
        .add_group(GROUP6)
        .expect("add the IPv6 group");
    lab.start_agent_with(1, settings);
    let mut receiver = join(&lab, 1, 2);
    // When a membership interval and more passes (p2's kernel sends no report unasked).
    std::thread::sleep(settings.group_membership_interval() + aging_slack());
    // Then p2 is still a member, heard within the last query round: it answered the agent's
    // MLD General Queries.
    let member = lab
        .dataplane(1)
        .groups()
        .expect("group table")
        .subscribers_of(GROUP6)
        .expect("subscribers")
        .into_iter()
        .find(|s| s.address == lab.pod(1, 2).address)
        .expect("p2 is still a member");
    let age = member.age_s.expect("a local member is heard");
    assert!(
        age <= settings.query_interval.as_secs() + 1,
        "p2 last heard {age} s ago"
    );
    // And it receives.
    send(&lab, 1, 1, 1);
    assert_eq!(
        receive(&mut receiver, COUNT),
        COUNT,
        "p2 after the interval"
    );
}

/// Whether `frame` is an MLD query (ICMPv6 130 behind an 8-byte Hop-by-Hop header) to `group`.
fn is_mld_query_to(frame: &[u8], group: Ipv6Addr) -> bool {
    frame.len() >= 63
        && frame[12..14] == [0x86, 0xdd]
        && frame[38..54] == group.octets()
        && frame[62] == 130
}

#[test]
fn with_fast_leave_off_an_ipv6_member_goes_only_when_nobody_answers_the_address_specific_queries() {
    require_datapath!();
    // Given a dual-stack node with its agent and fast leave off, and p2 joined with a socket.
    let mut lab = dual_stack(1, 2, &[]);
    let node = lab.dataplane(1);
    node.groups()
        .expect("group table")
        .add_group(GROUP6)
        .expect("add the IPv6 group");
    node.set_fast_leave(false).expect("fast leave off");
    lab.start_agent_with(1, AGENT_SETTINGS);
    let mut receiver = join(&lab, 1, 2);
    let spy = lab.spy(1, 2);

    // When an MLDv1 Done comes from p2's veth while p2's socket still holds the group.
    let done = MldMessage::V1Done(GROUP6).frame(TEST_LINK_LOCAL).to_bytes();
    send_frames(&lab.pod_netns(1, 2), POD_IFACE, &[done]).expect("crafted Done");
    // Then the leave is pending, the agent sends p2 a Multicast Address Specific Query, p2's
    // kernel answers, and after the Last Listener Query Time p2 is still a member.
    lab.wait_counter(1, Reason::LeavePending, 1);
    let queries = spy.until(deadline(), |frames| {
        frames.iter().any(|f| is_mld_query_to(f, GROUP6))
    });
    assert!(
        queries.iter().any(|f| is_mld_query_to(f, GROUP6)),
        "no address-specific query reached p2"
    );
    std::thread::sleep(AGENT_SETTINGS.last_member_query_time() + aging_slack());
    assert!(members(&lab, 1).contains(&lab.pod(1, 2).address));
    send(&lab, 1, 1, 1);
    assert_eq!(receive(&mut receiver, COUNT), COUNT, "p2 after the queries");

    // When p2 closes its socket (its kernel reports the leave and answers no query).
    drop(receiver);
    // Then the agent removes p2 after the queries, counted as a confirmed leave.
    let confirmed = lab.wait_counter(1, Reason::LeaveConfirmed, 1);
    assert_eq!(confirmed, 1);
    wait_member(&lab, 1, 2, false);
    assert_eq!(lab.counters(1).get(Reason::Left.name()), Some(&0));
}

#[test]
fn bad_mld_from_a_pod_is_counted_and_dropped_and_the_dataplane_keeps_working() {
    require_datapath!();
    // Given a dual-stack node with the IPv6 group.
    let lab = dual_stack(1, 2, &[]);
    lab.dataplane(1)
        .groups()
        .expect("group table")
        .add_group(GROUP6)
        .expect("add the IPv6 group");
    let report = MldMessage::V1Report(GROUP6);
    let before = lab.counters(1);
    // When p1 sends MLDv1 reports for the group with a bad checksum, cut short, with padding
    // instead of the Router Alert, without a Hop-by-Hop header, and from a global source.
    let frames: Vec<Vec<u8>> = [
        report.frame_with_bad_checksum(TEST_LINK_LOCAL),
        report.truncated_frame(TEST_LINK_LOCAL, 20),
        report.frame_without_router_alert(TEST_LINK_LOCAL),
        report.frame_without_hop_by_hop(TEST_LINK_LOCAL),
        report.frame(Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 0x101)),
    ]
    .iter()
    .map(mcastlab_testbed::frame::Ipv6Frame::to_bytes)
    .collect();
    send_frames(&lab.pod_netns(1, 1), POD_IFACE, &frames).expect("crafted MLD");
    // Then each is counted under its reason, and none joined anything.
    lab.wait_counter(
        1,
        Reason::MldSourceNotLinkLocal,
        before[Reason::MldSourceNotLinkLocal.name()] + 1,
    );
    let changes = delta(&before, &lab.counters(1));
    for (reason, count) in [
        (Reason::BadChecksum, 1),
        (Reason::Malformed, 1),
        (Reason::MldNoRouterAlert, 2),
        (Reason::MldSourceNotLinkLocal, 1),
    ] {
        assert_eq!(changes.get(reason.name()), Some(&count), "{changes:?}");
    }
    assert!(members(&lab, 1).is_empty());
    // And a real join and delivery still work.
    let mut receiver = join(&lab, 1, 2);
    send(&lab, 1, 1, 1);
    assert_eq!(receive(&mut receiver, COUNT), COUNT);
}
