//! Offload settings of an interface through the ethtool ioctl (`ethtool -K IFACE gro|tso on|off`).
//!
//! Why the lab needs them (`PodSpec::napi`): a veth whose receiving end has GRO on runs in NAPI
//! mode, so copies sent to it queue on the veth's own ring (256 entries) instead of the per-CPU
//! backlog (`net.core.netdev_max_backlog`, 1000), which overflows at about a thousand clones of
//! one packet. Clones only take that path when TSO is off on the sending end, and the ring only
//! pushes back (instead of dropping past 256) when the sending end has a qdisc: measured on
//! 6.18 with 1024 subscribers, 258 of 1024 clones per packet succeed without one, all 1024 with
//! a pfifo qdisc.

use std::{io, os::fd::AsRawFd};

use crate::{error::Result, netlink::run_in_netns};

/// `SIOCETHTOOL` (include/uapi/linux/sockios.h).
const SIOCETHTOOL: libc::c_ulong = 0x8946;
/// `ETHTOOL_STSO`: set TCP segmentation offload (include/uapi/linux/ethtool.h).
const ETHTOOL_STSO: u32 = 0x0000_001f;
/// `ETHTOOL_SGRO`: set generic receive offload.
const ETHTOOL_SGRO: u32 = 0x0000_002c;
/// `ETHTOOL_STXCSUM`: set transmit checksum offload.
const ETHTOOL_STXCSUM: u32 = 0x0000_0017;

/// `struct ethtool_value`.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// An offload that can be switched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offload {
    /// Generic receive offload (`ethtool -K IFACE gro on|off`).
    Gro,
    /// TCP segmentation offload (`ethtool -K IFACE tso on|off`).
    Tso,
    /// Transmit checksum offload (`ethtool -K IFACE tx on|off`). A veth offloads by default:
    /// its packets leave with the L4 checksum unfinished (CHECKSUM_PARTIAL), which only an skb
    /// can carry; a packet that becomes an XDP frame on the way arrives with a bad checksum.
    TxChecksum,
}

/// Switches `offload` of `iface` in namespace `netns`.
pub fn set_offload(netns: &str, iface: &str, offload: Offload, on: bool) -> Result<()> {
    let cmd = match offload {
        Offload::Gro => ETHTOOL_SGRO,
        Offload::Tso => ETHTOOL_STSO,
        Offload::TxChecksum => ETHTOOL_STXCSUM,
    };
    let path = format!("{netns}/{iface}");
    run_in_netns(
        netns,
        "setting an offload (ethtool ioctl) of",
        &path,
        || ethtool_set(iface, cmd, u32::from(on)),
    )
}

fn ethtool_set(iface: &str, cmd: u32, data: u32) -> io::Result<()> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0")?;
    let mut value = EthtoolValue { cmd, data };
    // SAFETY: all-zero ifreq is valid.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    if iface.len() >= request.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (dst, src) in request.ifr_name.iter_mut().zip(iface.bytes()) {
        *dst = src as libc::c_char;
    }
    request.ifr_ifru.ifru_data = std::ptr::from_mut(&mut value).cast();
    // SAFETY: a valid socket, request and ethtool_value that outlive the call.
    let ret = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCETHTOOL, &mut request) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
