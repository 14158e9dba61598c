//! Dual-stack labs (`ipv6: true`) on real namespaces, without the dataplane: each pod holds its
//! IPv6 address and a link-local one, a pod's socket join makes its kernel send MLD (v2, or v1
//! under `mld_version: 1`) that its host veth receives, where the dataplane snoops it, and a
//! pod sends probes to an IPv6 group out of `eth0`. An IPv4 lab's pods send no IPv6 at all.
#![allow(
    unused_crate_dependencies,
    reason = "the package's dependencies are not all this test's"
)]

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use mcastlab_common::{
    igmp::record,
    wire::{
        ipv6::Ipv6Header,
        mld::{ALL_MLDV2_ROUTERS, Mld, parse_packet},
    },
};
use mcastlab_lab::{LabError, Scenario};
use mcastlab_testbed::{
    capture::{Capture, is_ipv4_to},
    frame::{ETH_HLEN, ETH_P_IPV6},
    probe::Probe,
    receiver::Receiver6,
    sender::SendOptions,
};
use mcastlab_testkit::{ip, require_root, unique_name};
use mcastlab_topology::LabSpec;

/// How long a pod's kernel gets to send a report after a join: it sends the first at once
/// (RFC 3810 section 6.1; RFC 2710 section 4 for MLDv1).
const REPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a capture is watched for frames that must not come: longer than the kernel takes
/// to send a report after a join (a few milliseconds).
const SILENCE: Duration = Duration::from_secs(1);

const GROUP: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0x1, 0x1);
const GROUP4: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
const PORT: u16 = 5000;

/// IPv6 Next Header of UDP (IANA protocol numbers).
const NEXT_HEADER_UDP: u8 = 17;
/// Bytes of a UDP header (RFC 768).
const UDP_HLEN: usize = 8;

/// The IPv6 packet of `frame`, if it is one.
fn ipv6_packet(frame: &[u8]) -> Option<&[u8]> {
    (frame.len() > ETH_HLEN && frame[12..14] == ETH_P_IPV6.to_be_bytes())
        .then(|| &frame[ETH_HLEN..])
}

/// One MLD message seen in a capture: its IPv6 source and destination, and the message as
/// (version, group, record type): MLDv1 reports have no record type.
type Seen = (Ipv6Addr, Ipv6Addr, u8, Ipv6Addr, Option<u8>);

/// Every MLD report among `frames`, each parsed with the common crate's view
/// ([`parse_packet`]); other IPv6 (neighbour discovery) and non-IPv6 frames are skipped.
fn mld_reports(frames: &[Vec<u8>]) -> Vec<Seen> {
    let mut seen = Vec::new();
    for packet in frames.iter().filter_map(|frame| ipv6_packet(frame)) {
        let Ok(parsed) = parse_packet(packet) else {
            continue;
        };
        let source = Ipv6Addr::from(parsed.ipv6.source());
        let destination = Ipv6Addr::from(parsed.ipv6.destination());
        match parsed.message {
            Mld::V1Report { group } => seen.push((source, destination, 1, group.into(), None)),
            Mld::V2Report(report) => seen.extend(report.records().map(|record| {
                let group = Ipv6Addr::from(record.group());
                (source, destination, 2, group, Some(record.record_type()))
            })),
            Mld::V1Done { .. } => {}
        }
    }
    seen
}

/// Waits until a report for `group` of MLD version `version` arrived at `capture`; returns
/// it, or panics with every report seen.
fn wait_for_report(capture: &Capture, version: u8, group: Ipv6Addr) -> Seen {
    let wanted = |seen: &Seen| seen.2 == version && seen.3 == group;
    let frames = capture.until(REPORT_TIMEOUT, |frames| {
        mld_reports(frames).iter().any(wanted)
    });
    let reports = mld_reports(&frames);
    reports
        .iter()
        .find(|seen| wanted(seen))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "expected an MLDv{version} report for {group} within {REPORT_TIMEOUT:?}, saw \
                 {reports:?}"
            )
        })
}

/// The link-local address of `iface` in namespace `netns` (panics without one).
fn link_local(netns: &str, iface: &str) -> Ipv6Addr {
    let addresses = ip(&["-n", netns, "-6", "-br", "addr", "show", iface]);
    addresses
        .split_whitespace()
        .filter_map(|word| word.split('/').next()?.parse::<Ipv6Addr>().ok())
        .find(Ipv6Addr::is_unicast_link_local)
        .unwrap_or_else(|| {
            panic!("expected a link-local address on {iface} in {netns}, saw {addresses}")
        })
}

#[test]
fn a_dual_stack_pods_join_sends_mld_to_its_host_veth_and_it_sends_to_ipv6_groups() {
    require_root!();
    // Given a lab of one node with two pods and IPv6 on, p2 speaking MLDv1, deployed without
    // the dataplane, and a capture on each pod's host veth in the node
    let mut spec = LabSpec::generate(&unique_name("ds"), 1, 2).unwrap();
    spec.ipv6 = true;
    spec.nodes[0].pods[1].mld_version = Some(1);
    let lab = Scenario::deploy_without_dataplane(spec).expect("the dual-stack lab deploys");
    let host1 = lab.spy_host(1, 1).expect("a capture on veth-p1");
    let host2 = lab.spy_host(1, 2).expect("a capture on veth-p2");

    // Then each pod has its IPv6 address on eth0, and a link-local one
    for (pod, expected) in [(1, "fd00:200::101"), (2, "fd00:200::102")] {
        let address = lab
            .pod_address6(1, pod)
            .expect("a dual-stack pod's address");
        assert_eq!(address, expected.parse::<Ipv6Addr>().unwrap());
        let netns = lab.pod_netns(1, pod);
        let held = ip(&["-n", &netns, "-6", "addr", "show", "eth0"]);
        assert!(
            held.contains(&format!("inet6 {address}/64 scope global")),
            "{netns}: expected {address}/64 on eth0, saw {held}"
        );
        link_local(&netns, "eth0");
    }

    // When p1 joins ff0e::1:1 for any source with a socket
    let _p1 = lab.join6_socket(1, 1, GROUP, PORT).expect("p1 joins");
    // Then its kernel's MLDv2 report, CHANGE_TO_EXCLUDE_MODE({}) for the group, reaches
    // veth-p1, from p1's link-local address to ff02::16 (RFC 3810 section 5.2.13, 5.2.14)
    let (source, destination, _, _, record_type) = wait_for_report(&host1, 2, GROUP);
    assert_eq!(record_type, Some(record::CHANGE_TO_EXCLUDE_MODE));
    assert_eq!(source, link_local(&lab.pod_netns(1, 1), "eth0"));
    assert_eq!(destination, Ipv6Addr::from(ALL_MLDV2_ROUTERS));

    // When p2 (MLDv1) joins the same group
    let _p2 = lab.join6_socket(1, 2, GROUP, PORT).expect("p2 joins");
    // Then its kernel's MLDv1 report for the group reaches veth-p2, sent to the group itself
    // (RFC 2710 section 3), and no MLDv2 from p2
    let (source, destination, _, _, _) = wait_for_report(&host2, 1, GROUP);
    assert_eq!(source, link_local(&lab.pod_netns(1, 2), "eth0"));
    assert_eq!(destination, GROUP);
    let v2 = mld_reports(&host2.now())
        .into_iter()
        .filter(|seen| seen.2 == 2)
        .collect::<Vec<_>>();
    assert!(v2.is_empty(), "p2 speaks MLDv1 only, sent {v2:?}");

    // When p1 sends three probes to the group
    let options = SendOptions {
        group: GROUP,
        port: PORT,
        count: 3,
        rate: None,
        size: 64,
        sender: 7,
        first_seq: 0,
    };
    assert_eq!(lab.send6(1, 1, &options).expect("p1 sends").sent, 3);
    // Then veth-p1 receives them: UDP from p1's address to the group, Hop Limit 1, each a
    // probe of sender 7
    let is_probe = |frame: &Vec<u8>| {
        ipv6_packet(frame).and_then(|packet| {
            let header = Ipv6Header::parse(packet).ok()?;
            (header.next_header() == NEXT_HEADER_UDP
                && Ipv6Addr::from(header.destination()) == GROUP)
                .then_some(())?;
            let probe = Probe::read(packet.get(Ipv6Header::LEN + UDP_HLEN..)?)?;
            Some((Ipv6Addr::from(header.source()), header.hop_limit(), probe))
        })
    };
    let frames = host1.until(REPORT_TIMEOUT, |frames| {
        frames.iter().filter_map(is_probe).count() >= 3
    });
    let probes: Vec<_> = frames.iter().filter_map(is_probe).collect();
    let p1 = lab.pod_address6(1, 1).unwrap();
    assert_eq!(
        probes
            .iter()
            .map(|(source, hops, probe)| (*source, *hops, probe.sender, probe.seq))
            .collect::<Vec<_>>(),
        [(p1, 1, 7, 0), (p1, 1, 7, 1), (p1, 1, 7, 2)],
        "the probes veth-p1 received"
    );
}

#[test]
fn an_ipv4_labs_pods_send_no_mld_and_the_ipv6_calls_say_why() {
    require_root!();
    // Given an IPv4 lab of one node with one pod, deployed without the dataplane, and a
    // capture on the pod's host veth
    let spec = LabSpec::generate(&unique_name("ds"), 1, 1).unwrap();
    let lab = Scenario::deploy_without_dataplane(spec).expect("the lab deploys");
    let host = lab.spy_host(1, 1).expect("a capture on veth-p1");

    // Then the scenario's IPv6 calls refuse with the reason
    assert_eq!(lab.pod_address6(1, 1), None);
    match lab.join6_socket(1, 1, GROUP, PORT) {
        Err(LabError::Ipv6Off { lab: name }) => assert_eq!(name, lab.spec().name),
        Err(other) => panic!("expected Ipv6Off, got {other}"),
        Ok(_) => panic!("expected Ipv6Off, the join went through"),
    }

    // When a socket in the pod joins ff0e::1:1 anyway, then 239.1.1.1 (IPv4)
    let _v6 = Receiver6::join(&lab.pod_netns(1, 1), "eth0", GROUP, PORT);
    let _v4 = lab.join_socket(1, 1, GROUP4, PORT).expect("an IPv4 join");
    // Then the IGMP report reaches the host veth, and no IPv6 frame at all (no MLD, no
    // neighbour discovery): IPv6 is off in the pod
    let frames = host.until(REPORT_TIMEOUT, |frames| {
        frames
            .iter()
            .any(|frame| is_ipv4_to(frame, Ipv4Addr::new(224, 0, 0, 22)))
    });
    assert!(
        frames
            .iter()
            .any(|frame| is_ipv4_to(frame, Ipv4Addr::new(224, 0, 0, 22))),
        "expected the pod's IGMPv3 report at veth-p1 within {REPORT_TIMEOUT:?}"
    );
    let mut frames = frames;
    frames.extend(host.until(SILENCE, |frames| {
        frames.iter().any(|frame| ipv6_packet(frame).is_some())
    }));
    let ipv6: Vec<_> = frames
        .iter()
        .filter_map(|frame| ipv6_packet(frame))
        .collect();
    assert!(ipv6.is_empty(), "an IPv4 lab's pod sent IPv6: {ipv6:02x?}");
}
