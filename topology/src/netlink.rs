//! rtnetlink requests into one network namespace. The netlink socket is opened while the thread
//! is inside the namespace, so every request on it acts there; each method names the `ip`
//! command it stands for.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::AsRawFd,
};

use futures::{StreamExt as _, TryStreamExt as _};
use netns_rs::NetNs;
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, LinkVxlan, RouteMessageBuilder,
    packet_core::{
        DefaultNla, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
        NetlinkMessage, NetlinkPayload,
    },
    packet_route::{
        AddressFamily, RouteNetlinkMessage,
        address::{AddressAttribute, AddressFlags, AddressHeaderFlags},
        link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage},
        neighbour::{
            NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
        },
        route::RouteScope,
        tc::{TcAttribute, TcHandle, TcMessage},
    },
};

use crate::error::{Result, TopologyError};

/// A netlink connection bound to one namespace.
pub(crate) struct Netlink {
    netns: String,
    handle: Handle,
    connection: tokio::task::JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// `ENODEV`: the answer to a request about a link that does not exist.
const ENODEV: i32 = 19;

/// An IPv4 address of an interface (`ip -4 -br addr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InterfaceAddress {
    /// The interface.
    pub(crate) iface: String,
    /// Whether the interface is administratively up.
    pub(crate) up: bool,
    /// The address.
    pub(crate) address: Ipv4Addr,
    /// Its prefix length.
    pub(crate) prefix: u8,
}

/// Opens namespace `name` (`ip netns` name).
pub(crate) fn open_netns(name: &str) -> Result<NetNs> {
    NetNs::get(name).map_err(|source| TopologyError::Netns {
        name: name.to_owned(),
        action: "opening",
        source,
    })
}

/// Runs `f` with this thread inside namespace `netns` (`ip netns exec NETNS ...` for one
/// call); an error of `f` is reported as `action` on `path`.
pub(crate) fn run_in_netns<T>(
    netns: &str,
    action: &'static str,
    path: &str,
    f: impl FnOnce() -> std::io::Result<T>,
) -> Result<T> {
    open_netns(netns)?
        .run(|_| f())
        .map_err(|source| TopologyError::Netns {
            name: netns.to_owned(),
            action: "entering",
            source,
        })?
        .map_err(|source| TopologyError::Io {
            action,
            path: path.into(),
            source,
        })
}

impl Netlink {
    /// Opens a netlink socket inside namespace `netns`. Must run inside a tokio runtime.
    pub(crate) fn open(netns: &str) -> Result<Self> {
        let (connection, handle, _) = run_in_netns(
            netns,
            "opening a netlink socket in",
            netns,
            rtnetlink::new_connection,
        )?;
        Ok(Self {
            netns: netns.to_owned(),
            handle,
            connection: tokio::spawn(connection),
        })
    }

    /// Opens a netlink socket in the network namespace this thread is in (`netns` names it in
    /// errors). Must run inside a tokio runtime.
    pub(crate) fn current(netns: &str) -> Result<Self> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|source| TopologyError::Io {
                action: "opening a netlink socket in",
                path: netns.into(),
                source,
            })?;
        Ok(Self {
            netns: netns.to_owned(),
            handle,
            connection: tokio::spawn(connection),
        })
    }

    fn error(&self, action: String) -> impl FnOnce(rtnetlink::Error) -> TopologyError {
        let netns = self.netns.clone();
        move |source| TopologyError::Netlink {
            netns,
            action,
            source,
        }
    }

    /// The ifindex of `name` (`ip link show NAME`).
    pub(crate) async fn index(&self, name: &str) -> Result<u32> {
        let action = format!("ip link show {name}");
        let link = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute()
            .try_next()
            .await
            .map_err(self.error(action.clone()))?;
        match link {
            Some(link) => Ok(link.header.index),
            None => Err(TopologyError::InvalidSpec {
                reason: format!("{action}: no such device in {}", self.netns),
            }),
        }
    }

    /// Link `name` (`ip -d link show NAME`), if it exists.
    pub(crate) async fn link(&self, name: &str) -> Result<Option<LinkMessage>> {
        let result = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute()
            .try_next()
            .await;
        match result {
            Ok(link) => Ok(link),
            Err(rtnetlink::Error::NetlinkError(err))
                if err.code.is_some_and(|code| code.get() == -ENODEV) =>
            {
                Ok(None)
            }
            Err(source) => Err(self.error(format!("ip -d link show {name}"))(source)),
        }
    }

    /// `ip link del NAME`, only if NAME exists and is of kind `kind` (so nothing that is not
    /// the lab's is removed); returns whether it was removed.
    pub(crate) async fn delete_if_kind(&self, name: &str, kind: InfoKind) -> Result<bool> {
        let Some(link) = self.link(name).await? else {
            return Ok(false);
        };
        if link_kind(&link) != Some(&kind) {
            return Ok(false);
        }
        self.handle
            .link()
            .del(link.header.index)
            .execute()
            .await
            .map_err(self.error(format!("ip link del {name}")))?;
        Ok(true)
    }

    /// Every IPv4 address of every interface (`ip -4 -br addr`).
    pub(crate) async fn ipv4_addresses(&self) -> Result<Vec<InterfaceAddress>> {
        let action = "ip -4 -br addr".to_owned();
        let links: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(self.error(action.clone()))?;
        let messages: Vec<_> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(self.error(action))?;
        let mut addresses = Vec::new();
        for message in messages
            .iter()
            .filter(|m| m.header.family == AddressFamily::Inet)
        {
            let Some(link) = links
                .iter()
                .find(|l| l.header.index == message.header.index)
            else {
                continue;
            };
            // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on
            // point-to-point links and the same as IFA_LOCAL elsewhere.
            let local = message.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(IpAddr::V4(address)) => Some(*address),
                _ => None,
            });
            let address = local.or_else(|| {
                message.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(IpAddr::V4(address)) => Some(*address),
                    _ => None,
                })
            });
            if let (Some(address), Some(iface)) = (address, link_name(link)) {
                addresses.push(InterfaceAddress {
                    iface: iface.to_owned(),
                    up: link.header.flags.contains(LinkFlags::Up),
                    address,
                    prefix: message.header.prefix_len,
                });
            }
        }
        Ok(addresses)
    }

    /// Whether `name` has a link-local IPv6 address and no tentative one (`ip -6 addr show
    /// dev NAME` lists a `scope link` address and no `tentative` flag): its addresses are
    /// usable.
    pub(crate) async fn ipv6_ready(&self, name: &str) -> Result<bool> {
        let index = self.index(name).await?;
        let messages: Vec<_> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(self.error(format!("ip -6 addr show dev {name}")))?;
        let mut link_local = false;
        for message in messages
            .iter()
            .filter(|m| m.header.family == AddressFamily::Inet6 && m.header.index == index)
        {
            let tentative = message.header.flags.contains(AddressHeaderFlags::Tentative)
                || message.attributes.iter().any(|a| {
                    matches!(a, AddressAttribute::Flags(flags) if flags.contains(AddressFlags::Tentative))
                });
            if tentative {
                return Ok(false);
            }
            link_local |= message.attributes.iter().any(|a| {
                matches!(a, AddressAttribute::Address(IpAddr::V6(address)) if address.is_unicast_link_local())
            });
        }
        Ok(link_local)
    }

    /// `ip link set NAME up`.
    pub(crate) async fn up(&self, name: &str) -> Result<()> {
        let message = LinkUnspec::new_with_name(name).up().build();
        self.set_link(message, format!("ip link set {name} up"))
            .await
    }

    /// `ip link set NAME name NEW` (the link must be down, as a freshly moved one is).
    pub(crate) async fn rename(&self, name: &str, new: &str) -> Result<()> {
        let index = self.index(name).await?;
        let message = LinkUnspec::new_with_index(index)
            .name(new.to_owned())
            .build();
        self.set_link(message, format!("ip link set {name} name {new}"))
            .await
    }

    /// `ip link add NAME type veth peer name PEER`.
    pub(crate) async fn add_veth(&self, name: &str, peer: &str) -> Result<()> {
        self.add_link(
            LinkVeth::new(name, peer).build(),
            format!("ip link add {name} type veth peer name {peer}"),
        )
        .await
    }

    /// `ip link set NAME netns TARGET`.
    pub(crate) async fn move_to(&self, name: &str, target: &NetNs) -> Result<()> {
        let message = LinkUnspec::new_with_name(name)
            .setns_by_fd(target.file().as_raw_fd())
            .build();
        self.set_link(
            message,
            format!("ip link set {name} netns {}", target.path().display()),
        )
        .await
    }

    /// `ip link add NAME type bridge` (IGMP snooping off: the underlay only carries vxlan).
    pub(crate) async fn add_bridge(&self, name: &str) -> Result<()> {
        let message = LinkBridge::new(name).mcast_snooping(false).up().build();
        self.add_link(
            message,
            format!("ip link add {name} type bridge mcast_snooping 0"),
        )
        .await
    }

    /// `ip link add NAME type bridge mcast_snooping S mcast_querier Q`.
    pub(crate) async fn add_bridge_with(
        &self,
        name: &str,
        snooping: bool,
        querier: bool,
    ) -> Result<()> {
        let message = LinkBridge::new(name)
            .mcast_snooping(snooping)
            .mcast_querier(querier)
            .up()
            .build();
        self.add_link(
            message,
            format!(
                "ip link add {name} type bridge mcast_snooping {} mcast_querier {}",
                u8::from(snooping),
                u8::from(querier)
            ),
        )
        .await
    }

    /// `ip link set NAME master BRIDGE`.
    pub(crate) async fn set_controller(&self, name: &str, bridge: &str) -> Result<()> {
        let bridge_index = self.index(bridge).await?;
        let message = LinkUnspec::new_with_name(name)
            .controller(bridge_index)
            .build();
        self.set_link(message, format!("ip link set {name} master {bridge}"))
            .await
    }

    /// `ip link add NAME type vxlan external dstport PORT`.
    pub(crate) async fn add_vxlan_external(&self, name: &str, port: u16) -> Result<()> {
        let message = LinkMessageBuilder::<LinkVxlan>::new(name)
            .port(port)
            .collect_metadata(true)
            .up()
            .build();
        self.add_link(
            message,
            format!("ip link add {name} type vxlan external dstport {port}"),
        )
        .await
    }

    /// `ip link add NAME type vxlan id VNI local LOCAL dev DEV dstport PORT nolearning`: a
    /// classic vxlan device that sends what it cannot look up to every all-zeros FDB entry
    /// (head-end replication).
    pub(crate) async fn add_vxlan_headend(
        &self,
        name: &str,
        vni: u32,
        local: Ipv4Addr,
        dev: &str,
        port: u16,
    ) -> Result<()> {
        let dev_index = self.index(dev).await?;
        let message = LinkVxlan::new(name, vni)
            .local(local)
            .dev(dev_index)
            .port(port)
            .learning(false)
            .up()
            .build();
        self.add_link(
            message,
            format!(
                "ip link add {name} type vxlan id {vni} local {local} dev {dev} dstport {port} \
                 nolearning"
            ),
        )
        .await
    }

    /// `bridge fdb append 00:00:00:00:00:00 dev NAME dst DST self permanent`: one more remote
    /// that broadcast, unknown-unicast and multicast frames are replicated to.
    pub(crate) async fn append_flood_destination(&self, name: &str, dst: Ipv4Addr) -> Result<()> {
        let action = format!("bridge fdb append 00:00:00:00:00:00 dev {name} dst {dst}");
        let mut message = NeighbourMessage::default();
        message.header.family = AddressFamily::Bridge;
        message.header.ifindex = self.index(name).await?;
        message.header.state = NeighbourState::Permanent;
        message.header.flags = NeighbourFlags::Own;
        message
            .attributes
            .push(NeighbourAttribute::LinkLayerAddress(vec![0; 6]));
        message
            .attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(dst)));
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(message));
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
        self.acked(request, action).await
    }

    /// `ip addr add ADDRESS/PREFIX dev NAME`.
    pub(crate) async fn add_address(
        &self,
        name: &str,
        address: Ipv4Addr,
        prefix: u8,
    ) -> Result<()> {
        let index = self.index(name).await?;
        self.handle
            .address()
            .add(index, address.into(), prefix)
            .execute()
            .await
            .map_err(self.error(format!("ip addr add {address}/{prefix} dev {name}")))
    }

    /// `ip -6 addr add ADDRESS/PREFIX dev NAME nodad`: usable at once, without duplicate
    /// address detection.
    pub(crate) async fn add_address6_nodad(
        &self,
        name: &str,
        address: Ipv6Addr,
        prefix: u8,
    ) -> Result<()> {
        let index = self.index(name).await?;
        let mut request = self.handle.address().add(index, address.into(), prefix);
        let message = request.message_mut();
        message.header.flags = AddressHeaderFlags::Nodad;
        message
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
        request.execute().await.map_err(self.error(format!(
            "ip -6 addr add {address}/{prefix} dev {name} nodad"
        )))
    }

    /// `ip route add DESTINATION/PREFIX dev NAME scope link`.
    pub(crate) async fn add_link_route(
        &self,
        destination: Ipv4Addr,
        prefix: u8,
        name: &str,
    ) -> Result<()> {
        let index = self.index(name).await?;
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(destination, prefix)
            .output_interface(index)
            .scope(RouteScope::Link)
            .build();
        self.handle
            .route()
            .add(route)
            .execute()
            .await
            .map_err(self.error(format!("ip route add {destination}/{prefix} dev {name}")))
    }

    /// `tc qdisc add dev NAME root pfifo limit LIMIT`.
    pub(crate) async fn add_root_pfifo(&self, name: &str, limit: u32) -> Result<()> {
        /// `TCA_OPTIONS` (include/uapi/linux/rtnetlink.h); pfifo's is `struct tc_fifo_qopt`.
        const TCA_OPTIONS: u16 = 2;
        let action = format!("tc qdisc add dev {name} root pfifo limit {limit}");
        let index = self.index(name).await?;
        let mut message = TcMessage::with_index(index as i32);
        message.header.parent = TcHandle::ROOT;
        message
            .attributes
            .push(TcAttribute::Kind("pfifo".to_owned()));
        message.attributes.push(TcAttribute::Other(DefaultNla::new(
            TCA_OPTIONS,
            limit.to_ne_bytes().to_vec(),
        )));
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewQueueDiscipline(message));
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        self.acked(request, action).await
    }

    /// `ip link add ...`: creates the link `message` describes; `action` names the command in
    /// errors.
    async fn add_link(&self, message: LinkMessage, action: String) -> Result<()> {
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(self.error(action))
    }

    /// `ip link set ...`: changes the link `message` describes; `action` names the command in
    /// errors.
    async fn set_link(&self, message: LinkMessage, action: String) -> Result<()> {
        self.handle
            .link()
            .set(message)
            .execute()
            .await
            .map_err(self.error(action))
    }

    /// Sends a request rtnetlink has no builder for and fails on an error acknowledgement.
    async fn acked(
        &self,
        request: NetlinkMessage<RouteNetlinkMessage>,
        action: String,
    ) -> Result<()> {
        let mut handle = self.handle.clone();
        let mut responses = handle
            .request(request)
            .map_err(self.error(action.clone()))?;
        while let Some(response) = responses.next().await {
            if let NetlinkPayload::Error(err) = response.payload
                && err.code.is_some()
            {
                return Err(self.error(action)(rtnetlink::Error::NetlinkError(err)));
            }
        }
        Ok(())
    }
}

/// The name of a link (`IFLA_IFNAME`).
pub(crate) fn link_name(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.as_str()),
        _ => None,
    })
}

/// The kind of a link (`IFLA_INFO_KIND`: veth, vxlan, ...); physical devices have none.
pub(crate) fn link_kind(link: &LinkMessage) -> Option<&InfoKind> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|info| match info {
            LinkInfo::Kind(kind) => Some(kind),
            _ => None,
        }),
        _ => None,
    })
}
