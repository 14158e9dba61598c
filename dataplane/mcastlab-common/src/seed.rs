//! The map value of the seed baseline (`mcast_seed_pod_ingress`, benchmarks only): a subscriber
//! as Cilium's multicast datapath stores it (cilium PR 29469, `struct mcast_subscriber_v4` in
//! `bpf/lib/mcast.h`), in a group's inner hash keyed by the subscriber's address. The dataplane
//! never uses it; `docs/datapath.md` says what the baseline is for.

/// One subscriber of a group in the seed baseline's inner hash (value; the key is
/// [`SeedSubscriber::address`]). Same layout as the reference's.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeedSubscriber {
    /// The subscriber's IPv4 address as a map key ([`crate::addr_key`]); also its key.
    pub address: u32,
    /// The host-side veth the subscriber is behind: its copy is cloned there.
    pub ifindex: u32,
    /// Explicit padding (the reference's `pad1`); keep zero.
    pub _pad1: u16,
    /// Explicit padding (the reference's `pad2`); keep zero.
    pub _pad2: u8,
    /// The reference's flags (`MCAST_SUB_F_REMOTE` for a remote node); the baseline holds
    /// local subscribers only and writes 0.
    pub flags: u8,
}

const _: () = assert!(core::mem::size_of::<SeedSubscriber>() == 12);

#[cfg(feature = "user")]
// SAFETY: a `#[repr(C)]` struct of integers without implicit padding (4 + 4 + 2 + 1 + 1).
unsafe impl aya::Pod for SeedSubscriber {}
