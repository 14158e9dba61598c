//! Joins and leaves of local subscribers (pods) in configured groups. A pod is its host-side
//! veth: it holds at most one slot of a group, and a leave frees only that slot.

use mcastlab_common::{
    Reason,
    identity::is_link_local_group,
    slots::{Join, Member, join_decision},
};

use crate::{
    counters::count,
    events::emit,
    fanout::{self, Claim},
    maps::MCAST_GROUPS,
};

/// Subscribes `member` (a pod behind its veth, its address checked) to `group`, if the group is
/// configured and not link-local.
#[inline(always)]
pub fn join(group: u32, member: Member) {
    let reason = join_reason(group, member);
    count(reason);
    emit(reason, group, member.address, member.target);
}

/// Applies a join; returns what it did.
#[inline(always)]
fn join_reason(group: u32, member: Member) -> Reason {
    if is_link_local_group(group) {
        return Reason::LinkLocalGroup;
    }
    // SAFETY: the inner map is only used through helpers and atomics.
    let Some(slots) = (unsafe { MCAST_GROUPS.get(&group) }) else {
        return Reason::IgnoredGroup;
    };
    let Some(header) = fanout::header(slots) else {
        return Reason::SubscriberUpdateFailed;
    };
    let present = fanout::find(slots, header.high_water, member);
    match join_decision(present, member) {
        Join::Refresh => {
            // The veth's slot holds exactly this member: heard now.
            if let Some(found) = present.filter(|found| found.word == member.word()) {
                fanout::heard(slots, found.slot);
            }
            Reason::JoinRefreshed
        }
        Join::Replace(found) => {
            if fanout::replace(slots, found, member.word()) {
                fanout::heard(slots, found.slot);
            }
            Reason::JoinRefreshed
        }
        Join::Claim => match fanout::claim(slots, header, member) {
            Claim::Kept(slot) => {
                fanout::heard(slots, slot);
                Reason::Subscribed
            }
            // Another writer added the same pod at the same time; its slot stays.
            Claim::Lost => Reason::JoinRefreshed,
            Claim::Full => Reason::SubscriberTableFull,
            Claim::Uncovered => Reason::SubscriberUpdateFailed,
        },
    }
}

/// Removes `member`'s pod (the slot its veth holds) from `group`. Remote subscribers and other
/// veths' pods are never removed by IGMP.
#[inline(always)]
pub fn leave(group: u32, member: Member) {
    let reason = leave_reason(group, member);
    count(reason);
    emit(reason, group, member.address, member.target);
}

/// Applies a leave; returns what it did.
#[inline(always)]
fn leave_reason(group: u32, member: Member) -> Reason {
    if is_link_local_group(group) {
        return Reason::LinkLocalGroup;
    }
    // SAFETY: as in `join`.
    let Some(slots) = (unsafe { MCAST_GROUPS.get(&group) }) else {
        return Reason::IgnoredGroup;
    };
    let high_water = fanout::header(slots).map_or(0, |h| h.high_water);
    match fanout::find(slots, high_water, member) {
        Some(found) if fanout::free(slots, found) => Reason::Left,
        _ => Reason::LeaveNotSubscribed,
    }
}
