//! Members whose pod is gone: when a pod's veth disappears (its namespace was deleted, the
//! pod died), every membership behind it is removed and counted as `member_pod_gone`, and its
//! pod identity is forgotten (a new veth may get the same ifindex). The
//! agent sweeps when netlink reports a link deleted in the node's namespace, and once per
//! query interval in case an event was missed (or came while no agent ran).

use std::{
    collections::BTreeSet,
    io,
    net::{IpAddr, Ipv4Addr},
};

use futures::StreamExt as _;
use mcastlab_common::Reason;
use mcastlab_dataplane::{DataplaneError, Node, netns::NetnsGuard, netns::netns_path};
use rtnetlink::{
    MulticastGroup,
    packet_core::{NetlinkMessage, NetlinkPayload},
    packet_route::RouteNetlinkMessage,
};

use crate::AgentError;

/// Link deletions in a node's namespace (`ip monitor link`).
pub struct LinkEvents {
    messages: futures::channel::mpsc::UnboundedReceiver<(
        NetlinkMessage<RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    )>,
}

impl LinkEvents {
    /// Subscribes to link events inside `node`'s namespace; the connection runs on the
    /// current tokio runtime.
    pub fn open(node: &Node) -> io::Result<Self> {
        let (connection, _handle, messages) = {
            let _inside = NetnsGuard::enter(&netns_path(node.name()))?;
            rtnetlink::new_multicast_connection(&[MulticastGroup::Link])?
        };
        tokio::spawn(connection);
        Ok(Self { messages })
    }

    /// The next link deletion, or `None` when the connection ended.
    pub async fn next_deletion(&mut self) -> Option<u32> {
        while let Some((message, _)) = self.messages.next().await {
            if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) =
                message.payload
            {
                return Some(link.header.index);
            }
        }
        None
    }
}

/// A membership removed because its pod's veth is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoneMember {
    /// The group.
    pub group: IpAddr,
    /// The pod's address.
    pub address: Ipv4Addr,
    /// The veth's ifindex (gone now).
    pub ifindex: u32,
}

/// Removes the memberships behind veths that no longer exist in the node and counts them;
/// returns them. A node without a dataplane has none.
pub fn sweep(node: &Node) -> Result<Vec<GoneMember>, AgentError> {
    let mut table = match node.groups() {
        Ok(table) => table,
        Err(DataplaneError::NotAttached { .. }) => return Ok(Vec::new()),
        Err(err) => return Err(err.into()),
    };
    let present = interfaces(node)?;
    let gone: BTreeSet<u32> = table
        .all_subscribers()?
        .into_iter()
        .filter(|s| s.kind == mcastlab_dataplane::SubscriberKind::Local)
        .map(|s| s.ifindex)
        .filter(|ifindex| !present.contains(ifindex))
        .collect();
    let mut removed = Vec::new();
    for ifindex in gone {
        for (group, address) in table.delete_subscribers_behind(ifindex)? {
            tracing::info!(
                node = node.name(),
                %group,
                %address,
                ifindex,
                "removed the membership of a pod whose veth is gone"
            );
            removed.push(GoneMember {
                group,
                address,
                ifindex,
            });
        }
    }
    if !removed.is_empty() {
        node.count(Reason::MemberPodGone, removed.len() as u64)?;
    }
    for pod in node.pods()?.forget_gone()? {
        tracing::info!(
            node = node.name(),
            ifindex = pod.ifindex,
            address = %pod.address,
            "forgot the identity of a pod whose veth is gone"
        );
    }
    Ok(removed)
}

/// The ifindexes of the node's interfaces.
fn interfaces(node: &Node) -> Result<BTreeSet<u32>, AgentError> {
    let _inside = NetnsGuard::enter(&netns_path(node.name())).map_err(AgentError::Netns)?;
    let interfaces =
        nix::net::if_::if_nameindex().map_err(|errno| AgentError::Netns(errno.into()))?;
    Ok(interfaces
        .iter()
        .map(nix::net::if_::Interface::index)
        .collect())
}
