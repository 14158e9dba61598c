//! Membership between nodes with no `subscriber add` anywhere: the agents announce which groups
//! have local members, and a node sends copies over the overlay only to the nodes that
//! announced members (docs/cross-node.md).

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use mcastlab_common::Reason;
use mcastlab_dataplane::{SubscriberEntry, SubscriberOrigin};
use mcastlab_testbed::capture::{Capture, is_vxlan_to};
use mcastlab_testkit::{delta, require_datapath, scaled};
use mcastlab_topology::model::{UNDERLAY_IFACE, VXLAN_PORT};

use crate::lab::{FAST_AGENT_SETTINGS, TestLab, aging_slack, deadline, receive};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 11, 1, 1);
const COUNT: u64 = 20;
/// How soon after the last member's leave its node stops getting copies (issue 11).
fn leave_deadline() -> Duration {
    scaled(Duration::from_secs(1))
}

/// The vxlan packets (UDP to port 4789) that carry a packet to `group`, among `frames`
/// captured on an underlay interface.
fn vxlan_to_group(frames: &[Vec<u8>], group: Ipv4Addr) -> usize {
    frames
        .iter()
        .filter(|frame| is_vxlan_to(frame, VXLAN_PORT, group))
        .count()
}

/// A capture on node `node`'s underlay leg.
fn underlay_capture(lab: &TestLab, node: usize) -> Capture {
    let netns = lab.scenario.spec().node_netns(lab.scenario.node(node));
    Capture::open_in(&netns, UNDERLAY_IFACE).expect("capture on ul0")
}

/// `remote` (a node) among the subscribers of `GROUP` on `node`, if it is one.
fn entry_on(lab: &TestLab, node: usize, remote: usize) -> Option<SubscriberEntry> {
    let address = lab.scenario.node(remote).underlay_address;
    lab.dataplane(node)
        .groups()
        .and_then(|table| table.subscribers_of(GROUP))
        .expect("subscribers")
        .into_iter()
        .find(|s| s.address == address)
}

/// The origin of `remote` (a node) among the subscribers of `GROUP` on `node`, if it is one.
fn origin_on(lab: &TestLab, node: usize, remote: usize) -> Option<SubscriberOrigin> {
    entry_on(lab, node, remote).map(|s| s.origin)
}

/// Whole seconds since `node` last heard `remote` announce `GROUP`, if it is a subscriber.
fn age_on(lab: &TestLab, node: usize, remote: usize) -> Option<u64> {
    entry_on(lab, node, remote).and_then(|s| s.age_s)
}

/// Waits until `done` holds, or panics with `what` after the e2e deadline.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let until = Instant::now() + deadline();
    while !done() {
        assert!(Instant::now() < until, "{what} within {:?}", deadline());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_join_on_n2_is_learned_by_n1_and_n3_without_members_gets_no_underlay_packet() {
    require_datapath!();
    // Given three nodes with their agents and the group configured on each, no remote
    // subscriber added by hand; a capture on n3's underlay leg.
    let lab = TestLab::with_agents(3, 2, |_| {});
    lab.add_group(GROUP);
    let n3_underlay = underlay_capture(&lab, 3);
    // When a pod on n2 joins.
    let mut receiver = lab.join(2, 1, GROUP);
    // Then n1 and n3 learn n2; nobody learns n3, which has no member.
    lab.wait_learned(1, GROUP, 2);
    lab.wait_learned(3, GROUP, 2);
    assert_eq!(origin_on(&lab, 1, 2), Some(SubscriberOrigin::Learned));
    assert_eq!(origin_on(&lab, 1, 3), None, "n1 must not send to n3");
    // And n1's sender reaches the pod on n2, exactly once each.
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    assert_eq!(receive(&mut receiver, COUNT), COUNT, "datagrams on n2");
    assert_eq!(receiver.report().duplicates, 0);
    // And, with n2's copies in, n3's underlay carried no vxlan packet of the group.
    assert_eq!(
        vxlan_to_group(&n3_underlay.now(), GROUP),
        0,
        "vxlan packets of the group on n3's underlay"
    );
    assert_eq!(lab.counters(1)[Reason::CopyRemote.name()], COUNT);
}

#[test]
fn the_last_member_leaving_stops_the_copies_to_its_node_within_a_second() {
    require_datapath!();
    // Given three nodes with agents, a pod on n2 joined and learned by n1, and a pod on n1
    // joined (a witness: once it has every datagram, n1 has handled them all).
    let lab = TestLab::with_agents(3, 2, |_| {});
    lab.add_group(GROUP);
    let receiver = lab.join(2, 1, GROUP);
    let mut witness = lab.join(1, 2, GROUP);
    lab.wait_learned(1, GROUP, 2);
    let before = lab.counters(1);
    // When it leaves (its kernel sends the leave).
    receiver.leave().expect("leave");
    let left = Instant::now();
    // Then n1 withdraws n2 within a second of the leave, counted once.
    lab.wait_unlearned(1, GROUP, 2, leave_deadline());
    let took = left.elapsed();
    assert!(
        took <= leave_deadline(),
        "n1 stopped sending to n2 {took:?} after the leave, expected within {:?}",
        leave_deadline()
    );
    assert_eq!(
        delta(&before, &lab.counters(1)).get(Reason::RemoteWithdrawn.name()),
        Some(&1)
    );
    // And traffic from n1 reaches the witness but puts no vxlan packet of the group on n2's
    // underlay.
    let n2_underlay = underlay_capture(&lab, 2);
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    assert_eq!(
        receive(&mut witness, COUNT),
        COUNT,
        "datagrams to the witness"
    );
    assert_eq!(vxlan_to_group(&n2_underlay.now(), GROUP), 0);
}

#[test]
fn a_node_whose_agent_is_killed_stops_receiving_after_the_membership_interval() {
    require_datapath!();
    // Given three nodes whose agents refresh every 2 s (membership interval 5 s), a pod on n2
    // joined and learned by n1, and n3 a static subscriber of n1 (subscriber add).
    let settings = FAST_AGENT_SETTINGS;
    let interval = settings.group_membership_interval();
    let mut lab = TestLab::new(3, 2, |_| {});
    for node in 1..=3 {
        lab.start_agent_with(node, settings);
    }
    lab.add_group(GROUP);
    let n3_address = lab.scenario.node(3).underlay_address;
    lab.dataplane(1)
        .groups()
        .and_then(|mut table| table.add_remote_subscriber(GROUP, n3_address))
        .expect("static n3");
    let _receiver = lab.join(2, 1, GROUP);
    let mut witness = lab.join(1, 2, GROUP);
    lab.wait_learned(1, GROUP, 2);
    let before = lab.counters(1);
    // When n2's agent is killed (its refreshes stop; its datapath and pod stay).
    lab.stop_agent(2);
    let stopped = Instant::now();
    // Then n1 drops n2 no later than one membership interval after the last refresh (at most
    // one query interval before the stop), counted as an expiry.
    lab.wait_unlearned(1, GROUP, 2, interval + aging_slack());
    let took = stopped.elapsed();
    assert!(
        took >= interval - settings.query_interval,
        "n2 expired {took:?} after its agent stopped: sooner than a membership interval \
         ({interval:?}) after its last refresh"
    );
    assert_eq!(
        delta(&before, &lab.counters(1)).get(Reason::RemoteExpired.name()),
        Some(&1)
    );
    // And the static n3 stays: it is never aged.
    assert_eq!(origin_on(&lab, 1, 3), Some(SubscriberOrigin::Static));
    // And n1 sends no vxlan packet of the group to n2 any more, and one per datagram to the
    // static n3.
    let n2_underlay = underlay_capture(&lab, 2);
    let n3_underlay = underlay_capture(&lab, 3);
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    assert_eq!(
        receive(&mut witness, COUNT),
        COUNT,
        "datagrams to the witness"
    );
    let to_n3 = n3_underlay.until(deadline(), |frames| {
        vxlan_to_group(frames, GROUP) >= COUNT as usize
    });
    assert_eq!(
        vxlan_to_group(&to_n3, GROUP),
        COUNT as usize,
        "copies to the static n3"
    );
    assert_eq!(vxlan_to_group(&n2_underlay.now(), GROUP), 0);
}

#[test]
fn a_node_added_to_a_running_lab_learns_and_is_learned() {
    require_datapath!();
    // Given n1 and n2 running as a lab of two: their agents know only each other. A pod on n1
    // joined; n3 is deployed (same VNI, same underlay) but its agent does not run yet, and a
    // pod on n3 joined.
    let mut lab = TestLab::new(3, 2, |_| {});
    for node in 1..=2 {
        let mut peering = lab.scenario.peering(node);
        peering
            .peers
            .retain(|&peer| peer != lab.scenario.node(3).underlay_address);
        lab.start_agent_with_peering(node, peering);
    }
    lab.add_group(GROUP);
    let mut on_n1 = lab.join(1, 2, GROUP);
    let mut on_n3 = lab.join(3, 2, GROUP);
    lab.wait_learned(2, GROUP, 1);
    // When n3's agent starts, knowing the lab's nodes (as the lab model gives them).
    lab.start_agent(3);
    // Then n1 and n2 learn n3 without any change to their configuration, and n3 learns n1.
    lab.wait_learned(1, GROUP, 3);
    lab.wait_learned(2, GROUP, 3);
    lab.wait_learned(3, GROUP, 1);
    // And traffic flows both ways.
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    assert_eq!(receive(&mut on_n3, COUNT), COUNT, "from n1 to n3");
    lab.send(3, 1, GROUP, 3, 0, COUNT);
    assert_eq!(receive(&mut on_n1, COUNT), COUNT, "from n3 to n1");
    // And n3 did not learn n2, which has no member.
    assert_eq!(origin_on(&lab, 3, 2), None);
}

#[test]
fn learned_entries_survive_an_agent_restart() {
    require_datapath!();
    // Given two nodes with agents, a pod on n2 joined and learned by n1.
    let mut lab = TestLab::with_agents(2, 2, |_| {});
    lab.add_group(GROUP);
    let mut receiver = lab.join(2, 1, GROUP);
    lab.wait_learned(1, GROUP, 2);
    // When n1's agent stops, then starts again (a second later, so that a refresh shows).
    lab.stop_agent(1);
    wait_until("n2's entry on n1 a second old", || {
        age_on(&lab, 1, 2).is_some_and(|age| age >= 1)
    });
    assert_eq!(
        origin_on(&lab, 1, 2),
        Some(SubscriberOrigin::Learned),
        "with the agent stopped, the entry is in the pins"
    );
    let before = lab.counters(1);
    lab.start_agent(1);
    // Then n2 is still a learned subscriber: the restarted agent's solicitation is answered
    // with a refresh (its age starts again), not a new entry.
    wait_until("n2's entry on n1 refreshed", || {
        age_on(&lab, 1, 2) == Some(0)
    });
    assert_eq!(origin_on(&lab, 1, 2), Some(SubscriberOrigin::Learned));
    assert_eq!(
        delta(&before, &lab.counters(1)).get(Reason::RemoteLearned.name()),
        None,
        "a restarted agent learns nothing anew"
    );
    // And the pod on n2 still receives.
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    assert_eq!(receive(&mut receiver, COUNT), COUNT, "after the restart");
}

#[test]
fn messages_of_another_lab_a_spoofed_node_or_garbage_are_counted_and_teach_nothing() {
    use mcastlab_common::{
        sources::SourceFilter,
        wire::membership::{GroupState, MAX_MEMBERSHIP_LEN, MEMBERSHIP_PORT, emit},
    };
    require_datapath!();
    // Given two nodes with agents and the group; nobody joined.
    let lab = TestLab::with_agents(2, 1, |_| {});
    lab.add_group(GROUP);
    let vni = lab.scenario.spec().vni;
    let n1 = lab.scenario.node(1).underlay_address;
    let n2 = lab.scenario.node(2).underlay_address;
    let has = |group: Ipv4Addr| {
        [GroupState {
            group: group.into(),
            members: Some(SourceFilter::ANY_SOURCE),
        }]
    };
    let message = |lab_id: u32, node: Ipv4Addr, records: &[GroupState]| {
        let mut out = [0u8; MAX_MEMBERSHIP_LEN];
        let len = emit(lab_id, node.octets(), 0, records, &mut out).expect("room");
        out[..len].to_vec()
    };
    let before = lab.counters(1);
    // When n2's namespace sends n1 a message with another lab id, one naming another node
    // than its source, one that is not a membership message, and one for a group n1 does not
    // have.
    let messages = [
        message(vni + 1, n2, &has(GROUP)),
        message(vni, Ipv4Addr::new(172, 31, 255, 9), &has(GROUP)),
        b"not a membership message".to_vec(),
        message(vni, n2, &has(Ipv4Addr::new(239, 11, 9, 9))),
    ];
    let netns = lab.scenario.spec().node_netns(lab.scenario.node(2));
    mcastlab_testbed::netns::run_in(&netns, || {
        let socket = std::net::UdpSocket::bind("0.0.0.0:0")?;
        for message in &messages {
            socket.send_to(message, (n1, MEMBERSHIP_PORT))?;
        }
        Ok(())
    })
    .expect("send from n2");
    // Then each is counted for what it is, and n1 learned nothing.
    let ignored = Reason::MembershipIgnoredGroup;
    lab.wait_counter(1, ignored, before[ignored.name()] + 1);
    let changes = delta(&before, &lab.counters(1));
    assert_eq!(
        changes.get(Reason::MembershipForeign.name()),
        Some(&1),
        "{changes:?}"
    );
    assert_eq!(
        changes.get(Reason::MembershipMalformed.name()),
        Some(&2),
        "{changes:?}"
    );
    assert_eq!(
        changes.get(Reason::RemoteLearned.name()),
        None,
        "{changes:?}"
    );
    assert_eq!(origin_on(&lab, 1, 2), None, "n1 must not learn n2");
}
