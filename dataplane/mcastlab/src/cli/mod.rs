//! Command-line arguments and their dispatch.

mod agent;
mod bench;
mod dataplane;
mod demo;
mod docs;
mod groups;
mod lab;
mod logging;
mod monitor;
mod output;
mod pods;
mod progress;
mod stats;
mod traffic;

use clap::{Parser, Subcommand};

/// mcastlab: a reference eBPF multicast dataplane for container networks (Cilium parity), and
/// the lab that proves it.
///
/// A node is a network namespace (`ip netns` name). The dataplane of a node is pinned under
/// /sys/fs/bpf/mcastlab/<node>/, so it keeps running after this command exits and every command
/// below works across invocations. All commands need root.
#[derive(Debug, Parser)]
#[command(name = "mcastlab", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    verbosity: logging::Verbosity,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the demo: build a lab, join receivers on every node, send, print who got what.
    Demo(demo::DemoArgs),
    /// Deploy a lab (nodes and pods as namespaces, vxlan between nodes) with its dataplane.
    Up(lab::UpArgs),
    /// Remove a lab: detach its dataplanes and delete its namespaces.
    Down(lab::DownArgs),
    /// Show deployed labs.
    Status(lab::StatusArgs),
    /// Write a lab as a containerlab topology file (.clab.yml).
    Export(lab::ExportArgs),
    /// Send testbed datagrams from a lab's pod.
    Send(traffic::SendArgs),
    /// Join a group in a lab's pod and report what arrives.
    Recv(traffic::RecvArgs),
    /// Attach, detach or inspect the tc programs of a node.
    #[command(subcommand)]
    Dataplane(dataplane::DataplaneCommand),
    /// Configure multicast groups (only configured groups are replicated or joined).
    #[command(subcommand)]
    Group(groups::GroupCommand),
    /// List and edit the subscribers of groups (local ones come from IGMP).
    #[command(subcommand, visible_alias = "sub")]
    Subscriber(groups::SubscriberCommand),
    /// Set, delete or list pod identities: the address whose IGMP reports each pod veth carries.
    #[command(subcommand)]
    Pod(pods::PodCommand),
    /// Show the dataplane's reason counters of a node.
    Stats(stats::StatsArgs),
    /// Run a node's agent: the IGMP querier and the cleanup of pods that are gone.
    Agent(agent::AgentArgs),
    /// Stream a node's membership events (joins, leaves, expiry, refused reports).
    Monitor(monitor::MonitorArgs),
    /// Run benchmarks against the kernel's own answers; results go to results/.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Print a completion script for a shell.
    #[command(after_help = "Example (bash):\n  mcastlab completions bash \
                            > /etc/bash_completion.d/mcastlab")]
    Completions(docs::CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a folder.
    #[command(after_help = "Example:\n  mcastlab man | man -l -")]
    Man(docs::ManArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    logging::init(&cli.verbosity)?;
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Up(args) => lab::run_up(args),
        Command::Down(args) => lab::run_down(args),
        Command::Status(args) => lab::run_status(args),
        Command::Export(args) => lab::run_export(args),
        Command::Send(args) => traffic::run_send(args),
        Command::Recv(args) => traffic::run_recv(args),
        Command::Dataplane(command) => dataplane::run(command),
        Command::Group(command) => groups::run_group(command),
        Command::Subscriber(command) => groups::run_subscriber(command),
        Command::Pod(command) => pods::run(command),
        Command::Stats(args) => stats::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Monitor(args) => monitor::run(args),
        Command::Bench(command) => bench::run(command),
        Command::Completions(args) => docs::run_completions(args),
        Command::Man(args) => docs::run_man(args),
    }
}

/// The node a command acts on.
#[derive(Debug, clap::Args)]
struct NodeArg {
    /// The node: name of its network namespace (as in `ip netns list`).
    #[arg(long, short = 'n', env = "MCASTLAB_NODE")]
    node: String,
}
