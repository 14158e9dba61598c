//! Across two nodes: the sender alone on node 1, the receivers and the spy on node 2, over
//! the lab's vxlan.

use std::time::Duration;

use mcastlab_common::names::PROG_POD_INGRESS;
use mcastlab_lab::{LabError, Scenario};
use mcastlab_topology::{
    LabSpec,
    bridge::{BridgeOptions, bridge_pods_over_vxlan},
};

use super::{BRIDGE_MAX_PORTS, BenchLab, Column, FanoutMode, GROUP, Mode, dataplane};

/// The dataplane on both nodes ([`Mode::CrossNodeDataplane`]): node 1 sends one copy over
/// vxlan to node 2 (a remote subscriber), whose dataplane fans it out.
pub(super) struct CrossNodeDataplane;

impl FanoutMode for CrossNodeDataplane {
    fn mode(&self) -> Mode {
        Mode::CrossNodeDataplane
    }

    fn lab_name(&self) -> &'static str {
        "benchxdp"
    }

    fn max_receivers(&self) -> usize {
        mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP as usize
    }

    fn cross_node(&self) -> bool {
        true
    }

    /// The group with its default capacity, each node the other's remote subscriber.
    fn deploy(&self, spec: LabSpec, _group_capacity: u32) -> Result<Scenario, LabError> {
        let scenario = Scenario::deploy(spec)?;
        scenario.configure_group(GROUP)?;
        Ok(scenario)
    }

    fn wait_joined(
        &self,
        lab: &BenchLab,
        receivers: usize,
        timeout: Duration,
    ) -> Result<(), LabError> {
        dataplane::wait_subscribed(lab, receivers, timeout)
    }

    fn bpf_program(&self) -> Option<&'static str> {
        Some(PROG_POD_INGRESS)
    }

    fn column(&self) -> Column {
        Column {
            header: "dataplane copies/s",
            color: (0x17, 0xbe, 0xcf),
        }
    }
}

/// Bridges with a classic vxlan port ([`Mode::CrossNodeBridge`]): node 1's bridge floods to
/// its vxlan port, whose driver replicates to every other node (head-end replication); node
/// 2's bridge snoops IGMP (with a querier).
pub(super) struct CrossNodeBridge;

impl FanoutMode for CrossNodeBridge {
    fn mode(&self) -> Mode {
        Mode::CrossNodeBridge
    }

    fn lab_name(&self) -> &'static str {
        "benchxbr"
    }

    fn max_receivers(&self) -> usize {
        // The receivers' bridge also holds the spy's port and the vxlan port.
        BRIDGE_MAX_PORTS - 2
    }

    fn cross_node(&self) -> bool {
        true
    }

    fn deploy(&self, spec: LabSpec, _group_capacity: u32) -> Result<Scenario, LabError> {
        let scenario = Scenario::deploy_without_dataplane(spec)?;
        // The sender's bridge floods (its only other port is the vxlan); the receivers'
        // bridge snoops.
        let flood = BridgeOptions {
            snooping: false,
            querier: false,
            netfilter: false,
        };
        let snoop = BridgeOptions {
            snooping: true,
            querier: true,
            netfilter: false,
        };
        bridge_pods_over_vxlan(scenario.spec(), scenario.node(1), flood)?;
        bridge_pods_over_vxlan(scenario.spec(), scenario.node(2), snoop)?;
        Ok(scenario)
    }

    fn column(&self) -> Column {
        Column {
            header: "bridge + vxlan head-end",
            color: (0x8c, 0x56, 0x4b),
        }
    }
}
