//! Names of maps and programs, as the ELF object and the kernel know them.
//!
//! Map names fit the kernel's 15 usable bytes (`BPF_OBJ_NAME_LEN` is 16 with the NUL).
//! The eBPF statics and functions carry exactly these names; userspace tests check both agree.

/// Outer hash-of-maps: group address -> the group's fan-out list ([`crate::slots`]).
pub const MAP_GROUPS: &str = "MCAST_GROUPS";
/// Outer hash-of-maps of IPv6 groups: group address ([`crate::wire::ipv6::Ipv6Key`]) -> the
/// group's fan-out list, the same kind of list as an IPv4 group's.
pub const MAP_GROUPS6: &str = "MCAST_GROUPS6";
/// Name given to each group's fan-out list (an array created by userspace).
pub const MAP_SUBSCRIBERS: &str = "MCAST_SUBS";
/// Per-CPU array of `u64` counters indexed by [`crate::Reason`].
pub const MAP_REASONS: &str = "MCAST_REASONS";
/// Single-slot array holding the node's [`crate::NodeConfig`].
pub const MAP_CONFIG: &str = "MCAST_CONFIG";

/// Hash of pod identities: host-side veth ifindex -> [`crate::PodIdentity`], the one address
/// whose reports the dataplane accepts from that veth.
pub const MAP_PODS: &str = "MCAST_PODS";

/// Ring buffer of [`crate::events::MembershipEvent`]s, read by the node agent.
pub const MAP_EVENTS: &str = "MCAST_EVENTS";

/// LRU hash: (group, veth) -> when an IGMPv1 report for the group last came from the veth
/// ([`crate::V1HostKey`]); leaves from that veth are ignored while it is recent.
pub const MAP_V1_HOSTS: &str = "MCAST_V1_HOSTS";

/// Hash: (group, subscriber) -> the member's source filter ([`crate::sources`]); a member
/// without an entry takes every source.
pub const MAP_SOURCES: &str = "MCAST_SOURCES";

/// Every map of the object, for pinning (and removal at detach).
pub const MAPS: [&str; 8] = [
    MAP_GROUPS,
    MAP_GROUPS6,
    MAP_REASONS,
    MAP_CONFIG,
    MAP_PODS,
    MAP_EVENTS,
    MAP_V1_HOSTS,
    MAP_SOURCES,
];

/// The seed baseline's outer hash-of-maps: group address -> the group's subscriber hash
/// (benchmarks only, see `docs/datapath.md`). Private to the process that loads it: not in
/// [`MAPS`], never pinned.
pub const MAP_SEED_GROUPS: &str = "MCAST_SEED_GRP";
/// Name given to each of the seed baseline's inner hashes (subscriber address ->
/// [`crate::seed::SeedSubscriber`], created by userspace).
pub const MAP_SEED_SUBSCRIBERS: &str = "MCAST_SEED_SUBS";

/// The array whose entries stand in for `bpf_loop`'s steps on kernels without it (see
/// [`crate::MIN_KERNEL_BPF_LOOP`]). Private to each loaded object: not in [`MAPS`], never
/// pinned.
pub const MAP_LOOP_STEPS: &str = "MCAST_LOOP_STEPS";

/// The programs' read-only global that picks how their loops run: 1 for `bpf_loop`, 0 for
/// `bpf_for_each_map_elem` over [`MAP_LOOP_STEPS`]. Set by userspace at load; the verifier
/// sees a constant and never looks at the other way.
pub const GLOBAL_USE_BPF_LOOP: &str = "MCAST_USE_BPF_LOOP";

/// The XDP devmap-broadcast experiment's device map (benchmarks only, see `docs/datapath.md`):
/// a `BPF_MAP_TYPE_DEVMAP` of up to `MAX_SUBSCRIBERS_PER_GROUP` host-side veth ifindexes, the
/// receivers every multicast frame is broadcast to. Private to the process that loads it: not in
/// [`MAPS`], never pinned.
pub const MAP_XDP_BROADCAST_DEVS: &str = "MCAST_XDP_DEVS";

/// The lab's host-side veth of a pod is this prefix and the pod's name (`veth-p3` is pod
/// `p3`'s); the membership monitor names pods by it.
pub const POD_VETH_PREFIX: &str = "veth-";

/// tc program attached at ingress of each pod's host-side veth ("pod egress").
pub const PROG_POD_INGRESS: &str = "mcast_pod_ingress";
/// tc program attached at ingress of the node's vxlan device (traffic from the overlay).
pub const PROG_OVERLAY_INGRESS: &str = "mcast_overlay_ingress";

/// tc program of the seed baseline (Cilium PR 29469's replication, for benchmarks only): never
/// attached by `mcastlab dataplane attach`.
pub const PROG_SEED_POD_INGRESS: &str = "mcast_seed_pod_ingress";

/// XDP program of the devmap-broadcast experiment (benchmarks only, not part of the dataplane):
/// attached in native mode at the sender pod's host-side veth, it broadcasts IPv4 multicast to
/// every device of [`MAP_XDP_BROADCAST_DEVS`]. Never attached by `mcastlab dataplane attach`.
pub const PROG_XDP_BROADCAST: &str = "mcast_xdp_broadcast";

/// Name of the eBPF object embedded in the userspace binary.
pub const OBJECT: &str = "mcastlab";

const _: () = {
    let mut i = 0;
    while i < MAPS.len() {
        assert!(MAPS[i].len() <= 15, "map names must fit BPF_OBJ_NAME_LEN");
        i += 1;
    }
    assert!(
        MAP_SEED_GROUPS.len() <= 15,
        "map names must fit BPF_OBJ_NAME_LEN"
    );
    assert!(
        MAP_SEED_SUBSCRIBERS.len() <= 15,
        "map names must fit BPF_OBJ_NAME_LEN"
    );
    assert!(
        MAP_XDP_BROADCAST_DEVS.len() <= 15,
        "map names must fit BPF_OBJ_NAME_LEN"
    );
};
