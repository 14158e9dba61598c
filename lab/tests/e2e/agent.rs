//! The node agent: its queries teach the dataplane what pods joined before a group existed or
//! before a re-attach, it removes the memberships of pods that are gone, and stopping or
//! restarting it loses nothing.

use std::{net::Ipv4Addr, time::Instant};

use mcastlab_agent::{
    DEAD_POD_DEADLINE,
    monitor::{MonitorClient, MonitorEvent},
};
use mcastlab_common::Reason;
use mcastlab_testbed::{igmp::IgmpMessage, raw::send_frames};
use mcastlab_testkit::{delta, ip, require_datapath};
use mcastlab_topology::model::POD_IFACE;

use crate::lab::{AGENT_SETTINGS, FAST_AGENT_SETTINGS, TestLab, aging_slack, deadline, receive};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 5, 5, 5);
const COUNT: u64 = 20;

#[test]
fn a_pod_that_joined_before_group_add_receives_after_the_startup_query() {
    require_datapath!();
    // Given p2 joined with a socket before the group exists: both of its unsolicited reports
    // (Linux sends net.ipv4.igmp_qrv = 2) are ignored, the group is not configured.
    let mut lab = TestLab::new(1, 2, |_| {});
    let mut receiver = lab.join_socket(1, 2, GROUP);
    lab.wait_counter(1, Reason::IgnoredGroup, 2);
    // And the node's agent started: p2 answers its startup query, still ignored.
    lab.start_agent(1);
    lab.wait_counter(1, Reason::IgnoredGroup, 3);
    // When the group is added.
    lab.configure_group(GROUP);
    // Then the agent queries again, p2's answer makes it a member, and p2 receives.
    lab.wait_subscribed(1, 2, GROUP);
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    assert_eq!(receive(&mut receiver, COUNT), COUNT, "datagrams to p2");
}

#[test]
fn group_delete_and_add_and_a_detach_and_attach_relearn_the_members() {
    require_datapath!();
    // Given a node with its agent, p2 joined.
    let lab = TestLab::with_agents(1, 2, |_| {});
    lab.configure_group(GROUP);
    let mut receiver = lab.join(1, 2, GROUP);
    // When the group is deleted and added again.
    let mut table = lab.dataplane(1).groups().expect("group table");
    table.delete_group(GROUP).expect("delete the group");
    table.add_group(GROUP).expect("add the group again");
    // Then p2 is a member again, without leaving and joining.
    lab.wait_subscribed(1, 2, GROUP);
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    assert_eq!(receive(&mut receiver, COUNT), COUNT, "after delete + add");

    // When the dataplane is detached and attached again (the group map starts empty), and the
    // group is configured once more.
    lab.dataplane(1).detach().expect("detach");
    mcastlab_lab::attach(lab.scenario.spec(), lab.scenario.node(1)).expect("attach");
    lab.configure_group(GROUP);
    // Then p2 is a member again.
    lab.wait_subscribed(1, 2, GROUP);
    lab.send(1, 1, GROUP, 1, COUNT, COUNT);
    assert_eq!(
        receive(&mut receiver, 2 * COUNT),
        2 * COUNT,
        "after detach + attach"
    );
}

#[test]
fn a_deleted_pods_memberships_vanish_within_a_second_and_no_copy_fails() {
    require_datapath!();
    // Given a node with its agent, p2 a member (a crafted join: no socket keeps its namespace
    // alive) and p3 a member with a socket.
    let lab = TestLab::with_agents(1, 3, |_| {});
    lab.configure_group(GROUP);
    let p2 = lab.pod(1, 2).address;
    let join = IgmpMessage::V2Report(GROUP).frame(p2).to_bytes();
    send_frames(&lab.pod_netns(1, 2), POD_IFACE, &[join]).expect("crafted join");
    lab.wait_subscribed(1, 2, GROUP);
    let mut receiver = lab.join(1, 3, GROUP);
    let before = lab.counters(1);

    // When p2 is deleted as a CNI deletes a pod: its veth, then its namespace. (Deleting only
    // the namespace removes the veth too, but as late as the kernel's namespace cleanup runs:
    // seconds, on this machine.)
    let node = lab.scenario.spec().node_netns(lab.scenario.node(1));
    ip(&["-n", &node, "link", "del", "veth-p2"]);
    let deleted = Instant::now();
    ip(&["netns", "del", &lab.pod_netns(1, 2)]);

    // Then its membership is gone within a second, counted once.
    lab.wait_left(1, 2, GROUP);
    let took = deleted.elapsed();
    assert!(
        took <= DEAD_POD_DEADLINE,
        "p2's membership went {took:?} after its veth, expected within {DEAD_POD_DEADLINE:?}"
    );
    // And its pod identity is forgotten: a new veth that gets the same ifindex must not
    // inherit p2's address. (The sweep removes the identity right after the memberships.)
    let deadline = Instant::now() + DEAD_POD_DEADLINE;
    while lab
        .dataplane(1)
        .pods()
        .and_then(|pods| pods.entries())
        .expect("pod identities")
        .iter()
        .any(|pod| pod.address == p2)
    {
        assert!(Instant::now() < deadline, "p2's identity outlived its veth");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // And traffic to the group reaches p3 with no failed copy.
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    assert_eq!(receive(&mut receiver, COUNT), COUNT, "datagrams to p3");
    let changes = delta(&before, &lab.counters(1));
    assert_eq!(
        changes.get(Reason::MemberPodGone.name()),
        Some(&1),
        "{changes:?}"
    );
    assert_eq!(changes.get(Reason::CloneFailed.name()), None, "{changes:?}");
}

#[test]
fn a_stopped_agent_leaves_the_datapath_forwarding_and_a_restarted_one_keeps_membership() {
    require_datapath!();
    // Given a node with its agent, p2 joined.
    let mut lab = TestLab::with_agents(1, 2, |_| {});
    lab.configure_group(GROUP);
    let mut receiver = lab.join(1, 2, GROUP);

    // When the agent stops.
    lab.stop_agent(1);
    // Then the datapath still forwards to p2.
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    assert_eq!(
        receive(&mut receiver, COUNT),
        COUNT,
        "with the agent stopped"
    );

    // When it starts again.
    let before = lab.counters(1);
    lab.start_agent(1);
    // Then p2 is still a member (the state is in the pins), answers the startup query with a
    // refresh, not a new join, and still receives.
    let subscribers = lab
        .dataplane(1)
        .groups()
        .and_then(|table| table.subscribers_of(GROUP))
        .expect("subscribers");
    assert!(
        subscribers
            .iter()
            .any(|s| s.address == lab.pod(1, 2).address),
        "{subscribers:?}"
    );
    lab.wait_counter(
        1,
        Reason::JoinRefreshed,
        before[Reason::JoinRefreshed.name()] + 1,
    );
    assert_eq!(
        delta(&before, &lab.counters(1)).get(Reason::Subscribed.name()),
        None,
        "a restarted agent re-subscribes nobody"
    );
    lab.send(1, 1, GROUP, 1, COUNT, COUNT);
    assert_eq!(
        receive(&mut receiver, 2 * COUNT),
        2 * COUNT,
        "after the restart"
    );
}

#[test]
fn a_silent_member_expires_after_the_membership_interval_and_an_answering_one_stays() {
    require_datapath!();
    // Given a node whose agent queries every 2 s (robustness 2, response 1 s: a member not
    // heard for 5 s expires), p2 a member by a crafted join only (its kernel knows of no group,
    // so it answers no query), p3 joined with a socket (its kernel answers every query).
    let settings = FAST_AGENT_SETTINGS;
    let interval = settings.group_membership_interval();
    let mut lab = TestLab::new(1, 3, |_| {});
    lab.configure_group(GROUP);
    let before = lab.counters(1);
    lab.start_agent_with(1, settings);
    let p2 = lab.pod(1, 2).address;
    let join = IgmpMessage::V2Report(GROUP).frame(p2).to_bytes();
    send_frames(&lab.pod_netns(1, 2), POD_IFACE, &[join]).expect("crafted join");
    let joined = Instant::now();
    lab.wait_subscribed(1, 2, GROUP);
    let mut receiver = lab.join(1, 3, GROUP);

    // When nothing more is heard of p2.
    lab.scenario
        .wait_left(1, 2, GROUP, interval + aging_slack())
        .expect("p2 expires");
    let expired_after = joined.elapsed();

    // Then p2 went no sooner than the membership interval, counted once; p3, which answered
    // every query, is still a member a whole interval later and still receives.
    assert!(
        expired_after >= interval,
        "p2 expired {expired_after:?} after its join, before the {interval:?} interval"
    );
    std::thread::sleep(interval);
    let subscribers = lab
        .dataplane(1)
        .groups()
        .and_then(|table| table.subscribers_of(GROUP))
        .expect("subscribers");
    assert_eq!(
        subscribers.iter().map(|s| s.address).collect::<Vec<_>>(),
        [lab.pod(1, 3).address],
        "only p3 stays"
    );
    let changes = delta(&before, &lab.counters(1));
    assert_eq!(
        changes.get(Reason::MemberExpired.name()),
        Some(&1),
        "{changes:?}"
    );
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    assert_eq!(receive(&mut receiver, COUNT), COUNT, "datagrams to p3");
}

/// Whether `frame` is an IGMP Membership Query for `group`, sent to the group (RFC 3376
/// section 4.1.12: a Group-Specific Query).
fn is_query_for(frame: &[u8], group: Ipv4Addr) -> bool {
    const ETHERNET: usize = 14;
    let Some(ip) = frame.get(ETHERNET..) else {
        return false;
    };
    let header_len = usize::from(ip.first().map_or(0, |b| b & 0x0f)) * 4;
    let igmp = ip.get(header_len..).unwrap_or_default();
    mcastlab_testbed::capture::is_ipv4_to(frame, group)
        && ip.get(9) == Some(&2)
        && igmp.first() == Some(&0x11)
        && igmp.get(4..8) == Some(&group.octets()[..])
}

/// Waits for the next `kind` event of pod `pod` on `monitor`, or panics after the deadline.
fn expect_event(monitor: &mut MonitorClient, kind: &str, pod: &str) -> MonitorEvent {
    monitor
        .wait_for(deadline(), |event| {
            event.kind() == kind && event.pod.as_deref() == Some(pod)
        })
        .expect("read the monitor")
        .unwrap_or_else(|| panic!("no {kind} event of {pod} within {:?}", deadline()))
}

#[test]
fn the_monitor_names_the_pod_of_each_join_refusal_leave_and_dead_pod() {
    require_datapath!();
    // Given a node with its agent, and a monitor following it.
    let lab = TestLab::with_agents(1, 3, |_| {});
    lab.configure_group(GROUP);
    let mut monitor = lab.monitor(1);
    let (p1, p2) = (lab.pod(1, 1).address, lab.pod(1, 2).address);

    // When p1 joins with a socket. Then a join names p1: its veth and its address.
    let receiver = lab.join_socket(1, 1, GROUP);
    let join = expect_event(&mut monitor, "join", "p1");
    assert_eq!(
        (
            join.group,
            join.address,
            join.iface.as_deref(),
            join.reason.as_str()
        ),
        (Some(GROUP.into()), Some(p1), Some("veth-p1"), "subscribed"),
        "{join:?}"
    );

    // When p3 sends a report claiming p1's address. Then a refusal names p3 and the address
    // it claimed.
    let spoofed = IgmpMessage::V2Report(GROUP).frame(p1).to_bytes();
    send_frames(&lab.pod_netns(1, 3), POD_IFACE, &[spoofed]).expect("spoofed report");
    let refused = expect_event(&mut monitor, "refused", "p3");
    assert_eq!(
        (refused.reason.as_str(), refused.address, refused.group),
        ("spoofed_source", Some(p1), Some(GROUP.into())),
        "{refused:?}"
    );

    // When p1 closes its socket (its kernel reports the leave). Then a leave names p1.
    drop(receiver);
    let leave = expect_event(&mut monitor, "leave", "p1");
    assert_eq!(
        (leave.address, leave.reason.as_str()),
        (Some(p1), "left"),
        "{leave:?}"
    );

    // When p2, a member, loses its veth. Then the agent's pod-gone event names it.
    let join = IgmpMessage::V2Report(GROUP).frame(p2).to_bytes();
    send_frames(&lab.pod_netns(1, 2), POD_IFACE, &[join]).expect("crafted join");
    expect_event(&mut monitor, "join", "p2");
    let node = lab.scenario.spec().node_netns(lab.scenario.node(1));
    ip(&["-n", &node, "link", "del", "veth-p2"]);
    let gone = expect_event(&mut monitor, "pod-gone", "p2");
    assert_eq!(
        (gone.address, gone.group, gone.reason.as_str()),
        (Some(p2), Some(GROUP.into()), "member_pod_gone"),
        "{gone:?}"
    );
}

#[test]
fn with_fast_leave_off_a_member_goes_only_when_nobody_answers_the_group_specific_queries() {
    require_datapath!();
    // Given a node with its agent and fast leave off, p2 joined with a socket, and a monitor.
    let lab = TestLab::with_agents(1, 2, |_| {});
    lab.configure_group(GROUP);
    lab.dataplane(1)
        .set_fast_leave(false)
        .expect("fast leave off");
    let mut monitor = lab.monitor(1);
    let mut receiver = lab.join(1, 2, GROUP);
    let before = lab.counters(1);
    let spy = lab.spy(1, 2);

    // When a leave comes from p2's address while p2's socket still holds the group (as when
    // one of two hosts behind a veth leaves).
    let p2 = lab.pod(1, 2).address;
    let leave = IgmpMessage::V2Leave(GROUP).frame(p2).to_bytes();
    send_frames(&lab.pod_netns(1, 2), POD_IFACE, &[leave]).expect("crafted leave");
    // Then the leave is pending, the agent sends p2 a Group-Specific Query, p2 answers, and
    // once the Last Member Query Time has passed p2 is still a member and receives.
    expect_event(&mut monitor, "leave-pending", "p2");
    let queries = spy.until(deadline(), |frames| {
        frames.iter().any(|f| is_query_for(f, GROUP))
    });
    assert!(
        queries.iter().any(|f| is_query_for(f, GROUP)),
        "no group-specific query reached p2"
    );
    expect_event(&mut monitor, "refresh", "p2");
    std::thread::sleep(AGENT_SETTINGS.last_member_query_time() + aging_slack());
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    assert_eq!(receive(&mut receiver, COUNT), COUNT, "datagrams to p2");
    let kept = delta(&before, &lab.counters(1));
    assert_eq!(kept.get(Reason::LeaveConfirmed.name()), None, "{kept:?}");

    // When p2 closes its socket (its kernel reports the leave, and answers no query).
    drop(receiver);
    // Then its leave is confirmed by the agent after the queries: a leave event, counted.
    let gone = expect_event(&mut monitor, "leave", "p2");
    assert_eq!(gone.reason, "leave_confirmed", "{gone:?}");
    lab.wait_left(1, 2, GROUP);
    let changes = delta(&before, &lab.counters(1));
    assert_eq!(
        changes.get(Reason::LeaveConfirmed.name()),
        Some(&1),
        "{changes:?}"
    );
    assert_eq!(changes.get(Reason::Left.name()), None, "{changes:?}");
}
