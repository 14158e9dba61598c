//! The lab fixture of the e2e cases.

use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    sync::{RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::Duration,
};

use mcastlab_common::Reason;
use mcastlab_dataplane::Node;
use mcastlab_lab::Scenario;
use mcastlab_testbed::{capture::Capture, receiver::Receiver, sender::SendOptions};
use mcastlab_testkit::unique_name;
use mcastlab_topology::{LabSpec, PodSpec};

/// UDP port of e2e traffic.
pub const PORT: u16 = 5000;
/// How long a join, leave, counter or delivery may take before a case fails.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// The agent's settings in the e2e suite: one startup query when it starts, and none after for
/// a minute but those a case causes (a group that appears), so that a case sees only the
/// queries of the rule it checks.
pub const AGENT_SETTINGS: mcastlab_agent::Settings = mcastlab_agent::Settings {
    query_interval: Duration::from_secs(60),
    query_response_interval: Duration::from_secs(1),
    robustness: 1,
    last_member_query_interval: mcastlab_agent::timers::LAST_MEMBER_QUERY_INTERVAL,
};

/// Agent settings for cases that watch the timers run: a query every 2 s, answers within 1 s,
/// robustness 2, so a member not heard for 5 s (the Group Membership Interval) expires.
pub const FAST_AGENT_SETTINGS: mcastlab_agent::Settings = mcastlab_agent::Settings {
    query_interval: Duration::from_secs(2),
    query_response_interval: Duration::from_secs(1),
    robustness: 2,
    last_member_query_interval: mcastlab_agent::timers::LAST_MEMBER_QUERY_INTERVAL,
};

/// Cases that flood the per-CPU backlog hold this exclusively; every other case holds it
/// shared, so no case loses packets to another case's burst.
static BACKLOG: RwLock<()> = RwLock::new(());

/// Holds [`BACKLOG`] for the life of a lab.
pub enum BacklogGuard {
    Shared(#[allow(dead_code, reason = "held, not read")] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code, reason = "held, not read")] RwLockWriteGuard<'static, ()>),
}

/// Holds [`BACKLOG`] shared, for a case that builds its labs without [`TestLab`].
pub fn backlog_shared() -> BacklogGuard {
    BacklogGuard::Shared(
        BACKLOG
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

/// A deployed lab with its dataplane ([`Scenario`]), removed when dropped, with the e2e
/// deadline on every wait and a panic that says what failed.
pub struct TestLab {
    pub scenario: Scenario,
    _backlog: BacklogGuard,
}

impl TestLab {
    /// Deploys a generated lab of `nodes` x `pods`, after `customize` edits its spec.
    pub fn new(nodes: usize, pods: usize, customize: impl FnOnce(&mut LabSpec)) -> Self {
        Self::deploy(nodes, pods, customize, backlog_shared())
    }

    /// Like [`TestLab::new`], for a case that sends bursts of about a thousand copies: no
    /// other case runs meanwhile.
    pub fn new_exclusive(nodes: usize, pods: usize, customize: impl FnOnce(&mut LabSpec)) -> Self {
        let guard = BACKLOG
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Self::deploy(nodes, pods, customize, BacklogGuard::Exclusive(guard))
    }

    /// Like [`TestLab::new`], with every node's agent running with [`AGENT_SETTINGS`].
    pub fn with_agents(nodes: usize, pods: usize, customize: impl FnOnce(&mut LabSpec)) -> Self {
        let mut lab = Self::new(nodes, pods, customize);
        for node in 1..=nodes {
            lab.start_agent(node);
        }
        lab
    }

    fn deploy(
        nodes: usize,
        pods: usize,
        customize: impl FnOnce(&mut LabSpec),
        backlog: BacklogGuard,
    ) -> Self {
        let mut spec = LabSpec::generate(&unique_name("e"), nodes, pods).expect("generate lab");
        customize(&mut spec);
        Self {
            scenario: Scenario::deploy(spec).expect("deploy the lab"),
            _backlog: backlog,
        }
    }

    /// Starts the agent of `node` with [`AGENT_SETTINGS`].
    pub fn start_agent(&mut self, node: usize) {
        self.start_agent_with(node, AGENT_SETTINGS);
    }

    /// Starts the agent of `node` with `settings`.
    pub fn start_agent_with(&mut self, node: usize, settings: mcastlab_agent::Settings) {
        self.scenario
            .start_agent(node, settings)
            .expect("start the agent");
    }

    /// Stops the agent of `node`.
    pub fn stop_agent(&mut self, node: usize) {
        self.scenario.stop_agent(node).expect("stop the agent");
    }

    /// Pod `pod` (1-based) of node `node` (1-based).
    pub fn pod(&self, node: usize, pod: usize) -> &PodSpec {
        self.scenario.pod(node, pod)
    }

    /// The namespace of a pod.
    pub fn pod_netns(&self, node: usize, pod: usize) -> String {
        self.scenario.pod_netns(node, pod)
    }

    /// Follows the membership events of a node through its agent.
    pub fn monitor(&self, node: usize) -> mcastlab_agent::monitor::MonitorClient {
        self.scenario
            .monitor(node, DEADLINE)
            .expect("follow the node's monitor")
    }

    /// The dataplane of a node.
    pub fn dataplane(&self, node: usize) -> Node {
        self.scenario.dataplane(node).expect("dataplane node")
    }

    /// Configures `group` on every node with no remote subscriber (the agents learn them).
    pub fn add_group(&self, group: Ipv4Addr) {
        self.scenario.add_group(group).expect("add group");
    }

    /// Waits until `node` has learned `remote` as a subscriber of `group`; returns how long.
    pub fn wait_learned(&self, node: usize, group: Ipv4Addr, remote: usize) -> Duration {
        self.scenario
            .wait_learned(node, group, remote, DEADLINE)
            .unwrap_or_else(|err| panic!("n{node} should learn n{remote}: {err}"))
    }

    /// Starts the agent of `node` with [`AGENT_SETTINGS`] and `peering`.
    pub fn start_agent_with_peering(&mut self, node: usize, peering: mcastlab_agent::Peering) {
        self.scenario
            .start_agent_with_peering(node, AGENT_SETTINGS, Some(peering))
            .expect("start the agent");
    }

    /// Configures `group` on every node with the others as static remote subscribers.
    pub fn configure_group(&self, group: Ipv4Addr) {
        self.scenario
            .configure_group(group)
            .expect("configure group");
    }

    /// Joins `group` from a pod with a real socket and waits until the dataplane has it.
    pub fn join(&self, node: usize, pod: usize, group: Ipv4Addr) -> Receiver {
        self.scenario
            .join(node, pod, group, PORT, DEADLINE)
            .expect("the join reaches the dataplane")
    }

    /// Joins `group` from a pod with a real socket, without waiting for the dataplane.
    pub fn join_socket(&self, node: usize, pod: usize, group: Ipv4Addr) -> Receiver {
        self.scenario
            .join_socket(node, pod, group, PORT)
            .expect("join with a socket")
    }

    /// Waits until pod (node, pod) subscribes to `group` in its node's dataplane.
    pub fn wait_subscribed(&self, node: usize, pod: usize, group: Ipv4Addr) {
        self.scenario
            .wait_subscribed(node, pod, group, DEADLINE)
            .expect("the join reaches the dataplane");
    }

    /// Waits until pod (node, pod) no longer subscribes to `group`.
    pub fn wait_left(&self, node: usize, pod: usize, group: Ipv4Addr) {
        self.scenario
            .wait_left(node, pod, group, DEADLINE)
            .expect("the leave reaches the dataplane");
    }

    /// A capture on a pod's eth0: what reaches the pod at layer 2, joined or not.
    pub fn spy(&self, node: usize, pod: usize) -> Capture {
        self.scenario.spy(node, pod).expect("capture on eth0")
    }

    /// Sends `count` probes as `sender`, sequence numbers from `first_seq`.
    pub fn send(
        &self,
        node: usize,
        pod: usize,
        group: Ipv4Addr,
        sender: u32,
        first_seq: u64,
        count: u64,
    ) {
        self.scenario
            .send(
                node,
                pod,
                &SendOptions {
                    group,
                    port: PORT,
                    count,
                    rate: None,
                    size: 64,
                    sender,
                    first_seq,
                },
            )
            .expect("send");
    }

    /// Every reason counter of a node by name.
    pub fn counters(&self, node: usize) -> BTreeMap<&'static str, u64> {
        self.scenario.counters(node).expect("counters")
    }

    /// Waits until counter `reason` of `node` reaches `at_least`; returns its value.
    pub fn wait_counter(&self, node: usize, reason: Reason, at_least: u64) -> u64 {
        self.scenario
            .wait_counter(node, reason, at_least, DEADLINE)
            .unwrap_or_else(|err| panic!("{err}"))
    }
}

/// Receives until `count` distinct probes arrived (or the deadline) and returns how many.
pub fn receive(receiver: &mut Receiver, count: u64) -> u64 {
    receiver
        .receive_until(DEADLINE, |report| report.unique >= count)
        .expect("receive")
        .unique
}
