//! The XDP devmap-broadcast experiment (`mcast_xdp_broadcast`, benchmarks only) on a node of the
//! test's own without the dataplane: its copies, through real veths.

use mcastlab_dataplane::{Node, xdp_broadcast::XdpBroadcast};
use mcastlab_testbed::raw::send_frames;
use mcastlab_testkit::{Namespace, ip, unique_name};
use mcastlab_topology::offload::{Offload, set_offload};

use super::*;

fn is_copy(frame: &[u8]) -> bool {
    frame.len() > 34 && frame[30..34] == GROUP.octets()
}

#[test]
fn xdp_broadcast_copies_multicast_to_the_devices_of_its_map_only() {
    require_datapath!();
    // Given veth pairs h<i> (host side) / p<i> (pod side, left in the node's namespace for
    // capture), GRO on every pod end (a veth hands XDP frames only to a peer with NAPI), and
    // the experiment attached in native mode at h1 with h2 alone in its device map.
    let namespace = Namespace::new(&unique_name("dp"));
    let name = namespace.name().to_owned();
    for (host, pod) in [("h1", "p1"), ("h2", "p2"), ("h3", "p3")] {
        ip(&[
            "-n", &name, "link", "add", host, "type", "veth", "peer", "name", pod,
        ]);
        ip(&["-n", &name, "link", "set", host, "up"]);
        ip(&["-n", &name, "link", "set", pod, "up"]);
        set_offload(&name, pod, Offload::Gro, true).expect("GRO on the pod end");
    }
    let node = Node::open(&name).expect("open the node");
    let mut broadcast = XdpBroadcast::load(&node, 4).expect("load the experiment");
    broadcast.add_receiver("h2").expect("add h2");
    assert!(broadcast.holds("h2").expect("read the map"));
    assert!(!broadcast.holds("h3").expect("read the map"));
    broadcast
        .attach(&["h1"])
        .expect("attach at h1 in native mode");
    let p2 = Capture::open_in(&name, "p2").expect("capture p2");
    let p3 = Capture::open_in(&name, "p3").expect("capture p3");
    // When pod 1 sends a datagram to a unicast address, then one to the group.
    let unicast = Ipv4Frame::udp(POD1, POD2, 5000, b"unicast").to_bytes();
    let multicast = Ipv4Frame::udp(POD1, GROUP, 5000, b"payload").to_bytes();
    send_frames(&name, "p1", &[unicast, multicast]).expect("send from p1");
    // Then p2 gets one copy of the group's datagram and nothing else; p3, on NAPI as well but
    // not in the map, gets nothing (its copy would have been queued in the same softirq).
    let seen = p2.until(DELIVERY_DEADLINE, |frames| {
        frames.iter().any(|f| is_copy(f))
    });
    let copies: Vec<&Vec<u8>> = seen.iter().filter(|f| is_copy(f)).collect();
    assert_eq!(copies.len(), 1, "p2 expected one copy, saw {seen:?}");
    assert!(copies[0].ends_with(b"payload"), "p2 payload");
    assert!(
        !seen.iter().any(|f| f.ends_with(b"unicast")),
        "the unicast datagram was broadcast: {seen:?}"
    );
    assert!(
        !p3.now().iter().any(|f| is_copy(f)),
        "p3 got a copy without being in the map"
    );
    broadcast.detach().expect("detach");
}
