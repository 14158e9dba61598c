//! The control path: how long a join takes to bring traffic and a leave to stop it, and what
//! installing the largest configuration (1024 groups x 1024 subscribers) costs in time and map
//! memory.

use std::{
    net::{Ipv4Addr, SocketAddrV4},
    thread,
    time::{Duration, Instant},
};

use mcastlab_testbed::sender::sender_socket;
use mcastlab_topology::LabSpec;
use serde::Serialize;

use crate::modes::deploy_bridged;
use mcastlab_lab::{LabError, Scenario};

/// Name of the benchmark's lab.
pub const LAB: &str = "benchctl";
/// Name of the baseline's lab: the same pods on a bridge with IGMP snooping and a querier.
pub const BRIDGE_LAB: &str = "benchctlbr";
/// How long a fresh snooping bridge may flood before it forwards by membership only.
const FLOOD_DEADLINE: Duration = Duration::from_secs(40);
/// The group whose joins and leaves are timed.
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 78, 0, 1);
/// UDP port of the traffic.
const PORT: u16 = 6001;
/// Interval of the background traffic: the join and leave times include up to one interval.
const INTERVAL: Duration = Duration::from_micros(100);
/// How long without a frame means traffic stopped after a leave.
const QUIET: Duration = Duration::from_millis(300);
/// How long a join may take before it counts as failed.
const JOIN_DEADLINE: Duration = Duration::from_secs(5);
/// The pod that sends the traffic (node 1 of the lab).
const SENDER: usize = 1;
/// The pod that joins and leaves (node 1 of the lab).
const RECEIVER: usize = 2;

/// How to run the control benchmark.
#[derive(Clone, Debug, Serialize)]
pub struct ControlOptions {
    /// Groups to install.
    pub groups: u32,
    /// Remote subscribers per installed group.
    pub subscribers: u32,
    /// Join/leave cycles to time.
    pub repetitions: usize,
}

/// What the control benchmark measured.
#[derive(Clone, Debug, Serialize)]
pub struct ControlResult {
    /// Join (socket IP_ADD_MEMBERSHIP) to the first copy at the pod's eth0, per cycle, in µs.
    pub join_to_first_packet_us: Vec<u64>,
    /// Leave (IP_DROP_MEMBERSHIP) to the last copy at the pod's eth0, per cycle, in µs.
    pub leave_to_last_packet_us: Vec<u64>,
    /// The same through a Linux bridge with IGMP snooping and a querier (kernel defaults:
    /// last-member queries, no fast leave), per cycle, in µs.
    pub bridge_join_to_first_packet_us: Vec<u64>,
    /// Leave to the last copy through the bridge, per cycle, in µs.
    pub bridge_leave_to_last_packet_us: Vec<u64>,
    /// Groups installed.
    pub groups: u32,
    /// Subscribers installed per group.
    pub subscribers: u32,
    /// Time to add every group and subscriber from userspace, in ms.
    pub install_ms: u64,
    /// Kernel memory charged to the group maps (outer and inner), in KiB.
    pub map_memory_kib: u64,
}

/// Runs the control benchmark on a lab of its own.
pub fn run(
    options: &ControlOptions,
    mut progress: impl FnMut(&str),
) -> Result<ControlResult, LabError> {
    let scenario = Scenario::deploy(LabSpec::generate(LAB, 1, 2)?)?;
    let result = measure(&scenario, options, &mut progress);
    drop(scenario);
    let mut result = result?;
    progress("the baseline: a bridge with IGMP snooping and a querier");
    let (join, leave) = bridge_cycles(options, &mut progress)?;
    result.bridge_join_to_first_packet_us = join;
    result.bridge_leave_to_last_packet_us = leave;
    Ok(result)
}

/// Join and leave cycles through a snooping bridge, once its first flooding is over.
fn bridge_cycles(
    options: &ControlOptions,
    progress: &mut impl FnMut(&str),
) -> Result<(Vec<u64>, Vec<u64>), LabError> {
    let scenario = deploy_bridged(LabSpec::generate(BRIDGE_LAB, 1, 2)?, true)?;
    with_traffic(&scenario, || {
        wait_until_not_flooded(&scenario, progress)?;
        cycles(&scenario, options.repetitions, progress)
    })
}

/// Waits until the receiver pod's eth0, which has not joined, sees no traffic to the group for
/// [`QUIET`]: a fresh snooping bridge floods until its querier has run.
fn wait_until_not_flooded(
    scenario: &Scenario,
    progress: &mut impl FnMut(&str),
) -> Result<(), LabError> {
    let capture = scenario.spy(1, RECEIVER)?;
    let started = Instant::now();
    let mut last_seen = Instant::now();
    while last_seen.elapsed() < QUIET {
        if capture.count_to(GROUP) > 0 {
            last_seen = Instant::now();
        }
        if started.elapsed() > FLOOD_DEADLINE {
            return Err(LabError::Io(std::io::Error::other(format!(
                "the bridge still floods the group {FLOOD_DEADLINE:?} after it was made"
            ))));
        }
        thread::sleep(Duration::from_millis(1));
    }
    progress(&format!(
        "the bridge stopped flooding after {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Runs `work` while the sender pod sends one datagram to the group every [`INTERVAL`].
fn with_traffic<T>(
    scenario: &Scenario,
    work: impl FnOnce() -> Result<T, LabError>,
) -> Result<T, LabError> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        let socket = sender_socket(&scenario.pod_netns(1, SENDER)).map_err(LabError::Io)?;
        thread::spawn(move || {
            let destination = SocketAddrV4::new(GROUP, PORT).into();
            let payload = [0u8; 64];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = socket.send_to(&payload, &destination);
                thread::sleep(INTERVAL);
            }
        })
    };
    let result = work();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = traffic.join();
    result
}

/// The dataplane's join and leave cycles, then the install of many groups.
fn measure(
    scenario: &Scenario,
    options: &ControlOptions,
    progress: &mut impl FnMut(&str),
) -> Result<ControlResult, LabError> {
    scenario.configure_group_with_capacity(GROUP, 64)?;

    let (join, leave) = with_traffic(scenario, || cycles(scenario, options.repetitions, progress))?;

    progress(&format!(
        "installing {} groups x {} subscribers",
        options.groups, options.subscribers
    ));
    let mut table = scenario.dataplane(1)?.groups()?;
    table.delete_group(GROUP)?;
    let start = Instant::now();
    for g in 0..options.groups {
        let group = Ipv4Addr::new(
            239,
            100 + (g / 65536) as u8,
            (g / 256 % 256) as u8,
            (g % 256) as u8,
        );
        table.add_group_with_capacity(group, options.subscribers.max(1))?;
        // One batch per group, as a control plane that learned the group's nodes would.
        let addresses: Vec<Ipv4Addr> = (0..options.subscribers)
            .map(|s| {
                Ipv4Addr::new(
                    100,
                    64 + (s / 65536) as u8,
                    (s / 256 % 256) as u8,
                    (s % 256) as u8 + 1,
                )
            })
            .collect();
        table.add_remote_subscribers(group, &addresses)?;
    }
    let install_ms = start.elapsed().as_millis() as u64;
    let map_memory_kib = table.memory_bytes()? / 1024;
    Ok(ControlResult {
        join_to_first_packet_us: join,
        leave_to_last_packet_us: leave,
        bridge_join_to_first_packet_us: Vec::new(),
        bridge_leave_to_last_packet_us: Vec::new(),
        groups: options.groups,
        subscribers: options.subscribers,
        install_ms,
        map_memory_kib,
    })
}

/// Times `repetitions` join/leave cycles of a socket in the receiver pod, watching its eth0.
fn cycles(
    scenario: &Scenario,
    repetitions: usize,
    progress: &mut impl FnMut(&str),
) -> Result<(Vec<u64>, Vec<u64>), LabError> {
    let capture = scenario.spy(1, RECEIVER)?;
    let receiver = scenario.bind_socket(1, RECEIVER, GROUP, PORT)?;
    let (mut joins, mut leaves) = (Vec::new(), Vec::new());
    for cycle in 0..repetitions {
        capture.count_to(GROUP);
        let joined = Instant::now();
        receiver.rejoin().map_err(LabError::Io)?;
        let first = loop {
            if capture.count_to(GROUP) > 0 {
                break Instant::now();
            }
            if joined.elapsed() > JOIN_DEADLINE {
                return Err(LabError::Io(std::io::Error::other(format!(
                    "no traffic {JOIN_DEADLINE:?} after join {cycle}"
                ))));
            }
            thread::sleep(Duration::from_micros(50));
        };
        joins.push((first - joined).as_micros() as u64);
        thread::sleep(Duration::from_millis(50));
        capture.count_to(GROUP);
        let left = Instant::now();
        receiver.leave().map_err(LabError::Io)?;
        let mut last = left;
        let mut last_seen = Instant::now();
        while last_seen.elapsed() < QUIET {
            if capture.count_to(GROUP) > 0 {
                last = Instant::now();
                last_seen = last;
            }
            thread::sleep(Duration::from_micros(50));
        }
        leaves.push((last - left).as_micros() as u64);
        progress(&format!(
            "cycle {}: join to first packet {} us, leave to last packet {} us",
            cycle + 1,
            joins[cycle],
            leaves[cycle]
        ));
    }
    Ok((joins, leaves))
}
