//! The dataplane's maps. Their names are `mcastlab_common::names::MAP_*`; sizes come from the
//! limits there.

use aya_ebpf::{
    btf_maps::{Array, HashMap, HashOfMaps, LruHashMap, PerCpuArray, RingBuf},
    macros::btf_map,
};
use mcastlab_common::{
    MAX_GROUPS, MAX_PODS, NodeConfig, PodIdentity, REASON_SLOTS, V1HostKey,
    events::{EVENT_RING_BYTES, MembershipEvent},
    slots::{GROUP_ARRAY_LEN, GROUP_MAP_FLAGS},
    sources::{MAX_SOURCE_FILTERS, RecordUpdate, SourceFilter, SourceKey},
    wire::ipv6::Ipv6Key,
};

/// Inner map of a group: its fan-out list (`mcastlab_common::slots`), slot index -> slot word,
/// then each slot's last-heard time, delivered packets and delivered bytes.
pub type GroupSlots = Array<u64, { GROUP_ARRAY_LEN as usize }, { GROUP_MAP_FLAGS as usize }>;

/// Group address -> its fan-out list. Groups are added by userspace only (`mcastlab group add`).
#[btf_map]
pub static MCAST_GROUPS: HashOfMaps<u32, GroupSlots, { MAX_GROUPS as usize }> = HashOfMaps::new();

/// IPv6 group address -> its fan-out list (the same protocol as an IPv4 group's). Groups are
/// added by userspace only.
#[btf_map]
pub static MCAST_GROUPS6: HashOfMaps<Ipv6Key, GroupSlots, { MAX_GROUPS as usize }> =
    HashOfMaps::new();

/// Per-CPU counters indexed by `mcastlab_common::Reason`.
#[btf_map]
pub static MCAST_REASONS: PerCpuArray<u64, { REASON_SLOTS as usize }> = PerCpuArray::new();

/// The node's settings (tunnel device, VNI), one slot.
#[btf_map]
pub static MCAST_CONFIG: Array<NodeConfig, 1> = Array::new();

/// The node's settings, read in place (no copy on the stack): the config slot, or the
/// defaults when it cannot be read.
#[inline(always)]
pub fn node_config() -> &'static NodeConfig {
    MCAST_CONFIG
        .get(mcastlab_common::CONFIG_KEY)
        .unwrap_or(&NodeConfig::DEFAULTS)
}

/// Host-side veth ifindex -> the pod behind it (`mcastlab_common::PodIdentity`). Written by
/// userspace only (attach, `mcastlab pod set`); read before any IGMP report is applied.
#[btf_map]
pub static MCAST_PODS: HashMap<u32, PodIdentity, { MAX_PODS as usize }> = HashMap::new();

/// Membership events for the node agent's monitor (`mcastlab_common::events`).
#[btf_map]
pub static MCAST_EVENTS: RingBuf<MembershipEvent, { EVENT_RING_BYTES as usize }> = RingBuf::new();

/// (group, veth) -> when an IGMPv1 report for the group last came from the veth. Least
/// recently used entries go first when it is full: a flood of v1 reports can only make the
/// dataplane forget a v1 host early (and honour a leave it would have ignored).
#[btf_map]
pub static MCAST_V1_HOSTS: LruHashMap<V1HostKey, u64, { MAX_PODS as usize }> = LruHashMap::new();

/// (group, subscriber) -> the member's source filter (`mcastlab_common::sources`). Written by
/// the IGMP handler (IGMPv3 records with sources) and userspace (member removal); read by
/// replication for groups whose `SOURCE_FILTERS_INDEX` word is set. No entry: every source.
#[btf_map]
pub static MCAST_SOURCES: HashMap<SourceKey, SourceFilter, { MAX_SOURCE_FILTERS as usize }> =
    HashMap::new();

/// Scratch space for the IGMPv3 record being applied (its source filter under construction), one
/// per CPU: a map value instead of the stack, which the record pass's chain of calls would push
/// past the verifier's 512 bytes on kernels that round each frame up to 32 bytes (6.1). Private
/// to the loaded object (not in `names::MAPS`, never pinned).
#[btf_map]
pub static MCAST_RECORD_SCRATCH: PerCpuArray<RecordUpdate, 1> = PerCpuArray::new();
