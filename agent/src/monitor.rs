//! The membership monitor (`mcastlab monitor`, like `bridge monitor mdb`): the agent reads the
//! datapath's membership events (joins, refreshes, leaves, refused reports;
//! `mcastlab_common::events`), adds its own (expiry, dead pods, remote nodes learned and
//! withdrawn), names the pod of each, and streams them as JSON lines to every client of the
//! node's monitor socket ([`socket_path`]).
//!
//! A client gets a `monitoring` line once it is subscribed, then one [`MonitorEvent`] per
//! line. A client that reads too slowly misses events and is told how many (a `lost` line);
//! the agent never waits for a client. The datapath's ring buffer has one reader, the agent:
//! without an agent there is nothing to monitor, and events that find the buffer full are
//! counted as `events_lost`.

use std::{
    collections::HashMap,
    io::{self, BufRead, BufReader},
    net::{IpAddr, Ipv4Addr},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use mcastlab_common::{
    Reason,
    events::{EventKind, MembershipEvent},
    key_addr,
    names::POD_VETH_PREFIX,
    slots::TARGET_REMOTE,
    wire::ipv6,
};
use mcastlab_dataplane::{EventReader, Node, monotonic_ns};
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncWriteExt as _, Interest, unix::AsyncFd},
    net::UnixListener,
    sync::broadcast,
};

/// Where the monitor sockets of all nodes are.
pub const MONITOR_DIR: &str = "/run/mcastlab/monitor";

/// Events kept for a slow client before it misses some.
const CLIENT_BACKLOG: usize = 8192;

/// The first line a client gets: it is subscribed, every event from now on reaches it.
pub const HELLO: &str = "monitoring";

/// The monitor socket of `node`.
pub fn socket_path(node: &str) -> PathBuf {
    Path::new(MONITOR_DIR).join(format!("{node}.sock"))
}

/// One membership event as the monitor streams it (one JSON object per line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorEvent {
    /// The node.
    pub node: String,
    /// What happened: `join`, `refresh`, `leave`, `expire`, `pod-gone`, `refused`,
    /// `ignored`, or `lost`
    /// (events this client missed; see `lost`).
    pub event: String,
    /// The reason counter it counted under (`mcastlab stats`), such as `subscribed`.
    pub reason: String,
    /// The group; absent when a refused message names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<IpAddr>,
    /// The member's address (a pod's, a remote node's); for a refused report, its source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Ipv4Addr>,
    /// The pod's host-side veth; absent for remote members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    /// The veth's ifindex; absent for remote members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifindex: Option<u32>,
    /// The lab's pod name, when the veth follows the lab's naming (`veth-<pod>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Whether the member is a remote node.
    #[serde(default)]
    pub remote: bool,
    /// When, in milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// Events this client missed (with `event: lost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
}

impl MonitorEvent {
    /// The event's kind, as [`EventKind::name`] spells it (or `lost`).
    pub fn kind(&self) -> &str {
        &self.event
    }

    /// One line for people, in the manner of `bridge monitor mdb`.
    pub fn line(&self) -> String {
        let mut line = format!("{} {}", self.event, self.reason);
        if let Some(lost) = self.lost {
            line.push_str(&format!(" {lost} events"));
        }
        if let Some(group) = self.group {
            line.push_str(&format!(" grp {group}"));
        }
        if let Some(pod) = &self.pod {
            line.push_str(&format!(" pod {pod}"));
        }
        if let Some(iface) = &self.iface {
            line.push_str(&format!(" dev {iface}"));
        }
        if let Some(address) = self.address {
            let role = if self.remote { "node" } else { "addr" };
            line.push_str(&format!(" {role} {address}"));
        }
        line
    }
}

/// The agent's end: the datapath's events in, JSON lines out to every client.
pub struct Monitor {
    node: Node,
    path: PathBuf,
    ring: Option<AsyncFd<EventReader>>,
    lines: broadcast::Sender<Arc<str>>,
    names: HashMap<u32, String>,
}

impl Monitor {
    /// Binds `node`'s monitor socket (replacing a stale one) and starts accepting clients on
    /// the current tokio runtime. The ring buffer is opened by [`Monitor::open_ring`].
    pub fn open(node: &Node) -> io::Result<Self> {
        let path = socket_path(node.name());
        std::fs::create_dir_all(MONITOR_DIR)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        let listener = UnixListener::bind(&path)?;
        let (lines, _) = broadcast::channel(CLIENT_BACKLOG);
        tokio::spawn(accept(listener, lines.clone()));
        Ok(Self {
            node: node.clone(),
            path,
            ring: None,
            lines,
            names: HashMap::new(),
        })
    }

    /// Opens the node's event ring buffer if it is not open yet and the node is attached (a
    /// node attached again later gets a new ring buffer: call [`Monitor::close_ring`] when its
    /// dataplane goes).
    pub fn open_ring(&mut self) {
        if self.ring.is_some() {
            return;
        }
        let opened = self
            .node
            .events()
            .map_err(io::Error::other)
            .and_then(register);
        match opened {
            Ok(ring) => self.ring = Some(ring),
            Err(err) => tracing::debug!(node = self.node.name(), %err, "no event ring buffer yet"),
        }
    }

    /// Forgets the ring buffer (the node was detached).
    pub fn close_ring(&mut self) {
        self.ring = None;
    }

    /// Waits until the datapath's ring buffer has events, then passes all of them on and
    /// returns them. Never completes while no ring buffer is open.
    pub async fn forward_datapath_events(&mut self) -> Vec<MembershipEvent> {
        let Some(ring) = self.ring.as_mut() else {
            return std::future::pending().await;
        };
        let mut events = Vec::new();
        match ring.readable_mut().await {
            Ok(mut guard) => {
                let reader = guard.get_inner_mut();
                while let Some(event) = reader.next_event() {
                    events.push(event);
                }
                guard.clear_ready();
            }
            Err(err) => {
                tracing::warn!(node = self.node.name(), %err, "event ring buffer failed");
                self.ring = None;
                return events;
            }
        }
        for event in &events {
            self.publish(event);
        }
        events
    }

    /// Passes on an event the agent caused itself.
    pub fn publish_own(&mut self, reason: Reason, group: IpAddr, address: Ipv4Addr, ifindex: u32) {
        let (group, group6) = match group {
            IpAddr::V4(group) => (mcastlab_common::addr_key(group), [0; 4]),
            IpAddr::V6(group) => (0, ipv6::addr_key(group.octets())),
        };
        let event = MembershipEvent {
            time_ns: monotonic_ns(),
            group,
            address: mcastlab_common::addr_key(address),
            ifindex,
            reason: reason.code(),
            group6,
        };
        self.publish(&event);
    }

    /// Forgets the name of a veth that went (a new one may take its ifindex), after its
    /// pod-gone events were published.
    pub fn forget_link(&mut self, ifindex: u32) {
        self.names.remove(&ifindex);
    }

    fn publish(&mut self, event: &MembershipEvent) {
        if self.lines.receiver_count() == 0 {
            return;
        }
        let event = self.describe(event);
        match serde_json::to_string(&event) {
            Ok(line) => {
                // No receiver between the check and now is fine: nobody listens.
                let _ = self.lines.send(line.into());
            }
            Err(err) => tracing::warn!(%err, "event not serialisable"),
        }
    }

    fn describe(&mut self, event: &MembershipEvent) -> MonitorEvent {
        let reason = event.reason();
        let remote = event.ifindex == TARGET_REMOTE || event.ifindex == 0;
        let iface = if remote {
            None
        } else {
            self.name_of(event.ifindex)
        };
        let pod = iface
            .as_deref()
            .and_then(|iface| iface.strip_prefix(POD_VETH_PREFIX))
            .map(str::to_owned);
        MonitorEvent {
            node: self.node.name().to_owned(),
            event: reason
                .map_or(EventKind::Other, EventKind::of)
                .name()
                .to_owned(),
            reason: reason
                .map_or_else(|| format!("code_{}", event.reason), |r| r.name().to_owned()),
            group: event.group_addr(),
            address: (event.address != 0).then(|| key_addr(event.address)),
            iface,
            ifindex: (!remote).then_some(event.ifindex),
            pod,
            remote: event.ifindex == TARGET_REMOTE,
            unix_ms: unix_ms(event.time_ns),
            lost: None,
        }
    }

    fn name_of(&mut self, ifindex: u32) -> Option<String> {
        if let Some(name) = self.names.get(&ifindex) {
            return Some(name.clone());
        }
        let name = self.node.interface_name(ifindex)?;
        self.names.insert(ifindex, name.clone());
        Some(name)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // Best effort: a stale socket is replaced by the next agent anyway.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Watches `reader`'s descriptor on the current runtime.
fn register(reader: EventReader) -> io::Result<AsyncFd<EventReader>> {
    // SAFETY: the reader owns its map's descriptor for its whole life and always returns that
    // one.
    unsafe { AsyncFd::register_with_interest(reader, Interest::READABLE) }.map_err(io::Error::from)
}

/// The wall-clock time of a `CLOCK_MONOTONIC` instant, in milliseconds since the Unix epoch.
fn unix_ms(monotonic: u64) -> u64 {
    let ago = Duration::from_nanos(monotonic_ns().saturating_sub(monotonic));
    SystemTime::now()
        .checked_sub(ago)
        .and_then(|then| then.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Accepts clients for as long as the agent runs.
async fn accept(listener: UnixListener, lines: broadcast::Sender<Arc<str>>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // Subscribed before the hello: the client sees every event after it.
                let receiver = lines.subscribe();
                tokio::spawn(serve(stream, receiver));
            }
            Err(err) => {
                tracing::warn!(%err, "monitor socket stopped accepting");
                return;
            }
        }
    }
}

/// Streams lines to one client until it goes.
async fn serve(mut stream: tokio::net::UnixStream, mut lines: broadcast::Receiver<Arc<str>>) {
    if stream
        .write_all(format!("{HELLO}\n").as_bytes())
        .await
        .is_err()
    {
        return;
    }
    loop {
        let line: Arc<str> = match lines.recv().await {
            Ok(line) => line,
            Err(broadcast::error::RecvError::Lagged(missed)) => lost_line(missed).into(),
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

/// The line that tells a client it missed `missed` events.
fn lost_line(missed: u64) -> String {
    let event = MonitorEvent {
        node: String::new(),
        event: "lost".to_owned(),
        reason: Reason::EventsLost.name().to_owned(),
        group: None,
        address: None,
        iface: None,
        ifindex: None,
        pod: None,
        remote: false,
        unix_ms: unix_ms(monotonic_ns()),
        lost: Some(missed),
    };
    serde_json::to_string(&event).unwrap_or_default()
}

/// Why a monitor client could not follow a node.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// No agent serves the node's monitor socket.
    #[error(
        "no agent is running for node '{node}' ({path}: {source}); membership events come \
         through the node agent: start one with `mcastlab agent --node {node}`"
    )]
    NoAgent {
        /// The node.
        node: String,
        /// The socket that was tried.
        path: String,
        /// Why connecting failed.
        #[source]
        source: io::Error,
    },
    /// The stream broke or carried something that is not an event.
    #[error("reading the monitor of node '{node}' failed")]
    Read {
        /// The node.
        node: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// A client of a node's monitor: its events, one at a time.
pub struct MonitorClient {
    node: String,
    lines: BufReader<UnixStream>,
}

impl MonitorClient {
    /// Connects to `node`'s monitor and waits until it is subscribed: every event after this
    /// returns reaches the client.
    pub fn connect(node: &str) -> Result<Self, MonitorError> {
        let path = socket_path(node);
        let stream = UnixStream::connect(&path).map_err(|source| MonitorError::NoAgent {
            node: node.to_owned(),
            path: path.display().to_string(),
            source,
        })?;
        let mut client = Self {
            node: node.to_owned(),
            lines: BufReader::new(stream),
        };
        let hello = client.read_line(None)?;
        if hello.as_deref() != Some(HELLO) {
            return Err(client.error(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected '{HELLO}', got {hello:?}"),
            )));
        }
        Ok(client)
    }

    /// The next event, waiting at most `timeout` (for ever with `None`); `Ok(None)` when the
    /// time ran out or the agent stopped.
    pub fn next_event(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<MonitorEvent>, MonitorError> {
        let Some(line) = self.read_line(timeout)? else {
            return Ok(None);
        };
        serde_json::from_str(&line)
            .map(Some)
            .map_err(|err| self.error(io::Error::new(io::ErrorKind::InvalidData, err)))
    }

    /// Waits up to `timeout` for an event that `wanted` accepts; returns it, or `None` when
    /// the time ran out first. Other events are skipped.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&MonitorEvent) -> bool,
    ) -> Result<Option<MonitorEvent>, MonitorError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            match self.next_event(Some(left))? {
                Some(event) if wanted(&event) => return Ok(Some(event)),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }

    fn read_line(&mut self, timeout: Option<Duration>) -> Result<Option<String>, MonitorError> {
        self.lines
            .get_ref()
            .set_read_timeout(timeout)
            .map_err(|err| self.error(err))?;
        let mut line = String::new();
        match self.lines.read_line(&mut line) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(line.trim_end().to_owned())),
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(err) => Err(self.error(err)),
        }
    }

    fn error(&self, source: io::Error) -> MonitorError {
        MonitorError::Read {
            node: self.node.clone(),
            source,
        }
    }
}

/// Writes `event` to `out` as `mcastlab monitor` prints it: its JSON line, or its line for
/// people.
pub fn print(out: &mut impl io::Write, event: &MonitorEvent, json: bool) -> io::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, event).map_err(io::Error::other)?;
        writeln!(out)
    } else {
        writeln!(out, "{}", event.line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_reads_like_bridge_monitor() {
        let event = MonitorEvent {
            node: "n1".into(),
            event: "join".into(),
            reason: "subscribed".into(),
            group: Some(Ipv4Addr::new(239, 1, 1, 1).into()),
            address: Some(Ipv4Addr::new(10, 200, 1, 2)),
            iface: Some("veth-p2".into()),
            ifindex: Some(7),
            pod: Some("p2".into()),
            remote: false,
            unix_ms: 1,
            lost: None,
        };
        assert_eq!(
            event.line(),
            "join subscribed grp 239.1.1.1 pod p2 dev veth-p2 addr 10.200.1.2"
        );
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<MonitorEvent>(&json).unwrap(), event);
    }
}
