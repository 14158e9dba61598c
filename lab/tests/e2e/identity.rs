//! Pod identity on the real kernel path: reports crafted in one pod under other pods' (or
//! invented) addresses change no membership and cost no copy; a node refuses itself as a remote
//! subscriber.

use std::net::Ipv4Addr;

use mcastlab_common::Reason;
use mcastlab_dataplane::DataplaneError;
use mcastlab_testbed::{igmp::IgmpMessage, raw::send_frames};
use mcastlab_topology::model::POD_IFACE;

use mcastlab_testkit::require_datapath;

use crate::lab::{TestLab, deadline, receive};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 6, 6, 6);
/// Forged source addresses p1 reports from.
const FORGED: u8 = 200;
const BATCH: u64 = 20;

#[test]
fn spoofed_and_forged_reports_change_nothing_are_counted_and_cost_no_copy() {
    require_datapath!();
    // Given a node with pods p1..p3, the group configured and p2 joined with a real socket.
    let lab = TestLab::new(1, 3, |_| {});
    lab.configure_group(GROUP);
    let mut receiver = lab.join(1, 2, GROUP);
    let (p2, p3) = (lab.pod(1, 2).address, lab.pod(1, 3).address);
    let p1_spy = lab.spy(1, 1);
    let before = lab.counters(1);
    // When p1 sends, from its eth0, a leave under p2's address, a report under p3's, and 200
    // reports from forged sources 10.66.0.1..200.
    let mut frames = vec![
        IgmpMessage::V2Leave(GROUP).frame(p2).to_bytes(),
        IgmpMessage::V2Report(GROUP).frame(p3).to_bytes(),
    ];
    frames.extend((1..=FORGED).map(|i| {
        let forged = Ipv4Addr::new(10, 66, 0, i);
        IgmpMessage::V2Report(GROUP).frame(forged).to_bytes()
    }));
    send_frames(&lab.pod_netns(1, 1), POD_IFACE, &frames).expect("send the crafted reports");
    // Then every one is counted as spoofed and none changed the membership: p2 alone.
    let spoofed = 2 + u64::from(FORGED);
    let seen = lab.wait_counter(1, Reason::SpoofedSource, spoofed);
    assert_eq!(seen - before[Reason::SpoofedSource.name()], spoofed);
    let after = lab.counters(1);
    for reason in [Reason::Subscribed, Reason::Left, Reason::LeaveNotSubscribed] {
        assert_eq!(
            after[reason.name()],
            before[reason.name()],
            "{} changed",
            reason.name()
        );
    }
    let members: Vec<Ipv4Addr> = lab
        .dataplane(1)
        .groups()
        .expect("group table")
        .subscribers_of(GROUP)
        .expect("subscribers")
        .iter()
        .map(|s| s.address)
        .collect();
    assert_eq!(members, vec![p2]);
    // And a batch from p3 reaches p2 whole, one copy per datagram, and nothing reaches p1.
    lab.send(1, 3, GROUP, 3, 0, BATCH);
    assert_eq!(receive(&mut receiver, BATCH), BATCH);
    let copies = lab.counters(1)[Reason::CopyLocal.name()] - after[Reason::CopyLocal.name()];
    assert_eq!(copies, BATCH, "one copy per datagram, to p2 only");
    assert_eq!(
        p1_spy.wait_count_to(GROUP, 1, deadline() / 5),
        0,
        "p1 got copies of a group it only forged joins for"
    );
}

#[test]
fn a_node_refuses_its_own_underlay_address_as_a_remote_subscriber() {
    require_datapath!();
    // Given a two-node lab with the group configured.
    let lab = TestLab::new(2, 1, |_| {});
    lab.configure_group(GROUP);
    let own = lab.scenario.node(1).underlay_address;
    // When n1 is given its own underlay address as a remote subscriber.
    let err = lab
        .dataplane(1)
        .groups()
        .expect("group table")
        .add_remote_subscriber(GROUP, own)
        .expect_err("its own address");
    // Then it is refused with what the address is, and nothing was added.
    assert!(
        matches!(err, DataplaneError::OwnUnderlayAddress { address, .. } if address == own),
        "{err}"
    );
    assert!(err.to_string().contains("is an address of node"), "{err}");
    let remote = lab
        .dataplane(1)
        .groups()
        .expect("group table")
        .subscribers_of(GROUP)
        .expect("subscribers");
    assert!(remote.iter().all(|s| s.address != own), "{remote:?}");
}
