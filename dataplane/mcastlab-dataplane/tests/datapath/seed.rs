//! The seed baseline (`mcast_seed_pod_ingress`, Cilium PR 29469's replication, benchmarks
//! only) on a node of the test's own without the dataplane: its copies, checked with
//! `BPF_PROG_TEST_RUN` and through its tc filters.

use mcastlab_dataplane::{Node, seed::Seed};
use mcastlab_testbed::raw::send_frames;
use mcastlab_testkit::{Namespace, ip, run_classifier, unique_name};

use super::*;

/// A node namespace with veth pairs `h<i>` (host side) / `p<i>` (pod side, left in the same
/// namespace for capture), the seed baseline loaded with `GROUP` configured and the pod behind
/// each `h<i>` subscribed. No dataplane. Dropping it deletes all (the tc filters with the
/// veths).
struct SeedNode {
    seed: Seed,
    node: Node,
    namespace: Namespace,
}

const PODS: [(&str, &str, Ipv4Addr); 3] =
    [("h1", "p1", POD1), ("h2", "p2", POD2), ("h3", "p3", POD3)];

fn seed_node() -> SeedNode {
    let namespace = Namespace::new(&unique_name("dp"));
    let name = namespace.name().to_owned();
    for (host, pod, _) in PODS {
        ip(&[
            "-n", &name, "link", "add", host, "type", "veth", "peer", "name", pod,
        ]);
        ip(&["-n", &name, "link", "set", host, "up"]);
        ip(&["-n", &name, "link", "set", pod, "up"]);
    }
    let node = Node::open(&name).expect("open the node");
    let mut seed = Seed::load(&node).expect("load the seed baseline");
    seed.add_group(GROUP).expect("add the seed group");
    for (host, _, address) in PODS {
        seed.add_subscriber(GROUP, address, host)
            .expect("add a seed subscriber");
    }
    SeedNode {
        seed,
        node,
        namespace,
    }
}

/// Captures on the pod ends p1, p2, p3.
fn pod_captures(node: &SeedNode) -> Vec<Capture> {
    PODS.iter()
        .map(|(_, pod, _)| Capture::open_in(node.namespace.name(), pod).expect("capture"))
        .collect()
}

fn is_copy(frame: &[u8]) -> bool {
    frame.len() > 34 && frame[30..34] == GROUP.octets()
}

/// Waits for `capture` to see one copy of the group and returns the copies seen.
fn copies_at(capture: &Capture) -> Vec<Vec<u8>> {
    capture
        .until(DELIVERY_DEADLINE, |frames| {
            frames.iter().any(|f| is_copy(f))
        })
        .into_iter()
        .filter(|f| is_copy(f))
        .collect()
}

#[test]
fn seed_clones_to_every_subscriber_but_the_sender_with_the_rfc1112_mac() {
    require_datapath!();
    // Given pods 1, 2 and 3 subscribed to GROUP in the seed baseline's hash.
    let mut node = seed_node();
    let subscribers: Vec<Ipv4Addr> = node
        .seed
        .subscribers(GROUP)
        .expect("subscribers")
        .into_iter()
        .map(|(address, _)| address)
        .collect();
    assert_eq!(subscribers, [POD1, POD2, POD3]);
    let captures = pod_captures(&node);
    // When pod 1 sends a datagram whose Ethernet destination is not the group's MAC.
    let mut frame = Ipv4Frame::udp(POD1, GROUP, 5000, b"payload");
    frame.dst_mac = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
    let program = node.seed.program().expect("load the seed program");
    let verdict = run_classifier(program, &node.node, "h1", &frame.to_bytes());
    // Then the original is consumed and pods 2 and 3 get one copy each, addressed to the
    // group's MAC (RFC 1112 section 6.4); pod 1 gets nothing back.
    assert_eq!(verdict, TC_ACT_SHOT);
    for (pod, capture) in ["p2", "p3"].iter().zip(&captures[1..]) {
        let copies = copies_at(capture);
        assert_eq!(copies.len(), 1, "{pod} expected one copy, saw {copies:?}");
        assert_eq!(
            copies[0][0..6],
            [0x01, 0x00, 0x5e, 0x01, 0x01, 0x01],
            "{pod} destination MAC"
        );
        assert!(copies[0].ends_with(b"payload"), "{pod} payload");
    }
    // Copies are queued in order on this CPU: p1's would have arrived with the others.
    let back_to_sender: Vec<Vec<u8>> = captures[0]
        .now()
        .into_iter()
        .filter(|f| is_copy(f))
        .collect();
    assert!(back_to_sender.is_empty(), "sender got {back_to_sender:?}");
}

#[test]
fn seed_passes_igmp_and_multicast_to_other_groups_untouched() {
    require_datapath!();
    // Given the seed baseline with GROUP configured.
    let mut node = seed_node();
    let program = node.seed.program().expect("load the seed program");
    // When pod 1 sends a report for GROUP and a datagram to a group that is not configured.
    let report = IgmpMessage::V2Report(GROUP).frame(POD1).to_bytes();
    let other = Ipv4Frame::udp(POD1, Ipv4Addr::new(239, 9, 9, 9), 5000, b"x").to_bytes();
    // Then both pass: the baseline only forwards, and only configured groups.
    assert_eq!(
        run_classifier(program, &node.node, "h1", &report),
        TC_ACT_OK
    );
    assert_eq!(run_classifier(program, &node.node, "h1", &other), TC_ACT_OK);
}

#[test]
fn seed_filters_forward_from_a_pod_until_detached() {
    require_datapath!();
    // Given the seed baseline attached as tc filters on h1, h2 and h3.
    let mut node = seed_node();
    let ifaces = ["h1", "h2", "h3"];
    node.seed.attach(&ifaces).expect("attach the seed baseline");
    let name = node.namespace.name().to_owned();
    let frame = Ipv4Frame::udp(POD1, GROUP, 5000, b"payload").to_bytes();
    // When pod 1 sends a datagram to the group out of its end of the veth.
    let captures = pod_captures(&node);
    send_frames(&name, "p1", std::slice::from_ref(&frame)).expect("send from p1");
    // Then pods 2 and 3 get one copy each.
    for (pod, capture) in ["p2", "p3"].iter().zip(&captures[1..]) {
        assert_eq!(copies_at(capture).len(), 1, "{pod} expected one copy");
    }
    // When the filters are removed and pod 1 sends again.
    mcastlab_dataplane::seed::detach(&node.node, &ifaces).expect("detach");
    mcastlab_dataplane::seed::detach(&node.node, &ifaces).expect("detach again: nothing to do");
    let captures = pod_captures(&node);
    send_frames(&name, "p1", std::slice::from_ref(&frame)).expect("send from p1");
    // Then nothing is replicated: the datagram stays in the node. A marker sent into p2
    // afterwards shows the capture is live; a copy, cloned in the softirq that ran before
    // the send returned, would be queued ahead of it.
    let marker = Ipv4Frame::udp(POD1, Ipv4Addr::new(10, 0, 0, 99), 5000, b"marker").to_bytes();
    send_frames(&name, "h2", std::slice::from_ref(&marker)).expect("send the marker");
    let seen = captures[1].until(DELIVERY_DEADLINE, |frames| {
        frames.iter().any(|f| f.ends_with(b"marker"))
    });
    assert!(
        seen.iter().any(|f| f.ends_with(b"marker")),
        "p2 never saw the marker: {seen:?}"
    );
    assert!(
        !seen.iter().any(|f| is_copy(f)),
        "p2 got a copy after detach: {seen:?}"
    );
    assert!(
        !captures[2].now().iter().any(|f| is_copy(f)),
        "p3 got a copy after detach"
    );
}
