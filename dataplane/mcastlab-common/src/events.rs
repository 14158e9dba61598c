//! Membership events: what changed (or was refused) in a node's membership, for the monitor
//! (`mcastlab monitor`, like `bridge monitor mdb`).
//!
//! The datapath writes one [`MembershipEvent`] per join, refresh, leave and refused report into
//! the ring buffer [`crate::names::MAP_EVENTS`]; the node agent reads it, adds the events it
//! causes itself (expiry, dead pods), names the pod and streams them to monitors. A full ring
//! buffer drops the event, never the change, and counts [`Reason::EventsLost`].

use crate::Reason;

/// Bytes of a node's event ring buffer (a power of two pages): room for about 8000 events
/// between two reads of the agent.
pub const EVENT_RING_BYTES: u32 = 256 * 1024;

/// One membership event. The reason says what happened ([`EventKind::of`] groups it).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MembershipEvent {
    /// When: `CLOCK_MONOTONIC` nanoseconds (`bpf_ktime_get_ns`).
    pub time_ns: u64,
    /// The group as a map key ([`crate::addr_key`]); 0 when a refused message as a whole
    /// names no single group (an IGMPv3 report).
    pub group: u32,
    /// The member's address as a map key: the pod's address (or, for a refused report, the
    /// report's source address); a remote node's address for remote members.
    pub address: u32,
    /// The pod's host-side veth; 0 for remote members.
    pub ifindex: u32,
    /// The [`Reason`] code of what happened.
    pub reason: u32,
    /// The group of an IPv6 membership ([`crate::wire::ipv6::Ipv6Key`]), `group` then 0; all
    /// zero for IPv4.
    pub group6: [u32; 4],
}

const _: () = assert!(core::mem::size_of::<MembershipEvent>() == 40);

impl MembershipEvent {
    /// The event's reason, if its code is known.
    pub const fn reason(&self) -> Option<Reason> {
        Reason::from_code(self.reason)
    }

    /// The group the event names: its IPv4 group, its IPv6 group, or none (a refused message
    /// that names no single group).
    pub fn group_addr(&self) -> Option<core::net::IpAddr> {
        if self.group != 0 {
            Some(core::net::IpAddr::V4(crate::key_addr(self.group)))
        } else if self.group6 != [0; 4] {
            let octets = crate::wire::ipv6::key_addr(self.group6);
            Some(core::net::IpAddr::V6(core::net::Ipv6Addr::from(octets)))
        } else {
            None
        }
    }
}

/// What an event did to membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// A new member.
    Join,
    /// A member heard again (a repeated report, an answer to a query).
    Refresh,
    /// A member left (its leave, unanswered queries after it, its node's withdrawal).
    Leave,
    /// A member's leave while fast leave is off: the agent asks its veth before removing it.
    LeavePending,
    /// A member not heard for the Group Membership Interval was removed.
    Expire,
    /// A member whose pod's veth is gone was removed.
    PodGone,
    /// A report or leave that changed nothing because it was not allowed (another pod's
    /// address, no identity, a link-local group, too many records, a full group).
    Refused,
    /// A report or leave that had nothing to change (a group that is not configured, a leave
    /// of a pod that is not a member, such as a repeated one).
    Ignored,
    /// Anything else worth a line (an event that was lost).
    Other,
}

impl EventKind {
    /// The kind of an event with reason `reason`.
    pub const fn of(reason: Reason) -> EventKind {
        match reason {
            Reason::Subscribed | Reason::RemoteLearned => EventKind::Join,
            Reason::JoinRefreshed => EventKind::Refresh,
            Reason::Left | Reason::RemoteWithdrawn | Reason::LeaveConfirmed => EventKind::Leave,
            Reason::LeavePending => EventKind::LeavePending,
            Reason::MemberExpired | Reason::RemoteExpired => EventKind::Expire,
            Reason::MemberPodGone => EventKind::PodGone,
            Reason::LeaveNotSubscribed | Reason::IgnoredGroup | Reason::LeaveIgnoredV1Host => {
                EventKind::Ignored
            }
            Reason::TooManyRecords
            | Reason::SubscriberTableFull
            | Reason::SubscriberUpdateFailed
            | Reason::SpoofedSource
            | Reason::NoPodIdentity
            | Reason::LinkLocalGroup
            | Reason::SsmAnySourceIgnored => EventKind::Refused,
            _ => EventKind::Other,
        }
    }

    /// Stable lower-case name, as `mcastlab monitor` prints it.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::Join => "join",
            EventKind::Refresh => "refresh",
            EventKind::Leave => "leave",
            EventKind::LeavePending => "leave-pending",
            EventKind::Expire => "expire",
            EventKind::PodGone => "pod-gone",
            EventKind::Refused => "refused",
            EventKind::Ignored => "ignored",
            EventKind::Other => "other",
        }
    }
}

#[cfg(feature = "user")]
// SAFETY: a `#[repr(C)]` struct of integers without implicit padding (40 bytes, pinned above).
unsafe impl aya::Pod for MembershipEvent {}

#[cfg(test)]
mod tests {
    use super::{EventKind, Reason};

    #[test]
    fn kinds_of_membership_reasons() {
        assert_eq!(EventKind::of(Reason::Subscribed), EventKind::Join);
        assert_eq!(EventKind::of(Reason::JoinRefreshed), EventKind::Refresh);
        assert_eq!(EventKind::of(Reason::Left), EventKind::Leave);
        assert_eq!(EventKind::of(Reason::MemberExpired), EventKind::Expire);
        assert_eq!(EventKind::of(Reason::MemberPodGone), EventKind::PodGone);
        assert_eq!(EventKind::of(Reason::SpoofedSource), EventKind::Refused);
        assert_eq!(
            EventKind::of(Reason::LeaveNotSubscribed),
            EventKind::Ignored
        );
        assert_eq!(EventKind::of(Reason::CopyLocal), EventKind::Other);
    }
}
