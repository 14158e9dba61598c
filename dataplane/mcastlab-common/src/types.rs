//! `#[repr(C)]` values stored in the maps, with their sizes pinned.

use crate::{MAX_IGMPV3_RECORDS, MAX_IGMPV3_RECORDS_PER_MTU};

/// The only slot of the config map.
pub const CONFIG_KEY: u32 = 0;

/// Per-node settings written by `mcastlab dataplane attach` and `mcastlab dataplane config`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeConfig {
    /// ifindex of the vxlan device (external / collect_md mode); 0 when the node has no tunnel.
    pub tunnel_ifindex: u32,
    /// VXLAN network identifier written into the tunnel key of remote copies and required of
    /// packets arriving from the overlay.
    pub vni: u32,
    /// `CONFIG_*` flags ([`CONFIG_NO_FAST_LEAVE`], [`CONFIG_LAST_COPY_REDIRECT`]).
    pub flags: u32,
    /// Most group records an IGMPv3 report from a pod may carry; a report with more is refused
    /// whole (`too_many_records`). 0 stands for [`MAX_IGMPV3_RECORDS`]; userspace writes 0 or
    /// 1..=[`MAX_IGMPV3_RECORDS_PER_MTU`]. Read through [`NodeConfig::record_limit`].
    pub max_records: u32,
    /// How long after a pod's IGMPv1 report its leaves of that group are ignored (RFC 2236
    /// section 4; RFC 3376 section 8.13's Older Host Present Interval), in milliseconds; 0
    /// stands for [`OLDER_HOST_PRESENT_MS`]. The node agent writes its own (robustness x query
    /// interval + query response interval).
    pub older_host_present_ms: u32,
    /// Explicit padding; keep zero.
    pub _pad: u32,
}

const _: () = assert!(core::mem::size_of::<NodeConfig>() == 24);

/// [`NodeConfig::flags`]: a leave does not remove the member at once; the datapath counts
/// `leave_pending` and the node agent asks the veth with Group-Specific Queries, removing the
/// member only when nobody answers (RFC 3376 section 6.4.2). Without it (the default), a leave
/// removes the veth's membership at once: fast leave, right for one pod per veth.
pub const CONFIG_NO_FAST_LEAVE: u32 = 1 << 0;

/// [`NodeConfig::flags`], an experiment (off by default, set by the fan-out benchmark's
/// `dataplane-last-copy` mode): the last local member of a packet gets the original, handed
/// over with `bpf_redirect` after the walk, instead of a clone (no clone and no head copy for
/// it; `docs/datapath.md`, "Replication"). `BPF_PROG_TEST_RUN` does not perform that final
/// redirect, so its copy is seen only on real traffic.
pub const CONFIG_LAST_COPY_REDIRECT: u32 = 1 << 1;

/// RFC 3376 section 8.13's Older Host Present Interval with the RFC's timers (2 x 125 s +
/// 10 s), in milliseconds: the default of [`NodeConfig::older_host_present_ms`].
pub const OLDER_HOST_PRESENT_MS: u32 = 260_000;

impl NodeConfig {
    /// The settings of a node whose config slot was never written: every default (no tunnel,
    /// the default record limit, fast leave on, the RFC's Older Host Present Interval). The
    /// same as `NodeConfig::default()`, as a constant the eBPF programs can point to.
    pub const DEFAULTS: NodeConfig = NodeConfig {
        tunnel_ifindex: 0,
        vni: 0,
        flags: 0,
        max_records: 0,
        older_host_present_ms: 0,
        _pad: 0,
    };

    /// The record limit in force: [`NodeConfig::max_records`], [`MAX_IGMPV3_RECORDS`] for 0,
    /// and at most [`MAX_IGMPV3_RECORDS_PER_MTU`] whatever the map holds.
    #[inline(always)]
    pub const fn record_limit(&self) -> u16 {
        if self.max_records == 0 {
            MAX_IGMPV3_RECORDS
        } else if self.max_records > MAX_IGMPV3_RECORDS_PER_MTU as u32 {
            MAX_IGMPV3_RECORDS_PER_MTU
        } else {
            self.max_records as u16
        }
    }

    /// Whether the last local member gets the original instead of a clone
    /// ([`CONFIG_LAST_COPY_REDIRECT`]).
    #[inline(always)]
    pub const fn last_copy_redirect(&self) -> bool {
        self.flags & CONFIG_LAST_COPY_REDIRECT != 0
    }

    /// Whether a leave removes the member at once (no [`CONFIG_NO_FAST_LEAVE`]).
    #[inline(always)]
    pub const fn fast_leave(&self) -> bool {
        self.flags & CONFIG_NO_FAST_LEAVE == 0
    }

    /// The Older Host Present Interval in force, in nanoseconds.
    #[inline(always)]
    pub const fn older_host_present_ns(&self) -> u64 {
        let ms = if self.older_host_present_ms == 0 {
            OLDER_HOST_PRESENT_MS
        } else {
            self.older_host_present_ms
        };
        ms as u64 * 1_000_000
    }
}

/// Key of the IGMPv1 host map ([`crate::names::MAP_V1_HOSTS`]): a group and the veth an
/// IGMPv1 report for it came from. The value is when (`CLOCK_MONOTONIC` nanoseconds).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct V1HostKey {
    /// The group as a map key ([`addr_key`]).
    pub group: u32,
    /// The host-side veth.
    pub ifindex: u32,
}

const _: () = assert!(core::mem::size_of::<V1HostKey>() == 8);

/// Whether `limit` is a record limit a node may be set to: 1..=[`MAX_IGMPV3_RECORDS_PER_MTU`].
pub const fn is_valid_record_limit(limit: u32) -> bool {
    limit >= 1 && limit <= MAX_IGMPV3_RECORDS_PER_MTU as u32
}

/// The pod behind one host-side veth, as the dataplane knows it: the value of the pod map
/// ([`crate::names::MAP_PODS`], keyed by the veth's ifindex). Written by `mcastlab dataplane
/// attach --pod-iface IF=ADDR` and `mcastlab pod set`; the decision it feeds is
/// [`crate::identity::member_address`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodIdentity {
    /// The pod's IPv4 address as a map key ([`addr_key`]): the only source address whose IGMP
    /// reports the dataplane accepts from this veth (besides 0.0.0.0, RFC 3376 section
    /// 4.2.13). Never 0.
    pub address: u32,
    /// Explicit padding; keep zero.
    pub _pad: u32,
}

const _: () = assert!(core::mem::size_of::<PodIdentity>() == 8);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `#[repr(C)]` structs of `u32`s without implicit padding.
    unsafe impl aya::Pod for super::NodeConfig {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::PodIdentity {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::V1HostKey {}
}

/// The map key of an IPv4 address: its four wire octets read as a native `u32`, which is what
/// the eBPF side loads from a packet header.
pub const fn addr_key(address: core::net::Ipv4Addr) -> u32 {
    u32::from_ne_bytes(address.octets())
}

/// The IPv4 address of a map key (the inverse of [`addr_key`]).
pub const fn key_addr(key: u32) -> core::net::Ipv4Addr {
    let [a, b, c, d] = key.to_ne_bytes();
    core::net::Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
mod tests {
    use super::{NodeConfig, is_valid_record_limit};

    #[test]
    fn the_record_limit_is_24_unless_set_and_never_above_what_an_mtu_holds() {
        let config = |max_records| NodeConfig {
            max_records,
            ..NodeConfig::default()
        };
        assert_eq!(config(0).record_limit(), 24);
        assert_eq!(config(1).record_limit(), 1);
        assert_eq!(config(40).record_limit(), 40);
        assert_eq!(config(183).record_limit(), 183);
        assert_eq!(config(184).record_limit(), 183);
        assert_eq!(config(u32::MAX).record_limit(), 183);
        assert!(!is_valid_record_limit(0));
        assert!(is_valid_record_limit(1));
        assert!(is_valid_record_limit(183));
        assert!(!is_valid_record_limit(184));
    }
}
