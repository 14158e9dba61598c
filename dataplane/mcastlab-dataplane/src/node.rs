//! A node: a network namespace with (possibly) a pinned dataplane.

use std::{collections::HashMap, path::PathBuf};

use nix::unistd::Uid;

use super::{
    GroupTable, MemberDelivery,
    error::{DataplaneError, Result},
    lock::NodeLock,
    netns::{NetnsGuard, netns_path},
    pins::NodePins,
    pods::PodTable,
    stats::{self, ReasonCount},
};

/// A node, named like its network namespace (`ip netns` name).
#[derive(Clone, Debug)]
pub struct Node {
    name: String,
    netns: PathBuf,
    pins: NodePins,
}

impl Node {
    /// Opens node `name`. Fails unless the caller is root, the name is valid, and either its
    /// network namespace exists or it has a pinned dataplane (so a dataplane whose namespace is
    /// gone can still be detached).
    pub fn open(name: &str) -> Result<Self> {
        require_root()?;
        let valid = !name.is_empty()
            && name != "."
            && name != ".."
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(DataplaneError::InvalidNodeName {
                node: name.to_owned(),
            });
        }
        let node = Self {
            name: name.to_owned(),
            netns: netns_path(name),
            pins: NodePins::new(name),
        };
        if !node.netns.exists() && !node.pins.dir().exists() {
            return Err(DataplaneError::UnknownNode {
                node: node.name,
                path: node.netns,
            });
        }
        Ok(node)
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's pin paths.
    pub fn pins(&self) -> &NodePins {
        &self.pins
    }

    /// Moves this thread into the node's network namespace until the guard drops.
    pub fn enter(&self) -> Result<NetnsGuard> {
        if !self.netns.exists() {
            return Err(DataplaneError::UnknownNode {
                node: self.name.clone(),
                path: self.netns.clone(),
            });
        }
        NetnsGuard::enter(&self.netns).map_err(|source| DataplaneError::Netns {
            node: self.name.clone(),
            source,
        })
    }

    /// Fails with [`DataplaneError::NotAttached`] unless the node has a pinned dataplane.
    pub fn require_attached(&self) -> Result<()> {
        if self.pins.is_attached() {
            Ok(())
        } else {
            Err(DataplaneError::NotAttached {
                node: self.name.clone(),
            })
        }
    }

    /// The node's group map.
    pub fn groups(&self) -> Result<GroupTable> {
        self.require_attached()?;
        GroupTable::open(self)
    }

    /// The node's pod identities (which address each pod veth's reports must carry).
    pub fn pods(&self) -> Result<PodTable> {
        self.require_attached()?;
        PodTable::open(self)
    }

    /// The reading end of the node's membership events (one reader per node: the agent).
    pub fn events(&self) -> Result<crate::EventReader> {
        self.require_attached()?;
        crate::EventReader::open(self)
    }

    /// Takes the node's writer lock (see [`crate::lock`]), waiting for another writer up to
    /// [`crate::lock::LOCK_WAIT`]. Attach, detach and every change of groups, subscribers and
    /// pod identities take it themselves; do not hold it around them (a second lock of the same
    /// node waits, even in the same thread).
    pub fn lock(&self) -> Result<NodeLock> {
        NodeLock::acquire(&self.name)
    }

    /// The IPv4 addresses the node holds on any interface (its underlay address among them).
    pub fn ipv4_addresses(&self) -> Result<Vec<std::net::Ipv4Addr>> {
        let _netns = self.enter()?;
        let addresses = nix::ifaddrs::getifaddrs().map_err(|errno| DataplaneError::Netns {
            node: self.name.clone(),
            source: errno.into(),
        })?;
        Ok(addresses
            .filter_map(|ifaddr| ifaddr.address)
            .filter_map(|address| {
                address
                    .as_sockaddr_in()
                    .map(nix::sys::socket::SockaddrIn::ip)
            })
            .collect())
    }

    /// The node's reason counters, summed over CPUs, in code order.
    pub fn stats(&self) -> Result<Vec<ReasonCount>> {
        self.require_attached()?;
        stats::read(&self.pins)
    }

    /// Adds `count` to the counter of `reason`, one that only userspace counts
    /// ([`mcastlab_common::Reason::is_agent_reason`]; panics for any other).
    pub fn count(&self, reason: mcastlab_common::Reason, count: u64) -> Result<()> {
        stats::add(&self.pins, reason, count)
    }

    /// What was delivered to each member of each group, sorted by group then member: the
    /// subscribers with their delivery counters and the names of their interfaces.
    pub fn member_deliveries(&self) -> Result<Vec<MemberDelivery>> {
        let subscribers = self.groups()?.all_subscribers()?;
        let names = if subscribers.is_empty() {
            HashMap::new()
        } else {
            self.interface_names()?
        };
        Ok(subscribers
            .iter()
            .map(|subscriber| MemberDelivery::of(subscriber, &names))
            .collect())
    }

    /// Every interface of the node, ifindex -> name.
    pub fn interface_names(&self) -> Result<HashMap<u32, String>> {
        let _netns = self.enter()?;
        let interfaces = nix::net::if_::if_nameindex().map_err(|errno| DataplaneError::Netns {
            node: self.name.clone(),
            source: errno.into(),
        })?;
        Ok(interfaces
            .iter()
            .map(|interface| {
                (
                    interface.index(),
                    interface.name().to_string_lossy().into_owned(),
                )
            })
            .collect())
    }

    /// The name of interface `ifindex` in the node, if it exists.
    pub fn interface_name(&self, ifindex: u32) -> Option<String> {
        let _guard = self.enter().ok()?;
        nix::net::if_::if_indextoname(ifindex)
            .ok()
            .map(|name| name.to_string_lossy().into_owned())
    }
}

/// Fails with [`DataplaneError::NotRoot`] unless the effective user is root.
pub fn require_root() -> Result<()> {
    if Uid::effective().is_root() {
        Ok(())
    } else {
        Err(DataplaneError::NotRoot)
    }
}
