//! `mcastlab pod set|delete|list`: the pod identities of a node (as `cilium-dbg endpoint list`
//! shows which address each endpoint owns).

use std::net::Ipv4Addr;

use mcastlab_dataplane::Node;

use super::{
    NodeArg,
    output::{OutputArg, OutputFormat, print_json, print_outcome, print_table},
};

/// Pod subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PodCommand {
    /// Record the address the pod behind a host-side veth owns (replaces what it owned).
    ///
    /// The dataplane accepts IGMP reports from the veth only with this source (or 0.0.0.0);
    /// others are dropped and counted as spoofed_source. The veth's memberships stay and move
    /// to the new address with the pod's next report.
    #[command(after_help = "Example:\n  mcastlab pod set --node lab-n1 veth-p1 10.200.1.7")]
    Set(PodSetArgs),
    /// Forget the pod behind a veth: its reports are refused (no_pod_identity) from now on.
    ///
    /// Memberships it holds stay until `mcastlab subscriber delete`.
    #[command(visible_alias = "del")]
    Delete(PodArgs),
    /// List the pod identities of a node.
    #[command(visible_alias = "ls")]
    List(PodListArgs),
}

/// Arguments of `pod set`.
#[derive(Debug, clap::Args)]
pub struct PodSetArgs {
    #[command(flatten)]
    node: NodeArg,
    /// The pod's host-side veth, in the node.
    iface: String,
    /// The pod's address: a unicast address no other pod veth of the node owns.
    address: Ipv4Addr,
    #[command(flatten)]
    output: OutputArg,
}

/// A pod veth on a node.
#[derive(Debug, clap::Args)]
pub struct PodArgs {
    #[command(flatten)]
    node: NodeArg,
    /// The pod's host-side veth, in the node.
    iface: String,
    #[command(flatten)]
    output: OutputArg,
}

/// Arguments of `pod list`.
#[derive(Debug, clap::Args)]
pub struct PodListArgs {
    #[command(flatten)]
    node: NodeArg,
    #[command(flatten)]
    output: OutputArg,
}

pub fn run(command: PodCommand) -> anyhow::Result<()> {
    match command {
        PodCommand::Set(args) => {
            let entry = Node::open(&args.node.node)?
                .pods()?
                .set(&args.iface, args.address)?;
            print_outcome(
                args.output.output,
                serde_json::json!({
                    "action": "set", "node": args.node.node, "iface": args.iface,
                    "ifindex": entry.ifindex, "address": args.address,
                }),
                format!("pod behind {} owns {}", args.iface, args.address),
            )?;
        }
        PodCommand::Delete(args) => {
            Node::open(&args.node.node)?.pods()?.delete(&args.iface)?;
            print_outcome(
                args.output.output,
                serde_json::json!({
                    "action": "deleted", "node": args.node.node, "iface": args.iface,
                }),
                format!("deleted the pod identity of {}", args.iface),
            )?;
        }
        PodCommand::List(args) => {
            let pods = Node::open(&args.node.node)?.pods()?.entries()?;
            match args.output.output {
                OutputFormat::Json => print_json(&pods)?,
                OutputFormat::Table => {
                    let rows: Vec<Vec<String>> = pods
                        .iter()
                        .map(|pod| {
                            vec![
                                pod.iface.clone().unwrap_or_else(|| "-".to_owned()),
                                pod.ifindex.to_string(),
                                pod.address.to_string(),
                            ]
                        })
                        .collect();
                    print_table(&["IFACE", "IFINDEX", "ADDRESS"], &rows);
                }
            }
        }
    }
    Ok(())
}
