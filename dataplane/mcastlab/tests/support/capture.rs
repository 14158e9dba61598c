//! Captures frames arriving at an interface with an `AF_PACKET` socket, waiting on conditions
//! with deadlines.

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

/// A capture of incoming frames on one interface of the calling thread's namespace.
pub struct Capture {
    fd: OwnedFd,
}

impl Capture {
    /// Opens a capture on interface `ifindex` (of the current network namespace).
    pub fn open(ifindex: u32) -> io::Result<Self> {
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2).
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                i32::from(protocol),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: all-zero sockaddr_ll is valid.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = protocol;
        address.sll_ifindex = ifindex as i32;
        // SAFETY: address is a valid sockaddr_ll of the given size.
        let ret = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                std::ptr::from_ref(&address).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { fd })
    }

    /// Incoming frames read until `done(frames)` holds or `timeout` passes; returns them all.
    pub fn until(&self, timeout: Duration, done: impl Fn(&[Vec<u8>]) -> bool) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut frames = Vec::new();
        loop {
            self.drain(&mut frames);
            if done(&frames) || Instant::now() >= deadline {
                return frames;
            }
            let mut poll = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut poll, 1, left.as_millis().min(100) as i32) };
        }
    }

    /// What has arrived so far, without waiting.
    pub fn now(&self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        self.drain(&mut frames);
        frames
    }

    fn drain(&self, frames: &mut Vec<Vec<u8>>) {
        loop {
            let mut buffer = vec![0u8; 2048];
            // SAFETY: all-zero sockaddr_ll is valid.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut from_len = size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: buffer and address are valid for their lengths.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    0,
                    std::ptr::from_mut(&mut from).cast(),
                    &mut from_len,
                )
            };
            if n < 0 {
                return;
            }
            if from.sll_pkttype != libc::PACKET_OUTGOING {
                buffer.truncate(n as usize);
                frames.push(buffer);
            }
        }
    }
}
