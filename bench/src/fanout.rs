//! Fan-out: delivered copies per second as the number of local receivers grows, for the
//! dataplane and, in the same run and topology, the design it started from (the seed
//! baseline), the kernel's bridge with IGMP snooping and an application sending one unicast
//! copy per receiver.
//!
//! Setup per mode (one implementation each in [`crate::modes`]): one node with a sender pod
//! (p1), receiver pods (p2...) and a spy pod that never joins. A `sendmmsg` sender is pinned to one CPU and a `recvmmsg` collector (one socket
//! per receiver pod) to the other; the path between them (veths, tc programs or bridge) runs in
//! the sender's softirq. Each point: warm-up, then a timed window read from counters.

use std::{
    thread,
    time::{Duration, Instant},
};

use mcastlab_testbed::{
    blast::{Blaster, Collector},
    sender::SendOptions,
};
use serde::Serialize;
use socket2::Socket;

use super::system;
pub use crate::modes::{BRIDGE_MAX_PORTS, GROUP, Mode, PORT};
use crate::modes::{BenchLab, FanoutMode};
use mcastlab_lab::{LabError, Scenario};

/// How long joins may take to settle (a fresh snooping bridge floods for about 10 s).
const SETTLE_DEADLINE: Duration = Duration::from_secs(40);
/// Probe rounds (200 ms each) without a new receiver reached after which the receivers still
/// unreached are taken as starved, not as late.
const STABLE_ROUNDS: u32 = 10;
/// How long copies may still be in flight once the sender stops.
const DRAIN: Duration = Duration::from_millis(200);

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
    /// Mean run time per packet of the mode's eBPF program (`FanoutMode::bpf_program`:
    /// mcast_pod_ingress, or the seed baseline's), in ns; none for modes without one.
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
    let mut labs: Vec<(&dyn FanoutMode, BenchLab)> = Vec::new();
    for &mode in &options.modes {
        let implementation = mode.fanout();
        let (counts, skipped): (Vec<usize>, Vec<usize>) = options
            .receivers
            .iter()
            .partition(|&&n| n <= implementation.max_receivers());
        if !skipped.is_empty() {
            progress(&format!(
                "{mode:?}: skipping N={skipped:?}: a Linux bridge holds {BRIDGE_MAX_PORTS} ports, \
                 the sender, the spy and at most {} receivers",
                implementation.max_receivers()
            ));
        }
        let Some(most) = counts.iter().copied().max() else {
            continue;
        };
        progress(&format!(
            "{mode:?}: deploying lab {} ({} with {} pods)",
            implementation.lab_name(),
            if implementation.cross_node() {
                "2 nodes"
            } else {
                "1 node"
            },
            most + 2
        ));
        let lab = BenchLab::deploy(implementation, most, options.group_capacity)?;
        labs.push((implementation, lab));
    }
    let mut samples = Vec::new();
    let mut latencies = Vec::new();
    for (index, &receivers) in options.receivers.iter().enumerate() {
        let mut points = Vec::new();
        for (mode, lab) in labs.iter().filter(|(m, _)| receivers <= m.max_receivers()) {
            let mut sockets = collector_sockets(*mode, lab, receivers)?;
            settle(*mode, lab, &mut sockets, &mut progress)?;
            // Latency once per mode, at the first receiver count, with its receivers joined
            // (a steady group, not one whose members are still leaving).
            if index == 0 && options.latency_probes > 0 {
                let latency = measure_latency(*mode, lab, receivers, options.latency_probes)?;
                progress(&format!(
                    "{:?} N={receivers} latency: {}/{} probes, p50 {:.0} µs, p99 {:.0} µs",
                    mode.mode(),
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
                let (sample, back) = measure(*mode, lab, taken, repetition, options)?;
                *sockets = Some(back);
                progress(&format!(
                    "{:?} N={receivers} rep {}: {:.0} copies/s delivered, loss {:.2}%",
                    mode.mode(),
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

/// One collector socket in each of the first `receivers` receiver pods (joined, for
/// multicast).
fn collector_sockets(
    mode: &dyn FanoutMode,
    lab: &BenchLab,
    receivers: usize,
) -> Result<Vec<Socket>, LabError> {
    (1..=receivers)
        .map(|receiver| mode.collector_socket(lab, receiver))
        .collect()
}

/// Waits until the forwarding has the receivers' joins where that can be read
/// ([`FanoutMode::wait_joined`]), then until a few probes reach every receiver and none reaches
/// the spy (a fresh bridge's flooding over, ARP done), then empties the sockets. Receivers
/// that never get a probe while the rest stays unchanged for [`STABLE_ROUNDS`] rounds are
/// reported and measured as they are: past netdev_max_backlog copies per packet the backlog
/// drops the same receivers' copies every time.
fn settle(
    mode: &dyn FanoutMode,
    lab: &BenchLab,
    sockets: &mut [Socket],
    progress: &mut impl FnMut(&str),
) -> Result<(), LabError> {
    let scenario = lab.scenario();
    let started = Instant::now();
    let deadline = started + SETTLE_DEADLINE;
    mode.wait_joined(lab, sockets.len(), SETTLE_DEADLINE)?;
    let (spy_node, spy_pod) = lab.spy();
    let spy = scenario.spy(spy_node, spy_pod)?;
    let (sender_node, sender_pod) = lab.sender();
    let mut reached = vec![false; sockets.len()];
    let mut unchanged_rounds = 0;
    loop {
        for destination in mode.destinations(lab, sockets.len()) {
            scenario.send(
                sender_node,
                sender_pod,
                &SendOptions {
                    group: *destination.ip(),
                    port: PORT,
                    count: 3,
                    rate: None,
                    size: 64,
                    sender: 0,
                    first_seq: 0,
                },
            )?;
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
        // Nothing of the group reaches a pod that never joined (unicast sends none at all).
        let spy_clean = spy.count_to(GROUP) == 0;
        let missing = reached.iter().filter(|r| !**r).count();
        if spy_clean && missing == 0 {
            progress(&format!(
                "{:?} N={}: settled after {:.1} s",
                mode.mode(),
                sockets.len(),
                started.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        if spy_clean && missing < sockets.len() && unchanged_rounds >= STABLE_ROUNDS {
            progress(&format!(
                "{:?} N={}: settled after {:.1} s; {missing} receivers never got a probe",
                mode.mode(),
                sockets.len(),
                started.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io_error(std::io::Error::other(format!(
                "{:?} with {} receivers did not settle within {SETTLE_DEADLINE:?}: \
                 {missing} receivers got no probe; spy clean: {spy_clean}",
                mode.mode(),
                sockets.len()
            ))));
        }
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

/// Sends `probes` timestamped datagrams at [`latency_rate`] from the sender to the first
/// receiver, once a warm-up receiver there receives (its join is in place), and reads their
/// one-way latency on a second receiver (same host, one clock).
fn measure_latency(
    mode: &dyn FanoutMode,
    lab: &BenchLab,
    lab_receivers: usize,
    probes: u64,
) -> Result<Latency, LabError> {
    let destination = mode.address(lab, 1);
    let (sender_node, sender_pod) = lab.sender();
    let send_probes = |count: u64, rate: Option<u64>, sender: u32| {
        lab.scenario()
            .send(
                sender_node,
                sender_pod,
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
            .map(drop)
    };
    let mut warm_up = mode.receiver(lab, 1, LATENCY_PORT)?;
    let deadline = Instant::now() + SETTLE_DEADLINE;
    while warm_up
        .receive_until(Duration::from_millis(200), |r| r.unique > 0)
        .map_err(io_error)?
        .unique
        == 0
    {
        if Instant::now() >= deadline {
            return Err(io_error(std::io::Error::other(format!(
                "{:?}: no latency probe reached the receiver within {SETTLE_DEADLINE:?}",
                mode.mode()
            ))));
        }
        send_probes(3, None, 0)?;
    }
    let receiver = mode.receiver(lab, 1, LATENCY_PORT)?;
    let rate = latency_rate(lab_receivers);
    let wait = Duration::from_millis(probes * 1000 / rate) + Duration::from_secs(2);
    // Counted by sender: a warm-up probe (sender 0) still in flight does not end the wait.
    let reports = Scenario::collect_until(
        vec![receiver],
        wait,
        |r| r.per_sender.get(&1).copied() >= Some(probes),
        || send_probes(probes, Some(rate), 1),
    )?;
    let report = &reports[0];
    drop(warm_up);
    Ok(Latency {
        mode: mode.mode(),
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
    bpf: std::collections::BTreeMap<u32, (Duration, u64)>,
}

/// Measures one window of `mode` with `sockets` (one per receiver); returns them drained.
fn measure(
    mode: &dyn FanoutMode,
    lab: &BenchLab,
    sockets: Vec<Socket>,
    repetition: usize,
    options: &FanoutOptions,
) -> Result<(Sample, Vec<Socket>), LabError> {
    let receivers = sockets.len();
    let collector = Collector::start(sockets, options.receiver_cpu).map_err(io_error)?;
    // The offered load goes to each destination: the group once, or every receiver's address.
    let destinations = mode.destinations(lab, receivers);
    let copies_per_datagram = receivers as f64 / destinations.len() as f64;
    let rate = options
        .offered_pps
        .map(|pps| pps * destinations.len() as u64);
    let (sender_node, sender_pod) = lab.sender();
    let blaster = Blaster::start(
        &lab.scenario().pod_netns(sender_node, sender_pod),
        destinations,
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
        bpf: mode
            .bpf_program()
            .map(system::program_runs)
            .unwrap_or_default(),
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
    let expected_total = sent_total * copies_per_datagram;
    // Saturating: with cpuidle readings an idle period running at the first reading is
    // counted as busy there, so a CPU idle for the whole window can read slightly negative.
    let busy = |cpu: usize| {
        end.cpu
            .get(cpu)
            .copied()
            .unwrap_or_default()
            .saturating_sub(start.cpu.get(cpu).copied().unwrap_or_default())
    };
    let sender_busy = busy(options.sender_cpu).as_nanos() as f64;
    let total_busy = sender_busy + busy(options.receiver_cpu).as_nanos() as f64;
    let copies = delivered.max(1.0);
    let (bpf_time, bpf_runs) = system::runs_between(&start.bpf, &end.bpf);
    let sample = Sample {
        mode: mode.mode(),
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
        bpf_ns_per_packet: (bpf_runs > 0).then(|| bpf_time.as_nanos() as f64 / bpf_runs as f64),
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
}
