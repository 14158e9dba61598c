//! The scenario API: a deployed lab with its dataplane, driven the way the demo, the e2e suite
//! and the benchmarks drive it: configure a group, join pods with real sockets and wait until
//! the dataplane has them, send from a pod, collect what receivers got, spy on a pod's wire,
//! read and wait on counters. Pods and nodes are numbered from 1, as in the lab's names (`n1`,
//! `p1`). Baselines that measure the kernel's own answer deploy the same lab without the
//! dataplane ([`Scenario::deploy_without_dataplane`]) and drive it through the same calls.

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, Ipv6Addr, SocketAddrV4},
    time::{Duration, Instant},
};

use mcastlab_agent::{
    AgentThread, Peering, Settings,
    monitor::{MonitorClient, MonitorError},
};
use mcastlab_common::Reason;
use mcastlab_dataplane::Node;
use mcastlab_testbed::{
    blast::{receiver_socket, source_receiver_socket},
    capture::Capture,
    receiver::{Receive, ReceiveReport, Receiver, Receiver6},
    sender::{SendOptions, SendReport, send, send6},
};
use mcastlab_topology::{
    LabSpec, NodeSpec, PodSpec, deploy,
    model::{POD_IFACE, host_iface},
};
use socket2::Socket;

use crate::{LabError, Result, dataplane_node, wait_for_leave, wait_for_subscriber};

/// How often waits look again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A deployed lab, with its dataplane attached on every node deployed here
/// ([`Scenario::deploy`]) or without it ([`Scenario::deploy_without_dataplane`]), and, where
/// asked for, each node's agent on a thread of this process. Dropping it stops the agents and
/// removes the lab (detach, namespaces), unless [`Scenario::keep`] took it.
pub struct Scenario {
    spec: LabSpec,
    /// Whether dropping removes the lab.
    owned: bool,
    /// The running agents, by node number.
    agents: BTreeMap<usize, AgentThread>,
}

impl Scenario {
    /// Deploys `spec` (after removing whatever a crashed run left under its name) and attaches
    /// the dataplane.
    pub fn deploy(spec: LabSpec) -> Result<Self> {
        crate::down(&spec.name)?;
        crate::up(&spec)?;
        Ok(Self {
            spec,
            owned: true,
            agents: BTreeMap::new(),
        })
    }

    /// Deploys as [`Scenario::deploy`] and starts every node's agent with `settings`.
    pub fn deploy_with_agents(spec: LabSpec, settings: Settings) -> Result<Self> {
        let mut scenario = Self::deploy(spec)?;
        for node in 1..=scenario.spec.nodes.len() {
            if scenario.is_local(node) {
                scenario.start_agent(node, settings)?;
            }
        }
        Ok(scenario)
    }

    /// Starts the agent of node `node` (stopping the one running first), exchanging membership
    /// with the lab's other nodes ([`crate::peering`]).
    pub fn start_agent(&mut self, node: usize, settings: Settings) -> Result<()> {
        let peering = self.peering(node);
        self.start_agent_with_peering(node, settings, Some(peering))
    }

    /// Starts the agent of node `node` (stopping the one running first) with `peering` (none:
    /// it learns no remote subscribers and announces nothing).
    pub fn start_agent_with_peering(
        &mut self,
        node: usize,
        settings: Settings,
        peering: Option<Peering>,
    ) -> Result<()> {
        self.stop_agent(node)?;
        let name = self.spec.node_netns(self.node(node));
        self.agents
            .insert(node, AgentThread::spawn(&name, settings, peering)?);
        Ok(())
    }

    /// The membership peering of node `node` in this lab ([`crate::peering`]).
    pub fn peering(&self, node: usize) -> Peering {
        crate::peering(&self.spec, self.node(node))
    }

    /// Whether the agent started for node `node` has ended on its own (an error), if one was
    /// started and not stopped.
    pub fn agent_ended(&self, node: usize) -> Option<bool> {
        self.agents.get(&node).map(AgentThread::has_ended)
    }

    /// How long ago the agent of node `node` last finished a step of its loop, if one was
    /// started, not stopped, and has finished a step.
    pub fn agent_last_step_age(&self, node: usize) -> Option<std::time::Duration> {
        self.agents.get(&node).and_then(AgentThread::last_step_age)
    }

    /// Stops the agent of node `node`, if one runs; the datapath keeps forwarding.
    pub fn stop_agent(&mut self, node: usize) -> Result<()> {
        match self.agents.remove(&node) {
            Some(agent) => Ok(agent.stop()?),
            None => Ok(()),
        }
    }

    /// Whether node `node` is deployed here (every node, unless the lab is placed on this
    /// machine, [`LabSpec::host`]).
    fn is_local(&self, node: usize) -> bool {
        let name = &self.node(node).name;
        self.spec.local_nodes().any(|local| &local.name == name)
    }

    /// Deploys `spec` (after removing whatever a crashed run left under its name) without the
    /// dataplane: namespaces, veths and the underlay only, for a baseline that puts the kernel's
    /// own forwarding in its place (a bridge, see [`mcastlab_topology::bridge`]). Calls that
    /// read the dataplane ([`Scenario::dataplane`], [`Scenario::configure_group`],
    /// [`Scenario::wait_subscribed`], [`Scenario::counters`]) fail on such a lab. On failure
    /// nothing of the lab is left.
    pub fn deploy_without_dataplane(spec: LabSpec) -> Result<Self> {
        crate::down(&spec.name)?;
        deploy::deploy_blocking(&spec)?;
        Ok(Self {
            spec,
            owned: true,
            agents: BTreeMap::new(),
        })
    }

    /// Leaves the lab deployed when this is dropped; returns its spec.
    pub fn keep(mut self) -> LabSpec {
        self.owned = false;
        self.spec.clone()
    }

    /// The lab.
    pub fn spec(&self) -> &LabSpec {
        &self.spec
    }

    /// Node `node`.
    pub fn node(&self, node: usize) -> &NodeSpec {
        &self.spec.nodes[node - 1]
    }

    /// Pod `pod` of node `node`.
    pub fn pod(&self, node: usize, pod: usize) -> &PodSpec {
        &self.node(node).pods[pod - 1]
    }

    /// The namespace of pod `pod` of node `node`.
    pub fn pod_netns(&self, node: usize, pod: usize) -> String {
        self.spec.pod_netns(self.node(node), self.pod(node, pod))
    }

    /// The IPv6 address of pod `pod` of node `node` in a dual-stack lab ([`LabSpec::ipv6`],
    /// [`LabSpec::pod_address6`]); `None` when the lab's pods have IPv6 off.
    pub fn pod_address6(&self, node: usize, pod: usize) -> Option<Ipv6Addr> {
        self.spec.pod_address6(self.pod(node, pod))
    }

    /// The namespace of pod `pod` of node `node`, which must have IPv6 on.
    fn pod_netns6(&self, node: usize, pod: usize) -> Result<String> {
        if !self.spec.ipv6 {
            return Err(LabError::Ipv6Off {
                lab: self.spec.name.clone(),
            });
        }
        Ok(self.pod_netns(node, pod))
    }

    /// Follows the membership events of node `node` through its agent (started here or not),
    /// waiting up to `timeout` for the agent to listen: every event after this returns
    /// reaches the client.
    pub fn monitor(&self, node: usize, timeout: Duration) -> Result<MonitorClient> {
        let name = self.spec.node_netns(self.node(node));
        let deadline = Instant::now() + timeout;
        loop {
            match MonitorClient::connect(&name) {
                Err(MonitorError::NoAgent { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(POLL_INTERVAL);
                }
                connected => return Ok(connected?),
            }
        }
    }

    /// The dataplane of node `node`.
    pub fn dataplane(&self, node: usize) -> Result<Node> {
        dataplane_node(&self.spec, self.node(node))
    }

    /// Configures `group` on every node with no remote subscriber: the agents learn which nodes
    /// have members ([`crate::add_group`]).
    pub fn add_group(&self, group: Ipv4Addr) -> Result<()> {
        crate::add_group(&self.spec, group)
    }

    /// Configures `group` on every node, with the other nodes as static remote subscribers
    /// ([`crate::configure_group`]: head-end replication, no agent needed).
    pub fn configure_group(&self, group: Ipv4Addr) -> Result<()> {
        crate::configure_group(&self.spec, group)
    }

    /// Configures `group` as [`Scenario::configure_group`] does, with room for `capacity` local
    /// subscribers per node (1 to [`mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP`]): joins past
    /// it are refused and counted.
    pub fn configure_group_with_capacity(&self, group: Ipv4Addr, capacity: u32) -> Result<()> {
        crate::configure_group_with_capacity(&self.spec, group, capacity)
    }

    /// Joins `group` on `port` from a pod with a real socket (its kernel sends the IGMP
    /// report), without waiting for the dataplane.
    pub fn join_socket(
        &self,
        node: usize,
        pod: usize,
        group: Ipv4Addr,
        port: u16,
    ) -> Result<Receiver> {
        Receiver::join(&self.pod_netns(node, pod), group, port).map_err(LabError::Io)
    }

    /// Joins `group` on `port` from a pod for datagrams from `source` only (a source-specific
    /// join: the pod's kernel reports INCLUDE{source}), without waiting for the dataplane.
    pub fn join_source_socket(
        &self,
        node: usize,
        pod: usize,
        source: Ipv4Addr,
        group: Ipv4Addr,
        port: u16,
    ) -> Result<Receiver> {
        Receiver::join_source(&self.pod_netns(node, pod), source, group, port).map_err(LabError::Io)
    }

    /// Binds `address:port` in a pod without joining: a multicast `address` receives only what
    /// reaches the pod unasked (until [`Receiver::rejoin`] joins), a unicast one (the pod's
    /// own) what is sent to the pod.
    pub fn bind_socket(
        &self,
        node: usize,
        pod: usize,
        address: Ipv4Addr,
        port: u16,
    ) -> Result<Receiver> {
        Receiver::bind(&self.pod_netns(node, pod), address, port).map_err(LabError::Io)
    }

    /// A bare socket in a pod bound to `address`, joined (its kernel sends the IGMP report, not
    /// waited for) when `address` is a group: for readers that batch many sockets, as
    /// [`mcastlab_testbed::blast::Collector`] does with `recvmmsg`.
    pub fn collector_socket(
        &self,
        node: usize,
        pod: usize,
        address: SocketAddrV4,
    ) -> Result<Socket> {
        receiver_socket(&self.pod_netns(node, pod), address).map_err(LabError::Io)
    }

    /// Joins IPv6 `group` on `port` from a pod of a dual-stack lab with a real socket on its
    /// `eth0`, for any source (its kernel sends the MLD report: MLDv2 EXCLUDE({}), or an MLDv1
    /// report under `mld_version: 1`), without waiting for the dataplane.
    pub fn join6_socket(
        &self,
        node: usize,
        pod: usize,
        group: Ipv6Addr,
        port: u16,
    ) -> Result<Receiver6> {
        Receiver6::join(&self.pod_netns6(node, pod)?, POD_IFACE, group, port).map_err(LabError::Io)
    }

    /// Joins IPv6 `group` on `port` from a pod of a dual-stack lab for datagrams from `source`
    /// only (its kernel reports INCLUDE({source}), RFC 3810), without waiting for the
    /// dataplane.
    pub fn join6_source_socket(
        &self,
        node: usize,
        pod: usize,
        source: Ipv6Addr,
        group: Ipv6Addr,
        port: u16,
    ) -> Result<Receiver6> {
        Receiver6::join_source(&self.pod_netns6(node, pod)?, POD_IFACE, group, source, port)
            .map_err(LabError::Io)
    }

    /// Binds `[group]:port` on a pod's `eth0` in a dual-stack lab without joining: it receives
    /// only what reaches the pod unasked (until [`Receiver6::rejoin`] joins).
    pub fn bind6_socket(
        &self,
        node: usize,
        pod: usize,
        group: Ipv6Addr,
        port: u16,
    ) -> Result<Receiver6> {
        Receiver6::bind(&self.pod_netns6(node, pod)?, POD_IFACE, group, port).map_err(LabError::Io)
    }

    /// A bare socket in a pod bound to group `address`, joined for datagrams from `source` only
    /// (its kernel reports INCLUDE{source}, not waited for): [`Scenario::collector_socket`]'s
    /// source-specific counterpart.
    pub fn source_collector_socket(
        &self,
        node: usize,
        pod: usize,
        source: Ipv4Addr,
        address: SocketAddrV4,
    ) -> Result<Socket> {
        source_receiver_socket(&self.pod_netns(node, pod), source, address).map_err(LabError::Io)
    }

    /// Joins as [`Scenario::join_socket`] and waits until the dataplane of the pod's node has
    /// the pod as a subscriber, or `timeout` passes.
    pub fn join(
        &self,
        node: usize,
        pod: usize,
        group: Ipv4Addr,
        port: u16,
        timeout: Duration,
    ) -> Result<Receiver> {
        let receiver = self.join_socket(node, pod, group, port)?;
        self.wait_subscribed(node, pod, group, timeout)?;
        Ok(receiver)
    }

    /// Waits until the pod subscribes to `group` in its node's dataplane.
    pub fn wait_subscribed(
        &self,
        node: usize,
        pod: usize,
        group: Ipv4Addr,
        timeout: Duration,
    ) -> Result<()> {
        let address = self.pod(node, pod).address;
        wait_for_subscriber(&self.spec, self.node(node), group, address, timeout)
    }

    /// Waits until node `node` has learned node `remote` as a subscriber of `group`; returns how
    /// long that took.
    pub fn wait_learned(
        &self,
        node: usize,
        group: Ipv4Addr,
        remote: usize,
        timeout: Duration,
    ) -> Result<Duration> {
        crate::wait_for_learned(
            &self.spec,
            self.node(node),
            group,
            self.node(remote),
            timeout,
        )
    }

    /// Waits until node `node` no longer has node `remote` as a subscriber of `group`; returns
    /// how long that took.
    pub fn wait_unlearned(
        &self,
        node: usize,
        group: Ipv4Addr,
        remote: usize,
        timeout: Duration,
    ) -> Result<Duration> {
        crate::wait_for_unlearned(
            &self.spec,
            self.node(node),
            group,
            self.node(remote),
            timeout,
        )
    }

    /// Waits until the pod no longer subscribes to `group` in its node's dataplane.
    pub fn wait_left(
        &self,
        node: usize,
        pod: usize,
        group: Ipv4Addr,
        timeout: Duration,
    ) -> Result<()> {
        let address = self.pod(node, pod).address;
        wait_for_leave(&self.spec, self.node(node), group, address, timeout)
    }

    /// A capture on a pod's `eth0`: what reaches the pod at layer 2, joined or not (a socket
    /// that never joined would hide a wrong delivery behind the pod's own IP filter).
    pub fn spy(&self, node: usize, pod: usize) -> Result<Capture> {
        Capture::open_in(&self.pod_netns(node, pod), POD_IFACE).map_err(LabError::Io)
    }

    /// A capture on the host veth of a pod, in its node: what the pod sends (its IGMP and MLD
    /// reports, its traffic) as the node receives it. An `AF_PACKET` capture sees ingress
    /// frames before tc, so it sees them whatever the dataplane then does with them.
    pub fn spy_host(&self, node: usize, pod: usize) -> Result<Capture> {
        Capture::open_in(
            &self.spec.node_netns(self.node(node)),
            &host_iface(self.pod(node, pod)),
        )
        .map_err(LabError::Io)
    }

    /// Sends testbed datagrams from a pod.
    pub fn send(&self, node: usize, pod: usize, options: &SendOptions) -> Result<SendReport> {
        send(&self.pod_netns(node, pod), options).map_err(LabError::Io)
    }

    /// Sends testbed datagrams to an IPv6 group from a pod of a dual-stack lab, out of its
    /// `eth0` (Hop Limit 1, no loopback; a pod has no IPv6 default route).
    pub fn send6(
        &self,
        node: usize,
        pod: usize,
        options: &SendOptions<Ipv6Addr>,
    ) -> Result<SendReport> {
        send6(&self.pod_netns6(node, pod)?, POD_IFACE, options).map_err(LabError::Io)
    }

    /// Runs `send` while every receiver ([`Receiver`] or [`Receiver6`]) reads (on a thread
    /// each, so that latency is arrival time, not queueing), until each has `count` distinct
    /// datagrams or `timeout` passes; returns their reports in the receivers' order.
    pub fn collect_while<R: Receive + Send>(
        receivers: Vec<R>,
        count: u64,
        timeout: Duration,
        send: impl FnOnce() -> Result<()>,
    ) -> Result<Vec<ReceiveReport>> {
        Self::collect_until(receivers, timeout, |report| report.unique >= count, send)
    }

    /// Runs `send` while every receiver reads (on a thread each), until `done` holds for each
    /// one's report or `timeout` passes; returns their reports in the receivers' order. An
    /// error of `send` comes first.
    pub fn collect_until<R: Receive + Send>(
        receivers: Vec<R>,
        timeout: Duration,
        done: impl Fn(&ReceiveReport) -> bool + Sync,
        send: impl FnOnce() -> Result<()>,
    ) -> Result<Vec<ReceiveReport>> {
        std::thread::scope(|scope| {
            let done = &done;
            let reading: Vec<_> = receivers
                .into_iter()
                .map(|mut receiver| {
                    scope.spawn(move || receiver.receive_until(timeout, done).cloned())
                })
                .collect();
            let sent = send();
            let reports = reading
                .into_iter()
                .map(|thread| {
                    thread
                        .join()
                        .expect("a receiver thread does not panic")
                        .map_err(LabError::Io)
                })
                .collect::<Result<Vec<_>>>();
            sent?;
            reports
        })
    }

    /// Every reason counter of node `node`, by name.
    pub fn counters(&self, node: usize) -> Result<BTreeMap<&'static str, u64>> {
        Ok(self
            .dataplane(node)?
            .stats()?
            .into_iter()
            .map(|counter| (counter.name, counter.count))
            .collect())
    }

    /// Waits until counter `reason` of node `node` reaches `at_least`; returns its value.
    pub fn wait_counter(
        &self,
        node: usize,
        reason: Reason,
        at_least: u64,
        timeout: Duration,
    ) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.counters(node)?[reason.name()];
            if value >= at_least {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(LabError::CounterTimeout {
                    node: self.spec.node_netns(self.node(node)),
                    counter: reason.name(),
                    value,
                    at_least,
                    timeout,
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("lab", &self.spec.name)
            .field("owned", &self.owned)
            .field("agents", &self.agents.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        // Agents first: they must not query or sweep a lab that is going away.
        self.agents.clear();
        if self.owned {
            // Best effort: a failure here must not hide the error or panic being unwound.
            let _ = crate::down(&self.spec.name);
        }
    }
}
