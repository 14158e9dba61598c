//! One node of a lab on this machine itself ([`LabSpec::host`]): the two-VM lab, where each VM
//! runs one node in its own (root) network namespace and the VMs' private network is the
//! underlay.
//!
//! Deploy checks the machine first and changes nothing when something is wrong: the underlay
//! interface exists, holds the node's underlay address and is up; `vxlan0` and the pods'
//! `veth-<pod>` do not exist yet. Then it records the lab, gives the namespace it runs in the
//! node's usual name `<lab>-<node>` (a bind mount in `/run/netns`, what
//! `ip netns attach NAME PID` makes), and builds `vxlan0` and the pods in it.
//!
//! Destroy removes exactly what deploy built: the pods' veths and `vxlan0` (each only while it
//! still is a veth or a vxlan device), the pods' namespaces, and the second name. The
//! machine's own interfaces, addresses and namespace stay.

use std::{
    ffi::CString,
    fs::{self, File},
    io, iter,
    os::unix::ffi::OsStrExt as _,
    path::Path,
};

use rtnetlink::packet_route::link::InfoKind;

use crate::{
    error::{Result, TopologyError},
    model::{HostPlacement, LabSpec, NodeSpec, TUNNEL_IFACE, host_iface},
    namespaces::{Ipv6Mode, NETNS_DIR, create_netns, write_sysctl},
    netlink::{InterfaceAddress, Netlink},
    node::build_node,
    state,
};

/// The network namespace of the calling thread, as procfs shows it.
const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// Deploys the host node of `spec` (placed by `placement`) in the network namespace this
/// thread is in, and records the lab with the underlay interface it found. `progress` hears of
/// each pod built.
pub(crate) async fn deploy(
    spec: &LabSpec,
    placement: &HostPlacement,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<()> {
    let node = spec
        .host_node()
        .expect("a validated spec's host placement names one of its nodes");
    let node_netns = spec.node_netns(node);
    let here = Netlink::current(&format!("this network namespace (node {node_netns})"))?;
    let underlay_iface = underlay_iface(&here, node, placement).await?;
    for iface in iter::once(TUNNEL_IFACE.to_owned()).chain(node.pods.iter().map(host_iface)) {
        if here.link(&iface).await?.is_some() {
            return Err(TopologyError::HostLinkExists { iface });
        }
    }
    let mut recorded = spec.clone();
    recorded.host = Some(HostPlacement {
        node: node.name.clone(),
        underlay_iface: Some(underlay_iface),
    });
    // Recorded before anything is built, so that `down` finds a half-built node too.
    state::save(&recorded)?;
    let built = async {
        name_this_netns(&node_netns)?;
        for pod in &node.pods {
            create_netns(&spec.pod_netns(node, pod), Ipv6Mode::of_pods(spec))?;
        }
        build_node(spec, node, &here, &node_netns, progress).await?;
        if !spec.ipv6 {
            for pod in &node.pods {
                disable_ipv6(&node_netns, &host_iface(pod))?;
            }
        }
        Ok(())
    }
    .await;
    // On failure the caller removes what was built (the lab is recorded).
    built
}

/// Removes what the deploy of `spec`'s host node created in its namespace: the pods' host
/// veths (their pod ends go with them) and `vxlan0`, each only while it still is of the kind
/// the lab made. Nothing for a lab without a host node, or whose node name is gone.
pub(crate) async fn remove_links(spec: &LabSpec) -> Result<()> {
    let Some(node) = spec.host_node() else {
        return Ok(());
    };
    let node_netns = spec.node_netns(node);
    if !Path::new(NETNS_DIR).join(&node_netns).exists() {
        return Ok(());
    }
    let netlink = Netlink::open(&node_netns)?;
    for pod in &node.pods {
        netlink
            .delete_if_kind(&host_iface(pod), InfoKind::Veth)
            .await?;
    }
    netlink
        .delete_if_kind(TUNNEL_IFACE, InfoKind::Vxlan)
        .await?;
    Ok(())
}

/// The interface that holds `node`'s underlay address: the one `placement` names, checked, or
/// the one found. It must be up.
async fn underlay_iface(
    here: &Netlink,
    node: &NodeSpec,
    placement: &HostPlacement,
) -> Result<String> {
    let wanted = placement.underlay_iface.as_deref();
    if let Some(iface) = wanted
        && here.link(iface).await?.is_none()
    {
        return Err(TopologyError::NoUnderlayInterface {
            iface: iface.to_owned(),
        });
    }
    let addresses = here.ipv4_addresses().await?;
    let holder = addresses.iter().find(|a| {
        a.address == node.underlay_address && wanted.is_none_or(|iface| a.iface == iface)
    });
    let Some(holder) = holder else {
        return Err(TopologyError::UnderlayAddressMissing {
            node: node.name.clone(),
            address: node.underlay_address,
            iface: wanted.map(str::to_owned),
            found: describe(&addresses),
        });
    };
    if !holder.up {
        return Err(TopologyError::UnderlayDown {
            iface: holder.iface.clone(),
        });
    }
    Ok(holder.iface.clone())
}

/// `lo: 127.0.0.1/8, eth1: 192.168.56.11/24`, or `none`.
fn describe(addresses: &[InterfaceAddress]) -> String {
    if addresses.is_empty() {
        return "none".to_owned();
    }
    let listed: Vec<String> = addresses
        .iter()
        .map(|a| format!("{}: {}/{}", a.iface, a.address, a.prefix))
        .collect();
    listed.join(", ")
}

/// Names the network namespace of this thread `name` in `/run/netns`
/// (`ip netns attach NAME $$`): a bind mount of `/proc/thread-self/ns/net`, so `ip netns`,
/// `setns` and the dataplane's `--node` reach it by that name. Removing the name (unmounting
/// it) leaves the namespace as it is.
fn name_this_netns(name: &str) -> Result<()> {
    use netns_rs::Env as _;
    netns_rs::DefaultEnv
        .init()
        .map_err(|source| TopologyError::Netns {
            name: name.to_owned(),
            action: "preparing /run/netns for",
            source,
        })?;
    let target = Path::new(NETNS_DIR).join(name);
    let io_error = |action, source| TopologyError::Io {
        action,
        path: target.clone(),
        source,
    };
    File::create(&target).map_err(|source| io_error("creating", source))?;
    let source = CString::new(THREAD_NETNS).expect("no NUL in a constant");
    let target_c = CString::new(target.as_os_str().as_bytes()).expect("no NUL in a netns path");
    // SAFETY: valid NUL-terminated paths; a bind mount takes no file system type or data.
    let ret = unsafe {
        libc::mount(
            source.as_ptr(),
            target_c.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if ret != 0 {
        let source = io::Error::last_os_error();
        let _ = fs::remove_file(&target);
        return Err(io_error(
            "bind-mounting this thread's network namespace on",
            source,
        ));
    }
    Ok(())
}

/// `sysctl -w net.ipv6.conf.IFACE.disable_ipv6=1` in `netns`, for an interface an IPv4-only
/// lab made (no router solicitations or MLD from the host side into the pods); nothing without
/// IPv6.
fn disable_ipv6(netns: &str, iface: &str) -> Result<()> {
    let path = format!("/proc/sys/net/ipv6/conf/{iface}/disable_ipv6");
    match write_sysctl(netns, &path, "1") {
        Err(TopologyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
