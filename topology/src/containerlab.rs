//! Containerlab topology files (`.clab.yml`): export a lab so the same topology runs on
//! containerlab across real hosts, and import one to deploy here on plain namespaces.
//!
//! An export maps every node, pod and the underlay bridge to a `kind: linux` node with
//! `network-mode: none` (so `eth0` is the pod's interface, as here), every veth to a link, and
//! every address, route, vxlan device and sysctl to `exec` commands. Labels `mcastlab.*` carry
//! the lab model, so importing an export gives back the same [`LabSpec`]. A file without them
//! is deployed as it is: a namespace per linux node, a veth per link, its `exec` commands run
//! inside the node's namespace.

use std::{collections::BTreeMap, net::Ipv4Addr, os::fd::AsRawFd, process::Command};

use serde::{Deserialize, Serialize};

use crate::{
    error::{Result, TopologyError},
    model::{
        Cidr, Cidr6, LabSpec, NodeSpec, POD_IFACE, PodSpec, TUNNEL_IFACE, UNDERLAY_BRIDGE,
        UNDERLAY_IFACE, UNDERLAY_SUFFIX, VXLAN_PORT, check_name, host_iface,
    },
    namespaces::IPV6_ON,
    netlink::{Netlink, open_netns},
};

/// Container image of exported nodes: any image with iproute2, ethtool and a shell will do.
pub const EXPORT_IMAGE: &str = "nicolaka/netshoot:latest";

/// Label keys of an export.
mod label {
    pub const ROLE: &str = "mcastlab.role";
    pub const NODE: &str = "mcastlab.node";
    pub const POD: &str = "mcastlab.pod";
    pub const ADDRESS: &str = "mcastlab.address";
    pub const IGMP_VERSION: &str = "mcastlab.igmp-version";
    pub const MLD_VERSION: &str = "mcastlab.mld-version";
    pub const NAPI: &str = "mcastlab.napi";
    pub const MAX_RECORDS: &str = "mcastlab.max-records";
    pub const VNI: &str = "mcastlab.vni";
    pub const UNDERLAY: &str = "mcastlab.underlay";
    pub const POD_CIDR: &str = "mcastlab.pod-cidr";
    pub const IPV6: &str = "mcastlab.ipv6";
    pub const POD_CIDR6: &str = "mcastlab.pod-cidr6";
}

/// A containerlab topology file (the part mcastlab reads and writes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClabFile {
    /// The lab name.
    pub name: String,
    /// Nodes and links.
    pub topology: ClabTopology,
}

/// `topology:` of a containerlab file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClabTopology {
    /// Nodes by name (a node may be written with no settings at all).
    #[serde(default)]
    pub nodes: BTreeMap<String, Option<ClabNode>>,
    /// Links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<ClabLink>,
}

/// One node of a containerlab file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClabNode {
    /// Node kind; only `linux` (the default here) is deployed on namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Container image (not used on namespaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Container network mode; exports use `none`.
    #[serde(
        rename = "network-mode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub network_mode: Option<String>,
    /// Commands run in the node once its links exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exec: Vec<String>,
    /// Container labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Every other setting: accepted, not used on namespaces.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_norway::Value>,
}

/// A link, in the brief form (`endpoints: ["a:eth1", "b:eth1"]`) or the veth form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClabLink {
    /// `endpoints: ["node:iface", "node:iface"]`.
    Brief {
        /// The two endpoints.
        endpoints: Vec<String>,
    },
    /// `type: veth` with `endpoints: [{node, interface}, ...]`.
    Veth {
        /// Always "veth".
        r#type: String,
        /// The two endpoints.
        endpoints: Vec<ClabEndpoint>,
    },
}

/// An endpoint of a `type: veth` link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClabEndpoint {
    /// The node.
    pub node: String,
    /// Its interface.
    pub interface: String,
}

impl ClabLink {
    /// The two (node, interface) ends.
    pub fn ends(&self) -> Result<[(String, String); 2]> {
        let ends: Vec<(String, String)> = match self {
            ClabLink::Brief { endpoints } => endpoints
                .iter()
                .map(|e| {
                    e.split_once(':')
                        .map(|(node, iface)| (node.to_owned(), iface.to_owned()))
                        .ok_or_else(|| invalid(format!("link endpoint '{e}' is not node:iface")))
                })
                .collect::<Result<_>>()?,
            ClabLink::Veth { r#type, endpoints } => {
                if r#type != "veth" {
                    return Err(invalid(format!("link type '{type}' is not supported here")));
                }
                endpoints
                    .iter()
                    .map(|e| (e.node.clone(), e.interface.clone()))
                    .collect()
            }
        };
        <[(String, String); 2]>::try_from(ends)
            .map_err(|ends| invalid(format!("a link has {} endpoints, not 2", ends.len())))
    }
}

fn invalid(reason: String) -> TopologyError {
    TopologyError::InvalidSpec { reason }
}

/// The containerlab node names of an export: `<node>`, `<node>-<pod>` and `ul`.
fn pod_node_name(node: &NodeSpec, pod: &PodSpec) -> String {
    format!("{}-{}", node.name, pod.name)
}

fn linux_node(exec: Vec<String>, labels: BTreeMap<String, String>) -> Option<ClabNode> {
    Some(ClabNode {
        kind: Some("linux".to_owned()),
        image: Some(EXPORT_IMAGE.to_owned()),
        network_mode: Some("none".to_owned()),
        exec,
        labels,
        other: BTreeMap::new(),
    })
}

/// The containerlab file of `spec`: every node of the lab (a host placement says where one node
/// was deployed, not what the lab is, and is left out).
pub fn export(spec: &LabSpec) -> ClabFile {
    let mut nodes = BTreeMap::new();
    let mut links = Vec::new();
    let lab_labels = |role: &str| {
        let mut labels = BTreeMap::from([
            (label::ROLE.to_owned(), role.to_owned()),
            (label::VNI.to_owned(), spec.vni.to_string()),
            (label::UNDERLAY.to_owned(), spec.underlay.to_string()),
            (label::POD_CIDR.to_owned(), spec.pod_cidr.to_string()),
        ]);
        if spec.ipv6 {
            labels.insert(label::IPV6.to_owned(), "true".to_owned());
        }
        if let Some(cidr) = spec.pod_cidr6 {
            labels.insert(label::POD_CIDR6.to_owned(), cidr.to_string());
        }
        labels
    };

    let mut underlay_exec = vec![
        format!("ip link add {UNDERLAY_BRIDGE} type bridge mcast_snooping 0"),
        format!("ip link set {UNDERLAY_BRIDGE} up"),
    ];
    for node in &spec.nodes {
        underlay_exec.push(format!(
            "ip link set {} master {UNDERLAY_BRIDGE}",
            node.name
        ));
        underlay_exec.push(format!("ip link set {} up", node.name));
        links.push(ClabLink::Brief {
            endpoints: vec![
                format!("{}:{UNDERLAY_IFACE}", node.name),
                format!("{UNDERLAY_SUFFIX}:{}", node.name),
            ],
        });

        let mut exec = vec![
            format!(
                "ip addr add {}/{} dev {UNDERLAY_IFACE}",
                node.underlay_address, spec.underlay.prefix
            ),
            format!("ip link set {UNDERLAY_IFACE} up"),
            format!("ip link add {TUNNEL_IFACE} type vxlan external dstport {VXLAN_PORT}"),
            format!("ip link set {TUNNEL_IFACE} up"),
        ];
        let mut labels = lab_labels("node");
        labels.insert(label::NODE.to_owned(), node.name.clone());
        labels.insert(label::ADDRESS.to_owned(), node.underlay_address.to_string());
        if let Some(limit) = node.max_records {
            labels.insert(label::MAX_RECORDS.to_owned(), limit.to_string());
        }

        for pod in &node.pods {
            let host = host_iface(pod);
            if spec.ipv6 {
                exec.push(ipv6_on(&host));
            }
            exec.push(format!("ip link set {host} up"));
            if pod.napi {
                exec.push(format!("ethtool -K {host} tso off"));
                exec.push(format!("tc qdisc add dev {host} root pfifo limit 4096"));
            }
            let name = pod_node_name(node, pod);
            links.push(ClabLink::Brief {
                endpoints: vec![
                    format!("{}:{host}", node.name),
                    format!("{name}:{POD_IFACE}"),
                ],
            });
            let mut pod_exec = vec![format!(
                "ip addr add {}/{} dev {POD_IFACE}",
                pod.address, spec.pod_cidr.prefix
            )];
            if let Some(address) = spec.pod_address6(pod) {
                pod_exec.push(ipv6_on(POD_IFACE));
                pod_exec.push(format!(
                    "ip -6 addr add {address}/{} dev {POD_IFACE} nodad",
                    spec.pod_cidr6().prefix
                ));
            }
            pod_exec.push(format!("ip link set {POD_IFACE} up"));
            pod_exec.push(format!("ip route add 224.0.0.0/4 dev {POD_IFACE}"));
            let mut pod_labels = lab_labels("pod");
            pod_labels.insert(label::NODE.to_owned(), node.name.clone());
            pod_labels.insert(label::POD.to_owned(), pod.name.clone());
            pod_labels.insert(label::ADDRESS.to_owned(), pod.address.to_string());
            if let Some(version) = pod.igmp_version {
                pod_exec.push(format!(
                    "sysctl -w net.ipv4.conf.{POD_IFACE}.force_igmp_version={version}"
                ));
                pod_labels.insert(label::IGMP_VERSION.to_owned(), version.to_string());
            }
            if let Some(version) = pod.mld_version {
                pod_exec.push(format!(
                    "sysctl -w net.ipv6.conf.{POD_IFACE}.force_mld_version={version}"
                ));
                pod_labels.insert(label::MLD_VERSION.to_owned(), version.to_string());
            }
            if pod.napi {
                pod_exec.push(format!("ethtool -K {POD_IFACE} gro on"));
                pod_labels.insert(label::NAPI.to_owned(), "true".to_owned());
            }
            nodes.insert(name, linux_node(pod_exec, pod_labels));
        }
        nodes.insert(node.name.clone(), linux_node(exec, labels));
    }
    nodes.insert(
        UNDERLAY_SUFFIX.to_owned(),
        linux_node(underlay_exec, lab_labels("underlay")),
    );
    ClabFile {
        name: spec.name.clone(),
        topology: ClabTopology { nodes, links },
    }
}

/// `sysctl -w net.ipv6.conf.IFACE.accept_dad=0 ...`: IPv6 on for `iface` as a dual-stack lab
/// deploy turns it on ([`IPV6_ON`], in its order).
fn ipv6_on(iface: &str) -> String {
    let settings: Vec<String> = IPV6_ON
        .iter()
        .map(|(key, value)| format!("net.ipv6.conf.{iface}.{key}={value}"))
        .collect();
    format!("sysctl -w {}", settings.join(" "))
}

/// What an imported file is.
#[derive(Clone, Debug, PartialEq)]
pub enum Imported {
    /// An mcastlab export: the lab it came from.
    Lab(LabSpec),
    /// Any other containerlab file, to deploy as it is with [`deploy_generic`].
    Generic(ClabFile),
}

/// Reads a containerlab file.
pub fn import(yaml: &str) -> Result<Imported> {
    let file: ClabFile = serde_norway::from_str(yaml).map_err(|source| TopologyError::File {
        path: "<containerlab file>".into(),
        source: Box::new(source),
    })?;
    let role = |node: &Option<ClabNode>| {
        node.as_ref()
            .and_then(|n| n.labels.get(label::ROLE).cloned())
    };
    if file.topology.nodes.is_empty() || file.topology.nodes.values().any(|n| role(n).is_none()) {
        return Ok(Imported::Generic(file));
    }
    lab_from_labels(&file).map(Imported::Lab)
}

fn lab_from_labels(file: &ClabFile) -> Result<LabSpec> {
    let get = |node: &ClabNode, key: &str| -> Result<String> {
        node.labels
            .get(key)
            .cloned()
            .ok_or_else(|| invalid(format!("an mcastlab node lacks label {key}")))
    };
    let parse_cidr = |text: String| text.parse::<Cidr>().map_err(invalid);
    let parse_addr = |text: String| {
        text.parse::<Ipv4Addr>()
            .map_err(|_| invalid(format!("'{text}' is not an IPv4 address")))
    };
    let nodes: Vec<&ClabNode> = file.topology.nodes.values().flatten().collect();
    let first = nodes
        .first()
        .ok_or_else(|| invalid("no nodes".to_owned()))?;
    let mut spec = LabSpec {
        name: file.name.clone(),
        vni: get(first, label::VNI)?
            .parse()
            .map_err(|_| invalid("label mcastlab.vni is not a number".to_owned()))?,
        underlay: parse_cidr(get(first, label::UNDERLAY)?)?,
        pod_cidr: parse_cidr(get(first, label::POD_CIDR)?)?,
        ipv6: first.labels.get(label::IPV6).is_some_and(|v| v == "true"),
        pod_cidr6: first
            .labels
            .get(label::POD_CIDR6)
            .map(|text| text.parse::<Cidr6>().map_err(invalid))
            .transpose()?,
        nodes: Vec::new(),
        host: None,
    };
    for node in nodes
        .iter()
        .filter(|n| n.labels.get(label::ROLE).map(String::as_str) == Some("node"))
    {
        spec.nodes.push(NodeSpec {
            name: get(node, label::NODE)?,
            underlay_address: parse_addr(get(node, label::ADDRESS)?)?,
            pods: Vec::new(),
            max_records: node
                .labels
                .get(label::MAX_RECORDS)
                .map(|limit| {
                    limit.parse().map_err(|_| {
                        invalid(format!("label {} is not a number", label::MAX_RECORDS))
                    })
                })
                .transpose()?,
        });
    }
    // Nodes in their numeric order when named n<i>, else by name.
    spec.nodes.sort_by_key(|n| {
        (
            n.name.trim_start_matches('n').parse::<u32>().ok(),
            n.name.clone(),
        )
    });
    for pod in nodes
        .iter()
        .filter(|n| n.labels.get(label::ROLE).map(String::as_str) == Some("pod"))
    {
        let node_name = get(pod, label::NODE)?;
        let version = match pod.labels.get(label::IGMP_VERSION) {
            Some(v) => Some(
                v.parse()
                    .map_err(|_| invalid(format!("igmp version '{v}'")))?,
            ),
            None => None,
        };
        let mld_version = pod
            .labels
            .get(label::MLD_VERSION)
            .map(|v| v.parse().map_err(|_| invalid(format!("mld version '{v}'"))))
            .transpose()?;
        let pod_spec = PodSpec {
            name: get(pod, label::POD)?,
            address: parse_addr(get(pod, label::ADDRESS)?)?,
            igmp_version: version,
            mld_version,
            napi: pod.labels.get(label::NAPI).is_some_and(|v| v == "true"),
        };
        spec.nodes
            .iter_mut()
            .find(|n| n.name == node_name)
            .ok_or_else(|| {
                invalid(format!(
                    "pod {} names unknown node {node_name}",
                    pod_spec.name
                ))
            })?
            .pods
            .push(pod_spec);
    }
    for node in &mut spec.nodes {
        node.pods.sort_by_key(|p| {
            (
                p.name.trim_start_matches('p').parse::<u32>().ok(),
                p.name.clone(),
            )
        });
    }
    spec.validate()?;
    Ok(spec)
}

/// Deploys a containerlab file as it is, as lab `lab`: a namespace `<lab>-<node>` per linux
/// node, a veth pair per link, then each node's `exec` commands run by `sh -c` inside its
/// namespace. Remove it with [`crate::deploy::destroy`]. Needs root.
pub fn deploy_generic(lab: &str, file: &ClabFile) -> Result<Vec<String>> {
    check_name("lab", lab, 12)?;
    for (name, node) in &file.topology.nodes {
        let kind = node
            .as_ref()
            .and_then(|n| n.kind.as_deref())
            .unwrap_or("linux");
        if kind != "linux" {
            return Err(invalid(format!(
                "node {name} is of kind '{kind}': only linux nodes deploy on namespaces"
            )));
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| TopologyError::Io {
            action: "starting the tokio runtime for",
            path: "containerlab deploy".into(),
            source,
        })?;
    let result = runtime.block_on(build_generic(lab, file));
    match result {
        Ok(names) => Ok(names),
        Err(err) => {
            let _ = crate::deploy::destroy(lab);
            Err(err)
        }
    }
}

async fn build_generic(lab: &str, file: &ClabFile) -> Result<Vec<String>> {
    let netns = |node: &str| format!("{lab}-{node}");
    let mut names = Vec::new();
    for node in file.topology.nodes.keys() {
        let name = netns(node);
        crate::namespaces::create_netns(&name, crate::namespaces::Ipv6Mode::Off)?;
        Netlink::open(&name)?.up("lo").await?;
        names.push(name);
    }
    for link in &file.topology.links {
        let [(a_node, a_iface), (b_node, b_iface)] = link.ends()?;
        for node in [&a_node, &b_node] {
            if !file.topology.nodes.contains_key(node.as_str()) {
                return Err(invalid(format!("a link names unknown node {node}")));
            }
        }
        let a = Netlink::open(&netns(&a_node))?;
        // Created with a temporary peer name in a's namespace, then moved and renamed.
        let peer = format!("mclpeer{}", names.len());
        a.add_veth(&a_iface, &peer).await?;
        a.move_to(&peer, &open_netns(&netns(&b_node))?).await?;
        let b = Netlink::open(&netns(&b_node))?;
        b.rename(&peer, &b_iface).await?;
        names.push(format!("{a_node}:{a_iface}--{b_node}:{b_iface}"));
    }
    for (node, settings) in &file.topology.nodes {
        for command in settings.iter().flat_map(|s| s.exec.iter()) {
            run_in_netns(&netns(node), command)?;
        }
    }
    Ok(names)
}

/// Runs `sh -c COMMAND` with its network namespace switched to `netns` (its mounts stay ours).
fn run_in_netns(netns: &str, command: &str) -> Result<()> {
    use std::os::unix::process::CommandExt as _;

    let ns = open_netns(netns)?;
    let fd = ns.file().as_raw_fd();
    let mut child = Command::new("sh");
    child.arg("-c").arg(command);
    // SAFETY: setns(2) is async-signal-safe; the descriptor stays open until spawn returns.
    unsafe {
        child.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let output = child.output().map_err(|source| TopologyError::Io {
        action: "running an exec command in",
        path: netns.into(),
        source,
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(invalid(format!(
            "exec '{command}' in {netns} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_then_import_gives_the_same_lab() {
        let mut spec = LabSpec::generate("demo", 2, 3).unwrap();
        spec.nodes[1].pods[0].igmp_version = Some(2);
        spec.nodes[0].pods[2].napi = true;
        spec.nodes[1].max_records = Some(40);
        let yaml = serde_norway::to_string(&export(&spec)).unwrap();
        assert_eq!(import(&yaml).unwrap(), Imported::Lab(spec));
    }

    #[test]
    fn a_dual_stack_lab_exports_its_ipv6_and_imports_the_same() {
        let mut spec = LabSpec::generate("dual", 2, 2).unwrap();
        spec.ipv6 = true;
        spec.pod_cidr6 = Some("fd00:99::/64".parse().unwrap());
        spec.nodes[0].pods[1].mld_version = Some(1);
        spec.validate().unwrap();
        let file = export(&spec);
        let pod = file.topology.nodes["n1-p2"].as_ref().unwrap();
        assert_eq!(
            pod.exec[..3],
            [
                "ip addr add 10.200.1.2/16 dev eth0",
                "sysctl -w net.ipv6.conf.eth0.accept_dad=0 \
                 net.ipv6.conf.eth0.router_solicitations=0 net.ipv6.conf.eth0.disable_ipv6=0",
                "ip -6 addr add fd00:99::102/64 dev eth0 nodad",
            ]
        );
        assert!(
            pod.exec
                .contains(&"sysctl -w net.ipv6.conf.eth0.force_mld_version=1".to_owned()),
            "{:?}",
            pod.exec
        );
        let node = file.topology.nodes["n1"].as_ref().unwrap();
        assert!(
            node.exec.contains(
                &"sysctl -w net.ipv6.conf.veth-p1.accept_dad=0 \
                  net.ipv6.conf.veth-p1.router_solicitations=0 \
                  net.ipv6.conf.veth-p1.disable_ipv6=0"
                    .to_owned()
            ),
            "{:?}",
            node.exec
        );
        let yaml = serde_norway::to_string(&file).unwrap();
        assert_eq!(import(&yaml).unwrap(), Imported::Lab(spec));
    }

    #[test]
    fn an_ipv4_lab_exports_no_ipv6() {
        let yaml = serde_norway::to_string(&export(&LabSpec::generate("four", 1, 1).unwrap()));
        let yaml = yaml.unwrap();
        assert!(!yaml.contains("ipv6"), "{yaml}");
    }

    #[test]
    fn a_foreign_file_is_generic() {
        let yaml = "name: two\ntopology:\n  nodes:\n    a: {kind: linux, image: alpine}\n    \
                    b:\n  links:\n    - endpoints: [\"a:eth1\", \"b:eth1\"]\n";
        let Imported::Generic(file) = import(yaml).unwrap() else {
            panic!("expected a generic file");
        };
        assert_eq!(file.topology.nodes.len(), 2);
        let ends = file.topology.links[0].ends().unwrap();
        assert_eq!(ends[1], ("b".to_owned(), "eth1".to_owned()));
    }
}
