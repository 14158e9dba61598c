//! The lab model (serde; the `lab.yaml` format) and its deterministic name and address plan.

use std::{
    collections::HashSet,
    fmt,
    net::{Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use mcastlab_common::{MAX_IGMPV3_RECORDS_PER_MTU, is_valid_record_limit};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TopologyError};

/// Interface of a pod, inside its namespace.
pub const POD_IFACE: &str = "eth0";
/// Each node's leg on the underlay bridge.
pub const UNDERLAY_IFACE: &str = "ul0";
/// The bridge joining the nodes, in the underlay namespace.
pub const UNDERLAY_BRIDGE: &str = "br0";
/// Each node's vxlan device (external / collect_md mode).
pub const TUNNEL_IFACE: &str = "vxlan0";
/// UDP port of the overlay (IANA VXLAN).
pub const VXLAN_PORT: u16 = 4789;
/// Suffix of the underlay namespace: `<lab>-ul`.
pub const UNDERLAY_SUFFIX: &str = "ul";

/// Default number of nodes of a generated lab.
pub const DEFAULT_NODES: usize = 2;
/// Default number of pods per node of a generated lab.
pub const DEFAULT_PODS: usize = 3;
/// Most nodes or pods per node the address plan has room for.
pub const MAX_GENERATED: usize = 250;
/// The pods' IPv6 prefix of a dual-stack lab when the lab file gives none: a unique local
/// prefix (RFC 4193) that echoes the IPv4 pods' 10.200.0.0/16.
pub const DEFAULT_POD_CIDR6: Cidr6 = Cidr6 {
    address: Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 0),
    prefix: 64,
};

/// An IPv4 prefix, written `a.b.c.d/len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    /// The network address.
    pub address: Ipv4Addr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// The prefix's network: host bits cleared (`192.168.56.11/24` gives `192.168.56.0/24`).
    pub fn network(&self) -> Self {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0);
        Self {
            address: Ipv4Addr::from(u32::from(self.address) & mask),
            prefix: self.prefix,
        }
    }

    /// Whether `address` is inside the prefix.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        Self {
            address,
            prefix: self.prefix,
        }
        .network()
            == self.network()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("'{text}' is not a.b.c.d/len"))?;
        let address = address
            .parse()
            .map_err(|_| format!("'{address}' is not an IPv4 address"))?;
        let prefix = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("'{prefix}' is not a prefix length (0..=32)"))?;
        Ok(Self { address, prefix })
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<Cidr> for String {
    fn from(cidr: Cidr) -> String {
        cidr.to_string()
    }
}

/// An IPv6 prefix, written `a:b::/len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr6 {
    /// The network address.
    pub address: Ipv6Addr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr6 {
    /// The prefix's network: host bits cleared (`fd00:200::7/64` gives `fd00:200::/64`).
    pub fn network(&self) -> Self {
        let mask = u128::MAX
            .checked_shl(128 - u32::from(self.prefix))
            .unwrap_or(0);
        Self {
            address: Ipv6Addr::from(u128::from(self.address) & mask),
            prefix: self.prefix,
        }
    }
}

impl fmt::Display for Cidr6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl FromStr for Cidr6 {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("'{text}' is not an IPv6 prefix a:b::/len"))?;
        let address = address
            .parse()
            .map_err(|_| format!("'{address}' is not an IPv6 address"))?;
        let prefix = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 128)
            .ok_or_else(|| format!("'{prefix}' is not a prefix length (0..=128)"))?;
        Ok(Self { address, prefix })
    }
}

impl TryFrom<String> for Cidr6 {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<Cidr6> for String {
    fn from(cidr: Cidr6) -> String {
        cidr.to_string()
    }
}

/// A lab: nodes joined by an underlay, each with pods.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabSpec {
    /// The lab's name: prefix of every namespace it owns.
    pub name: String,
    /// The overlay's VXLAN network identifier.
    #[serde(default = "default_vni")]
    pub vni: u32,
    /// Addresses of the nodes' underlay legs.
    #[serde(default = "default_underlay")]
    pub underlay: Cidr,
    /// Addresses of the pods (one flat prefix across nodes, like an overlay pod network).
    #[serde(default = "default_pod_cidr")]
    pub pod_cidr: Cidr,
    /// Dual stack: IPv6 on in the pods (each with an address of [`LabSpec::pod_cidr6`], see
    /// [`LabSpec::pod_address6`], and its link-local one) and on their host veths, so pods
    /// speak MLD. Off (the default): IPv6 is off in every namespace of the lab.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ipv6: bool,
    /// The pods' IPv6 prefix (with `ipv6: true` only); [`DEFAULT_POD_CIDR6`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr6: Option<Cidr6>,
    /// The nodes.
    pub nodes: Vec<NodeSpec>,
    /// Set when this machine runs one node of the lab itself (the two-VM lab): only that node
    /// is deployed here, in the network namespace the deploy runs in, on an existing underlay
    /// interface; the other nodes are other machines. Absent: every node is deployed here, as
    /// namespaces on a generated underlay bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostPlacement>,
}

/// One node of a lab placed on this machine itself rather than in a namespace of its own.
///
/// The node's namespace is the one the deploy runs in (the root namespace of a VM); it keeps
/// the node's usual name `<lab>-<node>` as a second name (a bind mount in `/run/netns`, as
/// `ip netns attach` makes), so every command that takes `--node` addresses it as usual.
/// Its pods are namespaces behind veths in it, its `vxlan0` reaches the other nodes over
/// `underlay_iface`, an interface of the machine that already holds the node's underlay
/// address. Deploy and destroy create and remove only the pods, their veths and `vxlan0`:
/// never the machine's own interfaces, addresses or namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostPlacement {
    /// The node this machine runs.
    pub node: String,
    /// The existing interface that holds the node's underlay address (e.g. `eth1` on a
    /// Vagrant private network). Absent: the interface holding the address, found at deploy
    /// (the recorded lab names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay_iface: Option<String>,
}

/// A node: a namespace with an underlay leg, a vxlan device and its pods.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// The node's name within the lab.
    pub name: String,
    /// Its underlay address (inside `LabSpec::underlay`).
    pub underlay_address: Ipv4Addr,
    /// Its pods.
    #[serde(default)]
    pub pods: Vec<PodSpec>,
    /// Most group records one IGMPv3 report from its pods may carry
    /// (1..=`MAX_IGMPV3_RECORDS_PER_MTU`, 183); reports with more are refused whole. Set where
    /// a pod is in more groups than the default (24, Cilium's): its kernel answers a query with
    /// one report of all of them. The dataplane's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_records: Option<u32>,
}

/// A pod: a namespace joined to its node by a veth pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSpec {
    /// The pod's name within its node.
    pub name: String,
    /// Its address (inside `LabSpec::pod_cidr`).
    pub address: Ipv4Addr,
    /// IGMP version its kernel speaks (2 or 3), set with
    /// `net.ipv4.conf.eth0.force_igmp_version`; the kernel default (3) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub igmp_version: Option<u8>,
    /// MLD version its kernel speaks (1 or 2, with the lab's `ipv6: true` only), set with
    /// `net.ipv6.conf.eth0.force_mld_version`; the kernel default (2) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mld_version: Option<u8>,
    /// Deliver copies to this pod through its veth's NAPI ring instead of the per-CPU backlog:
    /// GRO on `eth0`, TSO off and a pfifo qdisc (backpressure) on the host side. Worth it
    /// for a pod that receives hundreds of copies of one packet; it costs throughput otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub napi: bool,
}

fn default_vni() -> u32 {
    42
}

fn default_underlay() -> Cidr {
    Cidr {
        address: Ipv4Addr::new(172, 31, 255, 0),
        prefix: 24,
    }
}

fn default_pod_cidr() -> Cidr {
    Cidr {
        address: Ipv4Addr::new(10, 200, 0, 0),
        prefix: 16,
    }
}

impl LabSpec {
    /// A lab of `nodes` nodes `n1..` with `pods` pods `p1..` each: node `i` has underlay
    /// address 172.31.255.i, its pod `j` has 10.200.i.j.
    pub fn generate(name: &str, nodes: usize, pods: usize) -> Result<Self> {
        if nodes == 0 || nodes > MAX_GENERATED || pods > MAX_GENERATED {
            return Err(TopologyError::InvalidSpec {
                reason: format!(
                    "a generated lab has 1..={MAX_GENERATED} nodes and 0..={MAX_GENERATED} pods \
                     per node (asked: {nodes} nodes, {pods} pods)"
                ),
            });
        }
        let underlay = default_underlay();
        let pod_cidr = default_pod_cidr();
        let [u0, u1, u2, _] = underlay.address.octets();
        let [p0, p1, _, _] = pod_cidr.address.octets();
        let spec = Self {
            name: name.to_owned(),
            vni: default_vni(),
            underlay,
            pod_cidr,
            ipv6: false,
            pod_cidr6: None,
            nodes: (1..=nodes as u8)
                .map(|i| NodeSpec {
                    name: format!("n{i}"),
                    underlay_address: Ipv4Addr::new(u0, u1, u2, i),
                    pods: (1..=pods as u8)
                        .map(|j| PodSpec {
                            name: format!("p{j}"),
                            address: Ipv4Addr::new(p0, p1, i, j),
                            igmp_version: None,
                            mld_version: None,
                            napi: false,
                        })
                        .collect(),
                    max_records: None,
                })
                .collect(),
            host: None,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Places node `node` on this machine (see [`HostPlacement`]), on interface
    /// `underlay_iface` (absent: found at deploy). `address` (`a.b.c.d/len`), when given, is
    /// the node's underlay address and its prefix the lab's underlay; `peers`, when given, are
    /// the other nodes' underlay addresses, in the order of the lab's nodes. Both replace the
    /// spec's addresses (a generated lab has 172.31.255.x, which is not what VMs have).
    pub fn place_on_host(
        &mut self,
        node: &str,
        underlay_iface: Option<String>,
        address: Option<Cidr>,
        peers: &[Ipv4Addr],
    ) -> Result<()> {
        let index = self
            .nodes
            .iter()
            .position(|n| n.name == node)
            .ok_or_else(|| {
                invalid(format!(
                    "lab {} has no node '{node}' to place on this machine (its nodes: {})",
                    self.name,
                    self.node_names()
                ))
            })?;
        if let Some(address) = address {
            self.underlay = address.network();
            self.nodes[index].underlay_address = address.address;
        }
        if !peers.is_empty() {
            let others = self.nodes.len() - 1;
            if peers.len() != others {
                return Err(invalid(format!(
                    "{} peer addresses given, but lab {} has {others} nodes besides {node} \
                     (give one per other node, in node order: {})",
                    peers.len(),
                    self.name,
                    self.node_names()
                )));
            }
            let mut peers = peers.iter();
            for (i, other) in self.nodes.iter_mut().enumerate() {
                if i != index {
                    other.underlay_address = *peers.next().expect("counted above");
                }
            }
        }
        self.host = Some(HostPlacement {
            node: node.to_owned(),
            underlay_iface,
        });
        self.validate()
    }

    fn node_names(&self) -> String {
        let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        names.join(", ")
    }

    /// Checks names, addresses and settings; every deploy calls it.
    pub fn validate(&self) -> Result<()> {
        check_name("lab", &self.name, 12)?;
        if self.vni == 0 || self.vni > 0xff_ffff {
            return Err(invalid(format!("vni {} is not in 1..=16777215", self.vni)));
        }
        if self.nodes.is_empty() {
            return Err(invalid("a lab needs at least one node".to_owned()));
        }
        self.validate_ipv6()?;
        let mut names = HashSet::new();
        let mut addresses = HashSet::new();
        for node in &self.nodes {
            check_name("node", &node.name, 8)?;
            if node.name == UNDERLAY_SUFFIX || !names.insert(node.name.clone()) {
                return Err(invalid(format!("node name '{}' is taken", node.name)));
            }
            if !self.underlay.contains(node.underlay_address)
                || !addresses.insert(node.underlay_address)
            {
                return Err(invalid(format!(
                    "node {}: underlay address {} is outside {} or used twice",
                    node.name, node.underlay_address, self.underlay
                )));
            }
            if let Some(limit) = node.max_records
                && !is_valid_record_limit(limit)
            {
                return Err(invalid(format!(
                    "node {}: max_records {limit} is not in 1..={MAX_IGMPV3_RECORDS_PER_MTU} (the \
                     most records one IGMPv3 report on a 1500-byte MTU holds)",
                    node.name
                )));
            }
            let mut pod_names = HashSet::new();
            for pod in &node.pods {
                check_name("pod", &pod.name, 8)?;
                if !pod_names.insert(pod.name.clone()) {
                    return Err(invalid(format!(
                        "pod name '{}' is used twice on node {}",
                        pod.name, node.name
                    )));
                }
                if !self.pod_cidr.contains(pod.address) || !addresses.insert(pod.address) {
                    return Err(invalid(format!(
                        "pod {}/{}: address {} is outside {} or used twice",
                        node.name, pod.name, pod.address, self.pod_cidr
                    )));
                }
                if let Some(version) = pod.igmp_version
                    && !matches!(version, 2 | 3)
                {
                    return Err(invalid(format!(
                        "pod {}/{}: igmp_version {version} is not 2 or 3",
                        node.name, pod.name
                    )));
                }
                self.validate_pod6(node, pod)?;
            }
        }
        if let Some(placement) = &self.host {
            self.validate_host(placement)?;
        }
        Ok(())
    }

    /// The lab's IPv6 settings: only with `ipv6: true`, and a `pod_cidr6` with room for the
    /// host bits of `pod_cidr` (see [`LabSpec::pod_address6`]).
    fn validate_ipv6(&self) -> Result<()> {
        if !self.ipv6 {
            if let Some(cidr) = self.pod_cidr6 {
                return Err(invalid(format!(
                    "pod_cidr6 {cidr} is set but IPv6 is off: add `ipv6: true` to the lab"
                )));
            }
            return Ok(());
        }
        let cidr6 = self.pod_cidr6();
        let host_bits = 32 - self.pod_cidr.prefix;
        if 128 - cidr6.prefix < host_bits {
            return Err(invalid(format!(
                "pod_cidr6 {cidr6} is too long: a pod's IPv6 address is the prefix plus the \
                 pod's {host_bits} host bits in pod_cidr {}, so it must be /{} or shorter",
                self.pod_cidr,
                128 - host_bits
            )));
        }
        Ok(())
    }

    /// A pod's IPv6 settings: `mld_version` 1 or 2, with `ipv6: true` only; its IPv6 address
    /// a unicast one.
    fn validate_pod6(&self, node: &NodeSpec, pod: &PodSpec) -> Result<()> {
        if let Some(version) = pod.mld_version {
            if !self.ipv6 {
                return Err(invalid(format!(
                    "pod {}/{}: mld_version is set but IPv6 is off: add `ipv6: true` to the lab",
                    node.name, pod.name
                )));
            }
            if !matches!(version, 1 | 2) {
                return Err(invalid(format!(
                    "pod {}/{}: mld_version {version} is not 1 or 2",
                    node.name, pod.name
                )));
            }
        }
        if let Some(address) = self.pod_address6(pod)
            && (address.is_multicast()
                || address.is_unicast_link_local()
                || address.is_loopback()
                || address.is_unspecified())
        {
            return Err(invalid(format!(
                "pod {}/{}: IPv6 address {address} (pod_cidr6 {} plus the host bits of {}) is \
                 not a unicast address a pod can hold; choose a global or unique local \
                 pod_cidr6 (e.g. {DEFAULT_POD_CIDR6})",
                node.name,
                pod.name,
                self.pod_cidr6(),
                pod.address
            )));
        }
        Ok(())
    }

    /// The pods' IPv6 prefix: `pod_cidr6`, or [`DEFAULT_POD_CIDR6`].
    pub fn pod_cidr6(&self) -> Cidr6 {
        self.pod_cidr6.unwrap_or(DEFAULT_POD_CIDR6)
    }

    /// The IPv6 address of `pod` in a dual-stack lab (`ipv6: true`; `None` otherwise): the
    /// network of [`LabSpec::pod_cidr6`] plus the pod's host bits in `pod_cidr`, so that
    /// 10.200.1.2 in 10.200.0.0/16 is fd00:200::102 (host bits 0x0102) in fd00:200::/64. It
    /// is as unique as the IPv4 address it comes from.
    pub fn pod_address6(&self, pod: &PodSpec) -> Option<Ipv6Addr> {
        if !self.ipv6 {
            return None;
        }
        let host_mask = u32::MAX
            .checked_shr(u32::from(self.pod_cidr.prefix))
            .unwrap_or(0);
        let host = u32::from(pod.address) & host_mask;
        let network = u128::from(self.pod_cidr6().network().address);
        Some(Ipv6Addr::from(network | u128::from(host)))
    }

    fn validate_host(&self, placement: &HostPlacement) -> Result<()> {
        if self.node(&placement.node).is_none() {
            return Err(invalid(format!(
                "host placement names node '{}', which lab {} does not have (its nodes: {})",
                placement.node,
                self.name,
                self.node_names()
            )));
        }
        if let Some(iface) = &placement.underlay_iface {
            check_iface_name(iface)?;
            let ours = iface == TUNNEL_IFACE
                || self
                    .nodes
                    .iter()
                    .flat_map(|n| &n.pods)
                    .any(|pod| host_iface(pod) == *iface);
            if ours {
                return Err(invalid(format!(
                    "underlay interface {iface} is one the lab creates; name the machine's own \
                     interface that holds the node's underlay address (e.g. eth1)"
                )));
            }
        }
        Ok(())
    }

    /// The host node: the one node deployed on this machine itself, if the lab is placed so.
    pub fn host_node(&self) -> Option<&NodeSpec> {
        self.host.as_ref().and_then(|p| self.node(&p.node))
    }

    /// The nodes deployed on this machine: every node, or only the host node.
    pub fn local_nodes(&self) -> impl Iterator<Item = &NodeSpec> {
        let host = self.host.as_ref().map(|p| p.node.as_str());
        self.nodes
            .iter()
            .filter(move |node| host.is_none_or(|name| node.name == name))
    }

    /// The namespace of node `node`: `<lab>-<node>`.
    pub fn node_netns(&self, node: &NodeSpec) -> String {
        format!("{}-{}", self.name, node.name)
    }

    /// The namespace of pod `pod` on node `node`: `<lab>-<node>-<pod>`.
    pub fn pod_netns(&self, node: &NodeSpec, pod: &PodSpec) -> String {
        format!("{}-{}-{}", self.name, node.name, pod.name)
    }

    /// The underlay namespace: `<lab>-ul`.
    pub fn underlay_netns(&self) -> String {
        format!("{}-{UNDERLAY_SUFFIX}", self.name)
    }

    /// Every namespace of the lab on this machine: underlay, nodes, pods. A host node's is the
    /// second name of the namespace it was deployed in; a lab placed on a host has no underlay
    /// namespace.
    pub fn namespaces(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.host.is_none() {
            names.push(self.underlay_netns());
        }
        for node in self.local_nodes() {
            names.push(self.node_netns(node));
            names.extend(node.pods.iter().map(|pod| self.pod_netns(node, pod)));
        }
        names
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|node| node.name == name)
    }
}

/// The host-side interface of pod `pod`, in its node: `veth-<pod>`.
pub fn host_iface(pod: &PodSpec) -> String {
    format!("veth-{}", pod.name)
}

fn invalid(reason: String) -> TopologyError {
    TopologyError::InvalidSpec { reason }
}

/// Checks the name of an existing interface: 1 to 15 bytes (`IFNAMSIZ` - 1), no '/', ':' or
/// white space, not `.` or `..` (the kernel's `dev_valid_name`).
pub fn check_iface_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if valid {
        Ok(())
    } else {
        Err(TopologyError::InvalidName {
            what: "interface",
            name: name.to_owned(),
            rule: "1 to 15 characters, no '/', ':' or white space",
        })
    }
}

/// Names become parts of namespace and interface names: lower-case letters and digits, short.
pub fn check_name(what: &'static str, name: &str, max_len: usize) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= max_len
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(TopologyError::InvalidName {
            what,
            name: name.to_owned(),
            rule: match what {
                "lab" => "1 to 12 lower-case letters or digits",
                _ => "1 to 8 lower-case letters or digits",
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_plan_is_deterministic() {
        let spec = LabSpec::generate("demo", 2, 3).unwrap();
        assert_eq!(spec, LabSpec::generate("demo", 2, 3).unwrap());
        let n2 = &spec.nodes[1];
        assert_eq!(n2.underlay_address, Ipv4Addr::new(172, 31, 255, 2));
        assert_eq!(n2.pods[2].address, Ipv4Addr::new(10, 200, 2, 3));
        assert_eq!(spec.pod_netns(n2, &n2.pods[2]), "demo-n2-p3");
        assert_eq!(host_iface(&n2.pods[2]), "veth-p3");
        assert_eq!(spec.namespaces().len(), 1 + 2 + 6);
    }

    #[test]
    fn yaml_round_trip_with_defaults() {
        let yaml = "name: mini\nnodes:\n  - name: a\n    underlay_address: 172.31.255.9\n    \
                    pods:\n      - {name: x, address: 10.200.9.1, igmp_version: 2}\n";
        let spec: LabSpec = serde_norway::from_str(yaml).unwrap();
        spec.validate().unwrap();
        assert_eq!(spec.vni, 42);
        assert_eq!(spec.pod_cidr.to_string(), "10.200.0.0/16");
        let again: LabSpec =
            serde_norway::from_str(&serde_norway::to_string(&spec).unwrap()).unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn bad_specs_are_refused_with_the_reason() {
        assert!(LabSpec::generate("Bad-Name", 1, 1).is_err());
        assert!(LabSpec::generate("ok", 0, 1).is_err());
        let mut spec = LabSpec::generate("ok", 2, 1).unwrap();
        spec.nodes[1].pods[0].address = spec.nodes[0].pods[0].address;
        let err = spec.validate().unwrap_err().to_string();
        assert!(err.contains("used twice"), "{err}");
        let mut spec = LabSpec::generate("ok", 1, 1).unwrap();
        spec.nodes[0].pods[0].igmp_version = Some(1);
        assert!(
            spec.validate()
                .unwrap_err()
                .to_string()
                .contains("not 2 or 3")
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    }

    #[test]
    fn a_dual_stack_lab_gives_each_pod_the_ipv6_address_of_its_host_bits() {
        let yaml = "name: dual\nipv6: true\nnodes:\n  - name: a\n    underlay_address: \
                    172.31.255.9\n    pods:\n      - {name: x, address: 10.200.9.1, \
                    mld_version: 1}\n      - {name: y, address: 10.200.255.254}\n";
        let spec: LabSpec = serde_norway::from_str(yaml).unwrap();
        spec.validate().unwrap();
        assert!(spec.ipv6);
        assert_eq!(spec.pod_cidr6, None);
        assert_eq!(spec.pod_cidr6().to_string(), "fd00:200::/64");
        let pods = &spec.nodes[0].pods;
        assert_eq!(pods[0].mld_version, Some(1));
        assert_eq!(
            spec.pod_address6(&pods[0]),
            Some("fd00:200::901".parse().unwrap())
        );
        assert_eq!(
            spec.pod_address6(&pods[1]),
            Some("fd00:200::fffe".parse().unwrap())
        );
        let again: LabSpec =
            serde_norway::from_str(&serde_norway::to_string(&spec).unwrap()).unwrap();
        assert_eq!(again, spec);

        let mut spec = spec;
        spec.pod_cidr = "10.0.0.0/8".parse().unwrap();
        spec.pod_cidr6 = Some("2001:db8:7::/96".parse().unwrap());
        spec.validate().unwrap();
        assert_eq!(
            spec.pod_address6(&spec.nodes[0].pods[0]),
            Some("2001:db8:7::c8:901".parse().unwrap()),
            "the 24 host bits of 10.200.9.1 in 10.0.0.0/8"
        );
    }

    #[test]
    fn an_ipv4_lab_has_no_ipv6_and_writes_none() {
        let spec = LabSpec::generate("four", 1, 1).unwrap();
        assert!(!spec.ipv6);
        assert_eq!(spec.pod_address6(&spec.nodes[0].pods[0]), None);
        let yaml = serde_norway::to_string(&spec).unwrap();
        assert!(
            !yaml.contains("ipv6") && !yaml.contains("cidr6") && !yaml.contains("mld"),
            "{yaml}"
        );
    }

    #[test]
    fn bad_ipv6_settings_are_refused_with_the_reason() {
        let dual = || {
            let mut spec = LabSpec::generate("dual", 1, 1).unwrap();
            spec.ipv6 = true;
            spec
        };
        let refused = |spec: LabSpec| spec.validate().unwrap_err().to_string();

        let mut spec = dual();
        spec.nodes[0].pods[0].mld_version = Some(3);
        assert_eq!(
            refused(spec),
            "invalid lab spec: pod n1/p1: mld_version 3 is not 1 or 2"
        );
        let mut spec = dual();
        spec.ipv6 = false;
        spec.nodes[0].pods[0].mld_version = Some(2);
        assert_eq!(
            refused(spec),
            "invalid lab spec: pod n1/p1: mld_version is set but IPv6 is off: add `ipv6: true` \
             to the lab"
        );
        let mut spec = dual();
        spec.ipv6 = false;
        spec.pod_cidr6 = Some(DEFAULT_POD_CIDR6);
        assert_eq!(
            refused(spec),
            "invalid lab spec: pod_cidr6 fd00:200::/64 is set but IPv6 is off: add `ipv6: true` \
             to the lab"
        );
        let mut spec = dual();
        spec.pod_cidr6 = Some("fd00:200::/120".parse().unwrap());
        assert_eq!(
            refused(spec),
            "invalid lab spec: pod_cidr6 fd00:200::/120 is too long: a pod's IPv6 address is the \
             prefix plus the pod's 16 host bits in pod_cidr 10.200.0.0/16, so it must be /112 or \
             shorter"
        );
        let mut spec = dual();
        spec.pod_cidr6 = Some("ff0e::/64".parse().unwrap());
        assert_eq!(
            refused(spec),
            "invalid lab spec: pod n1/p1: IPv6 address ff0e::101 (pod_cidr6 ff0e::/64 plus the \
             host bits of 10.200.1.1) is not a unicast address a pod can hold; choose a global or \
             unique local pod_cidr6 (e.g. fd00:200::/64)"
        );
        let mut spec = dual();
        spec.pod_cidr6 = Some("fe80::/64".parse().unwrap());
        assert!(refused(spec).contains("not a unicast address"));
        assert!("fd00::/129".parse::<Cidr6>().is_err());
        assert!("10.0.0.0/8".parse::<Cidr6>().is_err());
        let yaml = "name: bad\nipv6: yes please\nnodes:\n  - name: a\n    underlay_address: \
                    172.31.255.9\n";
        assert!(serde_norway::from_str::<LabSpec>(yaml).is_err());
    }

    #[test]
    fn a_nodes_record_limit_is_read_from_yaml_and_must_be_1_to_183() {
        let yaml = "name: mini\nnodes:\n  - name: a\n    underlay_address: 172.31.255.9\n    \
                    max_records: 40\n";
        let spec: LabSpec = serde_norway::from_str(yaml).unwrap();
        spec.validate().unwrap();
        assert_eq!(spec.nodes[0].max_records, Some(40));
        let again: LabSpec =
            serde_norway::from_str(&serde_norway::to_string(&spec).unwrap()).unwrap();
        assert_eq!(again, spec);
        for limit in [0, 184] {
            let mut spec = spec.clone();
            spec.nodes[0].max_records = Some(limit);
            assert_eq!(
                spec.validate().unwrap_err().to_string(),
                format!(
                    "invalid lab spec: node a: max_records {limit} is not in 1..=183 (the most \
                     records one IGMPv3 report on a 1500-byte MTU holds)"
                )
            );
        }
        let mut spec = spec;
        spec.nodes[0].max_records = Some(183);
        spec.validate().unwrap();
    }

    #[test]
    fn a_node_placed_on_the_host_takes_the_given_addresses_and_only_its_namespaces() {
        let mut spec = LabSpec::generate("vm", 2, 3).unwrap();
        let address: Cidr = "192.168.56.12/24".parse().unwrap();
        spec.place_on_host(
            "n2",
            Some("eth1".to_owned()),
            Some(address),
            &[Ipv4Addr::new(192, 168, 56, 11)],
        )
        .unwrap();
        assert_eq!(spec.underlay.to_string(), "192.168.56.0/24");
        assert_eq!(
            spec.nodes[0].underlay_address,
            Ipv4Addr::new(192, 168, 56, 11)
        );
        assert_eq!(
            spec.nodes[1].underlay_address,
            Ipv4Addr::new(192, 168, 56, 12)
        );
        assert_eq!(spec.host_node().unwrap().name, "n2");
        let local: Vec<&str> = spec.local_nodes().map(|n| n.name.as_str()).collect();
        assert_eq!(local, ["n2"]);
        assert_eq!(
            spec.namespaces(),
            ["vm-n2", "vm-n2-p1", "vm-n2-p2", "vm-n2-p3"],
            "the host node and its pods, no underlay namespace"
        );
        let again: LabSpec =
            serde_norway::from_str(&serde_norway::to_string(&spec).unwrap()).unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn bad_host_placements_are_refused_with_what_to_do() {
        let spec = LabSpec::generate("vm", 3, 1).unwrap();
        let place = |node: &str, iface: Option<&str>, peers: &[Ipv4Addr]| {
            let mut spec = spec.clone();
            spec.place_on_host(node, iface.map(str::to_owned), None, peers)
                .unwrap_err()
                .to_string()
        };
        let err = place("n9", None, &[]);
        assert!(
            err.contains("no node 'n9'") && err.contains("n1, n2, n3"),
            "{err}"
        );
        let err = place("n1", None, &[Ipv4Addr::new(172, 31, 255, 7)]);
        assert!(
            err.contains("1 peer addresses given") && err.contains("2 nodes besides"),
            "{err}"
        );
        let err = place("n1", Some("eth 1"), &[]);
        assert!(err.contains("invalid interface name"), "{err}");
        let err = place("n1", Some("vxlan0"), &[]);
        assert!(err.contains("one the lab creates"), "{err}");
        let err = place(
            "n1",
            None,
            &[Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)],
        );
        assert!(err.contains("outside 172.31.255.0/24"), "{err}");
        let yaml = "name: vm\nhost: {node: n1, underlay_iface: eth1}\nnodes:\n  - name: n2\n    \
                    underlay_address: 172.31.255.2\n";
        let spec: LabSpec = serde_norway::from_str(yaml).unwrap();
        let err = spec.validate().unwrap_err().to_string();
        assert!(err.contains("does not have"), "{err}");
    }
}
