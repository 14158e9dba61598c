//! Joins and leaves of real sockets, with the kernel speaking IGMPv2 or IGMPv3.

use std::net::Ipv4Addr;

use mcastlab_common::Reason;
use rstest::rstest;

use mcastlab_testkit::require_datapath;

use crate::lab::{TestLab, receive};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 2, 2, 2);
const BATCH: u64 = 20;

#[rstest]
#[case::igmpv2(2)]
#[case::igmpv3(3)]
fn leave_stops_delivery_and_rejoin_restores_it(#[case] igmp_version: u8) {
    require_datapath!();
    // Given p2 speaking IGMPv<version>, joined.
    let lab = TestLab::new(1, 2, |spec| {
        spec.nodes[0].pods[1].igmp_version = Some(igmp_version);
    });
    lab.configure_group(GROUP);
    let mut receiver = lab.join(1, 2, GROUP);
    let capture = lab.spy(1, 2);
    // When batch A is sent, p2 leaves, batch B is sent, p2 joins again and batch C is sent.
    lab.send(1, 1, GROUP, 1, 0, BATCH);
    assert_eq!(
        receive(&mut receiver, BATCH),
        BATCH,
        "batch A before the leave"
    );
    receiver.leave().unwrap();
    lab.wait_left(1, 2, GROUP);
    lab.send(1, 1, GROUP, 1, BATCH, BATCH);
    receiver.rejoin().unwrap();
    lab.wait_subscribed(1, 2, GROUP);
    lab.send(1, 1, GROUP, 1, 2 * BATCH, BATCH);
    // Then all of C arrives, and the dataplane made no copy of B: with C in, B was handled
    // (it went the same way before it), and only A and C were copied to p2.
    assert_eq!(
        receive(&mut receiver, 2 * BATCH),
        2 * BATCH,
        "batches A and C"
    );
    let report = receiver.report();
    for seq in 2 * BATCH..3 * BATCH {
        assert!(
            report.has(1, seq),
            "datagram {seq} of batch C is missing after the re-join"
        );
    }
    let counters = lab.counters(1);
    assert_eq!(
        counters[Reason::Replicated.name()],
        3 * BATCH,
        "batches handled"
    );
    assert_eq!(
        counters[Reason::CopyLocal.name()],
        2 * BATCH,
        "copies: A and C, none of B"
    );
    assert_eq!(
        capture.count_to(GROUP),
        2 * BATCH as usize,
        "frames that reached p2"
    );
}
