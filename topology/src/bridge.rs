//! The kernel's own answer, for baselines: a node's pods on a Linux bridge (with or without
//! IGMP snooping) instead of the dataplane.

use crate::{
    error::Result,
    model::{LabSpec, NodeSpec, UNDERLAY_IFACE, host_iface},
    namespaces::{runtime, write_sysctl},
    netlink::Netlink,
};

/// Name of the baseline bridge in a node.
pub const POD_BRIDGE: &str = "brpods";
/// Name of the baseline's head-end-replicating vxlan device, a port of [`POD_BRIDGE`].
pub const HEADEND_VXLAN: &str = "vxbr0";
/// UDP port of the baseline's vxlan (the dataplane's `vxlan0`, in external mode, holds 4789).
pub const HEADEND_VXLAN_PORT: u16 = 4790;

/// How the baseline bridge treats multicast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BridgeOptions {
    /// IGMP snooping: forward a group only to ports that joined it.
    pub snooping: bool,
    /// The bridge sends IGMP queries itself (snooping needs a querier to stop flooding).
    pub querier: bool,
    /// Bridged packets go through iptables (`net.bridge.bridge-nf-call-*` in the node, when
    /// the kernel has br_netfilter; hosts running Docker or Kubernetes do, and it costs every
    /// copy). Off measures the bridge at its best.
    pub netfilter: bool,
}

/// br_netfilter's switches, per network namespace.
const BRIDGE_NETFILTER_SYSCTLS: [&str; 3] = [
    "/proc/sys/net/bridge/bridge-nf-call-iptables",
    "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
    "/proc/sys/net/bridge/bridge-nf-call-arptables",
];

/// Puts every pod of `node` on a bridge in the node's namespace
/// (`ip link add brpods type bridge mcast_snooping S mcast_querier Q`, then
/// `ip link set veth-<pod> master brpods`). Leave the dataplane detached on that node: it would
/// consume multicast before the bridge sees it.
pub fn bridge_pods(spec: &LabSpec, node: &NodeSpec, options: BridgeOptions) -> Result<()> {
    let netns = spec.node_netns(node);
    for path in BRIDGE_NETFILTER_SYSCTLS {
        // Without br_netfilter the files do not exist and bridged packets skip iptables anyway.
        if std::path::Path::new(path).exists() {
            write_sysctl(&netns, path, if options.netfilter { "1" } else { "0" })?;
        }
    }
    runtime()?.block_on(async {
        let netlink = Netlink::open(&spec.node_netns(node))?;
        netlink
            .add_bridge_with(POD_BRIDGE, options.snooping, options.querier)
            .await?;
        for pod in &node.pods {
            netlink.set_controller(&host_iface(pod), POD_BRIDGE).await?;
        }
        Ok(())
    })
}

/// Bridges `node`'s pods with the other nodes: like [`bridge_pods`], plus a classic vxlan
/// device [`HEADEND_VXLAN`] (the lab's VNI, over the node's underlay leg) on the bridge, with
/// every other node's underlay address as an all-zeros FDB entry. Multicast the bridge sends
/// to that port is replicated by the vxlan driver to every other node: the kernel's head-end
/// replication, the cross-node baseline.
pub fn bridge_pods_over_vxlan(
    spec: &LabSpec,
    node: &NodeSpec,
    options: BridgeOptions,
) -> Result<()> {
    bridge_pods(spec, node, options)?;
    runtime()?.block_on(async {
        let netlink = Netlink::open(&spec.node_netns(node))?;
        netlink
            .add_vxlan_headend(
                HEADEND_VXLAN,
                spec.vni,
                node.underlay_address,
                UNDERLAY_IFACE,
                HEADEND_VXLAN_PORT,
            )
            .await?;
        for other in spec.nodes.iter().filter(|other| other.name != node.name) {
            netlink
                .append_flood_destination(HEADEND_VXLAN, other.underlay_address)
                .await?;
        }
        netlink.set_controller(HEADEND_VXLAN, POD_BRIDGE).await?;
        Ok(())
    })
}
