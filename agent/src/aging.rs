//! Aging (RFC 3376 section 6.4, for one member per veth): a local member not heard for the
//! Group Membership Interval (no join, no answer to a query) is removed and counted as
//! `member_expired`; a learned remote member (a node) not refreshed by its node's membership
//! messages for as long is removed and counted as `remote_expired`. The datapath stamps each member's slot when it handles a join or a
//! refresh (`mcastlab_common::slots::heard_index`); the agent compares those stamps with the
//! same clock (`CLOCK_MONOTONIC`) every [`AGING_CHECK_INTERVAL`].
//!
//! A member is removed only when two checks in a row found the same member in the same slot
//! stale: a slot that a new join claimed an instant before its stamp was written is never
//! expired on that instant's reading. Static members (`subscriber add`) are never heard and
//! never age.

use std::{collections::BTreeSet, time::Duration};

use mcastlab_common::Reason;
use mcastlab_dataplane::{DataplaneError, HeardMember, Node, monotonic_ns};

use crate::AgentError;

/// How often the agent looks for members to expire: a member goes between one Group
/// Membership Interval and that plus two of these after it was last heard.
pub const AGING_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The stale members of the previous check.
#[derive(Debug, Default)]
pub struct Aging {
    stale: BTreeSet<HeardMember>,
}

impl Aging {
    /// Removes the members of `node` that were stale at the previous check and still are,
    /// with `interval` the Group Membership Interval; returns the members that went.
    pub fn check(
        &mut self,
        node: &Node,
        interval: Duration,
    ) -> Result<Vec<HeardMember>, AgentError> {
        let mut table = match node.groups() {
            Ok(table) => table,
            Err(DataplaneError::NotAttached { .. }) => {
                self.stale.clear();
                return Ok(Vec::new());
            }
            Err(err) => return Err(err.into()),
        };
        let now = monotonic_ns();
        let interval = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
        let stale: BTreeSet<HeardMember> = table
            .heard_members()?
            .into_iter()
            .filter(|heard| now.saturating_sub(heard.heard_ns) > interval)
            .collect();
        let (mut local, mut remote) = (0, 0);
        let mut expired = Vec::new();
        for heard in stale.intersection(&self.stale) {
            if table.remove_heard(heard)? {
                let remote_member = heard.member.is_remote();
                tracing::info!(
                    node = node.name(),
                    group = %heard.group,
                    address = %mcastlab_common::key_addr(heard.member.address),
                    remote = remote_member,
                    "expired a member not heard for the group membership interval"
                );
                if remote_member {
                    remote += 1;
                } else {
                    local += 1;
                }
                expired.push(*heard);
            }
        }
        if local > 0 {
            node.count(Reason::MemberExpired, local)?;
        }
        if remote > 0 {
            node.count(Reason::RemoteExpired, remote)?;
        }
        self.stale = stale;
        Ok(expired)
    }
}
