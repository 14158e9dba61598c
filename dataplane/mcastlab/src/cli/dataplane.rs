//! `mcastlab dataplane attach|detach|status|config`.

use mcastlab_common::{MAX_IGMPV3_RECORDS, MAX_IGMPV3_RECORDS_PER_MTU, NodeConfig};
use mcastlab_dataplane::{
    AttachMode, AttachOptions, GroupTable, LinkAction, Node, PodIface, TunnelOptions,
};

use super::{
    NodeArg,
    output::{OutputArg, OutputFormat, print_json, print_table},
};

/// Dataplane subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DataplaneCommand {
    /// Load the programs and attach them to a node's interfaces (idempotent).
    ///
    /// Pod interfaces are the host-side ends of the pods' veth pairs, in the node's namespace;
    /// each gets mcast_pod_ingress at ingress, which parses IGMP and replicates multicast.
    /// The tunnel is a vxlan device in external (collect_md) mode; it gets
    /// mcast_overlay_ingress at ingress. Running attach again adds interfaces and atomically
    /// swaps in the programs of this binary, keeping groups and subscribers.
    #[command(after_help = "Example:\n  mcastlab dataplane attach --node lab-n1 \
                            --pod-iface veth-p1=10.200.1.1,veth-p2=10.200.1.2 --tunnel vxlan0 \
                            --vni 42")]
    Attach(AttachArgs),
    /// Detach the programs and remove every pin of a node (groups and subscribers are lost).
    ///
    /// A node with nothing attached is not an error.
    Detach(DetachArgs),
    /// Show what is attached on a node.
    Status(StatusArgs),
    /// Show a node's settings, or change its IGMPv3 record limit without attaching again.
    ///
    /// The record limit is the most group records one IGMPv3 report from a pod may carry; a
    /// report with more is refused whole and counted (too_many_records). A pod in more groups
    /// than the limit answers each query with one report of all its groups (when they fit one
    /// packet) and so loses every membership at the next expiry; a higher limit lets one report
    /// cost the datapath up to that many joins. Default 24 (Cilium's), at most 183 (what one
    /// report on a 1500-byte MTU holds).
    #[command(after_help = "Example:\n  mcastlab dataplane config --node lab-n1 --max-records 40")]
    Config(ConfigArgs),
}

/// Arguments of `dataplane attach`.
#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    #[command(flatten)]
    node: NodeArg,
    /// Host-side veth of a pod, with the pod's address as IFACE=ADDR (repeat the option or
    /// separate with commas). The address is the pod's identity: IGMP reports from the veth
    /// with another source are refused and counted (spoofed_source). Without an address the
    /// veth's identity stays as it was: none on a new veth, whose reports are then refused
    /// (no_pod_identity) until `mcastlab pod set`.
    #[arg(long = "pod-iface", value_delimiter = ',', value_name = "IFACE[=ADDR]")]
    pod_ifaces: Vec<PodIface>,
    /// The vxlan device (external mode) carrying copies to and from remote nodes.
    #[arg(long, value_name = "IFACE", requires = "vni")]
    tunnel: Option<String>,
    /// How to attach: TCX links (pinned, Linux 6.6+) or tc filters (older kernels); auto picks
    /// TCX where the kernel has it.
    #[arg(long, value_enum, default_value_t = AttachModeArg::Auto)]
    attach_mode: AttachModeArg,
    /// VXLAN network identifier of the overlay (1..=16777215).
    #[arg(long, requires = "tunnel", value_parser = clap::value_parser!(u32).range(1..=0xff_ffff))]
    vni: Option<u32>,
    /// Most group records one IGMPv3 report from a pod may carry (1..=183); reports with more
    /// are refused whole. Without it a new node gets 24 and an attached node keeps its own
    /// (see `mcastlab dataplane config`).
    #[arg(long, value_name = "N")]
    max_records: Option<u32>,
    #[command(flatten)]
    output: OutputArg,
}

/// Arguments of `dataplane config`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    node: NodeArg,
    /// Set the most group records one IGMPv3 report from a pod may carry (1..=183; the
    /// default is 24). Takes effect with the next report; membership stays.
    #[arg(long, value_name = "N")]
    max_records: Option<u32>,
    /// Fast leave (default on: a leave removes the pod's membership at once, right for one
    /// pod per veth). Off: a leave is pending (counter leave_pending) and the node agent sends
    /// Group-Specific Queries into the veth, removing the member only when nobody answers
    /// (leave_confirmed), for veths with several hosts behind them.
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    fast_leave: Option<bool>,
    #[command(flatten)]
    output: OutputArg,
}

/// `on` or `off`.
fn parse_on_off(value: &str) -> Result<bool, String> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("'{other}' is neither 'on' nor 'off'")),
    }
}

/// Arguments of `dataplane detach`.
#[derive(Debug, clap::Args)]
pub struct DetachArgs {
    #[command(flatten)]
    node: NodeArg,
    #[command(flatten)]
    output: OutputArg,
}

/// Arguments of `dataplane status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    node: NodeArg,
    #[command(flatten)]
    output: OutputArg,
}

pub fn run(command: DataplaneCommand) -> anyhow::Result<()> {
    match command {
        DataplaneCommand::Attach(args) => attach(args),
        DataplaneCommand::Detach(args) => detach(args),
        DataplaneCommand::Status(args) => status(args),
        DataplaneCommand::Config(args) => config(args),
    }
}

fn attach(args: AttachArgs) -> anyhow::Result<()> {
    let node = Node::open(&args.node.node)?;
    if args.pod_ifaces.is_empty() && args.tunnel.is_none() {
        anyhow::bail!(
            "nothing to attach: give --pod-iface IFACE[=ADDR] and/or --tunnel IFACE --vni N \
             (to change only the record limit: mcastlab dataplane config --max-records N)"
        );
    }
    let options = AttachOptions {
        mode: args.attach_mode.into(),
        pod_ifaces: args.pod_ifaces,
        tunnel: args
            .tunnel
            .zip(args.vni)
            .map(|(iface, vni)| TunnelOptions { iface, vni }),
        max_records: args.max_records,
    };
    let report = node.attach(&options)?;
    match args.output.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Table => {
            for link in &report.links {
                let verb = match link.action {
                    LinkAction::Attached => "attached",
                    LinkAction::Replaced => "replaced program on",
                    LinkAction::Detached => "detached",
                };
                println!("{verb} {:?} link on {}", link.kind, link.iface);
            }
            if report.tunnel_ifindex != 0 {
                println!(
                    "tunnel ifindex {} vni {}",
                    report.tunnel_ifindex, report.vni
                );
            }
            println!("record limit {}", report.max_records);
            println!("loops in {}", report.loops);
            Ok(())
        }
    }
}

fn detach(args: DetachArgs) -> anyhow::Result<()> {
    let node = Node::open(&args.node.node)?;
    let report = node.detach()?;
    match args.output.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Table => {
            if report.links.is_empty() && report.maps.is_empty() {
                println!("nothing attached on node {}", report.node);
            }
            for link in &report.links {
                println!("detached {:?} link on {}", link.kind, link.iface);
            }
            if !report.maps.is_empty() {
                println!("removed maps {}", report.maps.join(", "));
            }
            Ok(())
        }
    }
}

fn status(args: StatusArgs) -> anyhow::Result<()> {
    let node = Node::open(&args.node.node)?;
    let attached = node.pins().is_attached();
    let links = node.links()?;
    let (config, groups) = if attached {
        let table: GroupTable = node.groups()?;
        (Some(table.config()), table.groups()?.len())
    } else {
        (None, 0)
    };
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "node": node.name(),
            "attached": attached,
            "pins": node.pins().dir(),
            "links": links.iter().map(|(kind, iface, path)| serde_json::json!({
                "kind": kind, "iface": iface, "pin": path,
            })).collect::<Vec<_>>(),
            "tunnel_ifindex": config.map(|c| c.tunnel_ifindex),
            "vni": config.map(|c| c.vni),
            "max_records": config.map(|c| c.record_limit()),
            "groups": groups,
        })),
        OutputFormat::Table => {
            if !attached {
                println!("node {}: no dataplane attached", node.name());
                return Ok(());
            }
            println!(
                "node {}: attached, pins in {}",
                node.name(),
                node.pins().dir().display()
            );
            if let Some(config) = config.filter(|c| c.tunnel_ifindex != 0) {
                println!(
                    "tunnel ifindex {} vni {}",
                    config.tunnel_ifindex, config.vni
                );
            }
            if let Some(config) = config {
                println!("record limit {}", config.record_limit());
            }
            println!("groups {groups}");
            let rows: Vec<Vec<String>> = links
                .iter()
                .map(|(kind, iface, path)| {
                    vec![
                        format!("{kind:?}"),
                        iface.clone(),
                        path.display().to_string(),
                    ]
                })
                .collect();
            print_table(&["PROGRAM", "IFACE", "PIN OR TC RECORD"], &rows);
            Ok(())
        }
    }
}

fn config(args: ConfigArgs) -> anyhow::Result<()> {
    let node = Node::open(&args.node.node)?;
    if let Some(limit) = args.max_records {
        node.set_record_limit(limit)?;
    }
    if let Some(on) = args.fast_leave {
        node.set_fast_leave(on)?;
    }
    let config = node.config()?;
    match args.output.output {
        OutputFormat::Json => print_json(&config_json(node.name(), &config)),
        OutputFormat::Table => {
            let tunnel = if config.tunnel_ifindex == 0 {
                "none".to_owned()
            } else {
                format!("ifindex {} vni {}", config.tunnel_ifindex, config.vni)
            };
            let limit = config.record_limit();
            let default = if limit == MAX_IGMPV3_RECORDS {
                " (default)"
            } else {
                ""
            };
            print_table(
                &[
                    "NODE",
                    "TUNNEL",
                    "MAX_RECORDS",
                    "FAST_LEAVE",
                    "V1_HOST_HOLD",
                ],
                &[vec![
                    node.name().to_owned(),
                    tunnel,
                    format!("{limit}{default} of at most {MAX_IGMPV3_RECORDS_PER_MTU}"),
                    if config.fast_leave() { "on" } else { "off" }.to_owned(),
                    format!("{} s", config.older_host_present_ns() as f64 / 1e9),
                ]],
            );
            Ok(())
        }
    }
}

/// A node's settings as `dataplane config -o json` prints them.
fn config_json(node: &str, config: &NodeConfig) -> serde_json::Value {
    serde_json::json!({
        "node": node,
        "tunnel_ifindex": config.tunnel_ifindex,
        "vni": config.vni,
        "max_records": config.record_limit(),
        "fast_leave": config.fast_leave(),
        "older_host_present_ms": config.older_host_present_ns() / 1_000_000,
    })
}

/// [`AttachMode`] on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum AttachModeArg {
    /// TCX links where the kernel has them (6.6+), tc filters otherwise.
    Auto,
    /// Pinned TCX links (Linux 6.6+): swapped atomically on re-attach.
    Tcx,
    /// A clsact qdisc and a cls_bpf filter (any supported kernel), recorded in /run/mcastlab.
    Netlink,
}

impl From<AttachModeArg> for AttachMode {
    fn from(mode: AttachModeArg) -> Self {
        match mode {
            AttachModeArg::Auto => AttachMode::Auto,
            AttachModeArg::Tcx => AttachMode::Tcx,
            AttachModeArg::Netlink => AttachMode::Netlink,
        }
    }
}
