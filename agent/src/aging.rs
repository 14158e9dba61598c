//! Aging (RFC 3376 section 6.4, for one member per veth): a local member not heard for the
//! Group Membership Interval (no join, no answer to a query) is removed and counted as
//! `member_expired`. The datapath stamps each member's slot when it handles a join or a
//! refresh (`mcastlab_common::slots::heard_index`); the agent compares those stamps with the
//! same clock (`CLOCK_MONOTONIC`) every [`AGING_CHECK_INTERVAL`].
//!
//! A member is removed only when two checks in a row found the same member in the same slot
//! stale: a slot that a new join claimed an instant before its stamp was written is never
//! expired on that instant's reading. Members userspace added (remote nodes) are never heard
//! and never age.

use std::{collections::BTreeSet, time::Duration};

use mcastlab_common::Reason;
use mcastlab_dataplane::{DataplaneError, HeardMember, Node};

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
    /// with `interval` the Group Membership Interval; returns how many went.
    pub fn check(&mut self, node: &Node, interval: Duration) -> Result<u64, AgentError> {
        let mut table = match node.groups() {
            Ok(table) => table,
            Err(DataplaneError::NotAttached { .. }) => {
                self.stale.clear();
                return Ok(0);
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
        let mut expired = 0;
        for heard in stale.intersection(&self.stale) {
            if table.remove_heard(heard)? {
                tracing::info!(
                    node = node.name(),
                    group = %heard.group,
                    address = %mcastlab_common::key_addr(heard.member.address),
                    "expired a member not heard for the group membership interval"
                );
                expired += 1;
            }
        }
        if expired > 0 {
            node.count(Reason::MemberExpired, expired)?;
        }
        self.stale = stale;
        Ok(expired)
    }
}

/// Now on `CLOCK_MONOTONIC`, the clock of `bpf_ktime_get_ns`, in nanoseconds.
fn monotonic_ns() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always there");
    u64::try_from(now.tv_sec()).unwrap_or(0) * 1_000_000_000
        + u64::try_from(now.tv_nsec()).unwrap_or(0)
}
