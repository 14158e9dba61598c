//! Membership events for the monitor (`mcastlab_common::events`): one per join, refresh,
//! leave and refused report, written to the node's ring buffer. A full buffer loses the event
//! (counted as `events_lost`), never the change.

use mcastlab_common::{Reason, events::MembershipEvent};

use crate::{counters::count, group::Group, maps::MCAST_EVENTS};

/// Emits an event: `reason` happened to `address` behind `ifindex` in `group` (`Group::NONE`
/// when a refused message as a whole names no single group).
#[inline(always)]
pub fn emit(reason: Reason, group: Group, address: u32, ifindex: u32) {
    let group4 = group.ipv4_key().unwrap_or(0);
    let group6 = group.ipv6_key().unwrap_or([0; 4]);
    let event = MembershipEvent {
        // SAFETY: bpf_ktime_get_ns has no preconditions.
        time_ns: unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() },
        group: group4,
        address,
        ifindex,
        reason: reason.code(),
        group6,
    };
    if MCAST_EVENTS.output(event, 0).is_err() {
        count(Reason::EventsLost);
    }
}
