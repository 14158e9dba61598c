//! The sparse cross-node benchmark: a lab of N nodes with members of the group on k of them
//! and the sender on node 1. How many underlay packets one multicast packet costs and how much
//! CPU, with the dataplane learning which nodes have members (docs/cross-node.md) against a
//! bridge with a classic vxlan port on every node (head-end replication: every packet to every
//! other node); and how long a remote pod's join takes to bring its first copy and its leave to
//! stop the copies to its node.

use std::{
    net::{Ipv4Addr, SocketAddrV4},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use mcastlab_lab::{LabError, Scenario};
use mcastlab_testbed::{
    capture::{Capture, is_vxlan_to},
    receiver::Receiver,
    sender::{SendOptions, sender_socket},
};
use mcastlab_topology::{
    LabSpec,
    bridge::{BridgeOptions, HEADEND_VXLAN_PORT, bridge_pods_over_vxlan},
    model::{UNDERLAY_IFACE, VXLAN_PORT},
};
use serde::Serialize;

use crate::system::cpu_busy;

/// Name of the benchmark's labs.
pub const LAB: &str = "benchsp";
/// The group.
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 79, 0, 1);
/// UDP port of the traffic.
const PORT: u16 = 6002;
/// How long a join, a learn or a delivery may take before the run fails.
const DEADLINE: Duration = Duration::from_secs(10);
/// Interval of the background traffic while a join or leave is timed.
const INTERVAL: Duration = Duration::from_micros(500);
/// How long without a copy on the underlay means the copies stopped after a leave.
const QUIET: Duration = Duration::from_millis(500);
/// How often the underlay capture is read while a leave is timed.
const POLL: Duration = Duration::from_millis(1);

/// How to run the sparse benchmark.
#[derive(Clone, Debug, Serialize)]
pub struct SparseOptions {
    /// Lab sizes (nodes); each runs with members on 1 and on N-1 nodes.
    pub nodes: Vec<usize>,
    /// Multicast packets sent per measurement.
    pub packets: u64,
    /// Sending rate, packets per second.
    pub rate: u64,
}

/// What delivers the copies across nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SparseMode {
    /// mcastlab's dataplane with its agents learning the nodes with members.
    Learned,
    /// A bridge with a classic vxlan port on each node; the sender's floods, the vxlan driver
    /// replicates to every other node.
    HeadEnd,
}

/// One measurement.
#[derive(Clone, Debug, Serialize)]
pub struct SparseRow {
    /// The mode.
    pub mode: SparseMode,
    /// Nodes in the lab (N).
    pub nodes: usize,
    /// Nodes with members (k), the sender's excluded.
    pub member_nodes: usize,
    /// Vxlan packets of the group on the other nodes' underlay legs, per packet sent.
    pub underlay_copies_per_packet: f64,
    /// Busy CPU time of the whole machine (every node shares one kernel) per packet sent, in
    /// ns; tick-grained, so compare modes, not digits.
    pub cpu_ns_per_packet: u64,
    /// A pod on node N joining (IP_ADD_MEMBERSHIP) as the node's only member to its first
    /// datagram, in µs: the learning round trip (the agent's group poll, 200 ms, bounds it).
    pub join_to_first_copy_us: Option<u64>,
    /// That pod leaving to the last copy of the group on node N's underlay leg, in µs; `None`
    /// when the copies never stop (head-end replication floods every node).
    pub leave_to_last_copy_us: Option<u64>,
}

/// Runs every (N, k, mode) of `options`, one lab each; `progress` hears of each step.
pub fn run(
    options: &SparseOptions,
    mut progress: impl FnMut(&str),
) -> Result<Vec<SparseRow>, LabError> {
    let mut rows = Vec::new();
    for &nodes in &options.nodes {
        let mut ks = vec![1, nodes.saturating_sub(1)];
        ks.dedup();
        for k in ks.into_iter().filter(|&k| k >= 1) {
            for mode in [SparseMode::Learned, SparseMode::HeadEnd] {
                progress(&format!("{mode:?}: {nodes} nodes, members on {k}"));
                let row = measure(options, mode, nodes, k)?;
                progress(&format!(
                    "  {:.2} underlay copies per packet, {} ns CPU per packet, join {:?} us, leave {:?} us",
                    row.underlay_copies_per_packet,
                    row.cpu_ns_per_packet,
                    row.join_to_first_copy_us,
                    row.leave_to_last_copy_us
                ));
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// One lab of `nodes` nodes with members on nodes 2..=k+1 (pod p1 each).
fn measure(
    options: &SparseOptions,
    mode: SparseMode,
    nodes: usize,
    k: usize,
) -> Result<SparseRow, LabError> {
    let spec = LabSpec::generate(LAB, nodes, 2)?;
    let scenario = match mode {
        SparseMode::Learned => {
            let scenario = Scenario::deploy_with_agents(spec, mcastlab_agent::Settings::LAB)?;
            scenario.add_group(GROUP)?;
            scenario
        }
        SparseMode::HeadEnd => {
            let scenario = Scenario::deploy_without_dataplane(spec)?;
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
            for node in 1..=nodes {
                let options = if node == 1 { flood } else { snoop };
                bridge_pods_over_vxlan(scenario.spec(), scenario.node(node), options)?;
            }
            scenario
        }
    };
    let port = match mode {
        SparseMode::Learned => VXLAN_PORT,
        SparseMode::HeadEnd => HEADEND_VXLAN_PORT,
    };
    let members: Vec<usize> = (2..=k + 1).collect();
    let receivers = members
        .iter()
        .map(|&node| scenario.join_socket(node, 1, GROUP, PORT))
        .collect::<Result<Vec<Receiver>, _>>()?;
    if mode == SparseMode::Learned {
        for &node in &members {
            scenario.wait_subscribed(node, 1, GROUP, DEADLINE)?;
            scenario.wait_learned(1, GROUP, node, DEADLINE)?;
        }
    }
    let captures = (2..=nodes)
        .map(|node| underlay_capture(&scenario, node))
        .collect::<Result<Vec<Capture>, _>>()?;

    let busy_before: Duration = cpu_busy().iter().sum();
    let packets = options.packets;
    Scenario::collect_while(receivers, packets, DEADLINE, || {
        scenario.send(
            1,
            2,
            &SendOptions {
                group: GROUP,
                port: PORT,
                count: packets,
                rate: Some(options.rate),
                size: 64,
                sender: 1,
                first_seq: 0,
            },
        )?;
        Ok(())
    })?;
    let busy: Duration = cpu_busy()
        .iter()
        .sum::<Duration>()
        .saturating_sub(busy_before);
    // Every member's copies are in; the others' would have come with them.
    let copies: usize = captures
        .iter()
        .map(|capture| vxlan_to_group(&capture.now(), port))
        .sum();
    drop(captures);

    // The members' sockets closed when the collection ended (it takes them): the join and
    // leave below are of node N's only member, so they show the learning and the withdrawal.
    let (join, leave) = join_and_leave(&scenario, nodes, port)?;
    Ok(SparseRow {
        mode,
        nodes,
        member_nodes: k,
        underlay_copies_per_packet: copies as f64 / packets as f64,
        cpu_ns_per_packet: (busy.as_nanos() / u128::from(packets.max(1))) as u64,
        join_to_first_copy_us: Some(join),
        leave_to_last_copy_us: leave,
    })
}

/// Times pod p2 of the last node joining and leaving while the sender sends one datagram
/// every [`INTERVAL`]: join to its first datagram, leave to the last copy on its node's
/// underlay leg (`None` when copies keep coming for [`DEADLINE`]).
fn join_and_leave(
    scenario: &Scenario,
    node: usize,
    port: u16,
) -> Result<(u64, Option<u64>), LabError> {
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        let socket = sender_socket(&scenario.pod_netns(1, 2)).map_err(LabError::Io)?;
        thread::spawn(move || {
            let destination = SocketAddrV4::new(GROUP, PORT).into();
            let payload = [0u8; 64];
            while !stop.load(Ordering::Relaxed) {
                let _ = socket.send_to(&payload, &destination);
                thread::sleep(INTERVAL);
            }
        })
    };
    let result = (|| {
        let underlay = underlay_capture(scenario, node)?;
        // Bound and joined in one call: the join is when the socket is made.
        let joined = Instant::now();
        let socket = scenario.collector_socket(node, 2, SocketAddrV4::new(GROUP, PORT))?;
        socket
            .set_read_timeout(Some(DEADLINE))
            .map_err(LabError::Io)?;
        let mut buffer = [std::mem::MaybeUninit::<u8>::uninit(); 256];
        socket.recv(&mut buffer).map_err(|err| {
            LabError::Io(std::io::Error::other(format!(
                "no datagram {DEADLINE:?} after the join on node {node}: {err}"
            )))
        })?;
        let join = joined.elapsed();
        thread::sleep(Duration::from_millis(100));
        underlay.now();
        let left = Instant::now();
        // Closing the socket leaves the group: the pod's kernel sends the leave.
        drop(socket);
        let mut last = left;
        let mut last_seen = Instant::now();
        while last_seen.elapsed() < QUIET {
            if vxlan_to_group(&underlay.now(), port) > 0 {
                last = Instant::now();
                last_seen = last;
            }
            if left.elapsed() > DEADLINE {
                return Ok((join.as_micros() as u64, None));
            }
            thread::sleep(POLL);
        }
        Ok((
            join.as_micros() as u64,
            Some((last - left).as_micros() as u64),
        ))
    })();
    stop.store(true, Ordering::Relaxed);
    let _ = traffic.join();
    result
}

fn underlay_capture(scenario: &Scenario, node: usize) -> Result<Capture, LabError> {
    let netns = scenario.spec().node_netns(scenario.node(node));
    Capture::open_in(&netns, UNDERLAY_IFACE).map_err(LabError::Io)
}

/// The vxlan packets (UDP to `port`) among `frames` whose inner packet goes to the group.
fn vxlan_to_group(frames: &[Vec<u8>], port: u16) -> usize {
    frames
        .iter()
        .filter(|frame| is_vxlan_to(frame, port, GROUP))
        .count()
}

/// The rows as a markdown table.
pub fn markdown(rows: &[SparseRow]) -> String {
    let mut text = String::from(
        "| mode | N | k | underlay copies / packet | CPU ns / packet | join to first copy (µs) | leave to last copy (µs) |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for row in rows {
        let us = |v: Option<u64>| v.map_or("never".to_owned(), |v| v.to_string());
        text.push_str(&format!(
            "| {} | {} | {} | {:.2} | {} | {} | {} |\n",
            match row.mode {
                SparseMode::Learned => "learned (ours)",
                SparseMode::HeadEnd => "bridge + vxlan head-end",
            },
            row.nodes,
            row.member_nodes,
            row.underlay_copies_per_packet,
            row.cpu_ns_per_packet,
            us(row.join_to_first_copy_us),
            us(row.leave_to_last_copy_us),
        ));
    }
    text
}
