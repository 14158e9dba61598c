//! What a node holds once its namespace reaches the underlay: `vxlan0` and its pods, each
//! with a veth pair, an address (two in a dual-stack lab), a multicast route and its settings. Deploy builds it in a
//! node namespace of its own, and on the machine itself for a host node ([`crate::host`]).

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use crate::{
    error::{Result, TopologyError},
    model::{LabSpec, NodeSpec, POD_IFACE, TUNNEL_IFACE, VXLAN_PORT, host_iface},
    namespaces::{enable_ipv6, set_igmp_version, set_mld_version},
    netlink::{Netlink, open_netns},
    offload::{Offload, set_offload},
};

/// Packets the qdisc of a `napi` pod's host veth holds while its ring is full: room for every
/// copy of a packet to a full group.
const NAPI_QDISC_LIMIT: u32 = 4096;
/// How long a dual-stack node's pods and host veths get to hold a usable link-local address
/// once up. Without duplicate address detection the kernel finishes an address at once, on
/// its address workqueue (milliseconds).
const IPV6_READY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the wait for usable IPv6 addresses looks again.
const IPV6_READY_POLL: Duration = Duration::from_millis(10);

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
        if spec.ipv6 {
            // The dataplane snoops the pod's MLD on the host veth: IPv6 on there (a link-local
            // address only), whatever the node namespace's defaults.
            enable_ipv6(node_ns_name, &host)?;
        }
        node_ns.up(&host).await?;
        pod_ns
            .add_address(POD_IFACE, pod.address, spec.pod_cidr.prefix)
            .await?;
        if let Some(address) = spec.pod_address6(pod) {
            enable_ipv6(&pod_ns_name, POD_IFACE)?;
            pod_ns
                .add_address6_nodad(POD_IFACE, address, spec.pod_cidr6().prefix)
                .await?;
        }
        pod_ns.up(POD_IFACE).await?;
        // Multicast leaves through eth0 (DEVELOPERS.md: pods need a route covering it).
        pod_ns
            .add_link_route(Ipv4Addr::new(224, 0, 0, 0), 4, POD_IFACE)
            .await?;
        if let Some(version) = pod.igmp_version {
            set_igmp_version(&pod_ns_name, POD_IFACE, version)?;
        }
        if let Some(version) = pod.mld_version {
            set_mld_version(&pod_ns_name, POD_IFACE, version)?;
        }
        if pod.napi {
            set_offload(&pod_ns_name, POD_IFACE, Offload::Gro, true)?;
            set_offload(node_ns_name, &host, Offload::Tso, false)?;
            node_ns.add_root_pfifo(&host, NAPI_QDISC_LIMIT).await?;
        }
        progress(&format!("pod {}/{}", node.name, pod.name));
    }
    if spec.ipv6 {
        wait_ipv6_ready(spec, node, node_ns, node_ns_name).await?;
    }
    Ok(())
}

/// Waits until each pod's `eth0` and host veth on `node` has a usable link-local address (not
/// tentative), so a join right after deploy reports MLD from it (RFC 3810 section 5.2.13), or
/// [`IPV6_READY_TIMEOUT`] passes.
async fn wait_ipv6_ready(
    spec: &LabSpec,
    node: &NodeSpec,
    node_ns: &Netlink,
    node_ns_name: &str,
) -> Result<()> {
    let deadline = Instant::now() + IPV6_READY_TIMEOUT;
    for pod in &node.pods {
        let pod_ns_name = spec.pod_netns(node, pod);
        let pod_ns = Netlink::open(&pod_ns_name)?;
        let host = host_iface(pod);
        for (netlink, netns, iface) in [
            (&pod_ns, pod_ns_name.as_str(), POD_IFACE),
            (node_ns, node_ns_name, host.as_str()),
        ] {
            while !netlink.ipv6_ready(iface).await? {
                if Instant::now() >= deadline {
                    return Err(TopologyError::Ipv6NotReady {
                        netns: netns.to_owned(),
                        iface: iface.to_owned(),
                        timeout: IPV6_READY_TIMEOUT,
                    });
                }
                tokio::time::sleep(IPV6_READY_POLL).await;
            }
        }
    }
    Ok(())
}
