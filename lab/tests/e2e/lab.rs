//! The lab fixture of the e2e cases.

use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    sync::{RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::Duration,
};

use mcastlab_common::Reason;
use mcastlab_dataplane::{AttachMode, AttachOptions, Node, PodIface};
use mcastlab_lab::Scenario;
use mcastlab_testbed::{capture::Capture, receiver::Receiver, sender::SendOptions};
use mcastlab_testkit::{Namespace, NetnsGuard, batch, ip, netns_path, scaled, unique_name};
use mcastlab_topology::{
    LabSpec, PodSpec,
    model::{POD_IFACE, host_iface},
    offload::{Offload, set_offload},
};

/// UDP port of e2e traffic.
pub const PORT: u16 = 5000;
/// How long a join, leave, counter or delivery may take before a case fails: 5 s, scaled where
/// the kernel runs emulated ([`scaled`]).
pub fn deadline() -> Duration {
    scaled(Duration::from_secs(5))
}

/// How late after the membership interval an expiry may come: two aging checks of a second,
/// scaled where the kernel runs emulated ([`scaled`]).
pub fn aging_slack() -> Duration {
    scaled(Duration::from_secs(3))
}

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

/// Cases that flood the per-CPU backlog hold this exclusively while they do; every other case
/// holds it shared, so no case loses packets to another case's burst.
static BACKLOG: RwLock<()> = RwLock::new(());

/// Holds [`BACKLOG`]: shared for the life of a lab, exclusive around a burst.
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

/// Holds [`BACKLOG`] exclusively, around a burst of about a thousand copies: waits until no
/// other case runs, and holds the others off until dropped.
pub fn backlog_exclusive() -> BacklogGuard {
    BacklogGuard::Exclusive(
        BACKLOG
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

/// A deployed lab with its dataplane ([`Scenario`]), removed when dropped, with the e2e
/// deadline on every wait and a panic that says what failed.
pub struct TestLab {
    pub scenario: Scenario,
    _backlog: Option<BacklogGuard>,
}

impl TestLab {
    /// Deploys a generated lab of `nodes` x `pods`, after `customize` edits its spec.
    pub fn new(nodes: usize, pods: usize, customize: impl FnOnce(&mut LabSpec)) -> Self {
        Self::deploy(nodes, pods, customize, Some(backlog_shared()))
    }

    /// Like [`TestLab::new`], for a case that sends bursts of about a thousand copies: it
    /// holds [`backlog_exclusive`] around each burst, and nothing while it sets up or checks,
    /// so other cases run meanwhile.
    pub fn new_bursting(nodes: usize, pods: usize, customize: impl FnOnce(&mut LabSpec)) -> Self {
        Self::deploy(nodes, pods, customize, None)
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
        backlog: Option<BacklogGuard>,
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
            .monitor(node, deadline())
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
            .wait_learned(node, group, remote, deadline())
            .unwrap_or_else(|err| {
                panic!(
                    "n{node} should learn n{remote}: {err}; n{node}: {}; n{remote}: {}",
                    self.node_state(node),
                    self.node_state(remote)
                )
            })
    }

    /// Waits until `node` no longer lists `remote` as a subscriber of `group`, for at most
    /// `timeout`; a failure says whether either node's agent ended, and their counters.
    pub fn wait_unlearned(&self, node: usize, group: Ipv4Addr, remote: usize, timeout: Duration) {
        self.scenario
            .wait_unlearned(node, group, remote, timeout)
            .unwrap_or_else(|err| {
                panic!(
                    "n{node} should withdraw n{remote}: {err}; n{node}: {}; n{remote}: {}",
                    self.node_state(node),
                    self.node_state(remote)
                )
            });
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
            .join(node, pod, group, PORT, deadline())
            .expect("the join reaches the dataplane")
    }

    /// Joins `group` from a pod with a real socket, without waiting for the dataplane.
    pub fn join_socket(&self, node: usize, pod: usize, group: Ipv4Addr) -> Receiver {
        self.scenario
            .join_socket(node, pod, group, PORT)
            .expect("join with a socket")
    }

    /// Joins `group` from a pod for `source`'s datagrams only, and waits until the dataplane
    /// has the pod as a member.
    pub fn join_source(
        &self,
        node: usize,
        pod: usize,
        source: Ipv4Addr,
        group: Ipv4Addr,
    ) -> Receiver {
        let receiver = self
            .scenario
            .join_source_socket(node, pod, source, group, PORT)
            .expect("source-specific join with a socket");
        self.wait_subscribed(node, pod, group);
        receiver
    }

    /// Waits until pod (node, pod) subscribes to `group` in its node's dataplane.
    pub fn wait_subscribed(&self, node: usize, pod: usize, group: Ipv4Addr) {
        self.scenario
            .wait_subscribed(node, pod, group, deadline())
            .unwrap_or_else(|err| {
                panic!(
                    "the join reaches the dataplane: {err}; n{node}: {}",
                    self.node_state(node)
                )
            });
    }

    /// Waits until pod (node, pod) no longer subscribes to `group`.
    pub fn wait_left(&self, node: usize, pod: usize, group: Ipv4Addr) {
        self.scenario
            .wait_left(node, pod, group, deadline())
            .unwrap_or_else(|err| {
                panic!(
                    "the leave reaches the dataplane: {err}; n{node}: {}",
                    self.node_state(node)
                )
            });
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

    /// Adds `pods` to node `node` as [`SharedPods`], and attaches the dataplane to their host
    /// veths beside the node's own pods'. A `napi` pod gets what the lab's deploy gives one
    /// ([`napi_on`]).
    pub fn add_shared_pods(&self, node: usize, pods: Vec<PodSpec>) -> SharedPods {
        let namespace = Namespace::new(&unique_name("e"));
        let shared = namespace.name().to_owned();
        let node_spec = self.scenario.node(node);
        let node_ns = self.scenario.spec().node_netns(node_spec);
        // IPv6 off, as in the lab's namespaces: no router solicitations or MLD from the links.
        for key in ["all", "default"] {
            let setting = format!("net.ipv6.conf.{key}.disable_ipv6=1");
            ip(&["netns", "exec", &shared, "sysctl", "-qw", &setting]);
        }
        let links: Vec<String> = pods
            .iter()
            .flat_map(|pod| {
                let host = host_iface(pod);
                [
                    format!(
                        "link add {host} type veth peer name {} netns {shared}",
                        pod.name
                    ),
                    format!("link set {host} up"),
                ]
            })
            .collect();
        batch("ip", &node_ns, &links);
        let ends: Vec<String> = pods
            .iter()
            .flat_map(|pod| {
                [
                    format!("address add {}/32 dev {}", pod.address, pod.name),
                    format!("link set {} up", pod.name),
                ]
            })
            .collect();
        batch("ip", &shared, &ends);
        let napi: Vec<(&str, &str, String)> = pods
            .iter()
            .filter(|pod| pod.napi)
            .map(|pod| (shared.as_str(), pod.name.as_str(), host_iface(pod)))
            .collect();
        napi_on(&node_ns, &napi);
        let pod_ifaces = node_spec
            .pods
            .iter()
            .chain(&pods)
            .map(|pod| PodIface::new(host_iface(pod), pod.address))
            .collect();
        self.dataplane(node)
            .attach(&AttachOptions {
                mode: AttachMode::Auto,
                pod_ifaces,
                tunnel: None,
                max_records: None,
            })
            .expect("attach the shared pods");
        SharedPods { pods, namespace }
    }

    /// Switches the lab's pods `pods` of node `node` to NAPI delivery ([`napi_on`]).
    pub fn napi_on(&self, node: usize, pods: &[usize]) {
        let node_ns = self.scenario.spec().node_netns(self.scenario.node(node));
        let netns: Vec<String> = pods.iter().map(|&pod| self.pod_netns(node, pod)).collect();
        let targets: Vec<(&str, &str, String)> = pods
            .iter()
            .zip(&netns)
            .map(|(&pod, netns)| (netns.as_str(), POD_IFACE, host_iface(self.pod(node, pod))))
            .collect();
        napi_on(&node_ns, &targets);
    }

    /// Every reason counter of a node by name.
    pub fn counters(&self, node: usize) -> BTreeMap<&'static str, u64> {
        self.scenario.counters(node).expect("counters")
    }

    /// What a failing case prints of `node`: whether its agent ended on its own, and its
    /// reason counters that are not 0.
    pub fn node_state(&self, node: usize) -> String {
        let mut counters = self.counters(node);
        counters.retain(|_, count| *count > 0);
        let agent = match self.scenario.agent_ended(node) {
            Some(true) => "ended on its own".to_owned(),
            Some(false) => match self.scenario.agent_last_step_age(node) {
                Some(age) => format!("running, last step {age:?} ago"),
                None => "running, no step finished yet".to_owned(),
            },
            None => "not started".to_owned(),
        };
        format!("agent {agent}, counters {counters:?}")
    }

    /// Waits until counter `reason` of `node` reaches `at_least`; returns its value.
    pub fn wait_counter(&self, node: usize, reason: Reason, at_least: u64) -> u64 {
        self.scenario
            .wait_counter(node, reason, at_least, deadline())
            .unwrap_or_else(|err| panic!("{err}"))
    }
}

/// Packets the qdisc of a `napi` pod's host veth holds, as the lab's deploy sets it
/// ([`PodSpec::napi`]).
const NAPI_QDISC_LIMIT: u32 = 4096;

/// Makes pods receive through their veth's NAPI ring, as the lab's deploy does for a pod with
/// [`PodSpec::napi`] (at run time, on veths that exist): GRO on the pod end, TSO off and a
/// pfifo qdisc on the host end. `pods` holds (pod end's namespace, pod end, host end in
/// `node_ns`).
pub fn napi_on(node_ns: &str, pods: &[(&str, &str, String)]) {
    for (netns, pod_end, host) in pods {
        set_offload(netns, pod_end, Offload::Gro, true).expect("GRO on the pod end");
        set_offload(node_ns, host, Offload::Tso, false).expect("TSO off on the host end");
    }
    let qdiscs: Vec<String> = pods
        .iter()
        .map(|(_, _, host)| format!("qdisc replace dev {host} root pfifo limit {NAPI_QDISC_LIMIT}"))
        .collect();
    if !qdiscs.is_empty() {
        batch("tc", node_ns, &qdiscs);
    }
}

/// Pods of one node whose pod ends share one namespace: per pod a veth pair, its host end
/// `veth-<pod>` in the node (the dataplane attached, the pod's address its identity, as for the
/// lab's own pods) and its pod end `<pod>` in the shared namespace, holding the pod's address.
/// What the dataplane sees of a pod is its host veth and identity, so a thousand subscribers
/// cost a thousand veths, not a thousand namespaces. The namespace (and with it every pair) is
/// deleted when this is dropped.
pub struct SharedPods {
    /// The pods, in the order given.
    pub pods: Vec<PodSpec>,
    namespace: Namespace,
}

impl SharedPods {
    /// The shared namespace.
    pub fn netns(&self) -> &str {
        self.namespace.name()
    }

    /// Switches every pod to NAPI delivery ([`napi_on`]); `node_ns` holds their host ends.
    pub fn napi_on(&self, node_ns: &str) {
        let targets: Vec<(&str, &str, String)> = self
            .pods
            .iter()
            .map(|pod| (self.netns(), pod.name.as_str(), host_iface(pod)))
            .collect();
        napi_on(node_ns, &targets);
    }

    /// Sends `frame` from pod `index`'s end (an index into [`SharedPods::pods`]).
    pub fn send_frame(&self, index: usize, frame: Vec<u8>) {
        let pod = &self.pods[index].name;
        mcastlab_testbed::raw::send_frames(self.netns(), pod, &[frame])
            .unwrap_or_else(|err| panic!("sending from {pod}: {err}"));
    }

    /// A capture on pod `index`'s end: what reaches the pod at layer 2.
    pub fn spy(&self, index: usize) -> Capture {
        Capture::open_in(self.netns(), &self.pods[index].name).expect("capture on a pod end")
    }

    /// Packets each pod end has received (`rx_packets`), in pod order: one read of the shared
    /// namespace's `/proc/net/dev`.
    pub fn received(&self) -> Vec<u64> {
        let table = {
            let _netns = NetnsGuard::enter(&netns_path(self.netns())).expect("enter the namespace");
            // thread-self: /proc/self/net would show the namespace of the process's main thread.
            std::fs::read_to_string("/proc/thread-self/net/dev").expect("read /proc/net/dev")
        };
        // "  <iface>: <rx bytes> <rx packets> ..." after two header lines.
        let by_name: BTreeMap<&str, u64> = table
            .lines()
            .skip(2)
            .filter_map(|line| {
                let (name, fields) = line.split_once(':')?;
                let packets = fields.split_whitespace().nth(1)?.parse().ok()?;
                Some((name.trim(), packets))
            })
            .collect();
        self.pods
            .iter()
            .map(|pod| {
                *by_name
                    .get(pod.name.as_str())
                    .unwrap_or_else(|| panic!("{} is not in /proc/net/dev:\n{table}", pod.name))
            })
            .collect()
    }
}

/// Receives until `count` distinct probes arrived (or the deadline) and returns how many.
pub fn receive(receiver: &mut Receiver, count: u64) -> u64 {
    receiver
        .receive_until(deadline(), |report| report.unique >= count)
        .expect("receive")
        .unique
}
