//! `mcastlab send` and `mcastlab recv`: testbed traffic from and to a lab's pods.

use std::{net::Ipv4Addr, time::Duration};

use mcastlab_lab as lab;
use mcastlab_testbed::{
    capture::Capture,
    receiver::Receiver,
    sender::{SendOptions, send},
};
use mcastlab_topology::model::POD_IFACE;

use super::output::{OutputArg, OutputFormat, print_json};

/// Which pod of which lab.
#[derive(Debug, clap::Args)]
pub struct PodArg {
    /// The lab.
    #[arg(long, default_value = super::lab::DEFAULT_LAB)]
    lab: String,
    /// The node, e.g. n1.
    #[arg(long)]
    node: String,
    /// The pod, e.g. p1.
    #[arg(long)]
    pod: String,
}

impl PodArg {
    /// The pod's namespace, checked against the lab's record.
    fn netns(&self) -> anyhow::Result<String> {
        self.netns_of(&self.pod)
    }

    /// The namespace of pod `pod` of the same node, checked against the lab's record.
    fn netns_of(&self, pod: &str) -> anyhow::Result<String> {
        let spec = lab::spec(&self.lab)?;
        let node = spec
            .node(&self.node)
            .ok_or_else(|| anyhow::anyhow!("lab {} has no node '{}'", self.lab, self.node))?;
        let pod = node
            .pods
            .iter()
            .find(|candidate| candidate.name == pod)
            .ok_or_else(|| anyhow::anyhow!("node {} has no pod '{pod}'", self.node))?;
        Ok(spec.pod_netns(node, pod))
    }
}

/// Arguments of `mcastlab send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[command(flatten)]
    pod: PodArg,
    /// Destination group.
    #[arg(long, value_parser = super::groups::parse_group4)]
    group: Ipv4Addr,
    /// Destination UDP port.
    #[arg(long, default_value_t = 5000)]
    port: u16,
    /// Number of datagrams.
    #[arg(long, default_value_t = 10)]
    count: u64,
    /// Datagrams per second (0: as fast as possible).
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// UDP payload size in bytes (at least 24, the probe header).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Sender identity written into each probe.
    #[arg(long, default_value_t = 1)]
    sender_id: u32,
    #[command(flatten)]
    output: OutputArg,
}

/// Arguments of `mcastlab recv`.
#[derive(Debug, clap::Args)]
pub struct RecvArgs {
    #[command(flatten)]
    pod: PodArg,
    /// Group to join (the pod's kernel sends the IGMP report).
    #[arg(long, value_parser = super::groups::parse_group4)]
    group: Ipv4Addr,
    /// UDP port.
    #[arg(long, default_value_t = 5000)]
    port: u16,
    /// Stop after this many distinct datagrams.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Also capture on the eth0 of this pod of the same node, which does not join, and report
    /// how many frames to the group reached it (at layer 2, so its own IP filter hides
    /// nothing); read once the receiver is done, when its copies would have arrived too.
    #[arg(long, value_name = "POD")]
    spy: Option<String>,
    #[command(flatten)]
    output: OutputArg,
}

/// What `mcastlab recv` saw: the receiver's report and, with `--spy`, the spy's count.
#[derive(Debug, serde::Serialize)]
struct RecvReport {
    #[serde(flatten)]
    receiver: mcastlab_testbed::receiver::ReceiveReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    spy: Option<SpyReport>,
}

/// Frames to the group that reached a pod that did not join.
#[derive(Debug, serde::Serialize)]
struct SpyReport {
    pod: String,
    frames_to_group: usize,
}

pub fn run_send(args: SendArgs) -> anyhow::Result<()> {
    let netns = args.pod.netns()?;
    let report = send(
        &netns,
        &SendOptions {
            group: args.group,
            port: args.port,
            count: args.count,
            rate: Some(args.rate).filter(|rate| *rate > 0),
            size: args.size,
            sender: args.sender_id,
            first_seq: 0,
        },
    )?;
    match args.output.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Table => {
            println!(
                "sent {} datagrams to {}:{} from {netns} in {} us",
                report.sent, args.group, args.port, report.elapsed_us
            );
            Ok(())
        }
    }
}

pub fn run_recv(args: RecvArgs) -> anyhow::Result<()> {
    let netns = args.pod.netns()?;
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .map_err(|_| anyhow::anyhow!("--timeout must be a positive number of seconds"))?;
    let spy = match &args.spy {
        Some(pod) => Some((
            pod.clone(),
            Capture::open_in(&args.pod.netns_of(pod)?, POD_IFACE)?,
        )),
        None => None,
    };
    let mut receiver = Receiver::join(&netns, args.group, args.port)?;
    eprintln!(
        "joined {} in {netns}; waiting up to {timeout:?}",
        args.group
    );
    let count = args.count;
    let report = receiver
        .receive_until(timeout, |report| count.is_some_and(|c| report.unique >= c))?
        .clone();
    let spy = spy.map(|(pod, capture)| SpyReport {
        pod,
        frames_to_group: capture.count_to(args.group),
    });
    match args.output.output {
        OutputFormat::Json => print_json(&RecvReport {
            receiver: report,
            spy,
        }),
        OutputFormat::Table => {
            if let Some(spy) = &spy {
                println!(
                    "spy {} (not joined) saw {} frames to {}",
                    spy.pod, spy.frames_to_group, args.group
                );
            }
            println!(
                "received {} ({} distinct, {} duplicates); latency us min/mean/max {:?}/{:?}/{:?}",
                report.received,
                report.unique,
                report.duplicates,
                report.latency_min_us,
                report.latency_mean_us,
                report.latency_max_us
            );
            Ok(())
        }
    }
}
