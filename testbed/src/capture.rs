//! Captures frames arriving at an interface with an `AF_PACKET` socket, waiting on conditions
//! with deadlines. A capture sees what reaches a pod at layer 2, whether or not the pod's
//! kernel would deliver it to a socket: the witness for "this pod got nothing".

use std::{
    io,
    net::Ipv4Addr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use crate::{
    frame::ETH_HLEN,
    netns::{ifindex, run_in},
};

/// Receive buffer of a capture, in bytes.
const CAPTURE_BUFFER: libc::c_int = 32 << 20;

/// Offset of the IPv4 destination in an Ethernet frame.
const IPV4_DESTINATION: usize = ETH_HLEN + 16;

/// Whether `frame` is an IPv4 packet to `destination`.
pub fn is_ipv4_to(frame: &[u8], destination: Ipv4Addr) -> bool {
    frame.len() >= IPV4_DESTINATION + 4
        && frame[12..14] == [0x08, 0x00]
        && frame[IPV4_DESTINATION..IPV4_DESTINATION + 4] == destination.octets()
}

/// Bytes of a UDP header (RFC 768) and of a VXLAN header (RFC 7348 section 5).
const UDP_HLEN: usize = 8;
const VXLAN_HLEN: usize = 8;
/// IP protocol number of UDP.
const IPPROTO_UDP: u8 = 17;

/// Whether `frame` is a VXLAN packet (IPv4, UDP to `port`; RFC 7348) whose inner frame is an
/// IPv4 packet to `destination`: what an underlay capture sees of a copy sent over the overlay.
pub fn is_vxlan_to(frame: &[u8], port: u16, destination: Ipv4Addr) -> bool {
    if frame.len() < ETH_HLEN + 20
        || frame[12..14] != [0x08, 0x00]
        || frame[ETH_HLEN + 9] != IPPROTO_UDP
    {
        return false;
    }
    let udp = ETH_HLEN + usize::from(frame[ETH_HLEN] & 0x0f) * 4;
    let inner = udp + UDP_HLEN + VXLAN_HLEN;
    frame.len() >= udp + UDP_HLEN
        && frame[udp + 2..udp + 4] == port.to_be_bytes()
        && frame
            .get(inner..)
            .is_some_and(|inner| is_ipv4_to(inner, destination))
}

/// A capture of incoming frames on one interface of the calling thread's namespace.
pub struct Capture {
    fd: OwnedFd,
}

impl Capture {
    /// Opens a capture on interface `iface` of namespace `netns`.
    pub fn open_in(netns: &str, iface: &str) -> io::Result<Self> {
        run_in(netns, || Self::open(ifindex(iface)?))
    }

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
        // Room for bursts of a thousand copies (needs root; the default stays otherwise).
        let size: libc::c_int = CAPTURE_BUFFER;
        // SAFETY: a valid int option.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                std::ptr::from_ref(&size).cast(),
                size_of::<libc::c_int>() as u32,
            )
        };
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

    /// Waits until `count` frames to `destination` arrived or `timeout` passed; returns how many.
    pub fn wait_count_to(&self, destination: Ipv4Addr, count: usize, timeout: Duration) -> usize {
        let matching = |frames: &[Vec<u8>]| {
            frames
                .iter()
                .filter(|frame| is_ipv4_to(frame, destination))
                .count()
        };
        matching(&self.until(timeout, |frames| matching(frames) >= count))
    }

    /// How many frames to `destination` have arrived so far, without waiting.
    pub fn count_to(&self, destination: Ipv4Addr) -> usize {
        self.now()
            .iter()
            .filter(|frame| is_ipv4_to(frame, destination))
            .count()
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
