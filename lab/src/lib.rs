//! A lab with its dataplane: deploy the topology, attach the dataplane on every node, configure
//! groups across nodes, wait for joins, tear it all down ([`up`], [`down`]), and the
//! [`Scenario`] API that the demo, the e2e suite and the benchmarks drive labs through.
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        unused_crate_dependencies,
        reason = "dev-dependencies serve the integration tests"
    )
)]

pub mod agents;
mod scenario;

pub use scenario::Scenario;

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use mcastlab_topology::{
    LabSpec, NodeSpec, TopologyError, deploy,
    model::{TUNNEL_IFACE, host_iface},
    state,
};

use mcastlab_agent::Peering;
use mcastlab_dataplane::{
    AttachMode, AttachOptions, DataplaneError, Node, PodIface, TunnelOptions,
    pins::{BPFFS, ROOT_DIR},
};

/// An error of a lab operation.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The topology could not be built, read or removed.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// The dataplane could not be attached, configured or detached.
    #[error(transparent)]
    Dataplane(#[from] DataplaneError),
    /// A node agent could not start, or stopped with an error.
    #[error(transparent)]
    Agent(#[from] mcastlab_agent::AgentError),
    /// A node's membership monitor could not be followed.
    #[error(transparent)]
    Monitor(#[from] mcastlab_agent::monitor::MonitorError),
    /// A socket or traffic operation failed.
    #[error("traffic in the lab failed")]
    Io(#[source] std::io::Error),
    /// An IPv6 operation on a lab whose pods have IPv6 off.
    #[error("lab {lab} has IPv6 off in its pods: deploy it with `ipv6: true` (LabSpec::ipv6)")]
    Ipv6Off {
        /// The lab.
        lab: String,
    },
    /// No lab of that name is deployed.
    #[error("no lab named '{lab}' is deployed (see `mcastlab status`)")]
    NotDeployed {
        /// The lab.
        lab: String,
    },
    /// A subscriber did not appear in (or leave) a group's fan-out list in time: a pod's join or
    /// leave (IGMP) or a node's announcement did not reach the dataplane.
    #[error(
        "{address} {state} a subscriber of {group} on {node} after {timeout:?}",
        state = if *.present { "did not become" } else { "was still" }
    )]
    MembershipTimeout {
        /// The node namespace.
        node: String,
        /// The group.
        group: Ipv4Addr,
        /// The subscriber.
        address: Ipv4Addr,
        /// Whether it was to appear (or to go).
        present: bool,
        /// How long we waited.
        timeout: Duration,
    },
    /// A reason counter did not reach a value in time.
    #[error(
        "counter {counter} of {node} stayed at {value}, expected at least {at_least} within {timeout:?}"
    )]
    CounterTimeout {
        /// The node namespace.
        node: String,
        /// The counter.
        counter: &'static str,
        /// Its last value.
        value: u64,
        /// The value waited for.
        at_least: u64,
        /// How long we waited.
        timeout: Duration,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = LabError> = std::result::Result<T, E>;

/// Deploys `spec` and attaches the dataplane on every node deployed here (pods' host veths, each
/// with its pod's address as its identity, and vxlan0 with the lab's VNI): every node, or, for a
/// lab placed on this machine ([`LabSpec::host`]), its host node only, in the network namespace
/// this thread is in. On failure nothing of the lab is left.
pub fn up(spec: &LabSpec) -> Result<()> {
    up_with_progress(spec, &mut |_| {})
}

/// How often [`up_with_progress`] calls its progress callback for `spec`: each step of the
/// deploy, and one per node whose dataplane is attached.
pub fn up_steps(spec: &LabSpec) -> usize {
    deploy::deploy_steps(spec) + spec.local_nodes().count()
}

/// Like [`up`], calling `progress` once per step of [`up_steps`].
pub fn up_with_progress(spec: &LabSpec, progress: &mut (dyn FnMut(&str) + Send)) -> Result<()> {
    deploy::deploy_blocking_with_progress(spec, progress)?;
    let attached = spec.local_nodes().try_for_each(|node| {
        attach(spec, node)?;
        progress(&format!("node {}: dataplane attached", node.name));
        Ok(())
    });
    if let Err(err) = attached {
        // The attach error is the one worth reporting; cleanup is best effort.
        let _ = down(&spec.name);
        return Err(err);
    }
    Ok(())
}

/// Attaches the dataplane of `node` of deployed lab `spec`: its pods' host veths (each with its
/// pod's address as identity), vxlan0 with the lab's VNI, and the node's record limit when the
/// spec sets one ([`NodeSpec::max_records`]; absent, the node keeps its own). Again, if
/// attached: the programs are swapped, membership stays.
pub fn attach(spec: &LabSpec, node: &NodeSpec) -> Result<()> {
    dataplane_node(spec, node)?.attach(&AttachOptions {
        mode: AttachMode::Auto,
        pod_ifaces: node
            .pods
            .iter()
            .map(|pod| PodIface::new(host_iface(pod), pod.address))
            .collect(),
        tunnel: Some(TunnelOptions {
            iface: TUNNEL_IFACE.to_owned(),
            vni: spec.vni,
        }),
        max_records: node.max_records,
    })?;
    Ok(())
}

/// What `down` removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DownReport {
    /// Nodes whose agent (started by `mcastlab up`) was stopped.
    pub agents: Vec<String>,
    /// Node namespaces whose dataplane was detached.
    pub detached: Vec<String>,
    /// Namespaces removed.
    pub namespaces: Vec<String>,
}

/// Detaches every dataplane of lab `lab` and removes its namespaces, whether or not the lab was
/// recorded (cleans what a crashed run left). Removing nothing is not an error.
pub fn down(lab: &str) -> Result<DownReport> {
    mcastlab_topology::model::check_name("lab", lab, 12)?;
    let mut report = DownReport::default();
    let prefix = format!("{lab}-");
    report.agents = agents::stop_with_prefix(&prefix)?;
    let pins_root = std::path::Path::new(BPFFS).join(ROOT_DIR);
    if let Ok(entries) = std::fs::read_dir(&pins_root) {
        let mut nodes: Vec<String> = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with(&prefix))
            .collect();
        nodes.sort();
        for name in nodes {
            Node::open(&name)?.detach()?;
            report.detached.push(name);
        }
    }
    report.namespaces = deploy::destroy(lab)?;
    Ok(report)
}

/// The recorded spec of deployed lab `lab`.
pub fn spec(lab: &str) -> Result<LabSpec> {
    state::load(lab)?.ok_or_else(|| LabError::NotDeployed {
        lab: lab.to_owned(),
    })
}

/// The membership peering of `node` in `spec`: its underlay address, the lab's underlay prefix,
/// and the other nodes' addresses.
pub fn peering(spec: &LabSpec, node: &NodeSpec) -> Peering {
    Peering {
        address: node.underlay_address,
        prefix_len: spec.underlay.prefix,
        peers: spec
            .nodes
            .iter()
            .filter(|other| other.name != node.name)
            .map(|other| other.underlay_address)
            .collect(),
    }
}

/// The peering of the node whose namespace is `netns`, from the recorded lab it belongs to;
/// `None` when no recorded lab deployed it here.
pub fn recorded_peering(netns: &str) -> Result<Option<Peering>> {
    for lab in state::labs()? {
        let Some(spec) = state::load(&lab)? else {
            continue;
        };
        if let Some(node) = spec.local_nodes().find(|n| spec.node_netns(n) == netns) {
            return Ok(Some(peering(&spec, node)));
        }
    }
    Ok(None)
}

/// The dataplane node of `node` in `spec`.
pub fn dataplane_node(spec: &LabSpec, node: &NodeSpec) -> Result<Node> {
    Ok(Node::open(&spec.node_netns(node))?)
}

/// Configures `group` on every node deployed here, with no remote subscriber: the node agents
/// learn from each other which nodes have members ([`peering`]), and copies go only there.
pub fn add_group(spec: &LabSpec, group: Ipv4Addr) -> Result<()> {
    for node in spec.local_nodes() {
        dataplane_node(spec, node)?.groups()?.add_group(group)?;
    }
    Ok(())
}

/// Configures `group` on every node deployed here, with every other node of the lab as a static
/// remote subscriber (as `subscriber add` makes, never aged): traffic sent on one node reaches
/// joined pods on all, with or without agents, and every node gets a copy whether or not it
/// has members (head-end replication). For a lab placed on this machine that is its host node,
/// with the other machines' nodes as remote subscribers. For tests and benchmarks that need
/// fixed entries; [`add_group`] is what a lab runs with.
pub fn configure_group(spec: &LabSpec, group: Ipv4Addr) -> Result<()> {
    configure_group_with_capacity(spec, group, mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP)
}

/// Like [`configure_group`], with room for `capacity` local subscribers per node (1 to
/// [`mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP`]; replication cost grows with it).
pub fn configure_group_with_capacity(spec: &LabSpec, group: Ipv4Addr, capacity: u32) -> Result<()> {
    for node in spec.local_nodes() {
        let mut table = dataplane_node(spec, node)?.groups()?;
        table.add_group_with_capacity(group, capacity)?;
        for other in spec.nodes.iter().filter(|other| other.name != node.name) {
            table.add_remote_subscriber(group, other.underlay_address)?;
        }
    }
    Ok(())
}

/// Waits until `address` subscribes to `group` on `node` (its IGMP join was handled), or
/// `timeout` passes.
pub fn wait_for_subscriber(
    spec: &LabSpec,
    node: &NodeSpec,
    group: Ipv4Addr,
    address: Ipv4Addr,
    timeout: Duration,
) -> Result<()> {
    wait_for_membership(spec, node, group, address, true, timeout)
}

/// Waits until `address` no longer subscribes to `group` on `node` (its leave was handled).
pub fn wait_for_leave(
    spec: &LabSpec,
    node: &NodeSpec,
    group: Ipv4Addr,
    address: Ipv4Addr,
    timeout: Duration,
) -> Result<()> {
    wait_for_membership(spec, node, group, address, false, timeout)
}

/// Waits until node `node` has learned `remote` (another node) as a subscriber of `group` (its
/// agent heard `remote`'s announcement), or `timeout` passes; returns how long it took.
pub fn wait_for_learned(
    spec: &LabSpec,
    node: &NodeSpec,
    group: Ipv4Addr,
    remote: &NodeSpec,
    timeout: Duration,
) -> Result<Duration> {
    let start = Instant::now();
    wait_for_membership(spec, node, group, remote.underlay_address, true, timeout)?;
    Ok(start.elapsed())
}

/// Waits until node `node` no longer has `remote` as a subscriber of `group` (withdrawn or
/// expired), or `timeout` passes; returns how long it took.
pub fn wait_for_unlearned(
    spec: &LabSpec,
    node: &NodeSpec,
    group: Ipv4Addr,
    remote: &NodeSpec,
    timeout: Duration,
) -> Result<Duration> {
    let start = Instant::now();
    wait_for_membership(spec, node, group, remote.underlay_address, false, timeout)?;
    Ok(start.elapsed())
}

fn wait_for_membership(
    spec: &LabSpec,
    node: &NodeSpec,
    group: Ipv4Addr,
    address: Ipv4Addr,
    present: bool,
    timeout: Duration,
) -> Result<()> {
    let dataplane = dataplane_node(spec, node)?;
    let deadline = Instant::now() + timeout;
    loop {
        let subscribed = dataplane
            .groups()?
            .subscribers_of(group)?
            .iter()
            .any(|s| s.address == address);
        if subscribed == present {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LabError::MembershipTimeout {
                node: dataplane.name().to_owned(),
                group,
                address,
                present,
                timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
