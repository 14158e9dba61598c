//! The IGMPv3 record limit: a pod in 40 groups answers each query with one report of 40
//! records. With the node's limit raised to 40 it stays a member of all 40; at the default (24)
//! every such report is refused whole and the pod loses all 40 memberships when they expire.

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use mcastlab_common::{MAX_IGMPV3_RECORDS, Reason};
use mcastlab_testkit::{delta, require_datapath, scaled};

use crate::lab::{FAST_AGENT_SETTINGS, TestLab, aging_slack, receive};

/// Groups the pod joins: more than the default limit of 24.
const GROUPS: u8 = 40;
/// How long the pod's kernel repeats the reports of its joins: robustness (2) unsolicited
/// reports at most the IGMPv3 Unsolicited Report Interval (1 s, RFC 3376 section 8.11) apart.
fn join_reports_settle() -> Duration {
    scaled(Duration::from_secs(2))
}
const COUNT: u64 = 10;

fn group(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(239, 40, 0, i)
}

/// Whether pod (1, 2) is a subscriber of every group, and how many of them it is in.
fn memberships(lab: &TestLab) -> usize {
    let pod = lab.pod(1, 2).address;
    let table = lab.dataplane(1).groups().expect("group table");
    (1..=GROUPS)
        .filter(|i| {
            table
                .subscribers_of(group(*i))
                .expect("subscribers")
                .iter()
                .any(|s| s.address == pod)
        })
        .count()
}

#[test]
fn a_pod_in_40_groups_stays_a_member_with_the_limit_at_40_and_loses_all_at_the_default() {
    require_datapath!();
    // Given a node whose lab file sets max_records: 40, its agent querying every 2 s
    // (robustness 2, response 1 s: a member not heard for 5 s expires), 40 groups, and p2
    // joined to all 40 with real sockets (its kernel answers each query with one report of 40
    // records).
    let settings = FAST_AGENT_SETTINGS;
    let interval = settings.group_membership_interval();
    let mut lab = TestLab::new(1, 2, |spec| spec.nodes[0].max_records = Some(40));
    let node = lab.dataplane(1);
    assert_eq!(node.config().expect("config").record_limit(), 40);
    for i in 1..=GROUPS {
        lab.add_group(group(i));
    }
    lab.start_agent_with(1, settings);
    let mut receivers: Vec<_> = (1..=GROUPS)
        .map(|i| lab.join_socket(1, 2, group(i)))
        .collect();
    for i in 1..=GROUPS {
        lab.wait_subscribed(1, 2, group(i));
    }
    std::thread::sleep(join_reports_settle());

    // When a membership interval and more passes: at least two query rounds.
    let before = lab.counters(1);
    let since = Instant::now();
    std::thread::sleep(interval + aging_slack());
    // Then p2 is still a member of all 40, kept by its answers (each refreshes 40), none
    // refused, and it receives.
    let changes = delta(&before, &lab.counters(1));
    assert_eq!(
        memberships(&lab),
        usize::from(GROUPS),
        "p2's groups after {:?} with the limit at 40: {changes:?}",
        since.elapsed()
    );
    let refreshed = changes
        .get(Reason::JoinRefreshed.name())
        .copied()
        .unwrap_or(0);
    assert!(
        refreshed >= 2 * u64::from(GROUPS),
        "two query rounds answered should refresh 80 memberships: {changes:?}"
    );
    assert_eq!(
        changes.get(Reason::TooManyRecords.name()),
        None,
        "{changes:?}"
    );
    assert_eq!(
        changes.get(Reason::MemberExpired.name()),
        None,
        "{changes:?}"
    );
    lab.send(1, 1, group(GROUPS), 1, 0, COUNT);
    assert_eq!(
        receive(&mut receivers[usize::from(GROUPS) - 1], COUNT),
        COUNT,
        "datagrams to p2's 40th group"
    );

    // When the node's limit is set back to the default, without attaching again.
    let before = lab.counters(1);
    let config = node
        .set_record_limit(u32::from(MAX_IGMPV3_RECORDS))
        .expect("set the record limit");
    assert_eq!(config.record_limit(), 24);
    let lowered = Instant::now();
    // Then every answer of p2 is refused whole, and all 40 memberships expire within the
    // membership interval: the cost of the default for a pod in more groups than it.
    let deadline = lowered + interval + aging_slack();
    while memberships(&lab) > 0 {
        assert!(
            Instant::now() < deadline,
            "p2 is still in {} groups {:?} after the limit went to 24: {:?}",
            memberships(&lab),
            lowered.elapsed(),
            delta(&before, &lab.counters(1))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let changes = delta(&before, &lab.counters(1));
    assert_eq!(
        changes.get(Reason::MemberExpired.name()),
        Some(&u64::from(GROUPS)),
        "{changes:?}"
    );
    assert!(
        changes
            .get(Reason::TooManyRecords.name())
            .is_some_and(|refused| *refused >= 1),
        "p2's answers should be refused as too_many_records: {changes:?}"
    );
    assert_eq!(changes.get(Reason::Subscribed.name()), None, "{changes:?}");
    assert_eq!(
        changes.get(Reason::JoinRefreshed.name()),
        None,
        "{changes:?}"
    );
    lab.stop_agent(1);
}
