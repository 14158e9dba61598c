//! `mcastlab group ...` and `mcastlab subscriber ...`, mirroring `cilium-dbg bpf multicast`.

use std::net::{IpAddr, Ipv4Addr};

use mcastlab_dataplane::{Node, SubscriberKind, SubscriberOrigin};

use super::{
    NodeArg,
    output::{OutputArg, OutputFormat, print_json, print_outcome, print_table},
};

/// Group subscommands.
#[derive(Debug, clap::Subcommand)]
pub enum GroupCommand {
    /// Configure a group: joins for it are accepted and traffic to it is replicated.
    ///
    /// The capacity is a quota (joins beyond it are refused and counted), not a cost:
    /// replication reads only the part of the group's fan-out list that was ever used.
    Add(GroupAddArgs),
    /// Remove a group and all its subscribers.
    #[command(visible_alias = "del")]
    Delete(GroupArgs),
    /// List the configured groups with their subscriber counts.
    #[command(visible_alias = "ls")]
    List(ListArgs),
}

/// Subscriber subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SubscriberCommand {
    /// Add a remote node as a subscriber: copies go to it through the tunnel.
    ///
    /// Such a static entry is never aged. Local subscribers (pods) are added by their IGMP
    /// joins, and remote nodes with members are learned by the node agents: neither needs this.
    Add(SubscriberArgs),
    /// Remove a subscriber (local or remote) from a group.
    #[command(visible_alias = "del")]
    Delete(SubscriberArgs),
    /// List the subscribers of a group, or of every group with `all`.
    ///
    /// ORIGIN is igmp (a pod's join), static (`subscriber add`, never aged) or learned (a node
    /// that announced members, aged out when its announcements stop); AGE is the time since
    /// the subscriber was last heard; PACKETS and BYTES count the copies delivered to it since
    /// it joined or was added (failed clones excluded; bytes of the frames as replicated,
    /// before any tunnel header).
    #[command(visible_alias = "ls")]
    List(SubscriberListArgs),
}

/// A group on a node.
#[derive(Debug, clap::Args)]
pub struct GroupArgs {
    #[command(flatten)]
    node: NodeArg,
    /// The group address: IPv4 in 224.0.0.0/4, or IPv6 in ff00::/8 (wider than link scope).
    #[arg(value_parser = parse_group)]
    group: IpAddr,
    #[command(flatten)]
    output: OutputArg,
}

/// Arguments of `group add`.
#[derive(Debug, clap::Args)]
pub struct GroupAddArgs {
    #[command(flatten)]
    group: GroupArgs,
    /// Most subscribers the group holds (1..=1024); further joins are refused and counted.
    #[arg(long, default_value_t = mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP)]
    capacity: u32,
}

/// A listing on a node.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    node: NodeArg,
    #[command(flatten)]
    output: OutputArg,
}

/// A subscriber of a group on a node.
#[derive(Debug, clap::Args)]
pub struct SubscriberArgs {
    #[command(flatten)]
    node: NodeArg,
    /// The group address: IPv4 in 224.0.0.0/4, or IPv6 in ff00::/8.
    #[arg(value_parser = parse_group)]
    group: IpAddr,
    /// The subscriber: a remote node's underlay address (add), or any subscriber (delete).
    address: Ipv4Addr,
    #[command(flatten)]
    output: OutputArg,
}

/// Which subscribers to list.
#[derive(Debug, clap::Args)]
pub struct SubscriberListArgs {
    #[command(flatten)]
    node: NodeArg,
    /// A group address, or `all`.
    #[arg(value_parser = parse_group_or_all)]
    group: GroupSelector,
    #[command(flatten)]
    output: OutputArg,
}

/// A group or every group.
#[derive(Clone, Copy, Debug)]
pub enum GroupSelector {
    /// One group.
    One(IpAddr),
    /// Every group.
    All,
}

/// A group address from the command line: IPv4 or IPv6, multicast.
pub fn parse_group(text: &str) -> Result<IpAddr, String> {
    let address: IpAddr = text
        .parse()
        .map_err(|_| format!("'{text}' is not an IPv4 or IPv6 address"))?;
    if !address.is_multicast() {
        return Err(format!(
            "{address} is not a multicast group address (groups are in 224.0.0.0/4 or ff00::/8)"
        ));
    }
    Ok(address)
}

/// An IPv4 group address from the command line (for the commands that send or receive IPv4
/// traffic).
pub fn parse_group4(text: &str) -> Result<Ipv4Addr, String> {
    match parse_group(text)? {
        IpAddr::V4(group) => Ok(group),
        IpAddr::V6(group) => Err(format!(
            "{group} is an IPv6 group: this command sends and receives IPv4 (groups in \
             224.0.0.0/4)"
        )),
    }
}

fn parse_group_or_all(text: &str) -> Result<GroupSelector, String> {
    if text == "all" {
        Ok(GroupSelector::All)
    } else {
        parse_group(text).map(GroupSelector::One)
    }
}

pub fn run_group(command: GroupCommand) -> anyhow::Result<()> {
    match command {
        GroupCommand::Add(GroupAddArgs {
            group: args,
            capacity,
        }) => {
            Node::open(&args.node.node)?
                .groups()?
                .add_group_with_capacity(args.group, capacity)?;
            print_outcome(
                args.output.output,
                serde_json::json!({
                    "action": "added", "node": args.node.node, "group": args.group,
                    "capacity": capacity,
                }),
                format!("added group {} (capacity {capacity})", args.group),
            )?;
        }
        GroupCommand::Delete(args) => {
            Node::open(&args.node.node)?
                .groups()?
                .delete_group(args.group)?;
            print_outcome(
                args.output.output,
                serde_json::json!({
                    "action": "deleted", "node": args.node.node, "group": args.group,
                }),
                format!("deleted group {}", args.group),
            )?;
        }
        GroupCommand::List(args) => {
            let node = Node::open(&args.node.node)?;
            let groups = node.groups()?.groups()?;
            match args.output.output {
                OutputFormat::Json => print_json(&groups)?,
                OutputFormat::Table => {
                    let rows: Vec<Vec<String>> = groups
                        .iter()
                        .map(|g| {
                            vec![
                                g.group.to_string(),
                                g.capacity.to_string(),
                                g.local_subscribers.to_string(),
                                g.remote_subscribers.to_string(),
                            ]
                        })
                        .collect();
                    print_table(&["GROUP", "CAPACITY", "LOCAL", "REMOTE"], &rows);
                }
            }
        }
    }
    Ok(())
}

pub fn run_subscriber(command: SubscriberCommand) -> anyhow::Result<()> {
    match command {
        SubscriberCommand::Add(args) => {
            Node::open(&args.node.node)?
                .groups()?
                .add_remote_subscriber(args.group, args.address)?;
            print_outcome(
                args.output.output,
                serde_json::json!({
                    "action": "added", "node": args.node.node, "group": args.group,
                    "subscriber": args.address, "kind": SubscriberKind::Remote,
                }),
                format!("added remote subscriber {} to {}", args.address, args.group),
            )?;
        }
        SubscriberCommand::Delete(args) => {
            Node::open(&args.node.node)?
                .groups()?
                .delete_subscriber(args.group, args.address)?;
            print_outcome(
                args.output.output,
                serde_json::json!({
                    "action": "deleted", "node": args.node.node, "group": args.group,
                    "subscriber": args.address,
                }),
                format!("deleted subscriber {} of {}", args.address, args.group),
            )?;
        }
        SubscriberCommand::List(args) => {
            let node = Node::open(&args.node.node)?;
            let table = node.groups()?;
            let subscribers = match args.group {
                GroupSelector::One(group) => table.subscribers_of(group)?,
                GroupSelector::All => table.all_subscribers()?,
            };
            match args.output.output {
                OutputFormat::Json => print_json(&subscribers)?,
                OutputFormat::Table => {
                    let rows: Vec<Vec<String>> = subscribers
                        .iter()
                        .map(|s| {
                            let iface = node
                                .interface_name(s.ifindex)
                                .unwrap_or_else(|| format!("ifindex {}", s.ifindex));
                            vec![
                                s.group.to_string(),
                                s.address.to_string(),
                                match s.kind {
                                    SubscriberKind::Local => "local".to_owned(),
                                    SubscriberKind::Remote => "remote".to_owned(),
                                },
                                iface,
                                match s.origin {
                                    SubscriberOrigin::Igmp => "igmp".to_owned(),
                                    SubscriberOrigin::Static => "static".to_owned(),
                                    SubscriberOrigin::Learned => "learned".to_owned(),
                                },
                                s.age_s.map_or("-".to_owned(), |age| format!("{age}s")),
                                s.filter.to_string(),
                                s.packets.to_string(),
                                s.bytes.to_string(),
                            ]
                        })
                        .collect();
                    print_table(
                        &[
                            "GROUP",
                            "SUBSCRIBER",
                            "TYPE",
                            "IFACE",
                            "ORIGIN",
                            "AGE",
                            "SOURCES",
                            "PACKETS",
                            "BYTES",
                        ],
                        &rows,
                    );
                }
            }
        }
    }
    Ok(())
}
