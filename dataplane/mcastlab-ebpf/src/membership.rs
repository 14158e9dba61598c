//! Joins and leaves of local subscribers (pods) in configured groups, with their source
//! filters (`mcastlab_common::sources`). A pod is its host-side veth: it holds at most one slot
//! of a group, and a leave frees only that slot.
//!
//! The entry points are BPF subprograms (`#[inline(never)]`): IGMP and MLD call them from
//! several places, inside `bpf_loop` callbacks too, and one copy each keeps both the verifier's
//! work and the stack along each call chain (512 bytes at most) small.

use mcastlab_common::{
    NodeConfig, Reason, V1HostKey,
    slots::{Join, Member, join_decision},
    sources::{SourceFilter, SourceKey},
};

use crate::{
    counters::count,
    events::emit,
    fanout::{self, Claim},
    group::Group,
    maps::{GroupSlots, MCAST_SOURCES, MCAST_V1_HOSTS, node_config},
};

/// Subscribes `member` (a pod behind its veth, its identity checked) to every source of
/// `group` (an IGMPv1/v2 report, an MLD report), if the group is configured, not link-local and
/// not source-specific.
#[inline(never)]
pub fn join(group: Group, member: Member) {
    let reason = if group.refuses_any_source() {
        Reason::SsmAnySourceIgnored
    } else {
        join_filtered(group, member, &SourceFilter::ANY_SOURCE)
    };
    report(reason, group, member);
}

/// Applies what an IGMPv3 record left of `member`'s filter for IPv4 group `group` (`sources`):
/// a filter that wants nothing is a leave; an any-source filter (EXCLUDE mode) in the
/// source-specific range is refused; any other subscribes or refreshes the member with that
/// filter.
#[inline(always)]
pub fn apply_filter(group: u32, member: Member, filter: &SourceFilter) {
    let group = Group::v4(group);
    if filter.wants_nothing() {
        leave_member(group, member);
        return;
    }
    let reason = if group.refuses_any_source() && !filter.is_include() {
        Reason::SsmAnySourceIgnored
    } else {
        join_filtered(group, member, filter)
    };
    report(reason, group, member);
}

/// Writes into `out` the filter `member` has for IPv4 group `group` now: `INCLUDE{}` when it
/// is not subscribed (or the group is not configured), its entry in the source map, or
/// `EXCLUDE{}` (any source) without one.
#[inline(never)]
pub fn current_filter(group: u32, member: Member, out: &mut SourceFilter) {
    *out = SourceFilter::NO_SOURCE;
    let Ok(slots) = Group::v4(group).slots() else {
        return;
    };
    let high_water = fanout::header(slots).map_or(0, |h| h.high_water);
    if fanout::find(slots, high_water, member).is_none() {
        return;
    }
    // SAFETY: the value is copied out at once.
    *out = match unsafe { MCAST_SOURCES.get(SourceKey::new(group, member)) } {
        Some(filter) => *filter,
        None => SourceFilter::ANY_SOURCE,
    };
}

/// Counts `reason` and reports it to the monitor.
#[inline(always)]
fn report(reason: Reason, group: Group, member: Member) {
    count(reason);
    emit(reason, group, member.address, member.target);
}

/// Subscribes or refreshes `member` with source filter `filter` (IPv4 groups; IPv6 members
/// take every source); returns what it did. The filter is written before the member's slot,
/// so a new member never gets a copy its filter refuses; it is taken back if the member could
/// not be added.
#[inline(always)]
fn join_filtered(group: Group, member: Member, filter: &SourceFilter) -> Reason {
    let slots = match group.slots() {
        Ok(slots) => slots,
        Err(reason) => return reason,
    };
    if let Some(key) = group.ipv4_key() {
        set_filter(slots, key, member, filter);
    }
    let reason = join_slots(slots, member);
    if let Some(key) = group.ipv4_key()
        && !matches!(reason, Reason::Subscribed | Reason::JoinRefreshed)
    {
        forget_filter(key, member);
    }
    reason
}

/// Writes `member`'s filter: an any-source filter is no entry.
#[inline(always)]
fn set_filter(slots: &GroupSlots, group: u32, member: Member, filter: &SourceFilter) {
    if filter.is_any_source() {
        forget_filter(group, member);
        return;
    }
    fanout::mark_source_filters(slots);
    if MCAST_SOURCES
        .insert(SourceKey::new(group, member), filter, 0)
        .is_err()
    {
        // No entry: the member gets every source, which loses nothing it asked for.
        forget_filter(group, member);
        count(Reason::SourceFiltersFull);
    }
}

/// Removes `member`'s filter entry, if it has one.
#[inline(always)]
fn forget_filter(group: u32, member: Member) {
    // No entry is the state wanted either way.
    let _ = MCAST_SOURCES.remove(SourceKey::new(group, member));
}

/// Subscribes or refreshes `member` in a group's fan-out list; returns what it did.
#[inline(always)]
fn join_slots(slots: &GroupSlots, member: Member) -> Reason {
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

/// Removes `member`'s pod from every source of `group` (an IGMPv2 leave, an MLD done); a
/// leave of a source-specific group is refused, as its any-source join was.
#[inline(never)]
pub fn leave(group: Group, member: Member) {
    if group.refuses_any_source() {
        report(Reason::SsmAnySourceIgnored, group, member);
    } else {
        leave_member(group, member);
    }
}

/// Removes `member`'s pod (the slot its veth holds) from `group`, and its source filter with
/// it. Remote subscribers and other veths' pods are never removed by IGMP or MLD. An IGMPv1
/// host behind the veth that reported an IPv4 group recently keeps it (RFC 2236 section 4);
/// with fast leave off the member stays and the leave is pending until the node agent's
/// Group-Specific Queries go unanswered.
#[inline(always)]
fn leave_member(group: Group, member: Member) {
    let reason = match group.slots() {
        Ok(slots) => leave_slots(slots, group, member),
        Err(reason) => reason,
    };
    if reason == Reason::Left
        && let Some(key) = group.ipv4_key()
    {
        forget_filter(key, member);
    }
    report(reason, group, member);
}

/// Applies a leave to a group's fan-out list; returns what it did.
#[inline(always)]
fn leave_slots(slots: &GroupSlots, group: Group, member: Member) -> Reason {
    let config = node_config();
    if let Some(key) = group.ipv4_key()
        && v1_host_present(key, member, config)
    {
        return Reason::LeaveIgnoredV1Host;
    }
    let high_water = fanout::header(slots).map_or(0, |h| h.high_water);
    match fanout::find(slots, high_water, member) {
        Some(_) if !config.fast_leave() => Reason::LeavePending,
        Some(found) if fanout::free(slots, found) => Reason::Left,
        _ => Reason::LeaveNotSubscribed,
    }
}
