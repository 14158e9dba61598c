//! Joins and leaves of local subscribers (pods) in configured groups.

use mcastlab_common::{Reason, slots::Member};

use crate::{counters::count, fanout, maps::MCAST_GROUPS};

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
    if let Some(found) = fanout::find(slots, header.high_water, address) {
        // A remote member under the same address belongs to userspace; leave it alone. A pod
        // that moved behind another veth is updated.
        let present = Member::from_word(found.word);
        if present.is_some_and(|p| !p.is_remote() && p != member) {
            fanout::replace(slots, found, member.word());
        }
        count(Reason::JoinRefreshed);
        return;
    }
    let reason = match fanout::claim(slots, header, member) {
        Some(slot) if fanout::keep_lowest(slots, member, slot) => Reason::Subscribed,
        // Another writer added the same pod at the same time; its slot stays.
        Some(_) => Reason::JoinRefreshed,
        None => Reason::SubscriberTableFull,
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
