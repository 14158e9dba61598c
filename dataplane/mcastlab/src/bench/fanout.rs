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
    sender::{SendOptions, send},
};
use mcastlab_topology::{
    LabSpec,
    bridge::{BridgeOptions, bridge_pods},
    deploy,
    model::{MAX_GENERATED, POD_IFACE, PodSpec},
};
use serde::Serialize;
use socket2::Socket;

use super::system;
use crate::lab::{self, LabError};

/// The group of fan-out traffic.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(239, 77, 0, 1);
/// UDP port of fan-out traffic.
pub const PORT: u16 = 6000;
/// Name of the benchmark's lab.
pub const LAB: &str = "bench";
/// How long joins may take to settle (a fresh snooping bridge floods for about 10 s).
const SETTLE_DEADLINE: Duration = Duration::from_secs(40);
/// Probe rounds (200 ms each) without a new receiver reached after which the receivers still
/// unreached are taken as starved, not as late.
const STABLE_ROUNDS: u32 = 10;
/// How long copies may still be in flight once the sender stops.
const DRAIN: Duration = Duration::from_millis(200);

/// What delivers the copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
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
}

/// Most ports of a Linux bridge (`BR_MAX_PORTS` less the reserved port 0); one more fails
/// with EXFULL.
pub const BRIDGE_MAX_PORTS: usize = 1023;

impl Mode {
    /// Most receivers the mode can have on the bench's node.
    pub fn max_receivers(self) -> usize {
        match self {
            Mode::Dataplane | Mode::DataplaneNapi => {
                mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP as usize
            }
            // Both go through a bridge that also holds the sender's and the spy's ports.
            Mode::Bridge | Mode::Unicast => BRIDGE_MAX_PORTS - 2,
        }
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

/// Runs every mode and receiver count; `progress` hears about each step.
pub fn run(
    options: &FanoutOptions,
    mut progress: impl FnMut(&str),
) -> Result<Vec<Sample>, LabError> {
    let _stats = system::enable_bpf_stats();
    let mut samples = Vec::new();
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
            "{mode:?}: deploying 1 node with {} pods",
            most + 2
        ));
        let lab = BenchLab::deploy(mode, most, options.group_capacity)?;
        for &receivers in &counts {
            let mut sockets = lab.receivers(mode, receivers)?;
            lab.settle(mode, &mut sockets, &mut progress)?;
            for repetition in 0..options.repetitions {
                let (sample, back) = measure(&lab, mode, sockets, repetition, options)?;
                sockets = back;
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
    Ok(samples)
}

/// The benchmark's lab; removed when dropped.
struct BenchLab {
    spec: LabSpec,
    spy: usize,
}

impl BenchLab {
    fn deploy(mode: Mode, most: usize, group_capacity: u32) -> Result<Self, LabError> {
        let spec = bench_spec(most, mode == Mode::DataplaneNapi)?;
        lab::down(LAB)?;
        let node = &spec.nodes[0];
        match mode {
            Mode::Dataplane | Mode::DataplaneNapi => {
                lab::up(&spec)?;
                lab::dataplane_node(&spec, node)?
                    .groups()?
                    .add_group_with_capacity(GROUP, group_capacity)?;
            }
            Mode::Bridge | Mode::Unicast => {
                deploy::deploy_blocking(&spec)?;
                let snooping = mode == Mode::Bridge;
                let options = BridgeOptions {
                    snooping,
                    querier: snooping,
                };
                if let Err(err) = bridge_pods(&spec, node, options) {
                    let _ = lab::down(LAB);
                    return Err(err.into());
                }
            }
        }
        Ok(Self {
            spy: most + 2,
            spec,
        })
    }

    fn pod_netns(&self, pod: usize) -> String {
        let node = &self.spec.nodes[0];
        self.spec.pod_netns(node, &node.pods[pod - 1])
    }

    fn pod_address(&self, pod: usize) -> Ipv4Addr {
        self.spec.nodes[0].pods[pod - 1].address
    }

    /// Where the sender sends: the group, or each receiver's address.
    fn destinations(&self, mode: Mode, receivers: usize) -> Vec<SocketAddrV4> {
        match mode {
            Mode::Unicast => (2..receivers + 2)
                .map(|pod| SocketAddrV4::new(self.pod_address(pod), PORT))
                .collect(),
            Mode::Dataplane | Mode::DataplaneNapi | Mode::Bridge => {
                vec![SocketAddrV4::new(GROUP, PORT)]
            }
        }
    }

    /// One socket in each of the first `receivers` receiver pods (joined, for multicast).
    fn receivers(&self, mode: Mode, receivers: usize) -> Result<Vec<Socket>, LabError> {
        (2..receivers + 2)
            .map(|pod| {
                let address = match mode {
                    Mode::Unicast => SocketAddrV4::new(self.pod_address(pod), PORT),
                    Mode::Dataplane | Mode::DataplaneNapi | Mode::Bridge => {
                        SocketAddrV4::new(GROUP, PORT)
                    }
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

/// One node with a sender pod (p1), `receivers` receiver pods and a spy pod. Pods are
/// numbered through 10.200.1.1-250, 10.200.2.1-250, ... (one node: no other node's range to
/// meet), so the 1024-receiver point fits.
fn bench_spec(receivers: usize, napi_receivers: bool) -> Result<LabSpec, LabError> {
    let pods = receivers + 2;
    let mut spec = LabSpec::generate(LAB, 1, pods.min(MAX_GENERATED))?;
    let node = &mut spec.nodes[0];
    let [a, b, _, _] = spec.pod_cidr.address.octets();
    for index in node.pods.len()..pods {
        node.pods.push(PodSpec {
            name: format!("p{}", index + 1),
            address: Ipv4Addr::new(a, b, 1 + (index / 250) as u8, 1 + (index % 250) as u8),
            igmp_version: None,
            napi: false,
        });
    }
    for pod in &mut node.pods[1..=receivers] {
        pod.napi = napi_receivers;
    }
    spec.validate()?;
    Ok(spec)
}

impl Drop for BenchLab {
    fn drop(&mut self) {
        let _ = lab::down(LAB);
    }
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
        Mode::Dataplane | Mode::DataplaneNapi | Mode::Bridge => pps,
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
        Mode::Dataplane | Mode::DataplaneNapi | Mode::Bridge => sent_total * receivers as f64,
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
        bpf_ns_per_packet: (matches!(mode, Mode::Dataplane | Mode::DataplaneNapi) && bpf_runs > 0)
            .then(|| (end.bpf.0 - start.bpf.0).as_nanos() as f64 / bpf_runs as f64),
    };
    Ok((sample, sockets))
}
