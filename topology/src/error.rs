//! Errors of the topology library.

use std::{io, path::PathBuf};

/// An error of building, reading or deploying a lab.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// A name that cannot be used (names become namespace and interface names).
    #[error("invalid {what} name '{name}': {rule}")]
    InvalidName {
        /// "lab", "node", "pod" or "interface".
        what: &'static str,
        /// The name.
        name: String,
        /// What a valid name looks like.
        rule: &'static str,
    },
    /// A spec that does not hold together.
    #[error("invalid lab spec: {reason}")]
    InvalidSpec {
        /// What is wrong.
        reason: String,
    },
    /// A lab file that could not be read or parsed.
    #[error("cannot read lab file {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A namespace with a lab's name exists already.
    #[error("namespace {name} already exists: run `mcastlab down --lab {lab}` first")]
    AlreadyDeployed {
        /// The lab.
        lab: String,
        /// The namespace found.
        name: String,
    },
    /// Creating, entering or removing a network namespace failed.
    #[error("network namespace {name}: {action} failed")]
    Netns {
        /// The namespace.
        name: String,
        /// What was being done.
        action: &'static str,
        /// Why.
        #[source]
        source: netns_rs::Error,
    },
    /// A netlink request failed.
    #[error("netlink: {action} in {netns} failed")]
    Netlink {
        /// The namespace the request went to.
        netns: String,
        /// What was being done (the equivalent `ip` command).
        action: String,
        /// Why.
        #[source]
        source: rtnetlink::Error,
    },
    /// The underlay interface named for a host node is not in this network namespace.
    #[error(
        "no interface {iface} in this network namespace: a node placed on this machine uses one \
         of its own interfaces as underlay (see `ip -br addr`; give --underlay-iface)"
    )]
    NoUnderlayInterface {
        /// The interface named.
        iface: String,
    },
    /// No interface (or not the one named) holds a host node's underlay address.
    #[error(
        "node {node}: underlay address {address} is not on {} (IPv4 addresses here: {found}); \
         give this machine's own address (--underlay-address A.B.C.D/LEN) or add it first \
         (ip addr add {address}/LEN dev IFACE)",
        iface.as_deref().unwrap_or("any interface of this network namespace")
    )]
    UnderlayAddressMissing {
        /// The node.
        node: String,
        /// Its underlay address.
        address: std::net::Ipv4Addr,
        /// The interface named, if one was.
        iface: Option<String>,
        /// What there is instead, `iface: a.b.c.d/len, ...`.
        found: String,
    },
    /// A host node's underlay interface is down.
    #[error("underlay interface {iface} is down: bring it up first (ip link set {iface} up)")]
    UnderlayDown {
        /// The interface.
        iface: String,
    },
    /// An interface a host node creates exists already in this network namespace.
    #[error(
        "interface {iface} already exists in this network namespace: another lab's node runs \
         here (`mcastlab status`, then `mcastlab down --lab LAB`), or it is not the lab's and \
         the node cannot be placed here"
    )]
    HostLinkExists {
        /// The interface.
        iface: String,
    },
    /// An interface of a dual-stack lab had no usable link-local IPv6 address in time.
    #[error(
        "{iface} in {netns} has no usable link-local IPv6 address after {timeout:?} (see \
         `ip -n {netns} -6 addr show dev {iface}`)"
    )]
    Ipv6NotReady {
        /// The namespace.
        netns: String,
        /// The interface.
        iface: String,
        /// How long deploy waited.
        timeout: std::time::Duration,
    },
    /// A file or sysctl operation failed.
    #[error("{action} {} failed", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = TopologyError> = std::result::Result<T, E>;
