//! The XDP devmap-broadcast experiment, on one node: the pods on the node's veths, no dataplane,
//! and `mcast_xdp_broadcast` in native XDP mode at the sender's host-side veth broadcasting each
//! multicast frame to the receivers' host-side veths with one `bpf_redirect_map(BPF_F_BROADCAST
//! | BPF_F_EXCLUDE_INGRESS)` (`docs/datapath.md`, "The XDP devmap-broadcast experiment").
//!
//! The receivers' pods are `napi: true` (GRO on their end): a veth drops XDP frames for a peer
//! without NAPI. The sender's `eth0` has transmit checksum offload off: an XDP frame carries no
//! "checksum still to do" (CHECKSUM_PARTIAL), so the sender's stack writes the UDP checksum and
//! each receiver's stack verifies it, which the other modes' veths skip.
//!
//! The receivers still join with IGMP, but nothing reads their reports: the program's device
//! map is the membership, the first N receivers for a run at N receivers, as the dataplane's
//! group would hold after their joins. The spy is never in it.

use std::{sync::Mutex, time::Duration};

use mcastlab_common::names::PROG_XDP_BROADCAST;
use mcastlab_dataplane::xdp_broadcast::XdpBroadcast;
use mcastlab_lab::{LabError, Scenario};
use mcastlab_topology::{
    LabSpec,
    model::{POD_IFACE, host_iface},
    offload::{Offload, set_offload},
};

use super::{BenchLab, Column, FanoutMode, Mode, local_spec};

/// What the mode keeps between its calls.
struct State {
    /// Slots of the device map: the run's group capacity (`--group-capacity`), given at deploy.
    capacity: u32,
    /// The experiment loaded for the current point: its attachment lasts as long as it does, so
    /// it is kept until the next point's replaces it (and, after the last point, until the
    /// process ends; the lab's veths, and with them the attachment, are gone by then).
    loaded: Option<XdpBroadcast>,
}

/// The mode's state (one lab per run).
static STATE: Mutex<State> = Mutex::new(State {
    capacity: mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP,
    loaded: None,
});

/// The mode's state, also after a panic elsewhere while it was held.
fn state() -> std::sync::MutexGuard<'static, State> {
    STATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The XDP devmap-broadcast experiment ([`Mode::XdpDevmap`]).
pub(super) struct XdpDevmap;

impl FanoutMode for XdpDevmap {
    fn mode(&self) -> Mode {
        Mode::XdpDevmap
    }

    fn lab_name(&self) -> &'static str {
        "benchdevmap"
    }

    fn max_receivers(&self) -> usize {
        mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP as usize
    }

    /// The bench's lab with the receivers' pods on NAPI (`napi: true`), without which their
    /// veths drop every XDP frame.
    fn spec(&self, receivers: usize) -> Result<LabSpec, LabError> {
        local_spec(self.lab_name(), receivers, true)
    }

    /// Deploys the lab without a dataplane (the device map will have `group_capacity` slots,
    /// as the dataplane's group would), with transmit checksum offload off on the sender
    /// pod's `eth0`: the sender's veth would leave the UDP checksum to be finished later
    /// (CHECKSUM_PARTIAL), which an XDP frame cannot carry, and every receiver would drop its
    /// copy as a checksum error (UdpInCsumErrors).
    fn deploy(&self, spec: LabSpec, group_capacity: u32) -> Result<Scenario, LabError> {
        state().capacity = group_capacity;
        let scenario = Scenario::deploy_without_dataplane(spec)?;
        set_offload(
            &scenario.pod_netns(1, 1),
            POD_IFACE,
            Offload::TxChecksum,
            false,
        )?;
        Ok(scenario)
    }

    /// Writes the first `receivers` receivers' host-side veths into the device map (the group
    /// capacity's slots) of a fresh load of the experiment and attaches it at the sender's
    /// host-side veth in place of the last: nothing to wait for. Fails if the spy's veth is in
    /// the map.
    fn wait_joined(
        &self,
        lab: &BenchLab,
        receivers: usize,
        _timeout: Duration,
    ) -> Result<(), LabError> {
        let scenario = lab.scenario();
        let (sender_node, sender_pod) = lab.sender();
        let node = scenario.dataplane(sender_node)?;
        let mut state = state();
        if let Some(previous) = state.loaded.take() {
            previous.detach()?;
        }
        let mut broadcast = XdpBroadcast::load(&node, state.capacity)?;
        for receiver in 1..=receivers {
            let (node_number, pod) = lab.receiver(receiver);
            broadcast.add_receiver(&host_iface(scenario.pod(node_number, pod)))?;
        }
        let (spy_node, spy_pod) = lab.spy();
        let spy_iface = host_iface(scenario.pod(spy_node, spy_pod));
        if broadcast.holds(&spy_iface)? {
            return Err(LabError::Io(std::io::Error::other(format!(
                "the spy's veth {spy_iface} is in the XDP device map"
            ))));
        }
        let sender_iface = host_iface(scenario.pod(sender_node, sender_pod));
        broadcast.attach(&[sender_iface.as_str()])?;
        state.loaded = Some(broadcast);
        Ok(())
    }

    fn bpf_program(&self) -> Option<&'static str> {
        Some(PROG_XDP_BROADCAST)
    }

    fn column(&self) -> Column {
        Column {
            header: "XDP devmap broadcast (experiment)",
            color: (0xbc, 0xbd, 0x22),
        }
    }
}
