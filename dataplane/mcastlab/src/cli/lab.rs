//! `mcastlab up|down|status`: the lab's lifecycle.

use std::path::{Path, PathBuf};

use mcastlab::lab;
use mcastlab_topology::{
    LabSpec, TopologyError,
    containerlab::{self, ClabFile, Imported},
    model::{DEFAULT_NODES, DEFAULT_PODS},
    state,
};

use super::output::{OutputArg, OutputFormat, print_json, print_table};

/// The lab name used when none is given.
pub const DEFAULT_LAB: &str = "mcastlab";

/// Arguments of `mcastlab up`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Namespaces: <lab>-<node> for nodes, <lab>-<node>-<pod> for pods (eth0), \
                        <lab>-ul for the underlay bridge. Pod addresses 10.200.<node>.<pod>/16, \
                        node underlay 172.31.255.<node>/24, vxlan0 external on UDP 4789."
)]
pub struct UpArgs {
    /// A lab file: mcastlab's YAML (see README) or a containerlab .clab.yml; without it a lab
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
    #[command(flatten)]
    output: OutputArg,
}

/// Arguments of `mcastlab down`.
#[derive(Debug, clap::Args)]
pub struct DownArgs {
    /// The lab to remove (also cleans what a crashed run left).
    #[arg(long, default_value = DEFAULT_LAB)]
    lab: String,
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
    let spec: LabSpec = serde_yaml::from_str(&text).map_err(|err| file_error(Box::new(err)))?;
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
    let spec = match lab_source(args.file.as_ref(), &args.lab, args.nodes, args.pods)? {
        LabSource::Lab(spec) => spec,
        LabSource::Containerlab(file) => return up_containerlab(&args, &file),
    };
    eprintln!(
        "deploying lab {}: {} nodes, {} pods",
        spec.name,
        spec.nodes.len(),
        spec.nodes.iter().map(|n| n.pods.len()).sum::<usize>()
    );
    lab::up(&spec)?;
    match args.output.output {
        OutputFormat::Json => print_json(&spec),
        OutputFormat::Table => {
            print_spec(&spec);
            Ok(())
        }
    }
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
}

pub fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    let spec = match &args.lab {
        Some(lab) => lab::spec(lab)?,
        None => lab_spec(args.file.as_ref(), &args.name, args.nodes, args.pods)?,
    };
    let yaml = serde_yaml::to_string(&containerlab::export(&spec))?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, yaml)?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{yaml}"),
    }
    Ok(())
}

pub fn run_down(args: DownArgs) -> anyhow::Result<()> {
    let report = lab::down(&args.lab)?;
    match args.output.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Table => {
            if report.namespaces.is_empty() && report.detached.is_empty() {
                println!("nothing of lab {} was there", args.lab);
            } else {
                println!(
                    "lab {}: detached {} dataplanes, removed {} namespaces",
                    args.lab,
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
    for node in &spec.nodes {
        let namespace = spec.node_netns(node);
        let exists = present.contains(&namespace);
        let dataplane = exists
            && mcastlab::dataplane::Node::open(&namespace)
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
        .nodes
        .iter()
        .flat_map(|node| {
            node.pods.iter().map(move |pod| {
                vec![
                    spec.pod_netns(node, pod),
                    pod.address.to_string(),
                    spec.node_netns(node),
                    node.underlay_address.to_string(),
                ]
            })
        })
        .collect();
    print_table(
        &["POD NAMESPACE", "ADDRESS", "NODE NAMESPACE", "UNDERLAY"],
        &rows,
    );
}
