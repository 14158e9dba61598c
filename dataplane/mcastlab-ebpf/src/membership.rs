//! Joins and leaves of local subscribers (pods) in configured groups.

use aya_ebpf::bindings::BPF_NOEXIST;
use mcastlab_common::{Reason, SUBSCRIBER_REMOTE, Subscriber};

use crate::{counters::count, maps::MCAST_GROUPS};

const EEXIST: i32 = 17;
const E2BIG: i32 = 7;

/// Subscribes the pod at `subscriber` (behind `ifindex`) to `group`, if the group is configured.
#[inline(always)]
pub fn join(group: u32, subscriber: u32, ifindex: u32) {
    // SAFETY: the inner map is only read through helpers.
    let Some(subscribers) = (unsafe { MCAST_GROUPS.get(&group) }) else {
        count(Reason::IgnoredGroup);
        return;
    };
    let local = Subscriber { ifindex, flags: 0 };
    if let Some(existing) = subscribers.get_ptr_mut(subscriber) {
        // SAFETY: a map value pointer from the lookup above; 8 bytes, aligned.
        unsafe {
            // A remote entry under the same address belongs to userspace; leave it alone.
            if (*existing).flags & SUBSCRIBER_REMOTE == 0 && (*existing).ifindex != ifindex {
                *existing = local;
            }
        }
        count(Reason::JoinRefreshed);
        return;
    }
    let reason = match subscribers.insert(subscriber, local, BPF_NOEXIST.into()) {
        Ok(()) => Reason::Subscribed,
        Err(err) if err == -E2BIG => Reason::SubscriberTableFull,
        Err(err) if err == -EEXIST => Reason::JoinRefreshed,
        Err(_) => Reason::SubscriberUpdateFailed,
    };
    count(reason);
}

/// Removes the pod at `subscriber` from `group`. Remote subscribers are never removed by IGMP.
#[inline(always)]
pub fn leave(group: u32, subscriber: u32) {
    // SAFETY: as in `join`.
    let Some(subscribers) = (unsafe { MCAST_GROUPS.get(&group) }) else {
        count(Reason::IgnoredGroup);
        return;
    };
    let is_local = match subscribers.get_ptr(subscriber) {
        // SAFETY: a map value pointer from the lookup.
        Some(existing) => (unsafe { (*existing).flags }) & SUBSCRIBER_REMOTE == 0,
        None => false,
    };
    let reason = if is_local && subscribers.remove(subscriber).is_ok() {
        Reason::Left
    } else {
        Reason::LeaveNotSubscribed
    };
    count(reason);
}
