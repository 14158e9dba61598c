//! `mcastlab monitor`: a node's membership events as they happen, from its agent.

use std::io::Write as _;

use anyhow::Context as _;
use mcastlab_agent::monitor::{self, MonitorClient};

use super::{
    NodeArg,
    output::{OutputArg, OutputFormat},
};

/// Arguments of `mcastlab monitor`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Prints one line per membership event of the node, like `bridge \
                        monitor mdb`: join (a new member), refresh (a member heard again: a \
                        repeated report or an answer to a query), leave, expire (not heard for \
                        the group membership interval), pod-gone (its veth disappeared) and \
                        refused (a report from another pod's address, a pod without identity, a \
                        link-local group, too many records, a full group) and ignored (an \
                        unconfigured group, a repeated leave), \
                        with the group, the pod (veth, address, lab pod name) or remote node, \
                        and the counter it was counted under in `mcastlab stats`. With -o json \
                        each event is one JSON object per line (JSON Lines).\n\n\
                        Events come through the node's agent (`mcastlab agent`, started by \
                        `mcastlab up`): without one the command fails. A monitor that reads \
                        too slowly is told how many events it missed (a `lost` line); \
                        events the datapath could not queue are counted as events_lost.\n\n\
                        Example:\n  mcastlab monitor --node n1 -o json --count 1"
)]
pub struct MonitorArgs {
    #[command(flatten)]
    node: NodeArg,
    #[command(flatten)]
    output: OutputArg,
    /// Stop after this many events (default: run until interrupted or the agent stops).
    #[arg(long, value_name = "COUNT")]
    count: Option<u64>,
}

/// Runs `mcastlab monitor`.
pub fn run(args: MonitorArgs) -> anyhow::Result<()> {
    let node = &args.node.node;
    let mut client = MonitorClient::connect(node)?;
    eprintln!("monitoring the membership events of node {node} (interrupt to stop)");
    let json = args.output.output == OutputFormat::Json;
    let mut stdout = std::io::stdout().lock();
    let mut printed = 0;
    while args.count.is_none_or(|count| printed < count) {
        let Some(event) = client.next_event(None)? else {
            tracing::warn!(node, "the agent stopped");
            break;
        };
        monitor::print(&mut stdout, &event, json).context("writing an event")?;
        stdout.flush().context("writing an event")?;
        printed += 1;
    }
    Ok(())
}
