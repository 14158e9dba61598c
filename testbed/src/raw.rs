//! Sends whole Ethernet frames from a pod's interface with an `AF_PACKET` socket: exact bytes,
//! wrong lengths and checksums included (a raw IP socket would fix those up).

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use crate::netns::{ifindex, run_in};

/// Sends each frame once out of `iface` in namespace `netns`.
pub fn send_frames(netns: &str, iface: &str, frames: &[Vec<u8>]) -> io::Result<()> {
    run_in(netns, || {
        let ifindex = ifindex(iface)?;
        // SAFETY: plain socket(2); protocol 0 sends only.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: all-zero sockaddr_ll is valid.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_ifindex = ifindex as i32;
        address.sll_halen = 6;
        for frame in frames {
            address.sll_addr[..6].copy_from_slice(&frame[..6]);
            // SAFETY: frame and address are valid for their lengths.
            let sent = unsafe {
                libc::sendto(
                    fd.as_raw_fd(),
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    std::ptr::from_ref(&address).cast(),
                    size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            if sent < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    })
}
