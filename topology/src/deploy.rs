//! Deploy and destroy a lab on plain network namespaces. Both are idempotent in the sense that
//! matters: deploy refuses to run over a lab that exists, fails clean (a half-built lab is torn
//! down before the error returns), and destroy removes whatever namespaces carry the lab's
//! prefix, with or without a record of the lab (a crashed run leaves none).

use std::{fs, io, net::Ipv4Addr, path::Path};

use netns_rs::NetNs;

use crate::{
    error::{Result, TopologyError},
    host,
    model::{
        LabSpec, NodeSpec, POD_IFACE, TUNNEL_IFACE, UNDERLAY_BRIDGE, UNDERLAY_IFACE, VXLAN_PORT,
        check_name, host_iface,
    },
    netlink::{Netlink, open_netns, run_in_netns},
    offload::{Offload, set_offload},
    state,
};

/// Packets the qdisc of a `napi` pod's host veth holds while its ring is full: room for every
/// copy of a packet to a full group.
const NAPI_QDISC_LIMIT: u32 = 4096;

/// Where `ip netns` keeps named namespaces.
pub(crate) const NETNS_DIR: &str = "/run/netns";

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
        return host::deploy(spec, placement, progress).await;
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
    for name in spec.namespaces() {
        create_netns(&name)?;
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

/// Builds what a node holds once its namespace `node_ns_name` reaches the underlay: `vxlan0`,
/// and each pod (its namespace must exist) with its veth pair, telling `progress` of each pod.
pub(crate) async fn build_node(
    spec: &LabSpec,
    node: &NodeSpec,
    node_ns: &Netlink,
    node_ns_name: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<()> {
    node_ns.add_vxlan_external(TUNNEL_IFACE, VXLAN_PORT).await?;
    for pod in &node.pods {
        let pod_ns_name = spec.pod_netns(node, pod);
        let pod_ns = Netlink::open(&pod_ns_name)?;
        let host = host_iface(pod);
        pod_ns.up("lo").await?;
        pod_ns.add_veth(POD_IFACE, &host).await?;
        pod_ns.move_to(&host, &open_netns(node_ns_name)?).await?;
        node_ns.up(&host).await?;
        pod_ns
            .add_address(POD_IFACE, pod.address, spec.pod_cidr.prefix)
            .await?;
        pod_ns.up(POD_IFACE).await?;
        // Multicast leaves through eth0 (DEVELOPERS.md: pods need a route covering it).
        pod_ns
            .add_link_route(Ipv4Addr::new(224, 0, 0, 0), 4, POD_IFACE)
            .await?;
        if let Some(version) = pod.igmp_version {
            set_igmp_version(&pod_ns_name, POD_IFACE, version)?;
        }
        if pod.napi {
            set_offload(&pod_ns_name, POD_IFACE, Offload::Gro, true)?;
            set_offload(node_ns_name, &host, Offload::Tso, false)?;
            node_ns.add_root_pfifo(&host, NAPI_QDISC_LIMIT).await?;
        }
        progress(&format!("pod {}/{}", node.name, pod.name));
    }
    Ok(())
}

/// Sets `net.ipv4.conf.<iface>.force_igmp_version` in namespace `netns`.
pub fn set_igmp_version(netns: &str, iface: &str, version: u8) -> Result<()> {
    let path = format!("/proc/sys/net/ipv4/conf/{iface}/force_igmp_version");
    write_sysctl(netns, &path, &version.to_string())
}

/// Writes a sysctl of namespace `netns` (`ip netns exec NETNS sysctl -w ...`): /proc/sys/net
/// belongs to the namespace of the thread that opens it.
pub(crate) fn write_sysctl(netns: &str, path: &str, value: &str) -> Result<()> {
    run_in_netns(netns, "writing sysctl", path, || fs::write(path, value))
}

/// `ip netns add NAME`, with IPv6 off inside (no router solicitations or MLD in the captures).
pub(crate) fn create_netns(name: &str) -> Result<()> {
    NetNs::new(name).map_err(|source| TopologyError::Netns {
        name: name.to_owned(),
        action: "creating",
        source,
    })?;
    for key in ["all", "default"] {
        let path = format!("/proc/sys/net/ipv6/conf/{key}/disable_ipv6");
        match write_sysctl(name, &path, "1") {
            Err(TopologyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

/// The namespaces that carry lab `lab`'s prefix (`<lab>-`), sorted.
pub fn lab_namespaces(lab: &str) -> Result<Vec<String>> {
    check_name("lab", lab, 12)?;
    let prefix = format!("{lab}-");
    let entries = match fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(TopologyError::Io {
                action: "listing",
                path: NETNS_DIR.into(),
                source,
            });
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    names.sort();
    Ok(names)
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

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| TopologyError::Io {
            action: "starting the tokio runtime for",
            path: NETNS_DIR.into(),
            source,
        })
}
