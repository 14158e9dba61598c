//! The reference limits on the real path: 1024 groups, 24 records per IGMPv3 report.

use std::net::Ipv4Addr;

use mcastlab_common::{MAX_GROUPS, MAX_IGMPV3_RECORDS, Reason, igmp::record};
use mcastlab_dataplane::DataplaneError;
use mcastlab_testbed::{
    igmp::{GroupRecord, IgmpMessage},
    raw::send_frames,
    receiver::Receiver,
};
use mcastlab_topology::model::POD_IFACE;

use mcastlab_testkit::require_datapath;

use crate::lab::{SharedPods, TestLab, backlog_exclusive, deadline, receive};

/// Group number `i` of a block of groups: 239.10.<i / 256>.<i % 256>.
fn group(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(239, 10, (i / 256) as u8, (i % 256) as u8)
}

#[test]
fn the_1025th_group_is_refused_and_existing_groups_keep_working() {
    require_datapath!();
    let lab = TestLab::new(1, 2, |_| {});
    // Given 1024 configured groups.
    let mut table = lab.dataplane(1).groups().unwrap();
    for i in 0..MAX_GROUPS {
        table
            .add_group(group(i))
            .unwrap_or_else(|err| panic!("group {i}: {err}"));
    }
    // When a 1025th is added.
    let err = table
        .add_group(group(MAX_GROUPS))
        .expect_err("the 1025th group");
    // Then it is refused with the limit named, and nothing changed.
    assert!(
        matches!(err, DataplaneError::GroupLimit { limit: 1024, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("group limit 1024 reached"),
        "{err}"
    );
    assert_eq!(table.groups().unwrap().len(), MAX_GROUPS as usize);
    // And traffic to the first and the last group is still delivered.
    let (first, last) = (group(0), group(MAX_GROUPS - 1));
    let mut receivers = [lab.join(1, 2, first), lab.join(1, 2, last)];
    lab.send(1, 1, first, 1, 0, 10);
    lab.send(1, 1, last, 2, 0, 10);
    for receiver in &mut receivers {
        assert_eq!(receive(receiver, 10), 10);
    }
}

/// An IGMPv3 report with one CHANGE_TO_EXCLUDE({}) record per group, as a frame from `source`.
fn report(groups: &[Ipv4Addr], source: Ipv4Addr) -> Vec<u8> {
    let records = groups
        .iter()
        .map(|g| GroupRecord::new(record::CHANGE_TO_EXCLUDE_MODE, *g))
        .collect();
    IgmpMessage::V3Report(records).frame(source).to_bytes()
}

#[test]
fn igmpv3_report_of_24_records_joins_all_and_of_25_joins_none() {
    require_datapath!();
    let limit = u32::from(MAX_IGMPV3_RECORDS);
    let lab = TestLab::new(1, 2, |_| {});
    let groups: Vec<Ipv4Addr> = (0..=limit).map(group).collect();
    let mut table = lab.dataplane(1).groups().unwrap();
    for g in &groups {
        table.add_group(*g).unwrap();
    }
    // When p1 sends a report of 24 records and p2 one of 25 (crafted, sent from their eth0).
    let (p1, p2) = (lab.pod(1, 1).address, lab.pod(1, 2).address);
    send_frames(
        &lab.pod_netns(1, 1),
        POD_IFACE,
        &[report(&groups[..limit as usize], p1)],
    )
    .unwrap();
    send_frames(&lab.pod_netns(1, 2), POD_IFACE, &[report(&groups, p2)]).unwrap();
    // Then p1 subscribes to all 24 groups and p2 to none, counted as too many records.
    for g in &groups[..limit as usize] {
        lab.wait_subscribed(1, 1, *g);
    }
    lab.wait_counter(1, Reason::TooManyRecords, 1);
    for g in &groups {
        let subscribers = table.subscribers_of(*g).unwrap();
        assert!(
            subscribers.iter().all(|s| s.address != p2),
            "p2 joined {g}: {subscribers:?}"
        );
    }
    let counters = lab.counters(1);
    assert_eq!(counters[Reason::Subscribed.name()], u64::from(limit));
    assert_eq!(counters[Reason::TooManyRecords.name()], 1);
}

/// How copies to the subscriber pods travel.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// The default: veth copies queue on the per-CPU backlog, which `group add` sized.
    Backlog,
    /// Every subscriber pod on NAPI (as `napi: true` makes it): copies queue on each veth's
    /// ring (see PodSpec::napi).
    Napi,
}

/// Pod `k` (from 0) of a node of many: p<k + 1>, addressed past 250 pods as the bench does,
/// 10.200.(1 + k / 250).(k % 250 + 1).
fn pod_spec(spec: &mcastlab_topology::LabSpec, k: usize) -> mcastlab_topology::PodSpec {
    let [a, b, _, _] = spec.pod_cidr.address.octets();
    mcastlab_topology::PodSpec {
        name: format!("p{}", k + 1),
        address: Ipv4Addr::new(a, b, (1 + k / 250) as u8, (k % 250 + 1) as u8),
        igmp_version: None,
        mld_version: None,
        napi: false,
    }
}

/// Pods with a namespace each in the 1024-subscriber case: p1 sends, p2 and p3 join with real
/// sockets. The others are [`SharedPods`].
const OWN_NAMESPACE: usize = 3;
/// Packets sent per delivery mode in the 1024-subscriber case.
const PACKETS: u64 = 10;

#[test]
fn one_group_holds_1024_subscribers_and_refuses_the_1025th() {
    use mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP;

    require_datapath!();
    let max = u64::from(MAX_SUBSCRIBERS_PER_GROUP);
    let group = Ipv4Addr::new(239, 4, 4, 4);
    // Given a node with 1026 pods, each with its own veth and identity: p1 sends, p2 and p3
    // (a namespace each) join with real sockets, p4..p1025 send a crafted join each from their
    // own address (a pod holds one slot: 1024 subscribers are 1024 pods), and p1026 is the
    // 1025th. p4..p1026 are veth pairs whose pod ends share one namespace (SharedPods).
    let pods = max as usize + 2;
    let lab = TestLab::new_bursting(1, 0, |spec| {
        spec.nodes[0].pods = (0..OWN_NAMESPACE).map(|k| pod_spec(spec, k)).collect();
    });
    let shared = lab.add_shared_pods(
        1,
        (OWN_NAMESPACE..pods)
            .map(|k| pod_spec(lab.scenario.spec(), k))
            .collect(),
    );
    lab.configure_group(group);
    let mut receivers = [lab.join(1, 2, group), lab.join(1, 3, group)];
    let crafted_join = |pod: usize| {
        let index = shared_index(pod);
        let address = shared.pods[index].address;
        shared.send_frame(
            index,
            IgmpMessage::V2Report(group).frame(address).to_bytes(),
        );
    };
    let subscribed_before = lab.counters(1)[Reason::Subscribed.name()];
    // In batches: a burst of a thousand reports would overflow the backlog on the way in.
    for batch in (4..=pods - 1).collect::<Vec<_>>().chunks(100) {
        for &pod in batch {
            crafted_join(pod);
        }
        let joined = (batch.last().unwrap() - 3) as u64;
        lab.wait_counter(1, Reason::Subscribed, subscribed_before + joined);
    }
    let subscribers = lab
        .dataplane(1)
        .groups()
        .unwrap()
        .subscribers_of(group)
        .unwrap();
    assert_eq!(subscribers.len() as u64, max);
    // When the 1025th pod joins.
    crafted_join(pods);
    // Then it is refused and counted.
    lab.wait_counter(1, Reason::SubscriberTableFull, 1);
    let subscribers = lab
        .dataplane(1)
        .groups()
        .unwrap()
        .subscribers_of(group)
        .unwrap();
    assert_eq!(subscribers.len() as u64, max);
    let last = shared.pods[shared_index(pods)].address;
    assert!(subscribers.iter().all(|s| s.address != last));

    // When p1 sends, each packet is cloned to all 1024 subscribers: on the backlog first, then
    // with every subscriber switched to NAPI.
    deliver_to_1024(&lab, &shared, &mut receivers, group, Mode::Backlog);
    if let Some(reason) = mcastlab_dataplane::kernel::napi_loss_reason() {
        eprintln!("SKIPPED (the NAPI half): {reason}");
        return;
    }
    lab.napi_on(1, &[2, 3]);
    shared.napi_on(&lab.scenario.spec().node_netns(lab.scenario.node(1)));
    deliver_to_1024(&lab, &shared, &mut receivers, group, Mode::Napi);
}

/// The index into [`SharedPods::pods`] of pod p<pod> (p4 and up) of the 1024-subscriber case.
fn shared_index(pod: usize) -> usize {
    pod - OWN_NAMESPACE - 1
}

/// The 1024-subscriber case's delivery in `mode`: p1 sends [`PACKETS`] packets one at a time
/// (sequence numbers after those of earlier modes), and every copy is accounted for.
fn deliver_to_1024(
    lab: &TestLab,
    shared: &SharedPods,
    receivers: &mut [Receiver],
    group: Ipv4Addr,
    mode: Mode,
) {
    let max = u64::from(mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP);
    let pods = max as usize + 2;
    let first_seq = match mode {
        Mode::Backlog => 0,
        Mode::Napi => PACKETS,
    };
    let (first_crafted, last_crafted) = (
        shared.spy(shared_index(4)),
        shared.spy(shared_index(pods - 1)),
    );
    let backlog = netdev_max_backlog();
    let received_before = shared.received();
    let mut received = received_before.clone();
    let mut per_packet = Vec::new();
    // Per packet, how many of p4..p1026's pod ends received it (on the backlog, a copy is
    // counted as it is queued: read at once).
    let mut crafted_per_packet = Vec::new();
    // On the backlog no other case may send meanwhile (its packets would meet a full backlog);
    // on NAPI the copies bypass it.
    let exclusive = matches!(mode, Mode::Backlog).then(backlog_exclusive);
    for seq in first_seq..first_seq + PACKETS {
        let before = lab.counters(1);
        lab.send(1, 1, group, 1, seq, 1);
        // One packet at a time: its copies are counted (and queued) before the next is sent.
        lab.wait_counter(1, Reason::Replicated, before[Reason::Replicated.name()] + 1);
        let after = lab.counters(1);
        let change = |reason: Reason| after[reason.name()] - before[reason.name()];
        per_packet.push((change(Reason::CopyLocal), change(Reason::CloneFailed)));
        let now = shared.received();
        crafted_per_packet.push(now.iter().zip(&received).filter(|(n, r)| n > r).count() as u64);
        received = now;
    }
    drop(exclusive);
    let failed: u64 = per_packet.iter().map(|(_, failed)| failed).sum();
    println!(
        "1024 subscribers, {mode:?} mode, netdev_max_backlog {backlog}: per packet \
         (clones succeeded, failed) {per_packet:?}; p4..p{pods} reached {crafted_per_packet:?}"
    );
    // Then every attempt is accounted for: one per subscriber, in every packet.
    for (seq, (copied, failed)) in per_packet.iter().enumerate() {
        assert_eq!(
            copied + failed,
            max,
            "packet {seq}: {copied} clones succeeded and {failed} failed, expected {max} in all"
        );
    }
    let packets = PACKETS as usize;
    // What each of p4..p1026 received in this mode, once each has at least `expected(i)` or the
    // deadline passed.
    let delivered = |expected: &dyn Fn(usize) -> u64| -> Vec<u64> {
        let until = std::time::Instant::now() + deadline();
        loop {
            let now: Vec<u64> = shared
                .received()
                .iter()
                .zip(&received_before)
                .map(|(now, before)| now - before)
                .collect();
            let done = now.iter().enumerate().all(|(i, got)| *got >= expected(i));
            if done || std::time::Instant::now() >= until {
                return now;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let refused = shared_index(pods);
    // The real sockets count every distinct probe since they joined.
    let so_far = first_seq + PACKETS;
    if matches!(mode, Mode::Backlog) {
        // The copies of one packet all queue on this CPU's backlog (enqueue_to_backlog in
        // net/core/dev.c), which takes a packet while it holds at most netdev_max_backlog:
        // `group add` raised it from the kernel's 1000 to twice the group's capacity, so a
        // full group's copies fit (at 1000, 23 of 1024 clones failed on every packet).
        assert!(
            backlog >= 2048,
            "netdev_max_backlog {backlog}, expected at least 2048"
        );
    }
    // Nothing is lost: every clone succeeds and every pod gets every packet, the last in slot
    // order too; the refused pod gets none.
    assert_eq!(failed, 0, "{per_packet:?}");
    for (seq, (copied, _)) in per_packet.iter().enumerate() {
        // Each clone reached a subscriber of its own: p2, p3 and one pod end each.
        assert_eq!(
            crafted_per_packet[seq] + 2,
            *copied,
            "packet {seq}: pod ends reached against clones that succeeded"
        );
    }
    for receiver in receivers.iter_mut() {
        assert_eq!(receive(receiver, so_far), so_far);
    }
    assert_eq!(
        first_crafted.wait_count_to(group, packets, deadline()),
        packets
    );
    assert_eq!(
        last_crafted.wait_count_to(group, packets, deadline()),
        packets
    );
    let expected = |i: usize| if i == refused { 0 } else { PACKETS };
    let got = delivered(&expected);
    let want: Vec<u64> = (0..got.len()).map(expected).collect();
    assert_eq!(got, want, "packets per pod end, p4..p{pods}");
}

/// `net.core.netdev_max_backlog`: how many packets a CPU's backlog queue holds.
fn netdev_max_backlog() -> u64 {
    let path = "/proc/sys/net/core/netdev_max_backlog";
    let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("reading {path}: {err}"));
    text.trim()
        .parse()
        .unwrap_or_else(|err| panic!("{path} holds {text:?}: {err}"))
}
