//! `mcastlab up|down|status`: the lab's lifecycle.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use mcastlab_lab as lab;
use mcastlab_topology::{
    LabSpec, TopologyError,
    containerlab::{self, ClabFile, Imported},
    model::{Cidr, DEFAULT_NODES, DEFAULT_PODS},
    state,
};

use super::{
    output::{OutputArg, OutputFormat, print_json, print_outcome, print_table},
    progress::Progress,
};

/// The lab name used when none is given.
pub const DEFAULT_LAB: &str = "mcastlab";

/// Arguments of `mcastlab up`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Namespaces: <lab>-<node> for nodes, <lab>-<node>-<pod> for pods (eth0), \
                        <lab>-ul for the underlay bridge. Pod addresses 10.200.<node>.<pod>/16 \
                        (with --ipv6 also fd00:200::<its host bits>/64: fd00:200::102 for n1 \
                        p2), node underlay 172.31.255.<node>/24, vxlan0 external on UDP 4789.\n\n\
                        One node per machine (the two-VM lab), on each VM:\n  \
                        mcastlab up --lab vm --host n1 --underlay-address 192.168.56.11/24 \
                        --peer 192.168.56.12\n  \
                        mcastlab up --lab vm --host n2 --underlay-address 192.168.56.12/24 \
                        --peer 192.168.56.11\n\
                        The node is then the namespace `up` ran in, named vm-n1 (vm-n2) for \
                        --node; `mcastlab down --lab vm` removes only what `up` made."
)]
pub struct UpArgs {
    /// A lab file: mcastlab's YAML (docs/lab.md) or a containerlab .clab.yml; without it a lab
    /// is generated. A containerlab file not exported by mcastlab is deployed as it is.
    #[arg(long, short = 'f', conflicts_with_all = ["nodes", "pods"])]
    file: Option<PathBuf>,
    /// Name of the generated lab (1-12 lower-case letters/digits).
    #[arg(long, default_value = DEFAULT_LAB)]
    lab: String,
    /// Nodes of the generated lab.
    #[arg(long, default_value_t = DEFAULT_NODES)]
    nodes: usize,
    /// Pods per node of the generated lab.
    #[arg(long, default_value_t = DEFAULT_PODS)]
    pods: usize,
    /// Dual stack: the generated lab's pods get IPv6 too (fd00:200::<host bits>/64, IPv6 on
    /// in the pods and on their host veths, so they speak MLD); a lab file says `ipv6: true`.
    #[arg(long, conflicts_with = "file")]
    ipv6: bool,
    /// Do not start the node agents (querier, dead-pod cleanup, membership between nodes):
    /// membership then comes only from the reports pods send on their own, and nodes reach
    /// each other only through static `subscriber add` entries.
    #[arg(long)]
    no_agent: bool,
    #[command(flatten)]
    host: HostArgs,
    #[command(flatten)]
    output: OutputArg,
}

/// Options of `mcastlab up` that place one node on this machine itself.
#[derive(Debug, clap::Args)]
pub struct HostArgs {
    /// Deploy only node NODE, on this machine itself: the node is the network namespace this
    /// command runs in (a VM's own), its pods are namespaces behind veths in it, its vxlan0
    /// reaches the other nodes (other machines) over an interface the machine already has.
    /// The namespace is named <lab>-<NODE> for --node; down removes only what up made.
    #[arg(long, value_name = "NODE")]
    host: Option<String>,
    /// With --host: the machine's interface holding the node's underlay address, e.g. eth1
    /// (default: whichever interface holds it).
    #[arg(long, requires = "host", value_name = "IFACE")]
    underlay_iface: Option<String>,
    /// With --host: the node's underlay address on this machine; its prefix becomes the lab's
    /// underlay (default: the address the lab file or plan gives the node).
    #[arg(long, requires = "host", value_name = "A.B.C.D/LEN")]
    underlay_address: Option<Cidr>,
    /// With --host: the other nodes' underlay addresses, one per other node in node order
    /// (repeat or comma-separate; default: the lab file's or plan's).
    #[arg(
        long = "peer",
        requires = "host",
        value_delimiter = ',',
        value_name = "ADDR"
    )]
    peers: Vec<Ipv4Addr>,
}

impl HostArgs {
    /// Places the `--host` node of `spec` on this machine; nothing without `--host`.
    fn place(&self, spec: &mut LabSpec) -> anyhow::Result<()> {
        if let Some(node) = &self.host {
            spec.place_on_host(
                node,
                self.underlay_iface.clone(),
                self.underlay_address,
                &self.peers,
            )?;
        }
        Ok(())
    }
}

/// Arguments of `mcastlab down`.
#[derive(Debug, clap::Args)]
pub struct DownArgs {
    /// The lab to remove (also cleans what a crashed run left).
    #[arg(long, default_value = DEFAULT_LAB)]
    lab: String,
    /// The lab file `up -f` took (lab.yaml or .clab.yml): removes the lab it names.
    #[arg(long, short = 'f', conflicts_with = "lab")]
    file: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArg,
}

/// Arguments of `mcastlab status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The lab; without it, every recorded lab.
    #[arg(long)]
    lab: Option<String>,
    #[command(flatten)]
    output: OutputArg,
}

/// What `--file` held.
pub enum LabSource {
    /// A lab of mcastlab's own (a lab.yaml, or a containerlab file exported by mcastlab).
    Lab(LabSpec),
    /// A foreign containerlab file, deployed as it is.
    Containerlab(ClabFile),
}

/// Whether a file is a containerlab topology (by name, or by its top-level `topology:` key).
fn is_containerlab(path: &Path, text: &str) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".clab.yml")
        || name.ends_with(".clab.yaml")
        || text.lines().any(|line| line.starts_with("topology:"))
}

/// Reads a lab file (lab.yaml or .clab.yml) or generates a lab.
pub fn lab_source(
    file: Option<&PathBuf>,
    name: &str,
    nodes: usize,
    pods: usize,
) -> anyhow::Result<LabSource> {
    let Some(path) = file else {
        return Ok(LabSource::Lab(LabSpec::generate(name, nodes, pods)?));
    };
    let file_error = |source: Box<dyn std::error::Error + Send + Sync>| TopologyError::File {
        path: path.clone(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(|err| file_error(Box::new(err)))?;
    if is_containerlab(path, &text) {
        return Ok(match containerlab::import(&text)? {
            Imported::Lab(spec) => LabSource::Lab(spec),
            Imported::Generic(file) => LabSource::Containerlab(file),
        });
    }
    let spec: LabSpec = serde_norway::from_str(&text).map_err(|err| file_error(Box::new(err)))?;
    spec.validate()?;
    Ok(LabSource::Lab(spec))
}

/// A lab spec from a lab file or generated (for commands that need mcastlab's model).
pub fn lab_spec(
    file: Option<&PathBuf>,
    name: &str,
    nodes: usize,
    pods: usize,
) -> anyhow::Result<LabSpec> {
    match lab_source(file, name, nodes, pods)? {
        LabSource::Lab(spec) => Ok(spec),
        LabSource::Containerlab(file) => anyhow::bail!(
            "{} is a containerlab file not made by mcastlab: it has no mcastlab lab model",
            file.name
        ),
    }
}

pub fn run_up(args: UpArgs) -> anyhow::Result<()> {
    let mut spec = match lab_source(args.file.as_ref(), &args.lab, args.nodes, args.pods)? {
        LabSource::Lab(spec) => spec,
        LabSource::Containerlab(file) if args.host.host.is_some() => anyhow::bail!(
            "--host needs an mcastlab lab (a lab.yaml or an mcastlab export); {} is a foreign \
             containerlab file",
            file.name
        ),
        LabSource::Containerlab(file) => return up_containerlab(&args, &file),
    };
    if args.ipv6 {
        spec.ipv6 = true;
        spec.validate()?;
    }
    args.host.place(&mut spec)?;
    let mut progress = Progress::new(Some(lab::up_steps(&spec) as u64));
    match spec.host_node() {
        Some(node) => progress.line(&format!(
            "deploying node {} of lab {} on this machine ({} pods, underlay {})",
            node.name,
            spec.name,
            node.pods.len(),
            node.underlay_address
        )),
        None => progress.line(&format!(
            "deploying lab {}: {} nodes, {} pods",
            spec.name,
            spec.nodes.len(),
            spec.nodes.iter().map(|n| n.pods.len()).sum::<usize>()
        )),
    }
    lab::up_with_progress(&spec, &mut |step| progress.step(step))?;
    if spec
        .nodes
        .iter()
        .any(|node| node.pods.iter().any(|pod| pod.napi))
        && let Some(reason) = mcastlab_dataplane::kernel::napi_loss_reason()
    {
        tracing::warn!("pods with napi: true: {reason}");
    }
    if !args.no_agent {
        let exe = std::env::current_exe()?;
        for node in spec.local_nodes() {
            let netns = spec.node_netns(node);
            let peering = lab::peering(&spec, node);
            let pid = lab::agents::start(&exe, &netns, &mcastlab_agent::Settings::LAB, &peering)?;
            progress.line(&format!("agent of {netns} started (pid {pid})"));
        }
    }
    drop(progress);
    // The record holds what deploy found (the underlay interface of a host node).
    let spec = lab::spec(&spec.name)?;
    match args.output.output {
        OutputFormat::Json => print_json(&spec),
        OutputFormat::Table => {
            print_spec(&spec);
            if let Some(node) = spec.host_node() {
                print_host_hint(&spec, node);
            }
            Ok(())
        }
    }
}

/// How to reach a host node and connect it to the other machines' nodes.
fn print_host_hint(spec: &LabSpec, node: &mcastlab_topology::NodeSpec) {
    let netns = spec.node_netns(node);
    let iface = spec
        .host
        .as_ref()
        .and_then(|p| p.underlay_iface.as_deref())
        .unwrap_or("?");
    println!(
        "node {} is this machine's network namespace, named {netns} (underlay {iface}); for \
         cross-node delivery of a group G:",
        node.name
    );
    println!("  mcastlab group add --node {netns} G");
    for other in spec.nodes.iter().filter(|o| o.name != node.name) {
        println!(
            "  mcastlab subscriber add --node {netns} G {}    # node {}",
            other.underlay_address, other.name
        );
    }
    println!("remove with `mcastlab down --lab {}`", spec.name);
}

/// Deploys a foreign containerlab file as it is (no dataplane: which interfaces are pods is
/// not known), under `--lab` or the file's own name.
fn up_containerlab(args: &UpArgs, file: &ClabFile) -> anyhow::Result<()> {
    let lab = if args.lab == DEFAULT_LAB {
        &file.name
    } else {
        &args.lab
    };
    mcastlab_topology::model::check_name("lab", lab, 12).map_err(|err| {
        anyhow::anyhow!("{err}; the file's name cannot prefix namespaces, give --lab NAME")
    })?;
    eprintln!(
        "deploying containerlab file {} as lab {lab}: {} nodes, {} links",
        file.name,
        file.topology.nodes.len(),
        file.topology.links.len()
    );
    let built = containerlab::deploy_generic(lab, file)?;
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({ "lab": lab, "built": built })),
        OutputFormat::Table => {
            for item in &built {
                println!("{item}");
            }
            println!(
                "namespaces are {lab}-<node>; no dataplane attached (attach it with `mcastlab \
                 dataplane attach`); remove with `mcastlab down --lab {lab}`"
            );
            Ok(())
        }
    }
}

/// Arguments of `mcastlab export`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "With -o json the containerlab document is printed as JSON; with --out \
                        -o json prints what was written."
)]
pub struct ExportArgs {
    /// A deployed lab to export.
    #[arg(long, conflicts_with_all = ["file", "nodes", "pods"])]
    lab: Option<String>,
    /// A lab file to export.
    #[arg(long, short = 'f', conflicts_with_all = ["nodes", "pods"])]
    file: Option<PathBuf>,
    /// Nodes of a generated lab.
    #[arg(long, default_value_t = DEFAULT_NODES)]
    nodes: usize,
    /// Pods per node of a generated lab.
    #[arg(long, default_value_t = DEFAULT_PODS)]
    pods: usize,
    /// Name of a generated lab.
    #[arg(long, default_value = DEFAULT_LAB)]
    name: String,
    /// Write here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArg,
}

pub fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    let spec = match &args.lab {
        Some(lab) => lab::spec(lab)?,
        None => lab_spec(args.file.as_ref(), &args.name, args.nodes, args.pods)?,
    };
    let exported = containerlab::export(&spec);
    match (&args.out, args.output.output) {
        (Some(path), format) => {
            std::fs::write(path, serde_norway::to_string(&exported)?)?;
            print_outcome(
                format,
                serde_json::json!({ "action": "exported", "lab": spec.name, "file": path }),
                format!("wrote {}", path.display()),
            )?;
        }
        (None, OutputFormat::Json) => print_json(&exported)?,
        (None, OutputFormat::Table) => print!("{}", serde_norway::to_string(&exported)?),
    }
    Ok(())
}

pub fn run_down(args: DownArgs) -> anyhow::Result<()> {
    let lab = match &args.file {
        Some(file) => match lab_source(Some(file), DEFAULT_LAB, 0, 0)? {
            LabSource::Lab(spec) => spec.name,
            LabSource::Containerlab(file) => file.name,
        },
        None => args.lab,
    };
    let report = lab::down(&lab)?;
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "action": "removed", "lab": lab, "agents_stopped": report.agents,
            "detached": report.detached, "namespaces": report.namespaces,
        })),
        OutputFormat::Table => {
            if report.namespaces.is_empty()
                && report.detached.is_empty()
                && report.agents.is_empty()
            {
                println!("nothing of lab {lab} was there");
            } else {
                println!(
                    "lab {lab}: stopped {} agents, detached {} dataplanes, removed {} namespaces",
                    report.agents.len(),
                    report.detached.len(),
                    report.namespaces.len()
                );
            }
            Ok(())
        }
    }
}

pub fn run_status(args: StatusArgs) -> anyhow::Result<()> {
    let labs = match args.lab {
        Some(name) => vec![name],
        None => state::labs()?,
    };
    let mut statuses = Vec::new();
    for name in labs {
        statuses.push(lab_status(&name)?);
    }
    match args.output.output {
        OutputFormat::Json => print_json(&statuses),
        OutputFormat::Table => {
            if statuses.is_empty() {
                println!("no lab is deployed");
            }
            for status in &statuses {
                println!("lab {}:", status["lab"].as_str().unwrap_or_default());
                let rows: Vec<Vec<String>> = status["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|node| {
                        vec![
                            node["namespace"].as_str().unwrap_or_default().to_owned(),
                            node["exists"].to_string(),
                            node["dataplane"].to_string(),
                            node["groups"].to_string(),
                            node["pods"].to_string(),
                        ]
                    })
                    .collect();
                print_table(&["NODE", "EXISTS", "DATAPLANE", "GROUPS", "PODS"], &rows);
            }
            Ok(())
        }
    }
}

/// The state of one lab as JSON: its spec, and per node whether the namespace exists, whether
/// the dataplane is attached, and its group count.
fn lab_status(name: &str) -> anyhow::Result<serde_json::Value> {
    let spec = lab::spec(name)?;
    let present = mcastlab_topology::deploy::lab_namespaces(name)?;
    let mut nodes = Vec::new();
    for node in spec.local_nodes() {
        let namespace = spec.node_netns(node);
        let exists = present.contains(&namespace);
        let dataplane = exists
            && mcastlab_dataplane::Node::open(&namespace)
                .map(|n| n.pins().is_attached())
                .unwrap_or(false);
        let groups = if dataplane {
            lab::dataplane_node(&spec, node)?.groups()?.groups()?.len()
        } else {
            0
        };
        nodes.push(serde_json::json!({
            "name": node.name,
            "namespace": namespace,
            "exists": exists,
            "dataplane": dataplane,
            "groups": groups,
            "pods": node.pods.len(),
            "pod_namespaces": node.pods.iter().map(|p| spec.pod_netns(node, p)).collect::<Vec<_>>(),
        }));
    }
    Ok(serde_json::json!({
        "lab": name,
        "namespaces_present": present.len(),
        "namespaces_expected": spec.namespaces().len(),
        "spec": spec,
        "nodes": nodes,
    }))
}

fn print_spec(spec: &LabSpec) {
    let rows: Vec<Vec<String>> = spec
        .local_nodes()
        .flat_map(|node| {
            node.pods.iter().map(move |pod| {
                let mut row = vec![spec.pod_netns(node, pod), pod.address.to_string()];
                row.extend(spec.pod_address6(pod).map(|address| address.to_string()));
                row.extend([spec.node_netns(node), node.underlay_address.to_string()]);
                row
            })
        })
        .collect();
    let headers: &[&str] = if spec.ipv6 {
        &[
            "POD NAMESPACE",
            "ADDRESS",
            "IPV6 ADDRESS",
            "NODE NAMESPACE",
            "UNDERLAY",
        ]
    } else {
        &["POD NAMESPACE", "ADDRESS", "NODE NAMESPACE", "UNDERLAY"]
    };
    print_table(headers, &rows);
}
