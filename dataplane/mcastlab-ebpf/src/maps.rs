//! The dataplane's maps. Their names are `mcastlab_common::names::MAP_*`; sizes come from the
//! limits there.

use aya_ebpf::{
    btf_maps::{Array, HashMap, HashOfMaps, PerCpuArray},
    macros::btf_map,
};
use mcastlab_common::{
    MAX_GROUPS, MAX_SUBSCRIBERS_PER_GROUP, NodeConfig, REASON_SLOTS, Subscriber,
};

/// Inner map of a group: subscriber IPv4 address -> where to send its copy.
pub type SubscriberMap = HashMap<u32, Subscriber, { MAX_SUBSCRIBERS_PER_GROUP as usize }>;

/// Group address -> its subscribers. Groups are added by userspace only (`mcastlab group add`).
#[btf_map]
pub static MCAST_GROUPS: HashOfMaps<u32, SubscriberMap, { MAX_GROUPS as usize }> =
    HashOfMaps::new();

/// Per-CPU counters indexed by `mcastlab_common::Reason`.
#[btf_map]
pub static MCAST_REASONS: PerCpuArray<u64, { REASON_SLOTS as usize }> = PerCpuArray::new();

/// The node's settings (tunnel device, VNI), one slot.
#[btf_map]
pub static MCAST_CONFIG: Array<NodeConfig, 1> = Array::new();
