//! `mcastlab stats`.

use mcastlab_dataplane::{Node, metrics};

use super::{
    NodeArg,
    output::{print_json, print_table},
};

/// How `mcastlab stats` prints the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsFormat {
    /// Aligned columns.
    #[default]
    Table,
    /// One JSON document.
    Json,
    /// Prometheus metrics (OpenMetrics text): mcastlab_packets_total{node, reason} and the
    /// per-member mcastlab_member_delivered_{packets,bytes}_total{node, group, member, iface}.
    Prometheus,
}

/// Arguments of `mcastlab stats`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Counters are summed over CPUs. Codes never change meaning; new ones are \
                        only appended. With -o json: {\"node\": ..., \"counters\": [{\"code\", \
                        \"name\", \"count\"}]}, and with --members also \"members\": \
                        [{\"group\", \"member\", \"kind\", \"iface\", \"packets\", \
                        \"bytes\"}]. With -o prometheus (what the agent's /metrics serves): \
                        every counter, zeros included, as mcastlab_packets_total{node=\"...\",\
                        reason=\"...\"}, and every member, with or without --members, as \
                        mcastlab_member_delivered_packets_total and \
                        mcastlab_member_delivered_bytes_total{node, group, member, iface}."
)]
pub struct StatsArgs {
    #[command(flatten)]
    node: NodeArg,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: StatsFormat,
    /// Also show counters that are zero.
    #[arg(long, short = 'a')]
    all: bool,
    /// Also show what was delivered to each member of each group (packets and bytes since it
    /// joined or was added; IFACE is its pod's veth, or `tunnel` for a remote node).
    #[arg(long)]
    members: bool,
}

pub fn run(args: StatsArgs) -> anyhow::Result<()> {
    let node = Node::open(&args.node.node)?;
    match args.output {
        StatsFormat::Prometheus => {
            print!("{}", metrics::render(&node)?);
            Ok(())
        }
        StatsFormat::Json => {
            let mut document = serde_json::json!({
                "node": node.name(),
                "counters": node.stats()?,
            });
            if args.members {
                document["members"] = serde_json::to_value(node.member_deliveries()?)?;
            }
            print_json(&document)
        }
        StatsFormat::Table => {
            let rows: Vec<Vec<String>> = node
                .stats()?
                .iter()
                .filter(|c| args.all || c.count > 0)
                .map(|c| vec![c.code.to_string(), c.name.to_owned(), c.count.to_string()])
                .collect();
            print_table(&["CODE", "REASON", "COUNT"], &rows);
            if args.members {
                let rows: Vec<Vec<String>> = node
                    .member_deliveries()?
                    .iter()
                    .map(|m| {
                        vec![
                            m.group.to_string(),
                            m.member.to_string(),
                            m.iface.clone(),
                            m.packets.to_string(),
                            m.bytes.to_string(),
                        ]
                    })
                    .collect();
                println!();
                print_table(&["GROUP", "MEMBER", "IFACE", "PACKETS", "BYTES"], &rows);
            }
            Ok(())
        }
    }
}
