//! Malformed IGMP sent from a pod is counted and dropped, and the dataplane keeps working.

use std::net::Ipv4Addr;

use mcastlab_common::{Reason, igmp::IPPROTO_IGMP, wire::igmp::fill_checksum};
use mcastlab_testbed::{
    frame::Ipv4Frame,
    igmp::{IgmpMessage, corrupt_checksum},
    raw::send_frames,
};
use mcastlab_topology::model::POD_IFACE;

use mcastlab_testkit::require_datapath;

use crate::lab::{TestLab, receive};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 3, 3, 3);

/// An IGMP payload with its checksum made right.
fn checksummed(mut payload: Vec<u8>) -> Vec<u8> {
    fill_checksum(&mut payload);
    payload
}

#[test]
fn malformed_igmp_is_counted_and_dropped_and_the_dataplane_keeps_working() {
    require_datapath!();
    let lab = TestLab::new(1, 2, |_| {});
    lab.configure_group(GROUP);
    let source = lab.pod(1, 1).address;
    let good = IgmpMessage::V2Report(GROUP).frame(source);

    let mut truncated = good.clone();
    truncated.payload.truncate(5);
    let mut overlong = good.clone();
    overlong.total_len_override = Some(200);
    let mut bad_checksum = good.clone();
    corrupt_checksum(&mut bad_checksum.payload);
    let mut cut_v3 = IgmpMessage::V3ReportDeclaring {
        declared: 3,
        records: vec![],
    }
    .frame(source);
    cut_v3.payload = checksummed(cut_v3.payload);
    let garbage = Ipv4Frame::new(
        source,
        GROUP,
        IPPROTO_IGMP,
        checksummed(vec![0x99, 0x42, 0, 0, 1, 2, 3, 4, 5, 6, 7]),
    );
    // When p1 sends each of them from its eth0.
    let frames: Vec<Vec<u8>> = [truncated, overlong, bad_checksum, cut_v3, garbage]
        .iter()
        .map(Ipv4Frame::to_bytes)
        .collect();
    send_frames(&lab.pod_netns(1, 1), POD_IFACE, &frames).unwrap();
    // Then each is counted under its reason and none joined anything.
    lab.wait_counter(1, Reason::Malformed, 3);
    lab.wait_counter(1, Reason::BadChecksum, 1);
    lab.wait_counter(1, Reason::IgmpUnhandledType, 1);
    let counters = lab.counters(1);
    assert_eq!(counters[Reason::Subscribed.name()], 0);
    assert_eq!(counters[Reason::Malformed.name()], 3);
    assert!(
        lab.dataplane(1)
            .groups()
            .unwrap()
            .subscribers_of(GROUP)
            .unwrap()
            .is_empty()
    );
    // And a real join and delivery still work.
    let mut receiver = lab.join(1, 2, GROUP);
    lab.send(1, 1, GROUP, 1, 0, 10);
    assert_eq!(receive(&mut receiver, 10), 10);
}
