//! The node agent: what a node's membership needs over time, which the datapath cannot do
//! alone. One agent runs per node (`mcastlab agent --node NS`; `mcastlab up`, the demo and the
//! e2e suite start it); its state is the node's pins, so it can stop and start again at any
//! time, and while it is stopped the datapath keeps forwarding (only queries and cleanup wait).
//!
//! - **Querier** (RFC 3376 section 8): an IGMPv3 General Query into every pod veth each Query
//!   Interval, and a round of Startup Queries ([`Settings::startup_query_count`], spaced by
//!   [`Settings::startup_query_interval`]) when the agent starts and whenever a group's
//!   fan-out list appears (a `group add`, a `group delete` and `add`, a re-attach): pods that
//!   joined before answer within one Query Response Interval, and their reports (handled by
//!   the datapath) make them members.
//! - **Aging:** a local member not heard for the Group Membership Interval is removed, counted
//!   as `member_expired` ([`aging`]).
//! - **Leaves while fast leave is off:** Group-Specific Queries into the veth, and the member
//!   removed when nobody answers, counted as `leave_confirmed` ([`leaves`]); the node's Older
//!   Host Present Interval (leaves ignored after an IGMPv1 report) comes from the agent's timers.
//! - **Monitor:** the datapath's membership events and the agent's own, streamed to
//!   `mcastlab monitor` ([`monitor`]).
//! - **Metrics:** with `--metrics-address`, the node's reason counters on `/metrics` for a
//!   Prometheus to scrape ([`metrics`]).
//! - **Dead pods:** when a pod's veth disappears, its memberships go within
//!   [`DEAD_POD_DEADLINE`], counted as `member_pod_gone` ([`pods`]).
//! - **Membership between nodes** (given a [`Peering`]): it tells the other nodes of its lab
//!   which groups have local members, at once on a change and every Query Interval, and makes
//!   the nodes that tell it theirs learned remote subscribers, which age out like local
//!   members ([`membership`]).
//! - **Failures:** a step that fails (a map read while the dataplane is re-attached, a send) is
//!   logged and counted as `agent_step_failed`, and the agent goes on; it stops only when
//!   nothing has succeeded for [`failures::FAILURE_GRACE`] ([`failures`]).
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        unused_crate_dependencies,
        reason = "dev-dependencies serve the integration tests"
    )
)]

pub mod aging;
pub mod failures;
pub mod leaves;
pub mod membership;
pub mod metrics;
pub mod monitor;
pub mod pods;
pub mod querier;
pub mod timers;

use std::{collections::BTreeSet, future::Future, net::IpAddr, time::Duration};

use mcastlab_common::{Reason, slots::TARGET_REMOTE};
use mcastlab_dataplane::{DataplaneError, LinkKind, Node};
use tokio::time::{Instant, MissedTickBehavior};

pub use membership::Peering;
pub use timers::Settings;

use crate::{
    failures::{Failures, LastStep},
    membership::Exchange,
    monitor::Monitor,
    pods::{LinkEvents, sweep},
    querier::{Querier, general_mld_query_frame, general_query_frame},
};

/// How soon after its veth disappears a pod's memberships are gone (netlink tells at once; the
/// sweep takes milliseconds).
pub const DEAD_POD_DEADLINE: Duration = Duration::from_secs(1);

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The node's dataplane could not be read or changed.
    #[error(transparent)]
    Dataplane(#[from] DataplaneError),
    /// Entering the node's namespace, or a socket in it, failed.
    #[error("the agent could not use the node's network namespace")]
    Netns(#[source] std::io::Error),
    /// The node's monitor socket could not be opened.
    #[error("the agent could not open its monitor socket")]
    Monitor(#[source] std::io::Error),
    /// The agent's thread could not start or ended in a panic.
    #[error("the agent thread failed: {0}")]
    Thread(&'static str),
}

/// Runs the agent of `node` until `shutdown` completes, exchanging membership with the other
/// nodes of its lab as `peering` says (none: the node learns no remote subscribers), marking
/// `last_step` as each step of its loop finishes. Needs root.
pub async fn run(
    node: &str,
    settings: Settings,
    peering: Option<Peering>,
    last_step: LastStep,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let node = Node::open(node)?;
    let querier = Querier::open(&node).map_err(AgentError::Netns)?;
    let mut links = LinkEvents::open(&node).map_err(AgentError::Netns)?;
    let mut monitor = Monitor::open(&node).map_err(AgentError::Monitor)?;
    monitor.open_ring();
    let mut leaves = leaves::PendingLeaves::default();
    hold_v1_hosts(&node, &settings)?;
    let frames = [
        general_query_frame(&settings),
        general_mld_query_frame(&settings),
    ];
    tracing::info!(node = node.name(), ?settings, ?peering, "agent started");
    let mut exchange = match peering {
        Some(peering) => {
            Some(Exchange::open(&node, peering, settings.robustness).map_err(AgentError::Netns)?)
        }
        None => None,
    };
    let socket = exchange.as_ref().map(Exchange::socket);
    let mut buffer = [0u8; 2048];
    let mut refresh = tokio::time::interval(settings.query_interval);
    refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first refresh (at once) solicits: the other nodes answer with their groups.
    let mut solicit = true;

    tokio::pin!(shutdown);
    let mut known_groups = BTreeSet::new();
    let mut startup_left = settings.startup_query_count();
    let mut next_query = Instant::now();
    let mut group_poll = tokio::time::interval(timers::GROUP_POLL_INTERVAL);
    group_poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut links_open = true;
    let mut aging = aging::Aging::default();
    let mut aging_check = tokio::time::interval(aging::AGING_CHECK_INTERVAL);
    aging_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    publish_gone(&mut monitor, sweep(&node)?);
    let mut failures = Failures::default();
    loop {
        // Each step says whether the agent goes on; a failed one is the caller's to weigh
        // (`failures`), not a reason to stop at once.
        let step: Result<Flow, AgentError> = tokio::select! {
            () = &mut shutdown => Ok(Flow::Stop),
            () = tokio::time::sleep_until(next_query) => async {
                send_queries(&node, &querier, &frames);
                startup_left = startup_left.saturating_sub(1);
                next_query = Instant::now() + if startup_left > 0 {
                    settings.startup_query_interval()
                } else {
                    settings.query_interval
                };
                publish_gone(&mut monitor, sweep(&node)?);
                Ok(Flow::Go)
            }.await,
            _ = group_poll.tick() => async {
                let groups = group_lists(&node)?;
                if !node.pins().is_attached() {
                    monitor.close_ring();
                }
                let appeared = groups.iter().any(|list| !known_groups.contains(list));
                // Known from here on, even if what follows fails: the startup queries are
                // scheduled once, not at every poll until it succeeds.
                known_groups = groups;
                if appeared {
                    tracing::info!(node = node.name(), "a group appeared: startup queries");
                    // Perhaps a new dataplane (detach, attach): its own ring buffer and config.
                    monitor.close_ring();
                    startup_left = settings.startup_query_count();
                    next_query = Instant::now();
                    hold_v1_hosts(&node, &settings)?;
                    if let Some(exchange) = exchange.as_mut() {
                        // A new list holds no learned node: ask the others again.
                        exchange.refresh(&node, true).await?;
                    }
                }
                monitor.open_ring();
                if let Some(exchange) = exchange.as_mut() {
                    exchange.announce_changes(&node).await?;
                }
                Ok(Flow::Go)
            }.await,
            _ = refresh.tick(), if exchange.is_some() => async {
                if let Some(exchange) = exchange.as_mut() {
                    exchange.refresh(&node, solicit).await?;
                    exchange.forget_silent_peers(settings.group_membership_interval());
                    solicit = false;
                }
                Ok(Flow::Go)
            }.await,
            received = receive(socket.as_deref(), &mut buffer) => async {
                match received {
                    Ok((len, from)) => {
                        if let Some(exchange) = exchange.as_mut() {
                            let received = exchange.handle(&node, &buffer[..len], from).await?;
                            for (reason, group, remote) in received.changes {
                                monitor.publish_own(reason, group, remote, TARGET_REMOTE);
                            }
                        }
                    }
                    Err(err) => tracing::warn!(node = node.name(), %err, "membership socket"),
                }
                Ok(Flow::Go)
            }.await,
            _ = aging_check.tick() => async {
                for heard in aging.check(&node, settings.group_membership_interval())? {
                    let reason = if heard.member.is_remote() {
                        Reason::RemoteExpired
                    } else {
                        Reason::MemberExpired
                    };
                    let address = mcastlab_common::key_addr(heard.member.address);
                    monitor.publish_own(reason, heard.group, address, heard.member.target);
                }
                Ok(Flow::Go)
            }.await,
            events = monitor.forward_datapath_events() => {
                for event in &events {
                    leaves.add(event, &settings);
                }
                Ok(Flow::Go)
            }
            () = sleep_until_due(leaves.next_due()), if leaves.next_due().is_some() => async {
                let due = leaves.run_due(&node, &querier, &settings);
                for left in due.confirmed {
                    monitor.publish_own(Reason::LeaveConfirmed, left.group, left.address, left.ifindex);
                }
                due.failed.map_or(Ok(Flow::Go), Err)
            }.await,
            deleted = links.next_deletion(), if links_open => async {
                match deleted {
                    Some(ifindex) => {
                        tracing::debug!(node = node.name(), ifindex, "a link went");
                        // The monitor names the gone pods by the link, so it forgets it after.
                        publish_gone(&mut monitor, sweep(&node)?);
                        monitor.forget_link(ifindex);
                    }
                    None => {
                        tracing::warn!(node = node.name(), "netlink link events ended; sweeping each query interval only");
                        links_open = false;
                    }
                }
                Ok(Flow::Go)
            }.await,
        };
        last_step.mark();
        match step {
            Ok(Flow::Go) => failures.succeeded(),
            Ok(Flow::Stop) => break,
            Err(err) => failures.failed(&node, err, Instant::now())?,
        }
    }
    tracing::info!(
        node = node.name(),
        "agent stopped; the datapath keeps forwarding"
    );
    Ok(())
}

/// Whether the agent's loop goes on after a step.
enum Flow {
    /// On to the next step.
    Go,
    /// The agent was asked to stop.
    Stop,
}

/// Sleeps until `due`, or for ever without one.
async fn sleep_until_due(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Writes the agent's Older Host Present Interval into the node's config (RFC 3376 section
/// 8.13: how long leaves are ignored after an IGMPv1 report); a node without a dataplane has
/// none to write.
fn hold_v1_hosts(node: &Node, settings: &Settings) -> Result<(), AgentError> {
    match node.set_older_host_present(settings.older_host_present_interval()) {
        Ok(_) | Err(DataplaneError::NotAttached { .. }) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Tells the monitor about memberships removed because their pod is gone.
fn publish_gone(monitor: &mut Monitor, gone: Vec<pods::GoneMember>) {
    for member in gone {
        monitor.publish_own(
            Reason::MemberPodGone,
            member.group,
            member.address,
            member.ifindex,
        );
    }
}

/// The next datagram on `socket`, or never without one.
async fn receive(
    socket: Option<&tokio::net::UdpSocket>,
    buffer: &mut [u8],
) -> std::io::Result<(usize, std::net::SocketAddr)> {
    match socket {
        Some(socket) => socket.recv_from(buffer).await,
        None => std::future::pending().await,
    }
}

/// The groups configured on the node with the ids of their fan-out lists (none while it has no
/// dataplane): a new id is a new, empty list, whose members must be asked again.
fn group_lists(node: &Node) -> Result<BTreeSet<(IpAddr, u32)>, AgentError> {
    match node.groups() {
        Ok(table) => Ok(table.group_lists()?.into_iter().collect()),
        Err(DataplaneError::NotAttached { .. }) => Ok(BTreeSet::new()),
        Err(err) => Err(err.into()),
    }
}

/// Sends the General Queries (IGMP, MLD) out of every pod veth the node's programs are
/// attached to. A veth
/// that is gone or down is skipped (its pod cannot answer anyway).
fn send_queries(node: &Node, querier: &Querier, frames: &[Vec<u8>]) {
    let links = match node.links() {
        Ok(links) => links,
        Err(err) => {
            tracing::warn!(node = node.name(), %err, "cannot list the pod veths to query");
            return;
        }
    };
    for (_, iface, _) in links.iter().filter(|(kind, _, _)| *kind == LinkKind::Pod) {
        for frame in frames {
            if let Err(err) = querier.send(iface, frame) {
                tracing::debug!(node = node.name(), iface, %err, "query not sent");
            }
        }
    }
}

/// An agent running on a thread of its own (with its own tokio runtime), as the lab and the
/// e2e suite start one per node. Dropping it stops the agent and waits for it.
pub struct AgentThread {
    node: String,
    last_step: LastStep,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), AgentError>>>,
}

impl AgentThread {
    /// Starts the agent of `node`, exchanging membership as `peering` says.
    pub fn spawn(
        node: &str,
        settings: Settings,
        peering: Option<Peering>,
    ) -> Result<Self, AgentError> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let name = node.to_owned();
        let last_step = LastStep::default();
        let steps = last_step.clone();
        let thread = std::thread::Builder::new()
            .name(format!("agent-{node}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(AgentError::Netns)?;
                runtime.block_on(run(&name, settings, peering, steps, async {
                    let _ = stopped.await;
                }))
            })
            .map_err(|_| AgentError::Thread("could not spawn"))?;
        Ok(Self {
            node: node.to_owned(),
            last_step,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether the agent has ended on its own (an error; a stopped agent is no longer here).
    pub fn has_ended(&self) -> bool {
        self.thread
            .as_ref()
            .is_some_and(std::thread::JoinHandle::is_finished)
    }

    /// How long ago the agent last finished a step of its loop ([`LastStep`]); `None` before
    /// its first.
    pub fn last_step_age(&self) -> Option<Duration> {
        self.last_step.age()
    }

    /// Stops the agent; returns how it ended.
    pub fn stop(mut self) -> Result<(), AgentError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), AgentError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| AgentError::Thread("the agent panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for AgentThread {
    fn drop(&mut self) {
        if let Err(err) = self.finish() {
            tracing::warn!(node = self.node, %err, "agent ended with an error");
        }
    }
}
