//! Membership between nodes (docs/cross-node.md): each agent tells the other nodes of its lab
//! which groups it has local members for, and makes the nodes that tell it theirs remote
//! subscribers, so that a node sends copies only to nodes with members.
//!
//! - **Announce:** a membership message (`mcastlab_common::wire::membership`) from the node's
//!   underlay address to port `MEMBERSHIP_PORT` of every peer, naming its IPv4 and IPv6 groups
//!   (an IPv6 group's members want every source): at once when a group gets its
//!   first local member or loses its last one (the agent polls the group map every
//!   [`crate::timers::GROUP_POLL_INTERVAL`]), and every Query Interval with every group that
//!   has members (a refresh; with none, a hello). The first message, and the first after a
//!   group appears, solicits: receivers answer at once with theirs. A change is sent
//!   Robustness times in all, [`crate::timers::CHANGE_REPEAT_INTERVAL`] apart, each group's
//!   latest state (RFC 3376 section 8.1, as a host repeats its state-change reports): one lost
//!   message does not leave a peer stale until the next refresh.
//! - **Learn:** a message from inside the lab's underlay prefix with the lab's id makes its
//!   sender a learned remote subscriber of each configured group it has members for (stamped
//!   now, like a local member's join), and removes it from each group it has none for any more.
//!   A group this node does not have is ignored (`membership_ignored_group`). Learned entries
//!   that stop being refreshed expire after the Group Membership Interval (the agent's aging,
//!   `remote_expired`); static ones (`subscriber add`) are never touched.
//! - **Peers:** the nodes of the lab known at start, and every node heard from since (a node
//!   added to a running lab announces itself), until it is silent for a Group Membership
//!   Interval.
//!
//! Trust: the underlay is trusted, as vxlan trusts it (any host on it can send vxlan packets
//! with the lab's VNI too); the checks keep labs apart and drop garbage, they do not
//! authenticate.

use std::{
    collections::{BTreeMap, BTreeSet},
    io,
    net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4},
    sync::Arc,
    time::Duration,
};

use mcastlab_common::{
    Reason,
    sources::SourceFilter,
    wire::membership::{self, FLAG_SOLICIT, GroupState, MAX_MEMBERSHIP_LEN, MEMBERSHIP_PORT},
};
use mcastlab_dataplane::{
    DataplaneError, Learned, Node, monotonic_ns,
    netns::{NetnsGuard, netns_path},
};
use tokio::{net::UdpSocket, time::Instant};

use crate::timers::CHANGE_REPEAT_INTERVAL;

/// Where a node's membership messages come from and go, and which it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peering {
    /// The node's underlay address: the source of its messages, and the address other nodes
    /// send its copies to.
    pub address: Ipv4Addr,
    /// Prefix length of the lab's underlay (with `address`): messages from any address inside
    /// are accepted, so a node added to a running lab is learned without configuring the others.
    pub prefix_len: u8,
    /// The other nodes' underlay addresses known at start.
    pub peers: Vec<Ipv4Addr>,
}

impl Peering {
    /// Whether `address` is inside the lab's underlay prefix.
    pub fn on_underlay(&self, address: Ipv4Addr) -> bool {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len.min(32)))
            .unwrap_or(0);
        u32::from(address) & mask == u32::from(self.address) & mask
    }
}

/// The membership exchange of one node: its socket, its peers, what it announced last.
pub struct Exchange {
    peering: Peering,
    socket: Arc<UdpSocket>,
    /// Peers heard from that were not known at start, with when they were last heard.
    heard_peers: BTreeMap<Ipv4Addr, Instant>,
    /// The groups announced as having members, with what their members want, as of the last
    /// announcement.
    announced: BTreeMap<IpAddr, SourceFilter>,
    /// The changes still to be sent again.
    repeats: ChangeRepeats,
}

/// The group records of recent change announcements still to be sent again: each group's
/// latest state, sent until it has gone out `robustness` times in all (RFC 3376 section 8.1;
/// a newer change of a group replaces its record and starts its count again).
#[derive(Debug)]
pub struct ChangeRepeats {
    /// Each group's latest changed state, with how many more times it goes out.
    pending: BTreeMap<IpAddr, (GroupState, u8)>,
    /// Sends in all per change (the Robustness Variable).
    robustness: u8,
    /// When the next repeat is due.
    next: Option<Instant>,
}

impl ChangeRepeats {
    /// No changes yet; each will go out `robustness` times in all.
    pub fn new(robustness: u8) -> Self {
        Self {
            pending: BTreeMap::new(),
            robustness,
            next: None,
        }
    }

    /// `records` were just announced at `now`: each goes out again, until it has gone out
    /// `robustness` times in all.
    pub fn sent(&mut self, records: &[GroupState], now: Instant) {
        let again = self.robustness.saturating_sub(1);
        for record in records {
            if again > 0 {
                self.pending.insert(record.group, (*record, again));
            } else {
                self.pending.remove(&record.group);
            }
        }
        if !self.pending.is_empty() {
            self.next = Some(now + CHANGE_REPEAT_INTERVAL);
        }
    }

    /// The records to send again at `now`, if a repeat is due: every pending one, each counted
    /// as sent once more.
    pub fn due(&mut self, now: Instant) -> Vec<GroupState> {
        if self.next.is_none_or(|next| now < next) {
            return Vec::new();
        }
        let records: Vec<GroupState> = self.pending.values().map(|(record, _)| *record).collect();
        self.pending.retain(|_, (_, left)| {
            *left -= 1;
            *left > 0
        });
        self.next = (!self.pending.is_empty()).then(|| now + CHANGE_REPEAT_INTERVAL);
        records
    }
}

/// What one received message did, for the caller's log and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// Groups the sender became a learned subscriber of.
    pub learned: u64,
    /// Groups the sender was withdrawn from.
    pub withdrawn: u64,
    /// What changed, as (`remote_learned` or `remote_withdrawn`, group, sender).
    pub changes: Vec<(Reason, IpAddr, Ipv4Addr)>,
}

impl Exchange {
    /// Binds `peering.address`:`MEMBERSHIP_PORT` inside `node`'s namespace; each change goes
    /// out `robustness` times. Must run in a tokio runtime.
    pub fn open(node: &Node, peering: Peering, robustness: u8) -> io::Result<Self> {
        let socket = {
            let _inside = NetnsGuard::enter(&netns_path(node.name()))?;
            std::net::UdpSocket::bind(SocketAddrV4::new(peering.address, MEMBERSHIP_PORT))?
        };
        socket.set_nonblocking(true)?;
        Ok(Self {
            peering,
            socket: Arc::new(UdpSocket::from_std(socket)?),
            heard_peers: BTreeMap::new(),
            announced: BTreeMap::new(),
            repeats: ChangeRepeats::new(robustness),
        })
    }

    /// Every peer messages go to: the configured ones and those heard since.
    pub fn peers(&self) -> BTreeSet<Ipv4Addr> {
        self.peering
            .peers
            .iter()
            .copied()
            .chain(self.heard_peers.keys().copied())
            .filter(|&peer| peer != self.peering.address)
            .collect()
    }

    /// Announces every group with local members to every peer (and, with `solicit`, asks them
    /// for theirs): the refresh of each Query Interval and the first message of an agent.
    pub async fn refresh(&mut self, node: &Node, solicit: bool) -> Result<(), DataplaneError> {
        let Some((vni, groups)) = local_groups(node)? else {
            return Ok(());
        };
        let records = announcement(&self.announced, &groups, Announce::All);
        self.announced = groups;
        let flags = if solicit { FLAG_SOLICIT } else { 0 };
        for peer in self.peers() {
            self.send(vni, flags, &records, peer).await;
        }
        Ok(())
    }

    /// Announces the groups that got their first local member, lost their last one, or whose
    /// members want other sources since the previous announcement, if any did; else sends the
    /// earlier changes again when a repeat is due ([`ChangeRepeats`]).
    pub async fn announce_changes(&mut self, node: &Node) -> Result<(), DataplaneError> {
        let Some((vni, groups)) = local_groups(node)? else {
            return Ok(());
        };
        let now = Instant::now();
        let records = if groups == self.announced {
            self.repeats.due(now)
        } else {
            let records = announcement(&self.announced, &groups, Announce::Changes);
            tracing::info!(
                node = node.name(),
                groups = ?groups,
                "local membership changed: announcing"
            );
            self.announced = groups;
            self.repeats.sent(&records, now);
            records
        };
        if records.is_empty() {
            return Ok(());
        }
        for peer in self.peers() {
            self.send(vni, 0, &records, peer).await;
        }
        Ok(())
    }

    /// Forgets the peers heard from that have been silent for `interval` (the Group Membership
    /// Interval).
    pub fn forget_silent_peers(&mut self, interval: Duration) {
        let now = Instant::now();
        self.heard_peers
            .retain(|_, heard| now.duration_since(*heard) <= interval);
    }

    /// The socket messages arrive on (`recv_from` it while the exchange is borrowed
    /// elsewhere).
    pub fn socket(&self) -> Arc<UdpSocket> {
        Arc::clone(&self.socket)
    }

    /// Handles `message` from `from`: checks it, learns or withdraws its sender, answers a
    /// solicitation. Dropped messages and records are counted.
    pub async fn handle(
        &mut self,
        node: &Node,
        message: &[u8],
        from: SocketAddr,
    ) -> Result<Received, DataplaneError> {
        let SocketAddr::V4(from) = from else {
            return Ok(Received::default());
        };
        let mut table = match node.groups() {
            Ok(table) => table,
            // No dataplane (detached): nothing to learn into.
            Err(DataplaneError::NotAttached { .. }) => return Ok(Received::default()),
            Err(err) => return Err(err),
        };
        let vni = table.config().vni;
        let parsed = match membership::parse(message) {
            Ok(parsed) => parsed,
            Err(reason) => {
                tracing::debug!(node = node.name(), %from, ?reason, "membership message dropped");
                node.count(reason, 1)?;
                return Ok(Received::default());
            }
        };
        let header = parsed.header();
        let sender = *from.ip();
        if header.lab_id() != vni || !self.peering.on_underlay(sender) {
            tracing::debug!(node = node.name(), %from, lab_id = header.lab_id(), "membership message of another lab");
            node.count(Reason::MembershipForeign, 1)?;
            return Ok(Received::default());
        }
        if Ipv4Addr::from(header.node()) != sender || sender == self.peering.address {
            node.count(Reason::MembershipMalformed, 1)?;
            return Ok(Received::default());
        }
        if !self.peering.peers.contains(&sender)
            && self.heard_peers.insert(sender, Instant::now()).is_none()
        {
            tracing::info!(node = node.name(), peer = %sender, "a new peer announced itself");
        }
        let now = monotonic_ns();
        let mut received = Received::default();
        let (mut ignored, mut failed) = (0, 0);
        for state in parsed.records() {
            let group = state.group;
            let outcome = if let Some(filter) = state.members {
                table.learn_remote(group, sender, filter, now).map(|learned| {
                    if learned == Learned::Added {
                        tracing::info!(node = node.name(), %group, remote = %sender, "learned a remote subscriber");
                        received.learned += 1;
                        received.changes.push((Reason::RemoteLearned, group, sender));
                    }
                })
            } else {
                table.withdraw_learned(group, sender).map(|withdrawn| {
                    if withdrawn {
                        tracing::info!(node = node.name(), %group, remote = %sender, "withdrew a learned remote subscriber");
                        received.withdrawn += 1;
                        received.changes.push((Reason::RemoteWithdrawn, group, sender));
                    }
                })
            };
            match outcome {
                Ok(()) => {}
                Err(DataplaneError::GroupNotFound { .. }) => ignored += 1,
                Err(err) => {
                    tracing::warn!(node = node.name(), %group, remote = %sender, %err, "membership record not applied");
                    failed += 1;
                }
            }
        }
        for (reason, count) in [
            (Reason::RemoteLearned, received.learned),
            (Reason::RemoteWithdrawn, received.withdrawn),
            (Reason::MembershipIgnoredGroup, ignored),
            (Reason::AgentStepFailed, failed),
        ] {
            if count > 0 {
                node.count(reason, count)?;
            }
        }
        if header.solicits() {
            let records: Vec<GroupState> = table
                .local_member_filters()?
                .into_iter()
                .map(|(group, filter)| has_members(group, filter))
                .collect();
            self.send(vni, 0, &records, sender).await;
        }
        Ok(received)
    }

    /// Sends `records` to `peer` in as many messages as they need (at least one: a hello).
    async fn send(&self, vni: u32, flags: u8, records: &[GroupState], peer: Ipv4Addr) {
        let mut buffer = [0u8; MAX_MEMBERSHIP_LEN];
        let mut chunks: Vec<&[GroupState]> = Vec::new();
        let mut rest = records;
        while !rest.is_empty() {
            let (chunk, after) = rest.split_at(membership::fitting(rest).max(1));
            chunks.push(chunk);
            rest = after;
        }
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        for chunk in chunks {
            let len = membership::emit(
                vni,
                self.peering.address.octets(),
                flags,
                chunk,
                &mut buffer,
            )
            .expect("the buffer holds the longest message");
            let to = SocketAddrV4::new(peer, MEMBERSHIP_PORT);
            if let Err(err) = self.socket.send_to(&buffer[..len], to).await {
                tracing::warn!(%peer, %err, "membership message not sent");
            }
        }
    }
}

/// Which groups an announcement names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Announce {
    /// Every group with members (a refresh).
    All,
    /// The groups with members whose members want other sources than announced, or that had
    /// none when announced last (a change).
    Changes,
}

/// The records announcing `groups` (the groups with local members now) after `announced`
/// (those as of the last announcement): the groups `which` says, then a `NO_MEMBERS` record
/// for each group announced that has no members any more.
fn announcement(
    announced: &BTreeMap<IpAddr, SourceFilter>,
    groups: &BTreeMap<IpAddr, SourceFilter>,
    which: Announce,
) -> Vec<GroupState> {
    groups
        .iter()
        .filter(|(group, filter)| which == Announce::All || announced.get(group) != Some(filter))
        .map(|(group, filter)| has_members(*group, *filter))
        .chain(
            announced
                .keys()
                .filter(|group| !groups.contains_key(group))
                .map(|group| no_members(*group)),
        )
        .collect()
}

/// The record saying the node has members of `group` that want what `filter` lets through;
/// every source for an IPv6 group (IPv6 members take every source; the message lists no IPv6
/// sources).
fn has_members(group: IpAddr, filter: SourceFilter) -> GroupState {
    let filter = match group {
        IpAddr::V4(_) => filter,
        IpAddr::V6(_) => SourceFilter::ANY_SOURCE,
    };
    GroupState {
        group,
        members: Some(filter),
    }
}

/// The record saying the node has no members of `group` any more.
fn no_members(group: IpAddr) -> GroupState {
    GroupState {
        group,
        members: None,
    }
}

/// What the node announces: its groups with local members, each with what those members want,
/// or `None` while it has no dataplane.
type LocalGroups = Option<(u32, BTreeMap<IpAddr, SourceFilter>)>;

/// The node's VNI and its groups with local members ([`LocalGroups`]).
fn local_groups(node: &Node) -> Result<LocalGroups, DataplaneError> {
    match node.groups() {
        Ok(table) => Ok(Some((table.config().vni, table.local_member_filters()?))),
        Err(DataplaneError::NotAttached { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_goes_out_robustness_times_with_each_groups_latest_state() {
        let g1 = IpAddr::V4(Ipv4Addr::new(239, 1, 1, 1));
        let g2 = IpAddr::V4(Ipv4Addr::new(239, 1, 1, 2));
        let start = Instant::now();
        let mut repeats = ChangeRepeats::new(3);
        // g1 got members: sent now, then twice more, one interval apart.
        repeats.sent(&[has_members(g1, SourceFilter::ANY_SOURCE)], start);
        assert!(repeats.due(start).is_empty(), "not before the interval");
        let once = start + CHANGE_REPEAT_INTERVAL;
        assert_eq!(
            repeats.due(once),
            [has_members(g1, SourceFilter::ANY_SOURCE)]
        );
        // g1 lost them and g2 got some before the last repeat: g1's latest state replaces
        // its record, and both go out twice more.
        repeats.sent(
            &[no_members(g1), has_members(g2, SourceFilter::ANY_SOURCE)],
            once,
        );
        let twice = once + CHANGE_REPEAT_INTERVAL;
        let both = [no_members(g1), has_members(g2, SourceFilter::ANY_SOURCE)];
        assert_eq!(repeats.due(twice), both);
        assert_eq!(repeats.due(twice + CHANGE_REPEAT_INTERVAL), both);
        assert!(
            repeats.due(twice + CHANGE_REPEAT_INTERVAL * 5).is_empty(),
            "done"
        );
    }

    #[test]
    fn with_robustness_1_a_change_goes_out_once() {
        let start = Instant::now();
        let mut repeats = ChangeRepeats::new(1);
        repeats.sent(
            &[no_members(IpAddr::V4(Ipv4Addr::new(239, 1, 1, 1)))],
            start,
        );
        assert!(repeats.due(start + CHANGE_REPEAT_INTERVAL * 2).is_empty());
    }

    #[test]
    fn the_underlay_prefix_decides_who_may_announce() {
        let peering = Peering {
            address: Ipv4Addr::new(172, 31, 255, 1),
            prefix_len: 24,
            peers: vec![Ipv4Addr::new(172, 31, 255, 2)],
        };
        assert!(peering.on_underlay(Ipv4Addr::new(172, 31, 255, 9)));
        assert!(!peering.on_underlay(Ipv4Addr::new(172, 31, 254, 9)));
        assert!(!peering.on_underlay(Ipv4Addr::new(10, 0, 0, 1)));
        let everywhere = Peering {
            prefix_len: 0,
            ..peering
        };
        assert!(everywhere.on_underlay(Ipv4Addr::new(10, 0, 0, 1)));
    }

    #[test]
    fn ipv6_groups_are_announced_for_every_source_and_withdrawn_like_ipv4_ones() {
        use mcastlab_common::sources::MODE_INCLUDE;
        use std::net::Ipv6Addr;

        let v4: IpAddr = Ipv4Addr::new(232, 1, 1, 1).into();
        let kept6: IpAddr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 7, 1).into();
        let left6: IpAddr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 7, 2).into();
        let new6: IpAddr = Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 3).into();
        let one_source = SourceFilter::new(MODE_INCLUDE, &[u32::from_ne_bytes([10, 0, 0, 1])])
            .expect("a filter");
        let announced = BTreeMap::from([
            (v4, one_source),
            (kept6, SourceFilter::ANY_SOURCE),
            (left6, SourceFilter::ANY_SOURCE),
        ]);
        // An IPv6 group's filter, whatever it says, is announced as every source.
        let groups = BTreeMap::from([
            (v4, one_source),
            (kept6, SourceFilter::ANY_SOURCE),
            (new6, one_source),
        ]);
        let has = |group: IpAddr, filter: SourceFilter| GroupState {
            group,
            members: Some(filter),
        };
        let none = |group: IpAddr| GroupState {
            group,
            members: None,
        };
        assert_eq!(
            announcement(&announced, &groups, Announce::Changes),
            [has(new6, SourceFilter::ANY_SOURCE), none(left6)]
        );
        assert_eq!(
            announcement(&announced, &groups, Announce::All),
            [
                has(v4, one_source),
                has(new6, SourceFilter::ANY_SOURCE),
                has(kept6, SourceFilter::ANY_SOURCE),
                none(left6),
            ]
        );
        assert_eq!(announcement(&groups, &groups, Announce::Changes), []);
    }
}
