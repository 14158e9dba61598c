//! The two-VM lab without VMs: each "VM" is a network namespace whose `eth1` is one end of a
//! veth pair to the other (their private network). Each deploys one node of the lab where it
//! runs (`mcastlab up --host`, here `lab::up` with this thread moved into the VM by setns, not
//! `ip netns exec`, which would hide /sys/fs/bpf), attaches the dataplane, and configures the
//! other VM's address as the group's remote subscriber.

use std::{net::Ipv4Addr, path::Path, process::Command};

use mcastlab::{
    dataplane::netns::{NetnsGuard, netns_path},
    lab,
};
use mcastlab_common::Reason;
use mcastlab_testbed::{capture::Capture, receiver::Receiver};
use mcastlab_topology::{LabSpec, model::POD_IFACE};

use crate::{
    lab::{BacklogGuard, DEADLINE, PORT, backlog_shared, receive},
    require_privileges,
    support::run,
};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 7);
const COUNT: u64 = 50;

/// One "VM": its namespace, its address on `eth1`, and the lab whose node it runs.
struct Vm {
    netns: String,
    address: &'static str,
    spec: LabSpec,
}

/// Two "VMs" on one private network. Dropping it removes both labs (detach, the pods, vxlan0)
/// and both VMs, on every path.
struct TwoVms {
    vms: [Vm; 2],
    _backlog: BacklogGuard,
}

impl TwoVms {
    /// VM a runs node n1 of lab `h<pid>a`, VM b node n2 of lab `h<pid>b`: the same lab (two
    /// nodes of three pods, VNI 42) under two names, because both halves share this machine's
    /// /run and /sys/fs/bpf, where real VMs each have their own.
    fn new() -> Self {
        let backlog = backlog_shared();
        let prefix = format!("h{}", std::process::id());
        let vm = |side: &str, node: &str, address: &'static str, peer: &str| {
            let mut spec = LabSpec::generate(&format!("{prefix}{side}"), 2, 3).expect("generate");
            spec.place_on_host(
                node,
                Some("eth1".to_owned()),
                Some(address.parse().expect("a cidr")),
                &[peer.parse().expect("an address")],
            )
            .expect("place the node on its VM");
            Vm {
                netns: format!("{prefix}vm-{side}"),
                address,
                spec,
            }
        };
        let vms = Self {
            vms: [
                vm("a", "n1", "192.168.56.11/24", "192.168.56.12"),
                vm("b", "n2", "192.168.56.12/24", "192.168.56.11"),
            ],
            _backlog: backlog,
        };
        // Whatever a killed earlier run with this pid left is not ours to keep.
        vms.remove();
        for vm in &vms.vms {
            run("ip", &["netns", "add", &vm.netns]);
            run("ip", &["-n", &vm.netns, "link", "set", "lo", "up"]);
        }
        let [a, b] = &vms.vms;
        run(
            "ip",
            &[
                "-n", &a.netns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1",
                "netns", &b.netns,
            ],
        );
        for vm in &vms.vms {
            run(
                "ip",
                &["-n", &vm.netns, "addr", "add", vm.address, "dev", "eth1"],
            );
            run("ip", &["-n", &vm.netns, "link", "set", "eth1", "up"]);
        }
        vms
    }

    /// Deploys each VM's node inside the VM and attaches its dataplane (`mcastlab up --host`).
    fn up(&self) {
        for vm in &self.vms {
            let _inside = NetnsGuard::enter(&netns_path(&vm.netns)).expect("enter the VM");
            lab::up(&vm.spec).expect("deploy the VM's node and attach its dataplane");
        }
    }

    fn remove(&self) {
        for vm in &self.vms {
            let _ = lab::down(&vm.spec.name);
            if netns_path(&vm.netns).exists() {
                let _ = Command::new("ip")
                    .args(["netns", "del", &vm.netns])
                    .status();
            }
        }
    }
}

impl Drop for TwoVms {
    fn drop(&mut self) {
        self.remove();
    }
}

#[test]
fn a_datagram_crosses_from_a_pod_on_one_vm_to_a_joined_pod_on_the_other_only() {
    require_privileges!();
    // Given two VMs, each running one node (pods p1..p3) with the dataplane attached, the
    // group configured on both with the other VM's eth1 address as remote subscriber.
    let vms = TwoVms::new();
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
    lab::wait_for_subscriber(&b.spec, node_b, GROUP, joined.address, DEADLINE)
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
    let counters = |vm: &Vm| -> std::collections::BTreeMap<&'static str, u64> {
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
        let output = Command::new("ip")
            .args(["-n", &vm.netns, "-br", "addr"])
            .output()
            .expect("ip");
        let links = String::from_utf8_lossy(&output.stdout);
        assert!(
            links.contains("eth1") && links.contains(vm.address),
            "{}: eth1 with {} after down, found:\n{links}",
            vm.netns,
            vm.address
        );
        assert!(
            !links.contains("vxlan0") && !links.contains("veth-"),
            "{}: lab links left after down:\n{links}",
            vm.netns
        );
        let node = vm.spec.node_netns(vm.spec.host_node().unwrap());
        assert!(
            !Path::new("/sys/fs/bpf/mcastlab").join(&node).exists(),
            "{node}'s pins left"
        );
    }
}
