//! `mcastlab stats`.

use mcastlab_dataplane::Node;

use super::{
    NodeArg,
    output::{OutputArg, OutputFormat, print_json, print_table},
};

/// Arguments of `mcastlab stats`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Counters are summed over CPUs. Codes never change meaning; new ones are \
                        only appended. With -o json: {\"node\": ..., \"counters\": [{\"code\", \
                        \"name\", \"count\"}]}."
)]
pub struct StatsArgs {
    #[command(flatten)]
    node: NodeArg,
    #[command(flatten)]
    output: OutputArg,
    /// Also show counters that are zero.
    #[arg(long, short = 'a')]
    all: bool,
}

pub fn run(args: StatsArgs) -> anyhow::Result<()> {
    let node = Node::open(&args.node.node)?;
    let counters = node.stats()?;
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "node": node.name(),
            "counters": counters,
        })),
        OutputFormat::Table => {
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
