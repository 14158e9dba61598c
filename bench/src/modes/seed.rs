//! The design mcastlab started from, on one node: the pods on the node's veths, no dataplane,
//! and the seed baseline (`mcast_seed_pod_ingress`, Cilium PR 29469's replication: a hash of
//! subscriber hashes walked with `bpf_for_each_map_elem`, one `bpf_clone_redirect` per
//! subscriber; `docs/datapath.md`) replicating to the receivers.
//!
//! The baseline handles no IGMP: the bench writes its membership, the first N receivers for a
//! run at N receivers, as the dataplane's would be after their joins.

use std::time::Duration;

use mcastlab_common::names::PROG_SEED_POD_INGRESS;
use mcastlab_dataplane::seed::{self, Seed as SeedBaseline};
use mcastlab_lab::{LabError, Scenario};
use mcastlab_topology::{LabSpec, model::host_iface};

use super::{BenchLab, Column, FanoutMode, GROUP, Mode};

/// The seed baseline ([`Mode::Seed`]).
pub(super) struct Seed;

impl FanoutMode for Seed {
    fn mode(&self) -> Mode {
        Mode::Seed
    }

    fn lab_name(&self) -> &'static str {
        "benchseed"
    }

    fn max_receivers(&self) -> usize {
        mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP as usize
    }

    fn deploy(&self, spec: LabSpec, _group_capacity: u32) -> Result<Scenario, LabError> {
        Scenario::deploy_without_dataplane(spec)
    }

    /// Installs the first `receivers` receivers as the group's subscribers, in a fresh load of
    /// the baseline attached to every pod veth of the receivers' node in place of the last:
    /// nothing to wait for.
    fn wait_joined(
        &self,
        lab: &BenchLab,
        receivers: usize,
        _timeout: Duration,
    ) -> Result<(), LabError> {
        let scenario = lab.scenario();
        let (node_number, _) = lab.receiver(1);
        let node = scenario.dataplane(node_number)?;
        let ifaces: Vec<String> = scenario
            .node(node_number)
            .pods
            .iter()
            .map(host_iface)
            .collect();
        let ifaces: Vec<&str> = ifaces.iter().map(String::as_str).collect();
        seed::detach(&node, &ifaces)?;
        let mut baseline = SeedBaseline::load(&node)?;
        baseline.add_group(GROUP)?;
        for receiver in 1..=receivers {
            let (node_number, pod) = lab.receiver(receiver);
            let pod = scenario.pod(node_number, pod);
            baseline.add_subscriber(GROUP, pod.address, &host_iface(pod))?;
        }
        baseline.attach(&ifaces)?;
        Ok(())
    }

    fn bpf_program(&self) -> Option<&'static str> {
        Some(PROG_SEED_POD_INGRESS)
    }

    fn column(&self) -> Column {
        Column {
            header: "seed design (Cilium PR 29469)",
            color: (0x7f, 0x7f, 0x7f),
        }
    }
}
