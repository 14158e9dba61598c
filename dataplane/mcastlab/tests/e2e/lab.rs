//! The lab fixture of the e2e cases.

use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    sync::{
        RwLock, RwLockReadGuard, RwLockWriteGuard,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use mcastlab::{dataplane::Node, lab};
use mcastlab_common::Reason;
use mcastlab_testbed::{
    capture::Capture,
    receiver::Receiver,
    sender::{SendOptions, send},
};
use mcastlab_topology::{LabSpec, NodeSpec, PodSpec, model::POD_IFACE};

/// UDP port of e2e traffic.
pub const PORT: u16 = 5000;
/// How long a join, leave, counter or delivery may take before a case fails.
pub const DEADLINE: Duration = Duration::from_secs(5);

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
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    )
}

/// A deployed lab with its dataplane, removed when dropped.
pub struct TestLab {
    pub spec: LabSpec,
    _backlog: BacklogGuard,
}

impl TestLab {
    /// Deploys a generated lab of `nodes` x `pods`, after `customize` edits its spec.
    pub fn new(nodes: usize, pods: usize, customize: impl FnOnce(&mut LabSpec)) -> Self {
        let guard = BACKLOG
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Self::deploy(nodes, pods, customize, BacklogGuard::Shared(guard))
    }

    /// Like [`TestLab::new`], for a case that sends bursts of about a thousand copies: no
    /// other case runs meanwhile.
    pub fn new_exclusive(nodes: usize, pods: usize, customize: impl FnOnce(&mut LabSpec)) -> Self {
        let guard = BACKLOG
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Self::deploy(nodes, pods, customize, BacklogGuard::Exclusive(guard))
    }

    fn deploy(
        nodes: usize,
        pods: usize,
        customize: impl FnOnce(&mut LabSpec),
        backlog: BacklogGuard,
    ) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "e{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut spec = LabSpec::generate(&name, nodes, pods).expect("generate lab");
        customize(&mut spec);
        // Whatever a killed earlier run with this pid left is not ours to keep.
        lab::down(&name).expect("clean a stale lab");
        lab::up(&spec).expect("deploy the lab");
        Self {
            spec,
            _backlog: backlog,
        }
    }

    /// Node `node` (1-based).
    pub fn node(&self, node: usize) -> &NodeSpec {
        &self.spec.nodes[node - 1]
    }

    /// Pod `pod` (1-based) of node `node` (1-based).
    pub fn pod(&self, node: usize, pod: usize) -> &PodSpec {
        &self.node(node).pods[pod - 1]
    }

    /// The namespace of a pod.
    pub fn pod_netns(&self, node: usize, pod: usize) -> String {
        self.spec.pod_netns(self.node(node), self.pod(node, pod))
    }

    /// The dataplane of a node.
    pub fn dataplane(&self, node: usize) -> Node {
        lab::dataplane_node(&self.spec, self.node(node)).expect("dataplane node")
    }

    /// Configures `group` on every node with the others as remote subscribers.
    pub fn configure_group(&self, group: Ipv4Addr) {
        lab::configure_group(&self.spec, group).expect("configure group");
    }

    /// Joins `group` from a pod with a real socket and waits until the dataplane has it.
    pub fn join(&self, node: usize, pod: usize, group: Ipv4Addr) -> Receiver {
        let receiver =
            Receiver::join(&self.pod_netns(node, pod), group, PORT).expect("join with a socket");
        self.wait_subscribed(node, pod, group);
        receiver
    }

    /// Waits until pod (node, pod) subscribes to `group` in its node's dataplane.
    pub fn wait_subscribed(&self, node: usize, pod: usize, group: Ipv4Addr) {
        lab::wait_for_subscriber(
            &self.spec,
            self.node(node),
            group,
            self.pod(node, pod).address,
            DEADLINE,
        )
        .expect("the join reaches the dataplane");
    }

    /// Waits until pod (node, pod) no longer subscribes to `group`.
    pub fn wait_left(&self, node: usize, pod: usize, group: Ipv4Addr) {
        lab::wait_for_leave(
            &self.spec,
            self.node(node),
            group,
            self.pod(node, pod).address,
            DEADLINE,
        )
        .expect("the leave reaches the dataplane");
    }

    /// A capture on a pod's eth0: what reaches the pod at layer 2, joined or not.
    pub fn spy(&self, node: usize, pod: usize) -> Capture {
        Capture::open_in(&self.pod_netns(node, pod), POD_IFACE).expect("capture on eth0")
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
        send(
            &self.pod_netns(node, pod),
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
        self.dataplane(node)
            .stats()
            .expect("counters")
            .into_iter()
            .map(|c| (c.name, c.count))
            .collect()
    }

    /// Waits until counter `reason` of `node` reaches `at_least`; returns its value.
    pub fn wait_counter(&self, node: usize, reason: Reason, at_least: u64) -> u64 {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let value = self.counters(node)[reason.name()];
            if value >= at_least {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "counter {} of node {node} stayed at {value}, expected at least {at_least}",
                reason.name()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let result = lab::down(&self.spec.name);
        if let Err(err) = result
            && !std::thread::panicking()
        {
            panic!("removing lab {} failed: {err}", self.spec.name);
        }
    }
}

/// Receives until `count` distinct probes arrived (or the deadline) and returns how many.
pub fn receive(receiver: &mut Receiver, count: u64) -> u64 {
    receiver
        .receive_until(DEADLINE, |report| report.unique >= count)
        .expect("receive")
        .unique
}
