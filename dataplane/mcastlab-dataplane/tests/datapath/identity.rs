//! Pod identity, one member per veth, link-local groups and the one-writer lock, checked with
//! `BPF_PROG_TEST_RUN` (and real attaches) on a node of the test's own.

use super::*;

const UNSPECIFIED: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

#[test]
fn a_report_under_another_pods_address_changes_nothing_and_is_counted() {
    require_datapath!();
    // Given pod 2 (behind h2) subscribed.
    let node = node_with_group(2);
    send_igmp(&node, "h2", POD2, &IgmpMessage::V2Report(GROUP).frame(POD2));
    // When pod 1 (behind h1) sends a leave and a v3 report claiming pod 2's address.
    let leave = send_igmp(&node, "h1", POD2, &IgmpMessage::V2Leave(GROUP).frame(POD2));
    let to_ex = vec![GroupRecord::new(record::CHANGE_TO_EXCLUDE_MODE, GROUP)];
    let join = send_igmp(&node, "h1", POD2, &IgmpMessage::V3Report(to_ex).frame(POD2));
    // Then both are dropped and counted once each; pod 2 stays the only member, behind h2.
    let spoofed = expect(&[(Reason::IgmpHandled, 1), (Reason::SpoofedSource, 1)]);
    assert_eq!(leave, spoofed);
    assert_eq!(join, spoofed);
    let members = subscribers(&node, GROUP);
    assert_eq!(addresses(&members), vec![POD2]);
    assert_eq!(
        node.node.interface_name(members[0].ifindex).as_deref(),
        Some("h2")
    );
}

#[test]
fn a_report_from_0_0_0_0_speaks_for_the_veths_own_pod() {
    require_datapath!();
    // Given a node whose h1 belongs to pod 1.
    let node = node_with_group(1);
    // When h1 carries a report and then a leave with source 0.0.0.0 (RFC 3376 section 4.2.13).
    let join = send_igmp(
        &node,
        "h1",
        UNSPECIFIED,
        &IgmpMessage::V2Report(GROUP).frame(UNSPECIFIED),
    );
    let members = addresses(&subscribers(&node, GROUP));
    let leave = send_igmp(
        &node,
        "h1",
        UNSPECIFIED,
        &IgmpMessage::V2Leave(GROUP).frame(UNSPECIFIED),
    );
    // Then pod 1's own address joined, and left.
    assert_eq!(
        join,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Subscribed, 1)])
    );
    assert_eq!(members, vec![POD1]);
    assert_eq!(
        leave,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Left, 1)])
    );
    assert!(subscribers(&node, GROUP).is_empty());
}

#[test]
fn a_veth_without_identity_is_refused_until_pod_set() {
    require_datapath!();
    // Given h1 whose pod identity was deleted.
    let node = node_with_group(1);
    let mut pods = node.node.pods().expect("pod table");
    pods.delete("h1").expect("delete h1's identity");
    // When pod 1 reports.
    let refused = send_igmp(&node, "h1", POD1, &IgmpMessage::V2Report(GROUP).frame(POD1));
    // Then it is refused and counted, and once `pod set` gives h1 an address, that address
    // (and only it) joins.
    assert_eq!(
        refused,
        expect(&[(Reason::IgmpHandled, 1), (Reason::NoPodIdentity, 1)])
    );
    assert!(subscribers(&node, GROUP).is_empty());
    let other = Ipv4Addr::new(10, 0, 0, 99);
    pods.set("h1", other).expect("pod set");
    let old = send_igmp(&node, "h1", POD1, &IgmpMessage::V2Report(GROUP).frame(POD1));
    let new = send_igmp(
        &node,
        "h1",
        other,
        &IgmpMessage::V2Report(GROUP).frame(other),
    );
    assert_eq!(
        old,
        expect(&[(Reason::IgmpHandled, 1), (Reason::SpoofedSource, 1)])
    );
    assert_eq!(
        new,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Subscribed, 1)])
    );
    assert_eq!(addresses(&subscribers(&node, GROUP)), vec![other]);
}

#[test]
fn a_pod_holds_one_slot_and_a_leave_frees_only_its_own() {
    require_datapath!();
    // Given pods 1 and 2 subscribed, then pod 1's address changed to 10.0.0.77.
    let node = node_with_group(2);
    for (iface, pod) in [("h1", POD1), ("h2", POD2)] {
        send_igmp(&node, iface, pod, &IgmpMessage::V2Report(GROUP).frame(pod));
    }
    let moved = Ipv4Addr::new(10, 0, 0, 77);
    let mut pods = node.node.pods().expect("pod table");
    pods.set("h1", moved).expect("pod set");
    let taken = pods.set("h1", POD2).expect_err("pod 2's address");
    assert!(
        taken
            .to_string()
            .contains("is the pod address of interface 'h2'"),
        "{taken}"
    );
    // When pod 1 reports under its new address, and pod 2 leaves.
    let join = send_igmp(
        &node,
        "h1",
        moved,
        &IgmpMessage::V2Report(GROUP).frame(moved),
    );
    let after_join = addresses(&subscribers(&node, GROUP));
    let leave = send_igmp(&node, "h2", POD2, &IgmpMessage::V2Leave(GROUP).frame(POD2));
    // Then pod 1's one slot took the new address (no second slot), and pod 2's leave freed
    // pod 2's slot only.
    assert_eq!(
        join,
        expect(&[(Reason::IgmpHandled, 1), (Reason::JoinRefreshed, 1)])
    );
    assert_eq!(after_join, vec![POD2, moved], "listed by address");
    assert_eq!(
        leave,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Left, 1)])
    );
    assert_eq!(addresses(&subscribers(&node, GROUP)), vec![moved]);
}

#[test]
fn a_forged_sources_flood_adds_no_slot_and_no_copy() {
    require_datapath!();
    const FORGED: u8 = 200;
    // Given pod 1 subscribed behind h1.
    let node = node_with_group(2);
    send_igmp(&node, "h1", POD1, &IgmpMessage::V2Report(GROUP).frame(POD1));
    // When h1 carries 200 reports, each from another forged source.
    let before = node.counters();
    for i in 1..=FORGED {
        let forged = Ipv4Addr::new(10, 66, 0, i);
        let frame = IgmpMessage::V2Report(GROUP).frame(forged).to_bytes();
        assert_eq!(node.run_pod_ingress("h1", &frame), TC_ACT_SHOT);
    }
    let flood = delta(&before, &node.counters());
    // Then each is counted as spoofed, pod 1 still holds one slot, and a datagram from pod 2
    // makes exactly one copy.
    assert_eq!(
        flood,
        expect(&[
            (Reason::IgmpHandled, u64::from(FORGED)),
            (Reason::SpoofedSource, u64::from(FORGED)),
        ])
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
fn link_local_groups_are_refused_and_never_joined() {
    require_datapath!();
    // Given a node.
    let node = node_with_group(1);
    // When 224.0.0.5 is added, and pod 1 reports for 224.0.0.251 (mDNS).
    let err = node
        .node
        .groups()
        .expect("group table")
        .add_group(Ipv4Addr::new(224, 0, 0, 5))
        .expect_err("a link-local group");
    let mdns = Ipv4Addr::new(224, 0, 0, 251);
    let join = send_igmp(&node, "h1", POD1, &IgmpMessage::V2Report(mdns).frame(POD1));
    // Then the group is refused naming RFC 5771, and the report is counted as link-local.
    assert!(
        err.to_string()
            .contains("RFC 5771's Local Network Control Block"),
        "{err}"
    );
    assert_eq!(
        join,
        expect(&[(Reason::IgmpHandled, 1), (Reason::LinkLocalGroup, 1)])
    );
    let groups = node.node.groups().expect("group table").groups().unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
}

#[test]
fn concurrent_attaches_of_one_node_leave_it_attached_and_forwarding() {
    use mcastlab_dataplane::AttachOptions;

    require_datapath!();
    const WRITERS: usize = 4;
    const ROUNDS: usize = 3;
    // Given a node with two pods and a group, pod 2 subscribed.
    let node = node_with_group(2);
    send_igmp(&node, "h2", POD2, &IgmpMessage::V2Report(GROUP).frame(POD2));
    let options = AttachOptions {
        mode: AttachMode::Auto,
        pod_ifaces: vec![PodIface::new("h1", POD1), PodIface::new("h2", POD2)],
        tunnel: None,
        max_records: None,
    };
    for round in 0..ROUNDS {
        // When four threads attach the node at the same moment, and another detaches and
        // re-attaches it in between.
        let barrier = std::sync::Barrier::new(WRITERS);
        std::thread::scope(|scope| {
            for _ in 0..WRITERS {
                let (node, options, barrier) = (&node, &options, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    node.node.attach(options).expect("every attach succeeds");
                });
            }
        });
        // Then the node is attached on both veths, keeps its membership and forwards.
        let links = node.node.links().expect("links");
        assert_eq!(links.len(), 2, "round {round}: {links:?}");
        assert_eq!(addresses(&subscribers(&node, GROUP)), vec![POD2]);
        let before = node.counters();
        let verdict =
            node.run_pod_ingress("h1", &Ipv4Frame::udp(POD1, GROUP, 5000, b"x").to_bytes());
        assert_eq!(verdict, TC_ACT_SHOT, "round {round}");
        assert_eq!(
            delta(&before, &node.counters()),
            expect(&[(Reason::Replicated, 1), (Reason::CopyLocal, 1)]),
            "round {round}"
        );
    }
    // And a detach racing attaches ends either attached (the last was an attach) or
    // detached (the last was the detach), never in between.
    for round in 0..ROUNDS {
        std::thread::scope(|scope| {
            let (node, options) = (&node, &options);
            let attach = scope.spawn(move || node.node.attach(options).map(|_| ()));
            let detach = scope.spawn(move || node.node.detach().map(|_| ()));
            attach.join().expect("attach thread").expect("attach");
            detach.join().expect("detach thread").expect("detach");
        });
        let attached = node.node.pins().is_attached();
        let links = node.node.links().expect("links").len();
        assert!(
            (attached && links == 2) || (!attached && links == 0),
            "round {round}: attached {attached} with {links} links"
        );
        node.node.attach(&options).expect("attach again");
        node.node
            .groups()
            .expect("group table")
            .add_group(GROUP)
            .or_else(|err| match err {
                mcastlab_dataplane::DataplaneError::GroupExists { .. } => Ok(()),
                err => Err(err),
            })
            .expect("the group");
    }
}
