//! Leaves while fast leave is off (RFC 3376 section 6.4.2, RFC 3810 section 7.6.2, for one
//! member per veth): the datapath keeps the member and emits a `leave_pending` event; the agent
//! sends Last Member Query Count Group-Specific Queries (IGMP; MLD Multicast Address Specific
//! Queries for an IPv6 group) into the veth, one each Last Member Query Interval, and one
//! interval after the last it removes the member unless someone behind the veth answered (a
//! report since the leave stamps the member heard), counted as `leave_confirmed`.
//!
//! A node with fast leave on (the default) never emits `leave_pending`; nothing here runs.

use std::net::{IpAddr, Ipv4Addr};

use mcastlab_common::{Reason, events::MembershipEvent, key_addr};
use mcastlab_dataplane::{DataplaneError, Node};
use tokio::time::Instant;

use crate::{
    AgentError,
    querier::{Querier, group_mld_query_frame, group_query_frame},
    timers::Settings,
};

/// One leave being asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    group: IpAddr,
    ifindex: u32,
    /// When the leave was handled (`CLOCK_MONOTONIC` nanoseconds): a report after it answers.
    since_ns: u64,
    queries_left: u32,
    next: Instant,
}

/// A member removed because nobody answered after its leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfirmedLeave {
    /// The group.
    pub group: IpAddr,
    /// The member's address.
    pub address: Ipv4Addr,
    /// Its veth.
    pub ifindex: u32,
}

/// What one [`PendingLeaves::run_due`] did: the members it removed, and the first error it
/// met, if any (the leaves it concerned stay pending).
#[derive(Debug, Default)]
pub struct DueLeaves {
    /// The members removed: nobody answered after their leave.
    pub confirmed: Vec<ConfirmedLeave>,
    /// The first removal or count that failed.
    pub failed: Option<AgentError>,
}

/// The leaves being asked about.
#[derive(Debug, Default)]
pub struct PendingLeaves {
    pending: Vec<Pending>,
}

impl PendingLeaves {
    /// Starts asking about the leave of `event` (a `leave_pending` one; others are ignored):
    /// its first query goes out at once. A second leave of the same member starts over.
    pub fn add(&mut self, event: &MembershipEvent, settings: &Settings) {
        if event.reason() != Some(Reason::LeavePending) {
            return;
        }
        let Some(group) = event.group_addr() else {
            return;
        };
        self.pending
            .retain(|p| !(p.group == group && p.ifindex == event.ifindex));
        self.pending.push(Pending {
            group,
            ifindex: event.ifindex,
            since_ns: event.time_ns,
            queries_left: settings.last_member_query_count(),
            next: Instant::now(),
        });
    }

    /// When the next query or check is due, if any leave is pending.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.next).min()
    }

    /// Sends the queries that are due, and removes the members whose last query went
    /// unanswered; returns those, counted as `leave_confirmed`. A removal that fails stays
    /// pending, tried again one Last Member Query Interval later; the first error is returned
    /// beside the members that were removed.
    pub fn run_due(&mut self, node: &Node, querier: &Querier, settings: &Settings) -> DueLeaves {
        let now = Instant::now();
        let mut due = DueLeaves::default();
        let mut still = Vec::new();
        for mut pending in std::mem::take(&mut self.pending) {
            if pending.next > now {
                still.push(pending);
            } else if pending.queries_left > 0 {
                send_query(node, querier, settings, &pending);
                pending.queries_left -= 1;
                pending.next = now + settings.last_member_query_interval;
                still.push(pending);
            } else {
                match confirm(node, &pending) {
                    Ok(Some(leave)) => due.confirmed.push(leave),
                    Ok(None) => {}
                    Err(err) => {
                        pending.next = now + settings.last_member_query_interval;
                        still.push(pending);
                        due.failed.get_or_insert(err);
                    }
                }
            }
        }
        self.pending = still;
        if !due.confirmed.is_empty()
            && let Err(err) = node.count(Reason::LeaveConfirmed, due.confirmed.len() as u64)
        {
            due.failed.get_or_insert(err.into());
        }
        due
    }
}

/// Sends one Group-Specific Query for `pending` into its veth. A veth that is gone is
/// skipped (its pod cannot answer; the dead-pod sweep removes the member).
fn send_query(node: &Node, querier: &Querier, settings: &Settings, pending: &Pending) {
    let frame = match pending.group {
        IpAddr::V4(group) => group_query_frame(settings, group),
        IpAddr::V6(group) => group_mld_query_frame(settings, group),
    };
    if let Err(err) = querier.send_to(pending.ifindex, &frame) {
        let ifindex = pending.ifindex;
        tracing::debug!(node = node.name(), ifindex, %err, "group-specific query not sent");
    }
}

/// Removes the member of `pending` unless it was heard since its leave.
fn confirm(node: &Node, pending: &Pending) -> Result<Option<ConfirmedLeave>, AgentError> {
    let mut table = match node.groups() {
        Ok(table) => table,
        Err(DataplaneError::NotAttached { .. }) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let heard = match table.heard_members_of(pending.group) {
        Ok(heard) => heard,
        Err(DataplaneError::GroupNotFound { .. }) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let member = heard
        .into_iter()
        .find(|heard| !heard.member.is_remote() && heard.member.target == pending.ifindex);
    let Some(member) = member else {
        return Ok(None);
    };
    if member.heard_ns > pending.since_ns || !table.remove_heard(&member)? {
        return Ok(None);
    }
    let address = key_addr(member.member.address);
    tracing::info!(
        node = node.name(),
        group = %pending.group,
        %address,
        ifindex = pending.ifindex,
        "removed a member that left and did not answer the group-specific queries"
    );
    Ok(Some(ConfirmedLeave {
        group: pending.group,
        address,
        ifindex: pending.ifindex,
    }))
}
