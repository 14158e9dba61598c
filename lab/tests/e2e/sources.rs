//! Source filters on real sockets: a pod that joins a group for one source (the pod's kernel
//! reports INCLUDE{S1}) gets that source's datagrams and nothing of another source's on its wire,
//! while an any-source member of the group gets both; its last source's BLOCK leaves; in the
//! source-specific range an any-source join is refused; and between nodes a source's traffic
//! crosses only to a node whose members want it.

use std::net::Ipv4Addr;

use mcastlab_common::Reason;
use mcastlab_testbed::capture::{Capture, is_ipv4_to, is_vxlan_to};
use mcastlab_testkit::{delta, require_datapath};
use mcastlab_topology::model::{UNDERLAY_IFACE, VXLAN_PORT};

use crate::lab::{TestLab, deadline, receive};

const COUNT: u64 = 30;
/// A group outside the source-specific range: any-source and source-specific members mix.
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 7, 7, 7);
/// A group in the source-specific range 232.0.0.0/8.
const SSM_GROUP: Ipv4Addr = Ipv4Addr::new(232, 7, 7, 7);

/// How many of `frames` are to `group` from `source`.
fn from(frames: &[Vec<u8>], source: Ipv4Addr, group: Ipv4Addr) -> usize {
    frames
        .iter()
        .filter(|frame| is_ipv4_to(frame, group) && frame[26..30] == source.octets())
        .count()
}

/// The frames a capture gets until `count` of them are to `group` from `source` (or the
/// deadline passes): everything that arrived before too.
fn until_from(capture: &Capture, source: Ipv4Addr, group: Ipv4Addr, count: u64) -> Vec<Vec<u8>> {
    capture.until(deadline(), |frames| {
        from(frames, source, group) as u64 >= count
    })
}

#[test]
fn a_source_specific_member_gets_only_its_source_on_its_wire_and_leaves_with_its_last_source() {
    require_datapath!();
    // Given one node: p1 and p2 send (sources S1 and S2), p3 joins GROUP for S1 only, p4 for
    // every source.
    let lab = TestLab::new(1, 4, |_| {});
    lab.configure_group(GROUP);
    let s1 = lab.pod(1, 1).address;
    let s2 = lab.pod(1, 2).address;
    let mut source_specific = lab.join_source(1, 3, s1, GROUP);
    let mut any_source = lab.join(1, 4, GROUP);
    let wire = lab.spy(1, 3);
    let before = lab.counters(1);
    // When S2 sends, then S1.
    lab.send(1, 2, GROUP, 2, 0, COUNT);
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    // Then the any-source member gets both sources' datagrams.
    assert_eq!(
        receive(&mut any_source, 2 * COUNT),
        2 * COUNT,
        "p4 gets S1 and S2"
    );
    // And p3 gets S1's, and none of S2's reached its eth0 (they were sent first).
    assert_eq!(receive(&mut source_specific, COUNT), COUNT, "p3 gets S1");
    let frames = until_from(&wire, s1, GROUP, COUNT);
    assert_eq!(from(&frames, s1, GROUP), COUNT as usize, "S1 on p3's wire");
    assert_eq!(from(&frames, s2, GROUP), 0, "S2 on p3's wire");
    assert_eq!(
        delta(&before, &lab.counters(1)).get(Reason::SourceFiltered.name()),
        Some(&COUNT),
        "one copy refused per S2 datagram"
    );
    let p3 = lab.pod(1, 3).address;
    let filters: Vec<String> = lab
        .dataplane(1)
        .groups()
        .expect("group table")
        .subscribers_of(GROUP)
        .expect("subscribers")
        .iter()
        .map(|s| format!("{} {}", s.address, s.filter))
        .collect();
    assert!(
        filters.contains(&format!("{p3} include {s1}")),
        "{filters:?}"
    );

    // When p3 drops its only source (its kernel sends BLOCK{S1}).
    source_specific.leave().expect("leave the source");
    // Then p3 leaves the group.
    lab.wait_left(1, 3, GROUP);
}

#[test]
fn in_the_source_specific_range_an_any_source_join_is_refused_and_a_source_join_delivers() {
    require_datapath!();
    // Given one node: p1 and p2 send (S1, S2); 232.7.7.7 configured.
    let lab = TestLab::new(1, 4, |_| {});
    lab.configure_group(SSM_GROUP);
    let s1 = lab.pod(1, 1).address;
    let s2 = lab.pod(1, 2).address;
    // When p4 joins for every source (its kernel reports EXCLUDE{}).
    let _any_source = lab.join_socket(1, 4, SSM_GROUP);
    lab.wait_counter(1, Reason::SsmAnySourceIgnored, 1);
    // And p3 joins for S1.
    let mut source_specific = lab.join_source(1, 3, s1, SSM_GROUP);
    let p4_wire = lab.spy(1, 4);
    let p3_wire = lab.spy(1, 3);
    // When S2 sends, then S1.
    lab.send(1, 2, SSM_GROUP, 2, 0, COUNT);
    lab.send(1, 1, SSM_GROUP, 1, 0, COUNT);
    // Then p3 gets S1's datagrams only, and p4, refused, gets nothing.
    assert_eq!(receive(&mut source_specific, COUNT), COUNT, "p3 gets S1");
    let frames = until_from(&p3_wire, s1, SSM_GROUP, COUNT);
    assert_eq!(
        from(&frames, s1, SSM_GROUP),
        COUNT as usize,
        "S1 on p3's wire"
    );
    assert_eq!(from(&frames, s2, SSM_GROUP), 0, "S2 on p3's wire");
    assert_eq!(
        p4_wire.count_to(SSM_GROUP),
        0,
        "copies to the refused any-source member"
    );
    let members: Vec<Ipv4Addr> = lab
        .dataplane(1)
        .groups()
        .expect("group table")
        .subscribers_of(SSM_GROUP)
        .expect("subscribers")
        .iter()
        .map(|s| s.address)
        .collect();
    assert_eq!(members, [lab.pod(1, 3).address]);
}

/// The vxlan packets among `frames` (captured on an underlay leg) that carry a datagram from
/// `source` to `group`: outer Ethernet, IPv4 (no options, as the kernel's vxlan sends) and UDP
/// to the vxlan port, the vxlan header, then the inner frame, whose IPv4 source is at 76.
fn vxlan_from(frames: &[Vec<u8>], source: Ipv4Addr, group: Ipv4Addr) -> usize {
    const INNER_SOURCE: std::ops::Range<usize> = 76..80;
    frames
        .iter()
        .filter(|frame| {
            is_vxlan_to(frame, VXLAN_PORT, group)
                && frame.get(INNER_SOURCE) == Some(&source.octets()[..])
        })
        .count()
}

#[test]
fn over_two_nodes_a_source_crosses_only_to_the_node_whose_member_wants_it() {
    require_datapath!();
    // Given two nodes with agents and GROUP on both: on n1, p1 and p2 send (S1, S2); on n2, p1
    // joins GROUP for S1 only; a capture on n2's underlay leg.
    let lab = TestLab::with_agents(2, 2, |_| {});
    lab.add_group(GROUP);
    let s1 = lab.pod(1, 1).address;
    let s2 = lab.pod(1, 2).address;
    let n2_underlay = {
        let netns = lab.scenario.spec().node_netns(lab.scenario.node(2));
        Capture::open_in(&netns, UNDERLAY_IFACE).expect("capture on ul0")
    };
    let mut receiver = lab.join_source(2, 1, s1, GROUP);
    // Then n1 learns n2 with the filter of n2's member: S1 only.
    lab.wait_learned(1, GROUP, 2);
    let n2 = lab.scenario.node(2).underlay_address;
    let learned = lab
        .dataplane(1)
        .groups()
        .expect("group table")
        .subscribers_of(GROUP)
        .expect("subscribers")
        .into_iter()
        .find(|s| s.address == n2)
        .expect("n2 is a subscriber on n1");
    assert_eq!(learned.filter.to_string(), format!("include {s1}"));
    // When S2 sends, then S1.
    lab.send(1, 2, GROUP, 2, 0, COUNT);
    lab.send(1, 1, GROUP, 1, 0, COUNT);
    // Then the pod on n2 gets S1's datagrams, and n2's underlay carried S1's and none of S2's
    // (sent first).
    assert_eq!(receive(&mut receiver, COUNT), COUNT, "S1's datagrams on n2");
    let frames = n2_underlay.until(deadline(), |frames| {
        vxlan_from(frames, s1, GROUP) as u64 >= COUNT
    });
    assert_eq!(
        vxlan_from(&frames, s1, GROUP) as u64,
        COUNT,
        "S1 over the underlay"
    );
    assert_eq!(vxlan_from(&frames, s2, GROUP), 0, "S2 over the underlay");
}
