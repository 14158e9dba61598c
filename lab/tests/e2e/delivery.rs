//! Local and cross-node delivery: every joined pod gets exactly one copy, the sender none,
//! pods that did not join nothing.

use std::net::Ipv4Addr;

use mcastlab_common::Reason;

use mcastlab_testkit::require_datapath;

use crate::lab::{TestLab, receive};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
const COUNT: u64 = 50;
/// The frame of one datagram `TestLab::send` sends: 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + 64.
const FRAME_LEN: u64 = 106;

/// What node `node` delivered to each member of `GROUP`: (address, packets, bytes), by address.
fn delivered(lab: &TestLab, node: usize) -> Vec<(Ipv4Addr, u64, u64)> {
    lab.dataplane(node)
        .groups()
        .expect("group table")
        .subscribers_of(GROUP)
        .expect("subscribers")
        .iter()
        .map(|s| (s.address, s.packets, s.bytes))
        .collect()
}

#[test]
fn local_delivery_reaches_joined_pods_only_and_never_the_sender() {
    require_datapath!();
    // Given one node with four pods: p1 sends (and has joined), p2 and p3 join, p4 does not.
    let lab = TestLab::new(1, 4, |_| {});
    lab.configure_group(GROUP);
    let mut at_sender = lab.join(1, 1, GROUP);
    let mut receivers = [lab.join(1, 2, GROUP), lab.join(1, 3, GROUP)];
    let sender_capture = lab.spy(1, 1);
    let spy = lab.spy(1, 4);
    // When p1 sends (its socket does not loop copies back locally).
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    // Then p2 and p3 get every datagram exactly once.
    for (i, receiver) in receivers.iter_mut().enumerate() {
        assert_eq!(
            receive(receiver, COUNT),
            COUNT,
            "pod p{} distinct datagrams",
            i + 2
        );
        assert_eq!(receiver.report().duplicates, 0, "pod p{} duplicates", i + 2);
    }
    // And, with their copies in, neither the sender nor the spy got any.
    assert_eq!(
        at_sender.drain().unwrap().received,
        0,
        "copies back to the sender's socket"
    );
    assert_eq!(
        sender_capture.count_to(GROUP),
        0,
        "copies back to the sender's eth0"
    );
    assert_eq!(spy.count_to(GROUP), 0, "copies to a pod that did not join");
    let counters = lab.counters(1);
    assert_eq!(counters[Reason::Replicated.name()], COUNT);
    assert_eq!(counters[Reason::CopyLocal.name()], 2 * COUNT);
    assert_eq!(counters[Reason::CloneFailed.name()], 0);
    // And the dataplane counted each receiver's copies and bytes, and none to the sender.
    let address = |pod| lab.pod(1, pod).address;
    assert_eq!(
        delivered(&lab, 1),
        [
            (address(1), 0, 0),
            (address(2), COUNT, COUNT * FRAME_LEN),
            (address(3), COUNT, COUNT * FRAME_LEN),
        ]
    );
}

#[test]
fn cross_node_delivery_in_both_directions_exactly_once() {
    require_datapath!();
    // Given two nodes; p2 on each joins; p3 on each is a spy.
    let lab = TestLab::new(2, 3, |_| {});
    lab.configure_group(GROUP);
    let mut receivers = [(1, lab.join(1, 2, GROUP)), (2, lab.join(2, 2, GROUP))];
    let spies = [lab.spy(1, 3), lab.spy(2, 3)];
    // When p1 of node 1 sends as sender 1, then p1 of node 2 as sender 2.
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    lab.send(2, 1, GROUP, 2, 0, COUNT);
    // Then each receiver has every datagram of both senders, once.
    for (node, receiver) in &mut receivers {
        assert_eq!(
            receive(receiver, 2 * COUNT),
            2 * COUNT,
            "node {node} receiver"
        );
        let report = receiver.report();
        assert_eq!(
            report.per_sender.get(&1),
            Some(&COUNT),
            "node {node}: from node 1"
        );
        assert_eq!(
            report.per_sender.get(&2),
            Some(&COUNT),
            "node {node}: from node 2"
        );
        assert_eq!(report.duplicates, 0, "node {node} duplicates");
    }
    for (i, spy) in spies.iter().enumerate() {
        assert_eq!(
            spy.count_to(GROUP),
            0,
            "pod p3 of node {} did not join",
            i + 1
        );
    }
    // And each node sent one remote copy per datagram and delivered the other's locally only.
    for node in [1, 2] {
        let counters = lab.counters(node);
        assert_eq!(
            counters[Reason::CopyRemote.name()],
            COUNT,
            "node {node} remote copies"
        );
        assert_eq!(
            counters[Reason::OverlayDelivered.name()],
            COUNT,
            "node {node} from overlay"
        );
        assert_eq!(
            counters[Reason::CopyLocal.name()],
            2 * COUNT,
            "node {node} local copies"
        );
        // And counted them to the members: the other node got its pod's datagrams (frames as
        // replicated, before the tunnel's headers), p2 both nodes' datagrams.
        let other = lab.scenario.node(3 - node).underlay_address;
        let mut expected = vec![
            (lab.pod(node, 2).address, 2 * COUNT, 2 * COUNT * FRAME_LEN),
            (other, COUNT, COUNT * FRAME_LEN),
        ];
        expected.sort();
        assert_eq!(delivered(&lab, node), expected, "node {node} members");
    }
}

#[test]
fn a_group_that_is_not_configured_is_not_replicated_and_its_join_is_ignored() {
    require_datapath!();
    let unconfigured = Ipv4Addr::new(239, 9, 9, 9);
    let lab = TestLab::new(1, 2, |_| {});
    lab.configure_group(GROUP);
    // Given p2 joined a configured group and, with a real socket, one that is not configured.
    let mut configured = lab.join(1, 2, GROUP);
    let mut other = join_unconfigured(&lab, unconfigured);
    lab.wait_counter(1, Reason::IgnoredGroup, 1);
    // When p1 sends to the unconfigured group, then to the configured one.
    lab.send(1, 1, unconfigured, 1, 0, COUNT);
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    // Then the configured traffic arrives and the unconfigured one passed untouched, unreplicated.
    assert_eq!(receive(&mut configured, COUNT), COUNT);
    assert_eq!(other.drain().unwrap().received, 0);
    let counters = lab.counters(1);
    assert_eq!(counters[Reason::UnconfiguredPassed.name()], COUNT);
    assert_eq!(counters[Reason::Replicated.name()], COUNT);
    let table = lab.dataplane(1).groups().unwrap();
    assert_eq!(
        table.groups().unwrap().len(),
        1,
        "no group appeared from the join"
    );
}

fn join_unconfigured(lab: &TestLab, group: Ipv4Addr) -> mcastlab_testbed::receiver::Receiver {
    lab.join_socket(1, 2, group)
}
