//! `mcastlab demo`: the main job. Builds a lab, joins receivers on every node with real sockets,
//! sends from one pod, prints who got what, tears the lab down; fails when a delivery is missing
//! or a pod that did not join received anything.

use std::{net::Ipv4Addr, time::Duration};

use mcastlab_lab::Scenario;
use mcastlab_testbed::sender::SendOptions;
use mcastlab_topology::LabSpec;

use super::output::{OutputArg, OutputFormat, print_json, print_table};

/// Arguments of `mcastlab demo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The sender is n1/p1. On every node the last pod stays out of the group \
                        (a spy that must receive nothing); the others join, alternating IGMPv2 \
                        and IGMPv3. No remote subscriber is added by hand: each node's agent \
                        announces its members to the other nodes, which learn it (the output \
                        lists what each node learned). Exit status 1 when any expected \
                        delivery is missing."
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
    #[arg(long, default_value = "239.1.1.1", value_parser = super::groups::parse_group4)]
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

/// A remote subscriber a node learned from another node's announcement.
#[derive(Debug, serde::Serialize)]
struct LearnedEntry {
    node: String,
    group: Ipv4Addr,
    remote: String,
    address: Ipv4Addr,
    after_ms: u128,
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
    let mut step = Step { total: 7, done: 0 };
    step.next(&format!(
        "deploying lab {} ({} nodes x {} pods) and attaching the dataplane",
        spec.name, args.nodes, args.pods
    ));
    let scenario = Scenario::deploy_with_agents(spec, mcastlab_agent::Settings::LAB)?;
    let result = exercise(&scenario, &args, &mut step);
    if args.keep {
        let spec = scenario.keep();
        eprintln!(
            "keeping lab {} (mcastlab down --lab {})",
            spec.name, spec.name
        );
    } else {
        step.next("tearing the lab down");
        drop(scenario);
    }
    let (learned, deliveries) = result?;
    let ok = deliveries.iter().all(|d| d.ok);
    match args.output.output {
        OutputFormat::Json => print_json(
            &serde_json::json!({ "ok": ok, "learned": learned, "deliveries": deliveries }),
        )?,
        OutputFormat::Table => {
            for entry in &learned {
                println!(
                    "{} learned {} ({}) for {} in {} ms",
                    entry.node, entry.remote, entry.address, entry.group, entry.after_ms
                );
            }
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

fn exercise(
    scenario: &Scenario,
    args: &DemoArgs,
    step: &mut Step,
) -> anyhow::Result<(Vec<LearnedEntry>, Vec<Delivery>)> {
    step.next(&format!(
        "configuring group {} on every node (no remote subscribers: the agents learn them)",
        args.group
    ));
    scenario.add_group(args.group)?;

    step.next("joining receivers with real sockets (the pods' kernels send IGMP)");
    let spec = scenario.spec();
    // The sender is n1/p1; on every node the last pod is a spy that captures at layer 2 and
    // never joins: it must see no copy of the group.
    let mut receivers = Vec::new();
    let mut joined = Vec::new();
    let mut spies = Vec::new();
    for (n, node) in spec.nodes.iter().enumerate().map(|(i, node)| (i + 1, node)) {
        let spy = node.pods.len();
        spies.push((
            format!("{}/{}", node.name, node.pods[spy - 1].name),
            scenario.spy(n, spy)?,
        ));
        for p in 1..spy {
            if (n, p) != (1, 1) {
                receivers.push(scenario.join_socket(n, p, args.group, PORT)?);
                joined.push((n, p));
            }
        }
    }
    for &(n, p) in &joined {
        scenario.wait_subscribed(n, p, args.group, DEADLINE)?;
    }

    step.next("waiting for every node to learn the other nodes with members");
    let joined_at = std::time::Instant::now();
    let mut with_members: Vec<usize> = joined.iter().map(|&(n, _)| n).collect();
    with_members.dedup();
    let mut learned = Vec::new();
    for n in 1..=spec.nodes.len() {
        for &remote in with_members.iter().filter(|&&remote| remote != n) {
            scenario.wait_learned(n, args.group, remote, DEADLINE)?;
            learned.push(LearnedEntry {
                node: scenario.node(n).name.clone(),
                group: args.group,
                remote: scenario.node(remote).name.clone(),
                address: scenario.node(remote).underlay_address,
                after_ms: joined_at.elapsed().as_millis(),
            });
        }
    }

    let count = args.count;
    step.next(&format!(
        "sending {count} datagrams from {} to {}:{PORT}",
        scenario.pod_netns(1, 1),
        args.group
    ));
    let reports = Scenario::collect_while(receivers, count, DEADLINE, || {
        scenario.send(
            1,
            1,
            &SendOptions {
                group: args.group,
                port: PORT,
                count,
                rate: Some(1000),
                size: 64,
                sender: 1,
                first_seq: 0,
            },
        )?;
        Ok(())
    })?;

    step.next("collecting deliveries");
    let mut deliveries: Vec<Delivery> = joined
        .iter()
        .zip(reports)
        .map(|(&(n, p), report)| {
            let pod = scenario.pod(n, p);
            Delivery {
                pod: format!("{}/{}", scenario.node(n).name, pod.name),
                igmp: format!("v{}", pod.igmp_version.unwrap_or(3)),
                expected: count,
                received: report.received,
                duplicates: report.duplicates,
                latency_mean_us: report.latency_mean_us,
                ok: report.unique == count && report.duplicates == 0,
            }
        })
        .collect();
    // With every receiver's copies in, a spy's would have arrived with them.
    for (pod, spy) in spies {
        let received = spy.count_to(args.group) as u64;
        deliveries.push(Delivery {
            pod,
            igmp: "not joined".to_owned(),
            expected: 0,
            received,
            duplicates: 0,
            latency_mean_us: None,
            ok: received == 0,
        });
    }
    deliveries.sort_by(|a, b| a.pod.cmp(&b.pod));
    Ok((learned, deliveries))
}
