//! Deploy and destroy a lab on plain network namespaces. Both are idempotent in the sense that
//! matters: deploy refuses to run over a lab that exists, fails clean (a half-built lab is torn
//! down before the error returns), and destroy removes whatever namespaces carry the lab's
//! prefix, with or without a record of the lab (a crashed run leaves none).

use std::path::Path;

pub use crate::namespaces::{lab_namespaces, set_igmp_version, set_mld_version};
use crate::{
    error::{Result, TopologyError},
    host,
    model::{LabSpec, UNDERLAY_BRIDGE, UNDERLAY_IFACE},
    namespaces::{Ipv6Mode, NETNS_DIR, create_netns, runtime},
    netlink::{Netlink, open_netns},
    node::build_node,
    state,
};

/// Deploys `spec` and records it (see [`state`]). Needs root.
pub fn deploy_blocking(spec: &LabSpec) -> Result<()> {
    runtime()?.block_on(deploy(spec))
}

/// Like [`deploy_blocking`], calling `progress` once per step of [`deploy_steps`].
pub fn deploy_blocking_with_progress(
    spec: &LabSpec,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<()> {
    runtime()?.block_on(deploy_with_progress(spec, progress))
}

/// How often deploying `spec` calls its progress callback: once per node deployed here on the
/// underlay (a host node is there already), once per pod.
pub fn deploy_steps(spec: &LabSpec) -> usize {
    let underlay = if spec.host.is_some() { 0 } else { 1 };
    spec.local_nodes()
        .map(|node| underlay + node.pods.len())
        .sum()
}

/// Deploys `spec` and records it. Must run in a tokio runtime; needs root. A lab placed on
/// this machine ([`LabSpec::host`]) deploys its host node only, in the network namespace this
/// thread is in (see [`crate::host`]).
pub async fn deploy(spec: &LabSpec) -> Result<()> {
    deploy_with_progress(spec, &mut |_| {}).await
}

/// Like [`deploy`], calling `progress` once per step of [`deploy_steps`].
pub async fn deploy_with_progress(
    spec: &LabSpec,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<()> {
    spec.validate()?;
    for name in spec.namespaces() {
        if Path::new(NETNS_DIR).join(&name).exists() {
            return Err(TopologyError::AlreadyDeployed {
                lab: spec.name.clone(),
                name,
            });
        }
    }
    if let Some(placement) = &spec.host {
        let deployed = host::deploy(spec, placement, progress).await;
        // A host node is recorded before anything is built: what a failed build left is
        // removed; a refusal before that changed nothing.
        if deployed.is_err() && state::load(&spec.name).ok().flatten().is_some() {
            let _ = teardown(&spec.name).await;
        }
        return deployed;
    }
    match build(spec, progress).await {
        Ok(()) => state::save(spec),
        Err(err) => {
            // The build error is the one worth reporting; cleanup is best effort.
            let _ = teardown(&spec.name).await;
            Err(err)
        }
    }
}

async fn build(spec: &LabSpec, progress: &mut (dyn FnMut(&str) + Send)) -> Result<()> {
    create_netns(&spec.underlay_netns(), Ipv6Mode::Off)?;
    for node in &spec.nodes {
        create_netns(&spec.node_netns(node), Ipv6Mode::Off)?;
        for pod in &node.pods {
            create_netns(&spec.pod_netns(node, pod), Ipv6Mode::of_pods(spec))?;
        }
    }
    let underlay_ns = spec.underlay_netns();
    let underlay = Netlink::open(&underlay_ns)?;
    underlay.up("lo").await?;
    underlay.add_bridge(UNDERLAY_BRIDGE).await?;

    for node in &spec.nodes {
        let node_ns_name = spec.node_netns(node);
        let node_ns = Netlink::open(&node_ns_name)?;
        node_ns.up("lo").await?;
        // The node's leg on the underlay bridge: `ul0` here, `<node>` on the bridge.
        node_ns.add_veth(UNDERLAY_IFACE, &node.name).await?;
        node_ns
            .move_to(&node.name, &open_netns(&underlay_ns)?)
            .await?;
        underlay.set_controller(&node.name, UNDERLAY_BRIDGE).await?;
        underlay.up(&node.name).await?;
        node_ns
            .add_address(UNDERLAY_IFACE, node.underlay_address, spec.underlay.prefix)
            .await?;
        node_ns.up(UNDERLAY_IFACE).await?;
        progress(&format!("node {} on the underlay", node.name));
        build_node(spec, node, &node_ns, &node_ns_name, progress).await?;
    }
    Ok(())
}

/// Removes every namespace of lab `lab` (pods first) and its record; returns what was removed.
/// Lab names have no '-', so the prefix `<lab>-` is the lab's alone. A recorded host node
/// loses only what the lab created in it (see [`crate::host`]); its namespace stays.
pub fn destroy(lab: &str) -> Result<Vec<String>> {
    runtime()?.block_on(teardown(lab))
}

/// [`destroy`], inside a tokio runtime.
pub(crate) async fn teardown(lab: &str) -> Result<Vec<String>> {
    let mut names = lab_namespaces(lab)?;
    if let Some(spec) = state::load(lab)? {
        host::remove_links(&spec).await?;
    }
    // Deepest first: pods (two dashes), then nodes and the underlay.
    names.sort_by_key(|name| std::cmp::Reverse(name.matches('-').count()));
    for name in &names {
        // For a host node this unmounts its second name only: the namespace is the machine's.
        let ns = open_netns(name)?;
        ns.remove().map_err(|source| TopologyError::Netns {
            name: name.clone(),
            action: "removing",
            source,
        })?;
    }
    state::remove(lab)?;
    Ok(names)
}
