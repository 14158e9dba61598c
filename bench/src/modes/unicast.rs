//! Application fan-out: the sender sends one unicast datagram per receiver, through a bridge
//! (without IGMP snooping: nothing is multicast).

use std::net::Ipv4Addr;

use mcastlab_lab::{LabError, Scenario};
use mcastlab_testbed::receiver::Receiver;
use mcastlab_topology::LabSpec;

use super::{BRIDGE_MAX_PORTS, BenchLab, Column, FanoutMode, Mode, deploy_bridged};

/// One unicast datagram per receiver ([`Mode::Unicast`]).
pub(super) struct Unicast;

impl FanoutMode for Unicast {
    fn mode(&self) -> Mode {
        Mode::Unicast
    }

    fn lab_name(&self) -> &'static str {
        "benchuc"
    }

    fn max_receivers(&self) -> usize {
        // The receivers' bridge also holds the sender's and the spy's ports.
        BRIDGE_MAX_PORTS - 2
    }

    fn deploy(&self, spec: LabSpec, _group_capacity: u32) -> Result<Scenario, LabError> {
        deploy_bridged(spec, false)
    }

    /// The receiver pod's own address.
    fn address(&self, lab: &BenchLab, receiver: usize) -> Ipv4Addr {
        let (node, pod) = lab.receiver(receiver);
        lab.scenario().pod(node, pod).address
    }

    /// Bound to the pod's address, nothing to join.
    fn receiver(&self, lab: &BenchLab, receiver: usize, port: u16) -> Result<Receiver, LabError> {
        let (node, pod) = lab.receiver(receiver);
        lab.scenario()
            .bind_socket(node, pod, self.address(lab, receiver), port)
    }

    fn column(&self) -> Column {
        Column {
            header: "unicast fan-out",
            color: (0x2c, 0xa0, 0x2c),
        }
    }
}
