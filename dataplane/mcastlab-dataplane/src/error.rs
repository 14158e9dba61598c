//! Everything that can go wrong in the dataplane, each with what the user can do about it.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::PathBuf,
};

/// An error of a dataplane operation. Nothing was changed unless the variant says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    /// The caller is not root.
    #[error(
        "mcastlab must run as root: it loads eBPF programs, pins them in bpffs and enters \
         network namespaces (try sudo)"
    )]
    NotRoot,
    /// No network namespace of that name.
    #[error("unknown node '{node}': no network namespace at {}", path.display())]
    UnknownNode {
        /// The node name given.
        node: String,
        /// Where the namespace was looked for.
        path: PathBuf,
    },
    /// A node name that cannot be a network namespace name.
    #[error("invalid node name '{node}': use letters, digits, '-', '_' and '.'")]
    InvalidNodeName {
        /// The node name given.
        node: String,
    },
    /// The node has no pinned dataplane.
    #[error(
        "node '{node}' has no dataplane attached; run `mcastlab dataplane attach --node {node} \
         --pod-iface ...` first"
    )]
    NotAttached {
        /// The node.
        node: String,
    },
    /// The running kernel is older than a feature needs.
    #[error("kernel {found} is too old: {feature} needs Linux {needed} or newer")]
    KernelTooOld {
        /// The running kernel release.
        found: String,
        /// The minimum version, "major.minor".
        needed: String,
        /// The feature that needs it.
        feature: &'static str,
    },
    /// A probe found a kernel feature missing.
    #[error("unsupported kernel: {feature} is not available ({detail})")]
    MissingFeature {
        /// The missing helper, map or program type.
        feature: &'static str,
        /// What the probe saw.
        detail: String,
    },
    /// An environment variable of mcastlab's with a value it does not take.
    #[error("{variable}={value:?} is not understood: use {expected}")]
    BadEnvironment {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// The values it takes.
        expected: &'static str,
    },
    /// A group address outside 224.0.0.0/4 (IPv4) or ff00::/8 (IPv6).
    #[error("{address} is not a multicast group address (groups are in 224.0.0.0/4 or ff00::/8)")]
    NotMulticast {
        /// The address given.
        address: IpAddr,
    },
    /// An IPv6 group of interface-local or link-local scope, which is never replicated or
    /// joined.
    #[error(
        "{group} has link scope or narrower (ff01::/16, ff02::/16; RFC 4291 section 2.7): such \
         groups (all-nodes, solicited-node, link protocols) never leave their link, so it cannot \
         be a configured group; use a wider scope (e.g. ff05:: site, ff0e:: global)"
    )]
    LinkScopeGroup {
        /// The group given.
        group: Ipv6Addr,
    },
    /// A group in 224.0.0.0/24, which is never replicated or joined.
    #[error(
        "{group} is in 224.0.0.0/24, RFC 5771's Local Network Control Block: link-local control \
         traffic (all-hosts, routing protocols, mDNS) is never forwarded, so it cannot be a \
         configured group; use an address outside 224.0.0.0/24 (e.g. 239.0.0.0/8)"
    )]
    LinkLocalGroup {
        /// The group given.
        group: Ipv4Addr,
    },
    /// A remote subscriber address that the node itself holds.
    #[error(
        "{address} is an address of node '{node}' itself: a remote subscriber is another node's \
         underlay address (a copy to it would loop back into this node)"
    )]
    OwnUnderlayAddress {
        /// The node.
        node: String,
        /// The address given.
        address: Ipv4Addr,
    },
    /// Another writer held the node's lock for longer than a writer waits.
    #[error(
        "node '{node}' is locked by {holder} ({}); gave up after {} s: another mcastlab command \
         is changing this node, try again when it is done",
        path.display(),
        waited.as_secs()
    )]
    Locked {
        /// The node.
        node: String,
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as the holder wrote it ("pid N (command line)").
        holder: String,
        /// How long this writer waited.
        waited: std::time::Duration,
    },
    /// A pod interface without an identity.
    #[error("no pod identity for interface '{iface}' on node '{node}' (see `mcastlab pod list`)")]
    PodNotFound {
        /// The node.
        node: String,
        /// The interface.
        iface: String,
    },
    /// A pod address that another veth's pod owns already.
    #[error(
        "{address} is the pod address of interface '{owner}' on node '{node}' already; an address \
         belongs to one pod (`mcastlab pod delete --node {node} {owner}` first)"
    )]
    PodAddressTaken {
        /// The node.
        node: String,
        /// The address given.
        address: Ipv4Addr,
        /// The interface that owns it.
        owner: String,
    },
    /// A remote subscriber address that is not a unicast host address.
    #[error("{address} cannot be a remote subscriber: a node address must be a unicast address")]
    NotUnicast {
        /// The address given.
        address: Ipv4Addr,
    },
    /// A pod address that is not a unicast host address.
    #[error("{address} cannot be a pod's address: it must be a unicast host address")]
    InvalidPodAddress {
        /// The address given.
        address: Ipv4Addr,
    },
    /// The group map is full.
    #[error("group limit {limit} reached on node '{node}': delete a group first")]
    GroupLimit {
        /// The node.
        node: String,
        /// The limit.
        limit: u32,
    },
    /// A group capacity outside 1..=limit.
    #[error("capacity {capacity} is not in 1..={limit}")]
    InvalidCapacity {
        /// The capacity asked for.
        capacity: u32,
        /// The most a group holds.
        limit: u32,
    },
    /// An IGMPv3 record limit outside 1..=max.
    #[error(
        "record limit {limit} is not in 1..={max} (the most records one IGMPv3 report on a \
         1500-byte MTU holds)"
    )]
    InvalidRecordLimit {
        /// The limit asked for.
        limit: u32,
        /// The highest limit: `MAX_IGMPV3_RECORDS_PER_MTU`.
        max: u16,
    },
    /// `group add` of an existing group.
    #[error("group {group} already exists on node '{node}'")]
    GroupExists {
        /// The node.
        node: String,
        /// The group.
        group: IpAddr,
    },
    /// An operation on a group that is not configured.
    #[error("group {group} does not exist on node '{node}' (see `mcastlab group list`)")]
    GroupNotFound {
        /// The node.
        node: String,
        /// The group.
        group: IpAddr,
    },
    /// The group holds as many subscribers as its capacity.
    #[error(
        "group {group} on node '{node}' is full: it holds {limit} subscribers (its capacity); \
         delete one, or re-create the group with a larger --capacity (at most {})",
        mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP
    )]
    SubscriberLimit {
        /// The node.
        node: String,
        /// The group.
        group: IpAddr,
        /// The limit.
        limit: u32,
    },
    /// Creating a group's fan-out list or mapping it into this process failed.
    #[error("creating or mapping the fan-out list of group {group} failed")]
    MapMemory {
        /// The group.
        group: IpAddr,
        /// Why.
        source: std::io::Error,
    },
    /// `subscriber add` of an existing subscriber.
    #[error("{address} already subscribes to {group} on node '{node}'")]
    SubscriberExists {
        /// The node.
        node: String,
        /// The group.
        group: IpAddr,
        /// The subscriber.
        address: Ipv4Addr,
    },
    /// `subscriber add` lost the race to raise the group's high-water mark too often (other
    /// writers adding at the same time); nothing was added.
    #[error(
        "{address} was not added to {group} on node '{node}': other writers kept changing the \
         group's header; try again"
    )]
    SubscriberContended {
        /// The node.
        node: String,
        /// The group.
        group: IpAddr,
        /// The subscriber.
        address: Ipv4Addr,
    },
    /// `subscriber delete` of a missing subscriber.
    #[error("{address} does not subscribe to {group} on node '{node}'")]
    SubscriberNotFound {
        /// The node.
        node: String,
        /// The group.
        group: IpAddr,
        /// The subscriber.
        address: Ipv4Addr,
    },
    /// A remote subscriber on a node attached without a tunnel.
    #[error(
        "node '{node}' has no tunnel: remote subscribers need `mcastlab dataplane attach --node \
         {node} --tunnel DEV --vni N`"
    )]
    NoTunnel {
        /// The node.
        node: String,
    },
    /// An interface name that does not exist in the node.
    #[error("no interface '{iface}' in node '{node}'")]
    UnknownInterface {
        /// The node.
        node: String,
        /// The interface name.
        iface: String,
        /// The lookup error.
        #[source]
        source: nix::Error,
    },
    /// TCX links were asked for on a kernel without them.
    #[error(
        "TCX links need Linux {needed}+ and this is kernel {found}: attach with \
         --attach-mode auto or netlink (tc filters) instead"
    )]
    NoTcx {
        /// The running kernel release.
        found: String,
        /// The minimum version, "major.minor".
        needed: String,
    },
    /// The verifier refused a program; the log says why.
    #[error("the kernel verifier rejected program {program}: {source}\nverifier log:\n{log}")]
    Verifier {
        /// The program.
        program: &'static str,
        /// The verifier's log.
        log: String,
        /// The load error.
        #[source]
        source: std::io::Error,
    },
    /// The embedded object lacks a program or map: the build is inconsistent.
    #[error("the embedded eBPF object has no {kind} {name}; rebuild mcastlab")]
    MissingFromObject {
        /// "program" or "map".
        kind: &'static str,
        /// Its name.
        name: &'static str,
    },
    /// Loading the eBPF object (maps, relocations) failed.
    #[error("loading the eBPF object failed")]
    Load(#[source] aya::EbpfError),
    /// A program operation failed.
    #[error("{action} failed")]
    Program {
        /// What was being done.
        action: String,
        /// The error.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// An XDP program could not be attached in native (driver) mode, the only mode asked for.
    #[error(
        "attaching XDP program {program} in native (driver) mode to '{iface}' on node '{node}' \
         failed: the interface's driver must run XDP itself (veth does; generic XDP is not \
         tried) and no other XDP program may be attached there (see `ip -d link show {iface}` \
         in the node's namespace, and dmesg)"
    )]
    XdpAttach {
        /// The node.
        node: String,
        /// The interface.
        iface: String,
        /// The program.
        program: &'static str,
        /// The attach error (boxed: it would make every error of the crate larger).
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    /// A map operation failed.
    #[error("{action} failed")]
    Map {
        /// What was being done.
        action: String,
        /// The error.
        #[source]
        source: aya::maps::MapError,
    },
    /// A link operation failed.
    #[error("{action} failed")]
    Link {
        /// What was being done.
        action: String,
        /// The error.
        #[source]
        source: aya::programs::links::LinkError,
    },
    /// Pinning an object in bpffs failed.
    #[error("pinning {} failed", path.display())]
    Pin {
        /// The pin path.
        path: PathBuf,
        /// The error.
        #[source]
        source: aya::pin::PinError,
    },
    /// A file system operation failed.
    #[error("{action} {} failed", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Entering or leaving a network namespace failed.
    #[error("switching to the network namespace of node '{node}' failed")]
    Netns {
        /// The node.
        node: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The metrics text could not be written.
    #[error("formatting the metrics of node '{node}' failed")]
    MetricsFormat {
        /// The node.
        node: String,
        /// The error.
        #[source]
        source: std::fmt::Error,
    },
}

/// Shorthand for results of this module.
pub type Result<T, E = DataplaneError> = std::result::Result<T, E>;

/// A [`DataplaneError::Map`] for `action`.
pub(crate) fn map_error(action: impl Into<String>, source: aya::maps::MapError) -> DataplaneError {
    DataplaneError::Map {
        action: action.into(),
        source,
    }
}
