//! The reference dataplane's limits (the same as Cilium's multicast MVP, cilium PR 29469).

/// Most multicast groups the dataplane holds (entries in the outer group map).
pub const MAX_GROUPS: u32 = 1024;

/// Most subscribers one group holds (member slots of each group's fan-out list, see
/// [`crate::slots`]), and the capacity a group gets unless `group add --capacity` asks for less.
pub const MAX_SUBSCRIBERS_PER_GROUP: u32 = 1024;

/// Most pod identities a node holds (entries of the pod map, one per host-side veth); above the
/// 1024 receiver pods of the largest benchmark plus its senders.
pub const MAX_PODS: u32 = 4096;

/// Most group records an IGMPv3 report may carry unless the node is set otherwise
/// ([`crate::NodeConfig::max_records`]); a report with more is rejected whole. Cilium's
/// multicast datapath has the same fixed limit.
pub const MAX_IGMPV3_RECORDS: u16 = 24;

/// The MTU a report is sized for: Ethernet's (RFC 894).
pub const REPORT_MTU: u16 = 1500;

/// An IPv4 header with the Router Alert option every IGMPv3 report carries (RFC 3376 section
/// 4: "sent with ... the IP Router Alert option"; RFC 2113): 20 bytes and a 4-byte option.
pub const IPV4_ROUTER_ALERT_HEADER_LEN: u16 = 24;

/// The IGMPv3 report header before its records: Type, Reserved, Checksum, Reserved, Number of
/// Group Records (RFC 3376 section 4.2).
pub const IGMPV3_REPORT_HEADER_LEN: u16 = 8;

/// The shortest IGMPv3 group record: Record Type, Aux Data Len, Number of Sources and Multicast
/// Address, with no sources and no auxiliary data (RFC 3376 section 4.2.4).
pub const IGMPV3_MIN_RECORD_LEN: u16 = 8;

/// Most group records one report on a [`REPORT_MTU`] link can hold (the layout: RFC 3376
/// section 4.2; a host sends what does not fit in more reports, section 4.2.16),
/// (1500 - 24 - 8) / 8 = 183: the highest a node's record limit
/// ([`crate::NodeConfig::max_records`]) may be set to.
pub const MAX_IGMPV3_RECORDS_PER_MTU: u16 =
    (REPORT_MTU - IPV4_ROUTER_ALERT_HEADER_LEN - IGMPV3_REPORT_HEADER_LEN) / IGMPV3_MIN_RECORD_LEN;

const _: () = assert!(MAX_IGMPV3_RECORDS_PER_MTU == 183);
const _: () = assert!(MAX_IGMPV3_RECORDS <= MAX_IGMPV3_RECORDS_PER_MTU);

/// Number of slots in the reason-counter array: room for codes that do not exist yet.
pub const REASON_SLOTS: u32 = 64;

/// Longest IGMP message (in bytes) whose checksum the dataplane verifies; longer ones are malformed.
///
/// Bounds the checksum loop for the verifier. An IGMPv3 report of 24 records with no sources is
/// 200 bytes; 1480 is everything an unfragmented IGMP message can be on a 1500-byte MTU.
pub const MAX_IGMP_LEN: u32 = 1480;

/// Longest MLD message (in bytes) whose checksum the dataplane verifies; longer ones are
/// malformed. Everything an unfragmented MLD message can be on a [`REPORT_MTU`] link: 1500
/// less the IPv6 header (40, RFC 8200 section 3) and the Hop-by-Hop header with Router Alert
/// (8, RFC 2711). An MLDv2 report of 24 records with no sources is 488 bytes.
pub const MAX_MLD_LEN: u32 = REPORT_MTU as u32 - 40 - 8;

const _: () = assert!(MAX_MLD_LEN == 1452);

/// The shortest MLDv2 multicast address record: Record Type, Aux Data Len, Number of Sources
/// and Multicast Address, with no sources and no auxiliary data (RFC 3810 section 5.2.4).
pub const MLDV2_MIN_RECORD_LEN: u16 = 20;

/// Most multicast address records one MLDv2 report on a [`REPORT_MTU`] link can hold (the
/// layout: RFC 3810 section 5.2; a node sends what does not fit in more reports, section
/// 5.2.15): (1452 - 8) / 20 = 72. A node's record limit above it can never be reached by MLD.
pub const MAX_MLDV2_RECORDS_PER_MTU: u16 = (MAX_MLD_LEN as u16 - 8) / MLDV2_MIN_RECORD_LEN;

const _: () = assert!(MAX_MLDV2_RECORDS_PER_MTU == 72);
const _: () = assert!(MAX_IGMPV3_RECORDS <= MAX_MLDV2_RECORDS_PER_MTU);

/// Minimum kernel version of the dataplane: `bpf_for_each_map_elem` (5.13), which replication
/// walks a group's list with and which stands in for `bpf_loop` before 5.17 (see
/// [`MIN_KERNEL_BPF_LOOP`]); atomics on map values (5.12) come before it. Groups are arrays with
/// BTF of their own, so kernels before 6.2 take them into the BTF-defined group map too (they
/// compare `timer_off`, which a map without BTF never matches).
pub const MIN_KERNEL: (u32, u32) = (5, 13);

/// The kernel that brought `bpf_loop`, which the dataplane's loops (the fan-out list's scans,
/// the passes over a report's records and a record's sources) run in where the kernel has it
/// (probed at load, not read from the version). Before it, each loop is a
/// `bpf_for_each_map_elem` over an array of [`MAX_LOOP_STEPS`] entries that stops at the
/// loop's count.
pub const MIN_KERNEL_BPF_LOOP: (u32, u32) = (5, 17);

/// Most steps of any loop of the dataplane: a scan of a group's slots (its capacity, at most
/// [`MAX_SUBSCRIBERS_PER_GROUP`]), a pass over a report's records (at most
/// [`MAX_IGMPV3_RECORDS_PER_MTU`]) or over a record's sources (at most a quarter of
/// [`MAX_IGMP_LEN`]). The length of the array that stands in for `bpf_loop` before 5.17.
pub const MAX_LOOP_STEPS: u32 = MAX_SUBSCRIBERS_PER_GROUP;

const _: () = assert!(MAX_IGMPV3_RECORDS_PER_MTU as u32 <= MAX_LOOP_STEPS);
const _: () = assert!(MAX_IGMP_LEN / 4 <= MAX_LOOP_STEPS);

/// Minimum kernel version for attaching with TCX links, which mcastlab pins so the datapath
/// outlives the command that attached it.
pub const MIN_KERNEL_TCX: (u32, u32) = (6, 6);

/// Oldest kernel whose veth, with NAPI delivery and a qdisc on the host end (`napi: true`
/// pods), pushes back on the sender when a pod's ring is full, so that a 1024-copy fan-out
/// loses nothing: the oldest the kernel matrix shows lossless (Debian's 6.12; its 6.1 drops
/// about a tenth of the copies).
pub const MIN_KERNEL_VETH_PUSH_BACK: (u32, u32) = (6, 12);
