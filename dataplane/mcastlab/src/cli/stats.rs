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
    /// Prometheus metrics (OpenMetrics text): mcastlab_packets_total{node, reason}.
    Prometheus,
}

/// Arguments of `mcastlab stats`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Counters are summed over CPUs. Codes never change meaning; new ones are \
                        only appended. With -o json: {\"node\": ..., \"counters\": [{\"code\", \
                        \"name\", \"count\"}]}. With -o prometheus: every counter, zeros \
                        included, as mcastlab_packets_total{node=\"...\",reason=\"...\"}."
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
}

pub fn run(args: StatsArgs) -> anyhow::Result<()> {
    let node = Node::open(&args.node.node)?;
    let counters = node.stats()?;
    match args.output {
        StatsFormat::Json => print_json(&serde_json::json!({
            "node": node.name(),
            "counters": counters,
        })),
        StatsFormat::Prometheus => {
            print!("{}", metrics::encode(&[(node.name(), &counters)])?);
            Ok(())
        }
        StatsFormat::Table => {
            let rows: Vec<Vec<String>> = counters
                .iter()
                .filter(|c| args.all || c.count > 0)
                .map(|c| vec![c.code.to_string(), c.name.to_owned(), c.count.to_string()])
                .collect();
            print_table(&["CODE", "REASON", "COUNT"], &rows);
            Ok(())
        }
    }
}
