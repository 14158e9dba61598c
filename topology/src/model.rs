//! The lab model (serde; the `lab.yaml` format) and its deterministic name and address plan.

use std::{collections::HashSet, fmt, net::Ipv4Addr, str::FromStr};

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
    /// Whether `address` is inside the prefix.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0);
        u32::from(address) & mask == u32::from(self.address) & mask
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
    /// The nodes.
    pub nodes: Vec<NodeSpec>,
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
            nodes: (1..=nodes as u8)
                .map(|i| NodeSpec {
                    name: format!("n{i}"),
                    underlay_address: Ipv4Addr::new(u0, u1, u2, i),
                    pods: (1..=pods as u8)
                        .map(|j| PodSpec {
                            name: format!("p{j}"),
                            address: Ipv4Addr::new(p0, p1, i, j),
                            igmp_version: None,
                            napi: false,
                        })
                        .collect(),
                })
                .collect(),
        };
        spec.validate()?;
        Ok(spec)
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
            }
        }
        Ok(())
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

    /// Every namespace of the lab: underlay, nodes, pods.
    pub fn namespaces(&self) -> Vec<String> {
        let mut names = vec![self.underlay_netns()];
        for node in &self.nodes {
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
        let spec: LabSpec = serde_yaml::from_str(yaml).unwrap();
        spec.validate().unwrap();
        assert_eq!(spec.vni, 42);
        assert_eq!(spec.pod_cidr.to_string(), "10.200.0.0/16");
        let again: LabSpec = serde_yaml::from_str(&serde_yaml::to_string(&spec).unwrap()).unwrap();
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
}
