//! mcastlab's dataplane on one node: the sender, the receivers and the spy on the node's
//! veths, the tc programs replicating to every joined pod.

use std::time::{Duration, Instant};

use mcastlab_common::names::PROG_POD_INGRESS;
use mcastlab_lab::{LabError, Scenario};
use mcastlab_topology::LabSpec;

use super::{BenchLab, Column, FanoutMode, GROUP, Mode, bench_spec};

/// The dataplane, with the receiver pods on NAPI delivery or not ([`Mode::Dataplane`],
/// [`Mode::DataplaneNapi`]).
pub(super) struct Dataplane {
    /// Receiver pods on NAPI delivery (`napi: true` in their spec).
    pub napi: bool,
}

impl FanoutMode for Dataplane {
    fn mode(&self) -> Mode {
        if self.napi {
            Mode::DataplaneNapi
        } else {
            Mode::Dataplane
        }
    }

    fn lab_name(&self) -> &'static str {
        if self.napi { "benchnapi" } else { "benchdp" }
    }

    fn max_receivers(&self) -> usize {
        mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP as usize
    }

    fn spec(&self, receivers: usize) -> Result<LabSpec, LabError> {
        let mut spec = bench_spec(self.lab_name(), false, receivers)?;
        // p1 is the sender and the last pod the spy; the receivers are in between.
        for pod in &mut spec.nodes[0].pods[1..=receivers] {
            pod.napi = self.napi;
        }
        Ok(spec)
    }

    fn deploy(&self, spec: LabSpec, group_capacity: u32) -> Result<Scenario, LabError> {
        let scenario = Scenario::deploy(spec)?;
        scenario.configure_group_with_capacity(GROUP, group_capacity)?;
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

    fn bpf_program(&self) -> Option<&'static str> {
        Some(PROG_POD_INGRESS)
    }

    fn column(&self) -> Column {
        if self.napi {
            Column {
                header: "dataplane, NAPI receivers",
                color: (0x94, 0x67, 0xbd),
            }
        } else {
            Column {
                header: "dataplane copies/s",
                color: (0x1f, 0x77, 0xb4),
            }
        }
    }
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
