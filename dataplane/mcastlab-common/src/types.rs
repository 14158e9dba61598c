//! `#[repr(C)]` values stored in the maps, with their sizes pinned.

/// The only slot of the config map.
pub const CONFIG_KEY: u32 = 0;

/// Per-node settings written by `mcastlab dataplane attach`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeConfig {
    /// ifindex of the vxlan device (external / collect_md mode); 0 when the node has no tunnel.
    pub tunnel_ifindex: u32,
    /// VXLAN network identifier written into the tunnel key of remote copies and required of
    /// packets arriving from the overlay.
    pub vni: u32,
    /// `CONFIG_*` flags; none defined yet.
    pub flags: u32,
    /// Explicit padding; keep zero.
    pub _pad: u32,
}

const _: () = assert!(core::mem::size_of::<NodeConfig>() == 16);

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
