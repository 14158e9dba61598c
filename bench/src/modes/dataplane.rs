//! mcastlab's dataplane on one node: the sender, the receivers and the spy on the node's
//! veths, the tc programs replicating to every joined pod.

use std::{
    net::{Ipv4Addr, SocketAddrV4},
    time::{Duration, Instant},
};

use mcastlab_common::names::PROG_POD_INGRESS;
use mcastlab_lab::{LabError, Scenario};
use mcastlab_testbed::receiver::Receiver;
use mcastlab_topology::LabSpec;
use socket2::Socket;

use super::{BenchLab, Column, FanoutMode, GROUP, Mode, PORT, local_spec};

/// The dataplane, with the receiver pods on NAPI delivery or not, joined for every source or
/// for the sender only, the last copy cloned or handed over ([`Mode::Dataplane`],
/// [`Mode::DataplaneNapi`], [`Mode::DataplaneSources`], [`Mode::DataplaneLastCopy`]).
pub(super) struct Dataplane {
    /// Receiver pods on NAPI delivery (`napi: true` in their spec).
    pub napi: bool,
    /// Receivers join for the sender only (INCLUDE{sender}): every copy is checked against a
    /// source filter.
    pub sources: bool,
    /// The node's last-copy experiment on (`Node::set_last_copy_redirect`): the last local
    /// member gets the original instead of a clone.
    pub last_copy: bool,
}

impl FanoutMode for Dataplane {
    fn mode(&self) -> Mode {
        match (self.napi, self.sources, self.last_copy) {
            (true, _, _) => Mode::DataplaneNapi,
            (false, true, _) => Mode::DataplaneSources,
            (false, false, true) => Mode::DataplaneLastCopy,
            (false, false, false) => Mode::Dataplane,
        }
    }

    fn lab_name(&self) -> &'static str {
        match self.mode() {
            Mode::DataplaneNapi => "benchnapi",
            Mode::DataplaneSources => "benchsrc",
            Mode::DataplaneLastCopy => "benchlast",
            _ => "benchdp",
        }
    }

    fn max_receivers(&self) -> usize {
        mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP as usize
    }

    fn spec(&self, receivers: usize) -> Result<LabSpec, LabError> {
        local_spec(self.lab_name(), receivers, self.napi)
    }

    fn deploy(&self, spec: LabSpec, group_capacity: u32) -> Result<Scenario, LabError> {
        let scenario = Scenario::deploy(spec)?;
        scenario.configure_group_with_capacity(GROUP, group_capacity)?;
        if self.last_copy {
            scenario.dataplane(1)?.set_last_copy_redirect(true)?;
        }
        Ok(scenario)
    }

    fn wait_joined(
        &self,
        lab: &BenchLab,
        receivers: usize,
        timeout: Duration,
    ) -> Result<(), LabError> {
        wait_subscribed(lab, receivers, timeout)
    }

    fn collector_socket(&self, lab: &BenchLab, receiver: usize) -> Result<Socket, LabError> {
        let (node, pod) = lab.receiver(receiver);
        let address = SocketAddrV4::new(GROUP, PORT);
        if self.sources {
            lab.scenario()
                .source_collector_socket(node, pod, sender(lab), address)
        } else {
            lab.scenario().collector_socket(node, pod, address)
        }
    }

    fn receiver(&self, lab: &BenchLab, receiver: usize, port: u16) -> Result<Receiver, LabError> {
        let (node, pod) = lab.receiver(receiver);
        if self.sources {
            lab.scenario()
                .join_source_socket(node, pod, sender(lab), GROUP, port)
        } else {
            lab.scenario().join_socket(node, pod, GROUP, port)
        }
    }

    fn bpf_program(&self) -> Option<&'static str> {
        Some(PROG_POD_INGRESS)
    }

    fn column(&self) -> Column {
        match self.mode() {
            Mode::DataplaneNapi => Column {
                header: "dataplane, NAPI receivers",
                color: (0x94, 0x67, 0xbd),
            },
            Mode::DataplaneSources => Column {
                header: "dataplane, source-specific receivers",
                color: (0x17, 0xbe, 0xcf),
            },
            Mode::DataplaneLastCopy => Column {
                header: "dataplane, last copy handed over (experiment)",
                color: (0xe3, 0x77, 0xc2),
            },
            _ => Column {
                header: "dataplane copies/s",
                color: (0x1f, 0x77, 0xb4),
            },
        }
    }
}

/// The sender's address (node 1, pod 1): the one source source-specific receivers ask for.
fn sender(lab: &BenchLab) -> Ipv4Addr {
    lab.scenario().pod(1, 1).address
}

/// Waits until the receivers' node's dataplane has each of the first `receivers` receivers as
/// a subscriber of [`GROUP`], or `timeout` passes.
pub(super) fn wait_subscribed(
    lab: &BenchLab,
    receivers: usize,
    timeout: Duration,
) -> Result<(), LabError> {
    let deadline = Instant::now() + timeout;
    (1..=receivers).try_for_each(|receiver| {
        let (node, pod) = lab.receiver(receiver);
        let left = deadline.saturating_duration_since(Instant::now());
        lab.scenario().wait_subscribed(node, pod, GROUP, left)
    })
}
