//! Joins and leaves of local subscribers (pods) in configured groups.

use mcastlab_common::{
    Reason,
    slots::{Join, Member, join_decision},
};

use crate::{
    counters::count,
    fanout::{self, Claim},
    maps::MCAST_GROUPS,
};

/// Subscribes the pod at `address` (behind `ifindex`) to `group`, if the group is configured.
#[inline(always)]
pub fn join(group: u32, address: u32, ifindex: u32) {
    // SAFETY: the inner map is only used through helpers and atomics.
    let Some(slots) = (unsafe { MCAST_GROUPS.get(&group) }) else {
        count(Reason::IgnoredGroup);
        return;
    };
    let Some(header) = fanout::header(slots) else {
        count(Reason::SubscriberUpdateFailed);
        return;
    };
    let member = Member::local(address, ifindex);
    let present = fanout::find(slots, header.high_water, address);
    let reason = match join_decision(present, member) {
        Join::Refresh => {
            // A remote member under the same address is userspace's: never heard.
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
    };
    count(reason);
}

/// Removes the pod at `address` from `group`. Remote subscribers are never removed by IGMP.
#[inline(always)]
pub fn leave(group: u32, address: u32) {
    // SAFETY: as in `join`.
    let Some(slots) = (unsafe { MCAST_GROUPS.get(&group) }) else {
        count(Reason::IgnoredGroup);
        return;
    };
    let high_water = fanout::header(slots).map_or(0, |h| h.high_water);
    let local = fanout::find(slots, high_water, address)
        .filter(|found| Member::from_word(found.word).is_some_and(|member| !member.is_remote()));
    let reason = match local {
        Some(found) if fanout::free(slots, found) => Reason::Left,
        _ => Reason::LeaveNotSubscribed,
    };
    count(reason);
}
