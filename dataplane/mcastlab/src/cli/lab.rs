//! `mcastlab up|down|status`: the lab's lifecycle.

use std::path::PathBuf;

use mcastlab::lab;
use mcastlab_topology::{
    LabSpec, TopologyError,
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
    /// A lab file (YAML, the `LabSpec` format); without it a lab is generated.
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

/// Reads a lab file or generates a lab.
pub fn lab_spec(
    file: Option<&PathBuf>,
    name: &str,
    nodes: usize,
    pods: usize,
) -> anyhow::Result<LabSpec> {
    let spec = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| TopologyError::File {
                path: path.clone(),
                source: Box::new(source),
            })?;
            let spec: LabSpec =
                serde_yaml::from_str(&text).map_err(|source| TopologyError::File {
                    path: path.clone(),
                    source: Box::new(source),
                })?;
            spec.validate()?;
            spec
        }
        None => LabSpec::generate(name, nodes, pods)?,
    };
    Ok(spec)
}

pub fn run_up(args: UpArgs) -> anyhow::Result<()> {
    let spec = lab_spec(args.file.as_ref(), &args.lab, args.nodes, args.pods)?;
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
