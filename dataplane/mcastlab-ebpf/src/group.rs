//! A group of either family: where its fan-out list is, which groups never become
//! memberships, and which rules apply to it. Membership (`membership.rs`) and replication
//! (`replicate.rs`) are written once over it; IPv4 groups also carry source filters and the
//! source-specific range's rule, IPv6 groups (MLD) are any-source.

use mcastlab_common::{
    Reason,
    identity::{is_link_local_group, is_ssm_group},
    wire::ipv6::{self, Ipv6Key},
};

use crate::maps::{GroupSlots, MCAST_GROUPS, MCAST_GROUPS6};

/// A group address as its map key: an IPv4 group (`mcastlab_common::addr_key`, in
/// `MCAST_GROUPS`) or an IPv6 group (`mcastlab_common::wire::ipv6::addr_key`, in
/// `MCAST_GROUPS6`). A plain struct rather than an enum, so that every byte is initialized when
/// it is passed to a subprogram.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Group {
    /// Non-zero for IPv6.
    ipv6: u32,
    /// The IPv6 key, or the IPv4 key in the first word and zeros.
    key: Ipv6Key,
}

impl Group {
    /// No group: what an event of a refused message that names no single group carries (the
    /// IPv4 key 0, which is no group address).
    pub const NONE: Group = Group {
        ipv6: 0,
        key: [0; 4],
    };

    /// An IPv4 group.
    #[inline(always)]
    pub fn v4(key: u32) -> Self {
        Self {
            ipv6: 0,
            key: [key, 0, 0, 0],
        }
    }

    /// An IPv6 group.
    #[inline(always)]
    pub fn v6(key: Ipv6Key) -> Self {
        Self { ipv6: 1, key }
    }

    /// The IPv4 key, for what only IPv4 groups have (source filters, IGMPv1 hosts).
    #[inline(always)]
    pub fn ipv4_key(self) -> Option<u32> {
        (self.ipv6 == 0).then_some(self.key[0])
    }

    /// The IPv6 key.
    #[inline(always)]
    pub fn ipv6_key(self) -> Option<Ipv6Key> {
        (self.ipv6 != 0).then_some(self.key)
    }

    /// The group's fan-out list, or why no membership of it can change: a link-local group
    /// (224.0.0.0/24; IPv6 scope 1 or 2, `ff01::/16`, `ff02::/16`) or one not configured.
    #[inline(always)]
    pub fn slots(self) -> Result<&'static GroupSlots, Reason> {
        if self.is_link_local() {
            return Err(Reason::LinkLocalGroup);
        }
        // SAFETY: the inner maps are only used through helpers and atomics.
        let slots = match self.ipv4_key() {
            Some(key) => unsafe { MCAST_GROUPS.get(&key) },
            None => unsafe { MCAST_GROUPS6.get(&self.key) },
        };
        slots.ok_or(Reason::IgnoredGroup)
    }

    /// Whether the group never becomes a membership: link-local control traffic.
    #[inline(always)]
    pub fn is_link_local(self) -> bool {
        match self.ipv4_key() {
            Some(key) => is_link_local_group(key),
            None => ipv6::is_link_scope_group(ipv6::key_addr(self.key)),
        }
    }

    /// Whether any-source membership is refused: an IPv4 group in 232.0.0.0/8 (RFC 4604). IPv6
    /// groups are any-source only (their MLDv2 sources are not kept), so none is.
    #[inline(always)]
    pub fn refuses_any_source(self) -> bool {
        self.ipv4_key().is_some_and(is_ssm_group)
    }
}
