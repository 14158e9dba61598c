//! The kernel's answer on one node: the pods on a Linux bridge with IGMP snooping and a
//! querier, no dataplane.

use mcastlab_lab::{LabError, Scenario};
use mcastlab_topology::{
    LabSpec,
    bridge::{BridgeOptions, bridge_pods},
};

use super::{BRIDGE_MAX_PORTS, Column, FanoutMode, Mode};

/// A Linux bridge with IGMP snooping and a querier ([`Mode::Bridge`]).
pub(super) struct Bridge;

impl FanoutMode for Bridge {
    fn mode(&self) -> Mode {
        Mode::Bridge
    }

    fn lab_name(&self) -> &'static str {
        "benchbr"
    }

    fn max_receivers(&self) -> usize {
        // The receivers' bridge also holds the sender's and the spy's ports.
        BRIDGE_MAX_PORTS - 2
    }

    fn deploy(&self, spec: LabSpec, _group_capacity: u32) -> Result<Scenario, LabError> {
        deploy_bridged(spec, true)
    }

    fn column(&self) -> Column {
        Column {
            header: "bridge (IGMP snooping)",
            color: (0xff, 0x7f, 0x0e),
        }
    }
}

/// Deploys `spec` without the dataplane and puts the first node's pods on a bridge
/// (`ip link add brpods type bridge mcast_snooping S mcast_querier S`), with IGMP snooping and
/// a querier when `snooping`, flooding otherwise; bridged packets skip iptables.
pub(crate) fn deploy_bridged(spec: LabSpec, snooping: bool) -> Result<Scenario, LabError> {
    let scenario = Scenario::deploy_without_dataplane(spec)?;
    bridge_pods(
        scenario.spec(),
        scenario.node(1),
        BridgeOptions {
            snooping,
            querier: snooping,
            netfilter: false,
        },
    )?;
    Ok(scenario)
}
