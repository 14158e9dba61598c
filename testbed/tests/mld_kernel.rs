//! The kernel's own MLD, captured off a veth and parsed with the common crate's views: what a
//! real listener sends (Hop-by-Hop Router Alert, ICMPv6 checksum over the pseudo-header, MLDv2
//! records) must parse, so the views match the kernel and not only our reading of the RFCs.
#![allow(
    unused_crate_dependencies,
    reason = "the package's dependencies are not all this test's"
)]

use std::{net::Ipv6Addr, time::Duration};

use mcastlab_common::{
    igmp::record,
    wire::{
        ipv6::{NEXT_HEADER_HOP_BY_HOP, group_mac, is_link_scope_group},
        mld::{ALL_MLDV2_ROUTERS, Mld, parse_packet},
    },
};
use mcastlab_testbed::{
    capture::Capture,
    frame::{ETH_HLEN, ETH_P_IPV6},
    receiver::Receiver6,
};
use mcastlab_testkit::{Namespace, ip, require_root, run, unique_name};

/// How long the kernel gets to send a report after a join or leave: it sends the first at
/// once (RFC 3810 section 6.1).
const REPORT_TIMEOUT: Duration = Duration::from_secs(5);

const GROUP: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0x1, 0x2);
const SSM_GROUP: Ipv6Addr = Ipv6Addr::new(0xff3e, 0, 0, 0, 0, 0, 0x8000, 0x1);
const SOURCE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x1);
const PORT: u16 = 5000;

/// One multicast address record of a captured report: type, group, sources.
type Record = (u8, Ipv6Addr, Vec<Ipv6Addr>);

/// Every record of every MLDv2 report among `frames`, each frame checked as a whole: Ethernet
/// to the 33:33 address of its IPv6 destination, Hop Limit 1, to ff02::16, and a packet
/// [`parse_packet`] accepts. Frames that are not IPv6 with Hop-by-Hop are skipped (neighbour
/// discovery, router solicitations); one that is and does not parse fails the test.
fn v2_records(frames: &[Vec<u8>]) -> Vec<Record> {
    let mut records = Vec::new();
    for frame in frames {
        if frame.len() < ETH_HLEN || frame[12..14] != ETH_P_IPV6.to_be_bytes() {
            continue;
        }
        let packet = &frame[ETH_HLEN..];
        if packet.get(6) != Some(&NEXT_HEADER_HOP_BY_HOP) {
            continue;
        }
        let parsed = parse_packet(packet)
            .unwrap_or_else(|reason| panic!("the kernel's MLD {packet:02x?} is {reason:?}"));
        assert_eq!(
            frame[..6],
            group_mac(parsed.ipv6.destination()),
            "the Ethernet destination of {frame:02x?}"
        );
        assert_eq!(parsed.ipv6.hop_limit(), 1, "the Hop Limit of {frame:02x?}");
        let Mld::V2Report(report) = parsed.message else {
            panic!("an MLDv2 report, got {:?}", parsed.message);
        };
        assert_eq!(parsed.ipv6.destination(), ALL_MLDV2_ROUTERS);
        for record in report.records() {
            records.push((
                record.record_type(),
                record.group().into(),
                record.sources().map(Ipv6Addr::from).collect(),
            ));
        }
    }
    records
}

/// Waits until a report with `expected` among its records arrived at `capture`; returns every
/// record seen, or panics with them.
fn wait_for_record(capture: &Capture, expected: &Record) -> Vec<Record> {
    let frames = capture.until(REPORT_TIMEOUT, |frames| {
        v2_records(frames).contains(expected)
    });
    let records = v2_records(&frames);
    assert!(
        records.contains(expected),
        "expected a record {expected:?} within {REPORT_TIMEOUT:?}, saw {records:?}"
    );
    records
}

#[test]
fn the_kernels_mldv2_reports_parse_with_the_common_views() {
    require_root!();
    // Given a namespace with a veth pair m0 - m1, IPv6 on, MLDv2 on m0 and no duplicate
    // address detection (so m0 has its link-local address at once), and a capture on m1
    let namespace = Namespace::new(&unique_name("mld"));
    let ns = namespace.name();
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=0",
            "net.ipv6.conf.default.disable_ipv6=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.default.force_mld_version=2",
        ],
    );
    ip(&[
        "-n", ns, "link", "add", "m0", "type", "veth", "peer", "name", "m1",
    ]);
    ip(&["-n", ns, "link", "set", "m1", "up"]);
    let capture = Capture::open_in(ns, "m1").expect("a capture on m1");
    ip(&["-n", ns, "link", "set", "m0", "up"]);

    // When a socket on m0 joins ff0e::1:2 for any source
    let receiver = Receiver6::join(ns, "m0", GROUP, PORT).expect("an any-source join");
    // Then the kernel reports CHANGE_TO_EXCLUDE_MODE({}) for it (RFC 3810 section 6.1), and
    // every other group it reports on its own (solicited-node, all-routers) is link-scope
    let records = wait_for_record(
        &capture,
        &(record::CHANGE_TO_EXCLUDE_MODE, GROUP, Vec::new()),
    );
    for (_, group, _) in &records {
        assert!(
            *group == GROUP || is_link_scope_group(group.octets()),
            "the kernel reported {group} on its own; records {records:?}"
        );
    }

    // When the socket leaves
    receiver.leave().expect("a leave");
    // Then the kernel reports CHANGE_TO_INCLUDE_MODE({}): no listener left
    wait_for_record(
        &capture,
        &(record::CHANGE_TO_INCLUDE_MODE, GROUP, Vec::new()),
    );

    // When another socket joins (2001:db8::1, ff3e::8000:1)
    let ssm =
        Receiver6::join_source(ns, "m0", SSM_GROUP, SOURCE, PORT).expect("a source-specific join");
    // Then the kernel reports ALLOW_NEW_SOURCES({2001:db8::1}) for the group
    wait_for_record(
        &capture,
        &(record::ALLOW_NEW_SOURCES, SSM_GROUP, vec![SOURCE]),
    );

    // When it leaves its source
    ssm.leave().expect("a source-specific leave");
    // Then the kernel reports BLOCK_OLD_SOURCES({2001:db8::1})
    wait_for_record(
        &capture,
        &(record::BLOCK_OLD_SOURCES, SSM_GROUP, vec![SOURCE]),
    );
}
