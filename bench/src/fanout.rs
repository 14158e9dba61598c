//! Fan-out: delivered copies per second as the number of local receivers grows, for the
//! dataplane and, in the same run and topology, the kernel's bridge with IGMP snooping and an
//! application sending one unicast copy per receiver.
//!
//! Setup per mode: one node with a sender pod (p1), receiver pods (p2...) and a spy pod that
//! never joins. A `sendmmsg` sender is pinned to one CPU and a `recvmmsg` collector (one socket
//! per receiver pod) to the other; the path between them (veths, tc programs or bridge) runs in
//! the sender's softirq. Each point: warm-up, then a timed window read from counters.

use std::{
    net::{Ipv4Addr, SocketAddrV4},
    thread,
    time::{Duration, Instant},
};

use mcastlab_testbed::{
    blast::{Blaster, Collector, receiver_socket},
    capture::Capture,
    receiver::Receiver,
    sender::{SendOptions, send},
};
use mcastlab_topology::{
    LabSpec, NodeSpec,
    bridge::{BridgeOptions, bridge_pods, bridge_pods_over_vxlan},
    deploy,
    model::{POD_IFACE, PodSpec},
};
use serde::Serialize;
use socket2::Socket;

use super::system;
use mcastlab_lab::{self as lab, LabError};

/// The group of fan-out traffic.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(239, 77, 0, 1);
/// UDP port of fan-out traffic.
pub const PORT: u16 = 6000;
/// How long joins may take to settle (a fresh snooping bridge floods for about 10 s).
const SETTLE_DEADLINE: Duration = Duration::from_secs(40);
/// Probe rounds (200 ms each) without a new receiver reached after which the receivers still
/// unreached are taken as starved, not as late.
const STABLE_ROUNDS: u32 = 10;
/// How long copies may still be in flight once the sender stops.
const DRAIN: Duration = Duration::from_millis(200);

/// What delivers the copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// mcastlab's dataplane.
    Dataplane,
    /// mcastlab's dataplane with the receiver pods on NAPI delivery (`napi: true`: GRO on the
    /// pod end, TSO off and a pfifo qdisc on the host end): copies wait in each veth's ring
    /// instead of the per-CPU backlog, which holds only netdev_max_backlog packets.
    DataplaneNapi,
    /// A Linux bridge with IGMP snooping and a querier.
    Bridge,
    /// The sender sends one unicast datagram per receiver (through a bridge).
    Unicast,
    /// Cross-node: the sender on node 1, the receivers on node 2; the dataplane sends one copy
    /// over vxlan (remote subscriber) and node 2's dataplane fans it out.
    CrossNodeDataplane,
    /// Cross-node baseline: each node's pods on a bridge with a classic vxlan port; node 1's
    /// bridge floods to it and the vxlan driver replicates to every other node (head-end
    /// replication); node 2's bridge snoops IGMP (with a querier).
    CrossNodeBridge,
}

/// Most ports of a Linux bridge (`BR_MAX_PORTS` less the reserved port 0); one more fails
/// with EXFULL.
pub const BRIDGE_MAX_PORTS: usize = 1023;

impl Mode {
    /// Most receivers the mode can have on the bench's node.
    pub fn max_receivers(self) -> usize {
        match self {
            Mode::Dataplane | Mode::DataplaneNapi | Mode::CrossNodeDataplane => {
                mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP as usize
            }
            // The receivers' bridge also holds two other ports: the sender's and the spy's
            // (cross-node: the spy's and the vxlan port).
            Mode::Bridge | Mode::Unicast | Mode::CrossNodeBridge => BRIDGE_MAX_PORTS - 2,
        }
    }

    /// The name of the mode's lab (every mode's lab is up at once).
    pub fn lab_name(self) -> &'static str {
        match self {
            Mode::Dataplane => "benchdp",
            Mode::DataplaneNapi => "benchnapi",
            Mode::Bridge => "benchbr",
            Mode::Unicast => "benchuc",
            Mode::CrossNodeDataplane => "benchxdp",
            Mode::CrossNodeBridge => "benchxbr",
        }
    }

    /// Whether the receivers are on another node than the sender.
    pub fn is_cross_node(self) -> bool {
        matches!(self, Mode::CrossNodeDataplane | Mode::CrossNodeBridge)
    }
}

/// How to run the fan-out benchmark.
#[derive(Clone, Debug, Serialize)]
pub struct FanoutOptions {
    /// Receiver counts to measure.
    pub receivers: Vec<usize>,
    /// Modes to measure.
    pub modes: Vec<Mode>,
    /// Warm-up before each window.
    pub warmup: Duration,
    /// Length of each measured window.
    pub window: Duration,
    /// Windows per point.
    pub repetitions: usize,
    /// UDP payload bytes.
    pub size: usize,
    /// CPU of the sender thread (and of the softirq work it triggers).
    pub sender_cpu: usize,
    /// CPU of the collector thread.
    pub receiver_cpu: usize,
    /// Capacity of the dataplane's group (replication cost grows with it).
    pub group_capacity: u32,
    /// Offered load in packets per second for the group (unicast sends one datagram per
    /// receiver for each); `None` measures at saturation.
    pub offered_pps: Option<u64>,
    /// Probes for the latency measurement of each mode (to one receiver, at
    /// [`latency_rate`]); 0 skips it.
    pub latency_probes: u64,
}

/// One measured window.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// The mode.
    pub mode: Mode,
    /// Receivers.
    pub receivers: usize,
    /// Repetition index.
    pub repetition: usize,
    /// Datagrams the sender's kernel accepted per second (multicast: packets; unicast: copies).
    pub sent_per_s: f64,
    /// Copies that reached receiver sockets per second, all receivers.
    pub delivered_per_s: f64,
    /// The least any one receiver got per second.
    pub min_receiver_per_s: f64,
    /// Copies expected but not delivered, as a fraction: counted over the whole point (warm-up,
    /// window and a drain once the sender stops), so copies in flight at the window's edges
    /// are not taken for lost.
    pub loss: f64,
    /// Busy time of the sender's CPU per delivered copy, in ns.
    pub sender_cpu_ns_per_copy: f64,
    /// Busy time of both CPUs per delivered copy, in ns.
    pub total_cpu_ns_per_copy: f64,
    /// Per-CPU backlog drops during the window.
    pub backlog_drops: u64,
    /// Mean run time of mcast_pod_ingress per packet, in ns (dataplane mode only).
    pub bpf_ns_per_packet: Option<f64>,
}

/// One-way latency from the sender to one receiver at a low rate, per mode, measured at the
/// run's first receiver count with that many receivers joined.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// The mode.
    pub mode: Mode,
    /// Receivers joined meanwhile.
    pub receivers: usize,
    /// Probes sent.
    pub probes: u64,
    /// Probes per second.
    pub rate: u64,
    /// Distinct probes received.
    pub received: u64,
    /// Median, in microseconds.
    pub p50_us: Option<f64>,
    /// 99th percentile, in microseconds.
    pub p99_us: Option<f64>,
    /// Largest, in microseconds.
    pub max_us: Option<f64>,
}

/// Everything a fan-out run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FanoutRun {
    /// Every measured window.
    pub samples: Vec<Sample>,
    /// One latency measurement per mode (when asked for).
    pub latencies: Vec<Latency>,
}

/// Runs every mode and receiver count; `progress` hears about each step.
///
/// Every mode's lab is deployed first and stays up; at each receiver count the modes' windows
/// then alternate (mode 1, mode 2, ..., mode 1, ...), so that slow drift of the machine (other
/// tenants of a VM's host, frequency changes) touches every mode alike and the same-run
/// ratios stay fair.
pub fn run(options: &FanoutOptions, mut progress: impl FnMut(&str)) -> Result<FanoutRun, LabError> {
    let _stats = system::enable_bpf_stats();
    let mut labs = Vec::new();
    for &mode in &options.modes {
        let (counts, skipped): (Vec<usize>, Vec<usize>) = options
            .receivers
            .iter()
            .partition(|&&n| n <= mode.max_receivers());
        if !skipped.is_empty() {
            progress(&format!(
                "{mode:?}: skipping N={skipped:?}: a Linux bridge holds {BRIDGE_MAX_PORTS} ports, \
                 the sender, the spy and at most {} receivers",
                mode.max_receivers()
            ));
        }
        let Some(most) = counts.iter().copied().max() else {
            continue;
        };
        progress(&format!(
            "{mode:?}: deploying lab {} ({} with {} pods)",
            mode.lab_name(),
            if mode.is_cross_node() {
                "2 nodes"
            } else {
                "1 node"
            },
            most + 2
        ));
        labs.push((mode, BenchLab::deploy(mode, most, options.group_capacity)?));
    }
    let mut samples = Vec::new();
    let mut latencies = Vec::new();
    for (index, &receivers) in options.receivers.iter().enumerate() {
        let mut points = Vec::new();
        for (mode, lab) in labs.iter().filter(|(m, _)| receivers <= m.max_receivers()) {
            let mut sockets = lab.receivers(*mode, receivers)?;
            lab.settle(*mode, &mut sockets, &mut progress)?;
            // Latency once per mode, at the first receiver count, with its receivers joined
            // (a steady group, not one whose members are still leaving).
            if index == 0 && options.latency_probes > 0 {
                let latency = measure_latency(lab, *mode, receivers, options.latency_probes)?;
                progress(&format!(
                    "{mode:?} N={receivers} latency: {}/{} probes, p50 {:.0} µs, p99 {:.0} µs",
                    latency.received,
                    latency.probes,
                    latency.p50_us.unwrap_or(f64::NAN),
                    latency.p99_us.unwrap_or(f64::NAN)
                ));
                latencies.push(latency);
            }
            points.push((*mode, lab, Some(sockets)));
        }
        for repetition in 0..options.repetitions {
            for (mode, lab, sockets) in &mut points {
                let taken = sockets.take().expect("sockets come back after each window");
                let (sample, back) = measure(lab, *mode, taken, repetition, options)?;
                *sockets = Some(back);
                progress(&format!(
                    "{mode:?} N={receivers} rep {}: {:.0} copies/s delivered, loss {:.2}%",
                    repetition + 1,
                    sample.delivered_per_s,
                    sample.loss * 100.0
                ));
                samples.push(sample);
            }
        }
    }
    Ok(FanoutRun { samples, latencies })
}

/// The benchmark's lab; removed when dropped.
struct BenchLab {
    spec: LabSpec,
    spy: usize,
    cross_node: bool,
}

impl BenchLab {
    fn deploy(mode: Mode, most: usize, group_capacity: u32) -> Result<Self, LabError> {
        let spec = bench_spec(mode, most)?;
        lab::down(&spec.name)?;
        let node = &spec.nodes[0];
        let deployed = match mode {
            Mode::Dataplane | Mode::DataplaneNapi => lab::up(&spec).and_then(|()| {
                lab::dataplane_node(&spec, node)?
                    .groups()?
                    .add_group_with_capacity(GROUP, group_capacity)?;
                Ok(())
            }),
            Mode::CrossNodeDataplane => {
                lab::up(&spec).and_then(|()| lab::configure_group(&spec, GROUP))
            }
            Mode::Bridge | Mode::Unicast => {
                deploy::deploy_blocking(&spec)?;
                let snooping = mode == Mode::Bridge;
                let options = BridgeOptions {
                    snooping,
                    querier: snooping,
                    netfilter: false,
                };
                bridge_pods(&spec, node, options).map_err(LabError::from)
            }
            Mode::CrossNodeBridge => {
                deploy::deploy_blocking(&spec)?;
                // The sender's bridge floods (its only other port is the vxlan); the
                // receivers' bridge snoops.
                let flood = BridgeOptions {
                    snooping: false,
                    querier: false,
                    netfilter: false,
                };
                let snoop = BridgeOptions {
                    snooping: true,
                    querier: true,
                    netfilter: false,
                };
                bridge_pods_over_vxlan(&spec, node, flood)
                    .and_then(|()| bridge_pods_over_vxlan(&spec, &spec.nodes[1], snoop))
                    .map_err(LabError::from)
            }
        };
        if let Err(err) = deployed {
            let _ = lab::down(&spec.name);
            return Err(err);
        }
        Ok(Self {
            spy: most + 2,
            cross_node: mode.is_cross_node(),
            spec,
        })
    }

    /// Pod number `pod` (1: the sender, 2..: receivers, then the spy): on the first node, or,
    /// cross-node, every pod but the sender on the second.
    fn locate(&self, pod: usize) -> (&NodeSpec, &PodSpec) {
        let (node, index) = if self.cross_node && pod > 1 {
            (&self.spec.nodes[1], pod - 2)
        } else {
            (&self.spec.nodes[0], pod - 1)
        };
        (node, &node.pods[index])
    }

    fn pod_netns(&self, pod: usize) -> String {
        let (node, pod) = self.locate(pod);
        self.spec.pod_netns(node, pod)
    }

    fn pod_address(&self, pod: usize) -> Ipv4Addr {
        self.locate(pod).1.address
    }

    /// Where the sender sends: the group, or each receiver's address.
    fn destinations(&self, mode: Mode, receivers: usize) -> Vec<SocketAddrV4> {
        match mode {
            Mode::Unicast => (2..receivers + 2)
                .map(|pod| SocketAddrV4::new(self.pod_address(pod), PORT))
                .collect(),
            _ => vec![SocketAddrV4::new(GROUP, PORT)],
        }
    }

    /// One socket in each of the first `receivers` receiver pods (joined, for multicast).
    fn receivers(&self, mode: Mode, receivers: usize) -> Result<Vec<Socket>, LabError> {
        (2..receivers + 2)
            .map(|pod| {
                let address = match mode {
                    Mode::Unicast => SocketAddrV4::new(self.pod_address(pod), PORT),
                    _ => SocketAddrV4::new(GROUP, PORT),
                };
                receiver_socket(&self.pod_netns(pod), address).map_err(io_error)
            })
            .collect()
    }

    /// Waits until a few probes reach every receiver and none reaches the spy (joins handled,
    /// a fresh bridge's flooding over, ARP done), then empties the sockets. Receivers that
    /// never get a probe while the rest stays unchanged for [`STABLE_ROUNDS`] rounds are
    /// reported and measured as they are: past netdev_max_backlog copies per packet the
    /// backlog drops the same receivers' copies every time.
    fn settle(
        &self,
        mode: Mode,
        sockets: &mut [Socket],
        progress: &mut impl FnMut(&str),
    ) -> Result<(), LabError> {
        let spy = Capture::open_in(&self.pod_netns(self.spy), POD_IFACE).map_err(io_error)?;
        let deadline = Instant::now() + SETTLE_DEADLINE;
        let started = Instant::now();
        let mut reached = vec![false; sockets.len()];
        let mut unchanged_rounds = 0;
        loop {
            for destination in self.destinations(mode, sockets.len()) {
                send(
                    &self.pod_netns(1),
                    &SendOptions {
                        group: *destination.ip(),
                        port: PORT,
                        count: 3,
                        rate: None,
                        size: 64,
                        sender: 0,
                        first_seq: 0,
                    },
                )
                .map_err(io_error)?;
            }
            thread::sleep(Duration::from_millis(200));
            let mut new = false;
            for (socket, reached) in sockets.iter().zip(&mut reached) {
                if drain(socket) > 0 && !*reached {
                    *reached = true;
                    new = true;
                }
            }
            unchanged_rounds = if new { 0 } else { unchanged_rounds + 1 };
            let spy_clean = mode == Mode::Unicast || spy.count_to(GROUP) == 0;
            let missing = reached.iter().filter(|r| !**r).count();
            if spy_clean && missing == 0 {
                progress(&format!(
                    "{mode:?} N={}: settled after {:.1} s",
                    sockets.len(),
                    started.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            if spy_clean && missing < sockets.len() && unchanged_rounds >= STABLE_ROUNDS {
                progress(&format!(
                    "{mode:?} N={}: settled after {:.1} s; {missing} receivers never got a probe",
                    sockets.len(),
                    started.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io_error(std::io::Error::other(format!(
                    "{mode:?} with {} receivers did not settle within {SETTLE_DEADLINE:?}: \
                     {missing} receivers got no probe; spy clean: {spy_clean}",
                    sockets.len()
                ))));
            }
        }
    }
}

/// The bench's lab: one node with a sender pod (p1), `receivers` receiver pods and a spy pod;
/// cross-node, the sender alone on node n1 and the receivers and the spy on n2. Pod `k` (from 0)
/// of node `i` (from 1) has 10.200.(i + nodes * (k / 250)).(k % 250 + 1): the generated plan
/// for the first 250 pods of a node, and room for 1024 receivers.
fn bench_spec(mode: Mode, receivers: usize) -> Result<LabSpec, LabError> {
    let pods_per_node: &[usize] = if mode.is_cross_node() {
        &[1, receivers + 1]
    } else {
        &[receivers + 2]
    };
    let nodes = pods_per_node.len();
    let mut spec = LabSpec::generate(mode.lab_name(), nodes, 0)?;
    let [a, b, _, _] = spec.pod_cidr.address.octets();
    for (i, (node, &pods)) in spec.nodes.iter_mut().zip(pods_per_node).enumerate() {
        node.pods = (0..pods)
            .map(|k| PodSpec {
                name: format!("p{}", k + 1),
                address: Ipv4Addr::new(
                    a,
                    b,
                    (i + 1 + nodes * (k / 250)) as u8,
                    (k % 250 + 1) as u8,
                ),
                igmp_version: None,
                napi: false,
            })
            .collect();
    }
    if mode == Mode::DataplaneNapi {
        for pod in &mut spec.nodes[0].pods[1..=receivers] {
            pod.napi = true;
        }
    }
    spec.validate()?;
    Ok(spec)
}

impl Drop for BenchLab {
    fn drop(&mut self) {
        let _ = lab::down(&self.spec.name);
    }
}

/// Most probes per second of the latency measurement.
pub const LATENCY_RATE: u64 = 1000;
/// Most copies per second the latency probes may cause: at high fan-out the probe rate comes
/// down so that the path stays far from saturation (1021 receivers: about 98 probes/s).
pub const LATENCY_COPY_RATE: u64 = 100_000;

/// Probes per second of the latency measurement with `receivers` joined.
pub fn latency_rate(receivers: usize) -> u64 {
    (LATENCY_COPY_RATE / receivers.max(1) as u64).clamp(1, LATENCY_RATE)
}
/// UDP port of the latency probes (apart from the fan-out traffic's).
const LATENCY_PORT: u16 = PORT + 1;

/// Opens a receiver socket in a pod: joined to a group, or bound to the pod's address.
type OpenReceiver = fn(&str, Ipv4Addr, u16) -> std::io::Result<Receiver>;

/// Sends `probes` timestamped datagrams at [`latency_rate`] from the sender to the first
/// receiver pod, once a warm-up socket there receives (its join is in place), and reads their
/// one-way latency on a second socket (same host, one clock).
fn measure_latency(
    lab: &BenchLab,
    mode: Mode,
    lab_receivers: usize,
    probes: u64,
) -> Result<Latency, LabError> {
    let pod = lab.pod_netns(2);
    let (destination, open): (Ipv4Addr, OpenReceiver) = match mode {
        Mode::Unicast => (lab.pod_address(2), Receiver::bind),
        _ => (GROUP, Receiver::join),
    };
    let send_probes = |count: u64, rate: Option<u64>, sender: u32| {
        send(
            &lab.pod_netns(1),
            &SendOptions {
                group: destination,
                port: LATENCY_PORT,
                count,
                rate,
                size: 64,
                sender,
                first_seq: 0,
            },
        )
        .map_err(io_error)
    };
    let mut warm_up = open(&pod, destination, LATENCY_PORT).map_err(io_error)?;
    let deadline = Instant::now() + SETTLE_DEADLINE;
    while warm_up
        .receive_until(Duration::from_millis(200), |r| r.unique > 0)
        .map_err(io_error)?
        .unique
        == 0
    {
        if Instant::now() >= deadline {
            return Err(io_error(std::io::Error::other(format!(
                "{mode:?}: no latency probe reached the receiver within {SETTLE_DEADLINE:?}"
            ))));
        }
        send_probes(3, None, 0)?;
    }
    let mut receiver = open(&pod, destination, LATENCY_PORT).map_err(io_error)?;
    let rate = latency_rate(lab_receivers);
    let wait = Duration::from_millis(probes * 1000 / rate) + Duration::from_secs(2);
    let report = thread::scope(|scope| {
        let reading = scope.spawn(|| {
            receiver
                .receive_until(wait, |r| r.per_sender.get(&1).copied() >= Some(probes))
                .cloned()
        });
        let sent = send_probes(probes, Some(rate), 1);
        let report = reading.join().expect("latency reader");
        sent.and(report.map_err(io_error))
    })?;
    drop(warm_up);
    Ok(Latency {
        mode,
        receivers: lab_receivers,
        probes,
        rate,
        received: report.per_sender.get(&1).copied().unwrap_or(0),
        p50_us: report.latency_quantile_us(0.5),
        p99_us: report.latency_quantile_us(0.99),
        max_us: report.latency_quantile_us(1.0),
    })
}

/// Reads and discards what is queued on a socket; returns how many datagrams.
fn drain(socket: &Socket) -> usize {
    let mut buffer = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
    let _ = socket.set_nonblocking(true);
    let mut count = 0;
    while socket.recv(&mut buffer).is_ok() {
        count += 1;
    }
    count
}

fn io_error(err: std::io::Error) -> LabError {
    LabError::Io(err)
}

/// Readings at one instant.
struct Reading {
    at: Instant,
    sent: u64,
    received: Vec<u64>,
    cpu: Vec<Duration>,
    drops: u64,
    bpf: (Duration, u64),
}

fn measure(
    lab: &BenchLab,
    mode: Mode,
    sockets: Vec<Socket>,
    repetition: usize,
    options: &FanoutOptions,
) -> Result<(Sample, Vec<Socket>), LabError> {
    let receivers = sockets.len();
    let collector = Collector::start(sockets, options.receiver_cpu).map_err(io_error)?;
    let rate = options.offered_pps.map(|pps| match mode {
        Mode::Unicast => pps * receivers as u64,
        _ => pps,
    });
    let blaster = Blaster::start(
        &lab.pod_netns(1),
        lab.destinations(mode, receivers),
        options.size,
        options.sender_cpu,
        rate,
    )
    .map_err(io_error)?;
    thread::sleep(options.warmup);
    let read = || Reading {
        at: Instant::now(),
        sent: blaster.sent.load(std::sync::atomic::Ordering::Relaxed),
        received: collector.snapshot(),
        cpu: system::cpu_busy(),
        drops: system::backlog_drops(),
        bpf: system::pod_ingress_runs(),
    };
    let start = read();
    thread::sleep(options.window);
    let end = read();
    let sent_counter = std::sync::Arc::clone(&blaster.sent);
    blaster.stop().map_err(io_error)?;
    // Let the queues drain: the loss is counted over the whole point, once nothing is in
    // flight, and the next window starts clean.
    thread::sleep(DRAIN);
    let sent_total = sent_counter.load(std::sync::atomic::Ordering::Relaxed) as f64;
    let delivered_total: u64 = collector.snapshot().iter().sum();
    let sockets = collector.stop().map_err(io_error)?;
    for socket in &sockets {
        drain(socket);
    }

    let seconds = (end.at - start.at).as_secs_f64();
    let sent = (end.sent - start.sent) as f64;
    let per_receiver: Vec<f64> = end
        .received
        .iter()
        .zip(&start.received)
        .map(|(e, s)| (e - s) as f64)
        .collect();
    let delivered: f64 = per_receiver.iter().sum();
    let expected_total = match mode {
        Mode::Unicast => sent_total,
        _ => sent_total * receivers as f64,
    };
    let busy = |cpu: usize| {
        end.cpu.get(cpu).copied().unwrap_or_default()
            - start.cpu.get(cpu).copied().unwrap_or_default()
    };
    let sender_busy = busy(options.sender_cpu).as_nanos() as f64;
    let total_busy = sender_busy + busy(options.receiver_cpu).as_nanos() as f64;
    let copies = delivered.max(1.0);
    let bpf_runs = end.bpf.1 - start.bpf.1;
    let sample = Sample {
        mode,
        receivers,
        repetition,
        sent_per_s: sent / seconds,
        delivered_per_s: delivered / seconds,
        min_receiver_per_s: per_receiver.iter().copied().fold(f64::INFINITY, f64::min) / seconds,
        loss: if expected_total > 0.0 {
            (1.0 - delivered_total as f64 / expected_total).max(0.0)
        } else {
            0.0
        },
        sender_cpu_ns_per_copy: sender_busy / copies,
        total_cpu_ns_per_copy: total_busy / copies,
        backlog_drops: end.drops - start.drops,
        bpf_ns_per_packet: (matches!(
            mode,
            Mode::Dataplane | Mode::DataplaneNapi | Mode::CrossNodeDataplane
        ) && bpf_runs > 0)
            .then(|| (end.bpf.0 - start.bpf.0).as_nanos() as f64 / bpf_runs as f64),
    };
    Ok((sample, sockets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_probes_slow_down_with_fan_out() {
        assert_eq!(latency_rate(1), LATENCY_RATE);
        assert_eq!(latency_rate(64), LATENCY_RATE);
        assert_eq!(latency_rate(1021), 97);
        assert_eq!(latency_rate(0), LATENCY_RATE);
    }

    #[test]
    fn bench_labs_number_pods_past_250_without_overlap() {
        let spec = bench_spec(Mode::Dataplane, 1024).expect("spec");
        let pods = &spec.nodes[0].pods;
        assert_eq!(pods.len(), 1026);
        assert_eq!(pods[250].address, Ipv4Addr::new(10, 200, 2, 1));
        let cross = bench_spec(Mode::CrossNodeBridge, 300).expect("spec");
        assert_eq!(cross.nodes[0].pods.len(), 1);
        assert_eq!(cross.nodes[1].pods.len(), 301);
        assert_eq!(
            cross.nodes[1].pods[250].address,
            Ipv4Addr::new(10, 200, 4, 1)
        );
    }
}
