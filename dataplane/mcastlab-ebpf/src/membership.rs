//! Joins and leaves of local subscribers (pods) in configured groups. A pod is its host-side
//! veth: it holds at most one slot of a group, and a leave frees only that slot.

use mcastlab_common::{
    CONFIG_KEY, NodeConfig, Reason, V1HostKey,
    identity::is_link_local_group,
    slots::{Join, Member, join_decision},
};

use crate::{
    counters::count,
    events::emit,
    fanout::{self, Claim},
    maps::{MCAST_CONFIG, MCAST_GROUPS, MCAST_V1_HOSTS},
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

/// Records that an IGMPv1 host behind `member`'s veth reported `group` now: its leaves are
/// ignored for the Older Host Present Interval.
#[inline(always)]
pub fn v1_host_heard(group: u32, member: Member) {
    let key = V1HostKey {
        group,
        ifindex: member.target,
    };
    // SAFETY: bpf_ktime_get_ns has no preconditions.
    let now = unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() };
    // A full map evicts its least recently used entry; an error changes nothing worth counting.
    let _ = MCAST_V1_HOSTS.insert(key, now, 0);
}

/// Whether an IGMPv1 host behind `member`'s veth reported `group` within the interval.
#[inline(always)]
fn v1_host_present(group: u32, member: Member, config: &NodeConfig) -> bool {
    let key = V1HostKey {
        group,
        ifindex: member.target,
    };
    // SAFETY: the value is copied out at once.
    let Some(heard) = (unsafe { MCAST_V1_HOSTS.get(key) }).copied() else {
        return false;
    };
    // SAFETY: as above.
    let now = unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() };
    now.saturating_sub(heard) < config.older_host_present_ns()
}

/// Removes `member`'s pod (the slot its veth holds) from `group`. Remote subscribers and other
/// veths' pods are never removed by IGMP. An IGMPv1 host behind the veth that reported the
/// group recently keeps it (RFC 2236 section 4); with fast leave off the member stays and the
/// leave is pending until the node agent's Group-Specific Queries go unanswered.
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
    let config = MCAST_CONFIG
        .get(CONFIG_KEY)
        .copied()
        .unwrap_or(NodeConfig::default());
    if v1_host_present(group, member, &config) {
        return Reason::LeaveIgnoredV1Host;
    }
    let high_water = fanout::header(slots).map_or(0, |h| h.high_water);
    match fanout::find(slots, high_water, member) {
        Some(_) if !config.fast_leave() => Reason::LeavePending,
        Some(found) if fanout::free(slots, found) => Reason::Left,
        _ => Reason::LeaveNotSubscribed,
    }
}
