//! `mcastlab demo`: the main job. Builds a lab, joins receivers on every node with real sockets,
//! sends from one pod, prints who got what, tears the lab down; fails when a delivery is missing
//! or a pod that did not join received anything.

use std::{net::Ipv4Addr, time::Duration};

use mcastlab::lab;
use mcastlab_testbed::{
    receiver::{ReceiveReport, Receiver},
    sender::{SendOptions, send},
};
use mcastlab_topology::LabSpec;

use super::output::{OutputArg, OutputFormat, print_json, print_table};

/// Arguments of `mcastlab demo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The sender is n1/p1. On every node the last pod stays out of the group \
                        (a spy that must receive nothing); the others join, alternating IGMPv2 \
                        and IGMPv3. Exit status 1 when any expected delivery is missing."
)]
pub struct DemoArgs {
    /// Name of the demo's lab (removed first if a previous demo left it).
    #[arg(long, default_value = "demo")]
    lab: String,
    /// Nodes.
    #[arg(long, default_value_t = 2)]
    nodes: usize,
    /// Pods per node (at least 2: a receiver and a spy).
    #[arg(long, default_value_t = 3)]
    pods: usize,
    /// The group.
    #[arg(long, default_value = "239.1.1.1", value_parser = super::groups::parse_group)]
    group: Ipv4Addr,
    /// Datagrams to send.
    #[arg(long, default_value_t = 100)]
    count: u64,
    /// Leave the lab running afterwards (remove it with `mcastlab down --lab demo`).
    #[arg(long)]
    keep: bool,
    #[command(flatten)]
    output: OutputArg,
}

/// UDP port of the demo traffic.
const PORT: u16 = 5000;
/// How long a join or a delivery may take before it counts as missing.
const DEADLINE: Duration = Duration::from_secs(5);

/// One row of the delivery matrix.
#[derive(Debug, serde::Serialize)]
struct Delivery {
    pod: String,
    igmp: String,
    expected: u64,
    received: u64,
    duplicates: u64,
    latency_mean_us: Option<u64>,
    ok: bool,
}

fn delivery(pod: String, igmp: String, expected: u64, report: &ReceiveReport) -> Delivery {
    Delivery {
        pod,
        igmp,
        expected,
        received: report.received,
        duplicates: report.duplicates,
        latency_mean_us: report.latency_mean_us,
        ok: report.unique == expected && report.duplicates == 0,
    }
}

struct Step {
    total: usize,
    done: usize,
}

impl Step {
    fn next(&mut self, what: &str) {
        self.done += 1;
        eprintln!("[{}/{}] {what}", self.done, self.total);
    }
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    if args.pods < 2 {
        anyhow::bail!("the demo needs at least 2 pods per node (a receiver and a spy)");
    }
    let mut spec = LabSpec::generate(&args.lab, args.nodes, args.pods)?;
    for node in &mut spec.nodes {
        for (i, pod) in node.pods.iter_mut().enumerate() {
            pod.igmp_version = Some(if i % 2 == 0 { 3 } else { 2 });
        }
    }
    let mut step = Step { total: 6, done: 0 };
    step.next(&format!(
        "deploying lab {} ({} nodes x {} pods) and attaching the dataplane",
        spec.name, args.nodes, args.pods
    ));
    lab::down(&spec.name)?;
    lab::up(&spec)?;
    let result = exercise(&spec, &args, &mut step);
    if args.keep {
        eprintln!(
            "keeping lab {} (mcastlab down --lab {})",
            spec.name, spec.name
        );
    } else {
        step.next("tearing the lab down");
        lab::down(&spec.name)?;
    }
    let deliveries = result?;
    let ok = deliveries.iter().all(|d| d.ok);
    match args.output.output {
        OutputFormat::Json => {
            print_json(&serde_json::json!({ "ok": ok, "deliveries": deliveries }))?
        }
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = deliveries
                .iter()
                .map(|d| {
                    vec![
                        d.pod.clone(),
                        d.igmp.clone(),
                        d.expected.to_string(),
                        d.received.to_string(),
                        d.duplicates.to_string(),
                        d.latency_mean_us.map_or("-".to_owned(), |l| l.to_string()),
                        if d.ok { "ok" } else { "MISSING" }.to_owned(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "POD",
                    "IGMP",
                    "EXPECTED",
                    "RECEIVED",
                    "DUPLICATES",
                    "LATENCY_US",
                    "RESULT",
                ],
                &rows,
            );
        }
    }
    if !ok {
        anyhow::bail!("some expected deliveries are missing or unexpected copies arrived");
    }
    Ok(())
}

fn exercise(spec: &LabSpec, args: &DemoArgs, step: &mut Step) -> anyhow::Result<Vec<Delivery>> {
    step.next(&format!(
        "configuring group {} on every node, other nodes as remote subscribers",
        args.group
    ));
    lab::configure_group(spec, args.group)?;

    step.next("joining receivers with real sockets (the pods' kernels send IGMP)");
    let sender = (&spec.nodes[0], &spec.nodes[0].pods[0]);
    let mut receivers = Vec::new();
    for node in &spec.nodes {
        let spy = node.pods.last().expect("at least 2 pods");
        for pod in &node.pods {
            if (node.name == sender.0.name && pod.name == sender.1.name) || pod.name == spy.name {
                continue;
            }
            let netns = spec.pod_netns(node, pod);
            let receiver = Receiver::join(&netns, args.group, PORT)?;
            receivers.push((node, pod, receiver, args.count));
        }
        // The spy binds the port without joining: it may only get what is wrongly delivered.
        let netns = spec.pod_netns(node, spy);
        let spy_socket = Receiver::join(&netns, args.group, PORT)?;
        spy_socket.leave()?;
        receivers.push((node, spy, spy_socket, 0));
    }
    for (node, pod, _, expected) in &receivers {
        if *expected > 0 {
            lab::wait_for_subscriber(spec, node, args.group, pod.address, DEADLINE)?;
        }
    }

    // Joined receivers read while the sender sends, so latency is arrival time, not queueing.
    let collecting: Vec<_> = receivers
        .into_iter()
        .map(|(node, pod, mut receiver, expected)| {
            let label = format!("{}/{}", node.name, pod.name);
            let igmp = match (expected, pod.igmp_version) {
                (0, _) => "not joined".to_owned(),
                (_, Some(version)) => format!("v{version}"),
                (_, None) => "v3".to_owned(),
            };
            let receiving = if expected > 0 {
                Ok(std::thread::spawn(move || {
                    let report = receiver
                        .receive_until(DEADLINE, |r| r.unique >= expected)?
                        .clone();
                    Ok::<_, std::io::Error>(report)
                }))
            } else {
                Err(receiver)
            };
            (label, igmp, expected, receiving)
        })
        .collect();

    step.next(&format!(
        "sending {} datagrams from {} to {}:{PORT}",
        args.count,
        spec.pod_netns(sender.0, sender.1),
        args.group
    ));
    send(
        &spec.pod_netns(sender.0, sender.1),
        &SendOptions {
            group: args.group,
            port: PORT,
            count: args.count,
            rate: Some(1000),
            size: 64,
            sender: 1,
            first_seq: 0,
        },
    )?;

    step.next("collecting deliveries");
    // Joined receivers first: a spy's copies, if any, would have come with theirs.
    let mut deliveries = Vec::new();
    let mut spies = Vec::new();
    for (label, igmp, expected, receiving) in collecting {
        match receiving {
            Ok(handle) => {
                let report = handle.join().expect("receiver thread")?;
                deliveries.push(delivery(label, igmp, expected, &report));
            }
            Err(spy) => spies.push((label, igmp, spy)),
        }
    }
    for (label, igmp, mut spy) in spies {
        let report = spy.drain()?.clone();
        deliveries.push(delivery(label, igmp, 0, &report));
    }
    deliveries.sort_by(|a, b| a.pod.cmp(&b.pod));
    Ok(deliveries)
}
