//! The kernel's own answer, for baselines: a node's pods on a Linux bridge (with or without
//! IGMP snooping) instead of the dataplane.

use crate::{
    deploy::runtime,
    error::Result,
    model::{LabSpec, NodeSpec, host_iface},
    netlink::Netlink,
};

/// Name of the baseline bridge in a node.
pub const POD_BRIDGE: &str = "brpods";

/// How the baseline bridge treats multicast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BridgeOptions {
    /// IGMP snooping: forward a group only to ports that joined it.
    pub snooping: bool,
    /// The bridge sends IGMP queries itself (snooping needs a querier to stop flooding).
    pub querier: bool,
}

/// Puts every pod of `node` on a bridge in the node's namespace
/// (`ip link add brpods type bridge mcast_snooping S mcast_querier Q`, then
/// `ip link set veth-<pod> master brpods`). Leave the dataplane detached on that node: it would
/// consume multicast before the bridge sees it.
pub fn bridge_pods(spec: &LabSpec, node: &NodeSpec, options: BridgeOptions) -> Result<()> {
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
