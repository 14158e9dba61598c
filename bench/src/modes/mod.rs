//! The fan-out benchmark's modes: what delivers the copies. Each mode is one implementation of
//! [`FanoutMode`] holding everything that differs between modes (its lab, how it is deployed,
//! where the sender sends, how receivers listen and settle, its report column and colour);
//! [`Mode`], the identifier of the command line and the reports, names one in
//! [`Mode::fanout`].
//!
//! Every mode's lab is driven through [`Scenario`]: the dataplane's labs deployed with it,
//! the baselines' labs without it, bridged or running the seed baseline or the XDP
//! devmap-broadcast experiment instead.

mod bridge;
mod cross_node;
mod dataplane;
mod seed;
mod unicast;
mod xdp_devmap;

pub(crate) use bridge::deploy_bridged;

use std::{
    net::{Ipv4Addr, SocketAddrV4},
    time::Duration,
};

use mcastlab_lab::{LabError, Scenario};
use mcastlab_testbed::receiver::Receiver;
use mcastlab_topology::{LabSpec, PodSpec};
use serde::Serialize;
use socket2::Socket;

/// The group of fan-out traffic.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(239, 77, 0, 1);
/// UDP port of fan-out traffic.
pub const PORT: u16 = 6000;
/// Most ports of a Linux bridge (`BR_MAX_PORTS` less the reserved port 0); one more fails
/// with EXFULL.
pub const BRIDGE_MAX_PORTS: usize = 1023;

/// What delivers the copies: the identifier of a mode on the command line and in the reports
/// (`samples.csv` writes it as `Dataplane`, `summary.json` as `dataplane`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// mcastlab's dataplane.
    Dataplane,
    /// mcastlab's dataplane with the receiver pods on NAPI delivery (`napi: true`: GRO on the
    /// pod end, TSO off and a pfifo qdisc on the host end): copies wait in each veth's ring
    /// instead of the per-CPU backlog, which holds only netdev_max_backlog packets.
    DataplaneNapi,
    /// mcastlab's dataplane with source-specific receivers: each joins the group for the
    /// sender only (IGMPv3 INCLUDE{sender}), so every copy passes a source filter lookup
    /// (`mcastlab_common::sources`) that any-source members skip.
    DataplaneSources,
    /// An experiment on mcastlab's dataplane: the last local member of each packet gets the
    /// original, handed over with `bpf_redirect` after the walk, instead of a clone
    /// (`CONFIG_LAST_COPY_REDIRECT`, off by default).
    DataplaneLastCopy,
    /// The design mcastlab started from: Cilium PR 29469's replication (a hash of subscriber
    /// hashes, `bpf_for_each_map_elem`, one clone per subscriber) as the seed baseline program
    /// on the same veths, its membership written by the bench.
    Seed,
    /// An experiment, not a design of the dataplane: no dataplane, and an XDP program in native
    /// mode at the sender's host-side veth broadcasting each multicast frame to the receivers'
    /// host-side veths with one `bpf_redirect_map(BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS)`
    /// over a device map the bench writes (the first N receivers); the receivers are on NAPI,
    /// without which a veth drops XDP frames.
    XdpDevmap,
    /// A Linux bridge with IGMP snooping and a querier.
    Bridge,
    /// The sender sends one unicast datagram per receiver (through a bridge).
    Unicast,
    /// Cross-node: the sender on node 1, the receivers on node 2; the dataplane sends one copy
    /// over vxlan (remote subscriber) and node 2's dataplane fans it out.
    CrossNodeDataplane,
    /// Cross-node baseline: each node's pods on a bridge with a classic vxlan port; node 1's
    /// bridge floods to it and the vxlan driver replicates to every other node (head-end
    /// replication); node 2's bridge snoops IGMP (with a querier).
    CrossNodeBridge,
}

impl Mode {
    /// Every mode, in the order of the reports' columns and plots.
    pub const ALL: [Mode; 10] = [
        Mode::Dataplane,
        Mode::DataplaneNapi,
        Mode::DataplaneSources,
        Mode::DataplaneLastCopy,
        Mode::Seed,
        Mode::XdpDevmap,
        Mode::Bridge,
        Mode::Unicast,
        Mode::CrossNodeDataplane,
        Mode::CrossNodeBridge,
    ];

    /// The mode's implementation.
    pub fn fanout(self) -> &'static dyn FanoutMode {
        match self {
            Mode::Dataplane => &dataplane::Dataplane {
                napi: false,
                sources: false,
                last_copy: false,
            },
            Mode::DataplaneNapi => &dataplane::Dataplane {
                napi: true,
                sources: false,
                last_copy: false,
            },
            Mode::DataplaneSources => &dataplane::Dataplane {
                napi: false,
                sources: true,
                last_copy: false,
            },
            Mode::DataplaneLastCopy => &dataplane::Dataplane {
                napi: false,
                sources: false,
                last_copy: true,
            },
            Mode::Seed => &seed::Seed,
            Mode::XdpDevmap => &xdp_devmap::XdpDevmap,
            Mode::Bridge => &bridge::Bridge,
            Mode::Unicast => &unicast::Unicast,
            Mode::CrossNodeDataplane => &cross_node::CrossNodeDataplane,
            Mode::CrossNodeBridge => &cross_node::CrossNodeBridge,
        }
    }
}

/// Where a mode's report figures go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// Header of the mode's column in its table of `summary.md`.
    pub header: &'static str,
    /// Colour of the mode's line in `fanout.svg` (and of ratios against it in `ratios.svg`),
    /// as red, green, blue.
    pub color: (u8, u8, u8),
}

/// One way of delivering the copies, measured by [`crate::fanout::run`].
///
/// Its lab has a sender pod (node 1, pod 1), receiver pods and a spy pod that never joins;
/// [`BenchLab`] numbers the receivers from 1.
pub trait FanoutMode: Sync {
    /// The mode's identifier.
    fn mode(&self) -> Mode;

    /// The name of the mode's lab (every mode's lab is up at once, so names differ).
    fn lab_name(&self) -> &'static str;

    /// Most receivers the mode can have.
    fn max_receivers(&self) -> usize;

    /// Whether the receivers are on another node than the sender: the lab has two nodes and
    /// the mode's figures go to the cross-node table.
    fn cross_node(&self) -> bool {
        false
    }

    /// The mode's lab for up to `receivers` receivers (see [`bench_spec`]).
    fn spec(&self, receivers: usize) -> Result<LabSpec, LabError> {
        bench_spec(self.lab_name(), self.cross_node(), receivers)
    }

    /// Deploys `spec` and makes it deliver [`GROUP`] (a dataplane's group holds up to
    /// `group_capacity` local subscribers).
    fn deploy(&self, spec: LabSpec, group_capacity: u32) -> Result<Scenario, LabError>;

    /// Where receiver `receiver` listens and the sender sends to reach it.
    fn address(&self, _lab: &BenchLab, _receiver: usize) -> Ipv4Addr {
        GROUP
    }

    /// Where the sender sends to reach the first `receivers` receivers: each distinct
    /// [`FanoutMode::address`] once (the group once, or one address per receiver).
    fn destinations(&self, lab: &BenchLab, receivers: usize) -> Vec<SocketAddrV4> {
        let mut destinations: Vec<SocketAddrV4> = (1..=receivers)
            .map(|receiver| SocketAddrV4::new(self.address(lab, receiver), PORT))
            .collect();
        destinations.dedup();
        destinations
    }

    /// A socket of receiver `receiver` on its [`FanoutMode::address`] and [`PORT`] for the
    /// collector: joined when that is a group (not waited for, see
    /// [`FanoutMode::wait_joined`]).
    fn collector_socket(&self, lab: &BenchLab, receiver: usize) -> Result<Socket, LabError> {
        let (node, pod) = lab.receiver(receiver);
        lab.scenario().collector_socket(
            node,
            pod,
            SocketAddrV4::new(self.address(lab, receiver), PORT),
        )
    }

    /// A receiver in receiver `receiver`'s pod on `port`, listening as the mode's receivers do:
    /// joined to the group (not waited for).
    fn receiver(&self, lab: &BenchLab, receiver: usize, port: u16) -> Result<Receiver, LabError> {
        let (node, pod) = lab.receiver(receiver);
        lab.scenario()
            .join_socket(node, pod, self.address(lab, receiver), port)
    }

    /// Waits until what forwards has the first `receivers` receivers' joins, where that can be
    /// read (a dataplane's group), or `timeout` passes; the settling's probes tell the rest (a
    /// bridge's snooping, ARP).
    fn wait_joined(
        &self,
        _lab: &BenchLab,
        _receivers: usize,
        _timeout: Duration,
    ) -> Result<(), LabError> {
        Ok(())
    }

    /// The eBPF program that replicates the mode's packets on the sender's node, whose run time
    /// per packet is reported; `None` when no program does.
    fn bpf_program(&self) -> Option<&'static str> {
        None
    }

    /// The mode's column in the reports.
    fn column(&self) -> Column;
}

/// A mode's deployed lab: its [`Scenario`], with the sender, the receivers and the spy placed.
#[derive(Debug)]
pub struct BenchLab {
    scenario: Scenario,
    /// The receivers' and the spy's node.
    node: usize,
    /// The pod of receiver 1.
    first_receiver: usize,
}

impl BenchLab {
    /// Deploys `mode`'s lab for up to `receivers` receivers.
    pub fn deploy(
        mode: &dyn FanoutMode,
        receivers: usize,
        group_capacity: u32,
    ) -> Result<Self, LabError> {
        let scenario = mode.deploy(mode.spec(receivers)?, group_capacity)?;
        Ok(if mode.cross_node() {
            Self {
                scenario,
                node: 2,
                first_receiver: 1,
            }
        } else {
            Self {
                scenario,
                node: 1,
                first_receiver: 2,
            }
        })
    }

    /// The lab.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The sender's node and pod.
    pub fn sender(&self) -> (usize, usize) {
        (1, 1)
    }

    /// The node and pod of receiver `receiver` (from 1).
    pub fn receiver(&self, receiver: usize) -> (usize, usize) {
        (self.node, self.first_receiver + receiver - 1)
    }

    /// The node and pod of the spy: the last pod of the receivers' node.
    pub fn spy(&self) -> (usize, usize) {
        (self.node, self.scenario.node(self.node).pods.len())
    }
}

/// The bench's local lab `name` for up to `receivers` receivers ([`bench_spec`]), with the
/// receivers' pods on NAPI delivery (`napi: true`) or not; the sender and the spy never are.
pub fn local_spec(name: &str, receivers: usize, napi: bool) -> Result<LabSpec, LabError> {
    let mut spec = bench_spec(name, false, receivers)?;
    // p1 is the sender and the last pod the spy; the receivers are in between.
    for pod in &mut spec.nodes[0].pods[1..=receivers] {
        pod.napi = napi;
    }
    Ok(spec)
}

/// The bench's lab `name`: one node with a sender pod (p1), `receivers` receiver pods and a spy
/// pod; cross-node, the sender alone on node n1 and the receivers and the spy on n2. Pod `k`
/// (from 0) of node `i` (from 1) has 10.200.(i + nodes * (k / 250)).(k % 250 + 1): the
/// generated plan for the first 250 pods of a node, and room for 1024 receivers.
pub fn bench_spec(name: &str, cross_node: bool, receivers: usize) -> Result<LabSpec, LabError> {
    let pods_per_node: &[usize] = if cross_node {
        &[1, receivers + 1]
    } else {
        &[receivers + 2]
    };
    let nodes = pods_per_node.len();
    let mut spec = LabSpec::generate(name, nodes, 0)?;
    let [a, b, _, _] = spec.pod_cidr.address.octets();
    for (i, (node, &pods)) in spec.nodes.iter_mut().zip(pods_per_node).enumerate() {
        node.pods = (0..pods)
            .map(|k| PodSpec {
                name: format!("p{}", k + 1),
                address: Ipv4Addr::new(
                    a,
                    b,
                    (i + 1 + nodes * (k / 250)) as u8,
                    (k % 250 + 1) as u8,
                ),
                igmp_version: None,
                mld_version: None,
                napi: false,
            })
            .collect();
    }
    spec.validate()?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_has_its_own_implementation_and_lab() {
        let names: Vec<&str> = Mode::ALL.iter().map(|m| m.fanout().lab_name()).collect();
        assert_eq!(
            names,
            [
                "benchdp",
                "benchnapi",
                "benchsrc",
                "benchlast",
                "benchseed",
                "benchdevmap",
                "benchbr",
                "benchuc",
                "benchxdp",
                "benchxbr"
            ]
        );
        for mode in Mode::ALL {
            assert_eq!(mode.fanout().mode(), mode);
        }
    }

    #[test]
    fn bench_labs_number_pods_past_250_without_overlap() {
        let spec = Mode::Dataplane.fanout().spec(1024).expect("spec");
        let pods = &spec.nodes[0].pods;
        assert_eq!(pods.len(), 1026);
        assert_eq!(pods[250].address, Ipv4Addr::new(10, 200, 2, 1));
        let cross = Mode::CrossNodeBridge.fanout().spec(300).expect("spec");
        assert_eq!(cross.nodes[0].pods.len(), 1);
        assert_eq!(cross.nodes[1].pods.len(), 301);
        assert_eq!(
            cross.nodes[1].pods[250].address,
            Ipv4Addr::new(10, 200, 4, 1)
        );
    }

    #[test]
    fn napi_puts_only_the_receivers_on_napi() {
        let spec = Mode::DataplaneNapi.fanout().spec(3).expect("spec");
        let napi: Vec<bool> = spec.nodes[0].pods.iter().map(|p| p.napi).collect();
        assert_eq!(napi, [false, true, true, true, false]);
        let plain = Mode::Dataplane.fanout().spec(3).expect("spec");
        assert!(plain.nodes[0].pods.iter().all(|p| !p.napi));
    }

    #[test]
    fn xdp_devmap_puts_only_the_receivers_on_napi() {
        // A veth drops XDP frames for a peer without NAPI: every receiver needs it, the sender
        // and the spy do not.
        let spec = Mode::XdpDevmap.fanout().spec(3).expect("spec");
        let napi: Vec<bool> = spec.nodes[0].pods.iter().map(|p| p.napi).collect();
        assert_eq!(napi, [false, true, true, true, false]);
    }

    #[test]
    fn bridges_leave_room_for_the_sender_and_the_spy() {
        let most: Vec<usize> = Mode::ALL
            .iter()
            .map(|m| m.fanout().max_receivers())
            .collect();
        assert_eq!(
            most,
            [1024, 1024, 1024, 1024, 1024, 1024, 1021, 1021, 1024, 1021]
        );
    }
}
