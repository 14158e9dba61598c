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

#[cfg(feature = "user")]
mod pod {
    // SAFETY: a plain `#[repr(C)]` struct of `u32`s without implicit padding.
    unsafe impl aya::Pod for super::NodeConfig {}
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
