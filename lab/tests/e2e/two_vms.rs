//! The two-VM lab without VMs: each "VM" is a network namespace whose `eth1` is one end of a
//! veth pair to the other (their private network). Each deploys one node of the lab where it
//! runs (`mcastlab up --host`, here `lab::up` with this thread moved into the VM by setns, not
//! `ip netns exec`, which would hide /sys/fs/bpf), attaches the dataplane, and configures the
//! other VM's address as the group's remote subscriber.

use std::{net::Ipv4Addr, path::Path};

use mcastlab_common::Reason;
use mcastlab_lab as lab;
use mcastlab_testbed::{capture::Capture, receiver::Receiver};
use mcastlab_testkit::{Namespace, VM_A_ADDRESS, VM_B_ADDRESS, ip, require_datapath, unique_name};
use mcastlab_topology::{LabSpec, model::POD_IFACE};

use crate::lab::{BacklogGuard, PORT, backlog_shared, deadline, receive};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 7);
const COUNT: u64 = 50;

/// One "VM" of the test kit's two, its address on `eth1`, and the lab whose node it runs.
struct Vm<'a> {
    netns: &'a Namespace,
    address: &'static str,
    spec: LabSpec,
}

/// The two labs, one per VM of `vms`. Dropping it removes both labs (detach, the pods,
/// vxlan0) on every path; the VMs go with `vms`.
struct TwoVmLabs<'a> {
    vms: [Vm<'a>; 2],
    _backlog: BacklogGuard,
}

impl<'a> TwoVmLabs<'a> {
    /// VM a runs node n1 of lab `<name>a`, VM b node n2 of lab `<name>b`: the same lab (two
    /// nodes of three pods, VNI 42) under two names, because both halves share this machine's
    /// /run and /sys/fs/bpf, where real VMs each have their own.
    fn new(name: &str, vms: &'a mcastlab_testkit::TwoVms) -> Self {
        let backlog = backlog_shared();
        let vm = |netns, side: &str, node: &str, address: &'static str, peer: &str| {
            let mut spec = LabSpec::generate(&format!("{name}{side}"), 2, 3).expect("generate");
            spec.place_on_host(
                node,
                Some("eth1".to_owned()),
                Some(address.parse().expect("a cidr")),
                &[peer.parse().expect("an address")],
            )
            .expect("place the node on its VM");
            Vm {
                netns,
                address,
                spec,
            }
        };
        Self {
            vms: [
                vm(&vms.a, "a", "n1", VM_A_ADDRESS, "192.168.56.12"),
                vm(&vms.b, "b", "n2", VM_B_ADDRESS, "192.168.56.11"),
            ],
            _backlog: backlog,
        }
    }

    /// Deploys each VM's node inside the VM and attaches its dataplane (`mcastlab up --host`).
    fn up(&self) {
        for vm in &self.vms {
            mcastlab_testkit::TwoVms::inside(vm.netns, || {
                lab::up(&vm.spec).expect("deploy the VM's node and attach its dataplane");
            });
        }
    }
}

impl Drop for TwoVmLabs<'_> {
    fn drop(&mut self) {
        for vm in &self.vms {
            let _ = lab::down(&vm.spec.name);
        }
    }
}

#[test]
fn a_datagram_crosses_from_a_pod_on_one_vm_to_a_joined_pod_on_the_other_only() {
    require_datapath!();
    // Given two VMs, each running one node (pods p1..p3) with the dataplane attached, the
    // group configured on both with the other VM's eth1 address as remote subscriber.
    let name = unique_name("h");
    let machines = mcastlab_testkit::TwoVms::new(&name);
    let vms = TwoVmLabs::new(&name, &machines);
    vms.up();
    let [a, b] = &vms.vms;
    for vm in &vms.vms {
        lab::configure_group(&vm.spec, GROUP).expect("configure the group");
        let node = vm.spec.host_node().expect("placed");
        let remote = vm.spec.nodes.iter().find(|n| n.name != node.name).unwrap();
        let subscribers = lab::dataplane_node(&vm.spec, node)
            .unwrap()
            .groups()
            .unwrap()
            .subscribers_of(GROUP)
            .unwrap();
        assert!(
            subscribers
                .iter()
                .any(|s| s.address == remote.underlay_address),
            "{} should have {} as remote subscriber, has {subscribers:?}",
            node.name,
            remote.underlay_address
        );
    }
    // And on VM b, p2 joins with a real socket; p3 does not join.
    let (node_b, node_a) = (b.spec.host_node().unwrap(), a.spec.host_node().unwrap());
    let (joined, spy) = (&node_b.pods[1], &node_b.pods[2]);
    let mut receiver =
        Receiver::join(&b.spec.pod_netns(node_b, joined), GROUP, PORT).expect("join");
    lab::wait_for_subscriber(&b.spec, node_b, GROUP, joined.address, deadline())
        .expect("the join reaches VM b's dataplane");
    let spy = Capture::open_in(&b.spec.pod_netns(node_b, spy), POD_IFACE).expect("capture");

    // When p1 on VM a sends.
    mcastlab_testbed::sender::send(
        &a.spec.pod_netns(node_a, &node_a.pods[0]),
        &mcastlab_testbed::sender::SendOptions {
            group: GROUP,
            port: PORT,
            count: COUNT,
            rate: None,
            size: 64,
            sender: 1,
            first_seq: 0,
        },
    )
    .expect("send from VM a");

    // Then the joined pod on VM b gets every datagram once, through VM a's eth1 and vxlan0.
    assert_eq!(
        receive(&mut receiver, COUNT),
        COUNT,
        "distinct datagrams on VM b's p2"
    );
    assert_eq!(receiver.report().duplicates, 0, "duplicates on VM b's p2");
    // And, with its copies in, the pod that did not join has none.
    assert_eq!(
        spy.count_to(GROUP),
        0,
        "copies to VM b's p3, which did not join"
    );
    let counters = |vm: &Vm<'_>| -> std::collections::BTreeMap<&'static str, u64> {
        lab::dataplane_node(&vm.spec, vm.spec.host_node().unwrap())
            .unwrap()
            .stats()
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.count))
            .collect()
    };
    assert_eq!(
        counters(a)[Reason::CopyRemote.name()],
        COUNT,
        "VM a's copies into vxlan0"
    );
    assert_eq!(
        counters(b)[Reason::OverlayDelivered.name()],
        COUNT,
        "VM b's deliveries from vxlan0"
    );

    // When both nodes are taken down.
    for vm in &vms.vms {
        lab::down(&vm.spec.name).expect("down");
    }
    // Then each VM keeps its own eth1 and address, and nothing of the lab is left in it.
    for vm in &vms.vms {
        let links = ip(&["-n", vm.netns.name(), "-br", "addr"]);
        assert!(
            links.contains("eth1") && links.contains(vm.address),
            "{}: eth1 with {} after down, found:\n{links}",
            vm.netns.name(),
            vm.address
        );
        assert!(
            !links.contains("vxlan0") && !links.contains("veth-"),
            "{}: lab links left after down:\n{links}",
            vm.netns.name()
        );
        let node = vm.spec.node_netns(vm.spec.host_node().unwrap());
        assert!(
            !Path::new("/sys/fs/bpf/mcastlab").join(&node).exists(),
            "{node}'s pins left"
        );
    }
}
