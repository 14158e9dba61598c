//! A pod's sender: a UDP socket that sends numbered, timestamped probes to a group (IPv4, or
//! IPv6 out of one interface).

use std::{
    io,
    net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6},
    thread,
    time::{Duration, Instant},
};

use serde::Serialize;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::{
    netns::{ifindex, run_in},
    probe::{HEADER_LEN, Probe, monotonic_ns},
};

/// What to send: to an IPv4 group ([`send`]), or an IPv6 one (`SendOptions<Ipv6Addr>`,
/// [`send6`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendOptions<G = Ipv4Addr> {
    /// Destination group.
    pub group: G,
    /// Destination UDP port.
    pub port: u16,
    /// Number of datagrams.
    pub count: u64,
    /// Datagrams per second; `None` sends as fast as the socket takes them.
    pub rate: Option<u64>,
    /// UDP payload size in bytes (at least the probe header).
    pub size: usize,
    /// The sender's identity in the probes.
    pub sender: u32,
    /// First sequence number.
    pub first_seq: u64,
}

/// What a sender did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SendReport {
    /// Datagrams the socket accepted.
    pub sent: u64,
    /// Wall time of the whole send, in microseconds.
    pub elapsed_us: u64,
}

/// A UDP socket for sending from namespace `netns`: multicast TTL 1, and no local loopback of
/// multicast, so any copy the sending pod receives came back through the dataplane.
pub fn sender_socket(netns: &str) -> io::Result<Socket> {
    run_in(netns, || {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_multicast_ttl_v4(1)?;
        socket.set_multicast_loop_v4(false)?;
        Ok(socket)
    })
}

/// An IPv6 UDP socket for sending from namespace `netns` out of interface `iface`
/// (`IPV6_MULTICAST_IF`): multicast Hop Limit 1, and no local loopback of multicast, as
/// [`sender_socket`].
pub fn sender_socket_v6(netns: &str, iface: &str) -> io::Result<Socket> {
    run_in(netns, || {
        let ifindex = ifindex(iface)?;
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_only_v6(true)?;
        socket.set_multicast_if_v6(ifindex)?;
        socket.set_multicast_hops_v6(1)?;
        socket.set_multicast_loop_v6(false)?;
        Ok(socket)
    })
}

/// Sends from namespace `netns` as `options` say.
pub fn send(netns: &str, options: &SendOptions) -> io::Result<SendReport> {
    check_size(options.size)?;
    let socket = sender_socket(netns)?;
    let destination = SocketAddrV4::new(options.group, options.port).into();
    send_probes(&socket, &destination, options)
}

/// Sends from namespace `netns` out of interface `iface` as `options` say, to an IPv6 group:
/// the same probes as [`send`], from a [`sender_socket_v6`] (the interface must be named: a
/// pod has no IPv6 default route).
pub fn send6(netns: &str, iface: &str, options: &SendOptions<Ipv6Addr>) -> io::Result<SendReport> {
    check_size(options.size)?;
    let socket = sender_socket_v6(netns, iface)?;
    let destination = SocketAddrV6::new(options.group, options.port, 0, 0).into();
    send_probes(&socket, &destination, options)
}

/// Refuses a payload too small for the probe header.
fn check_size(size: usize) -> io::Result<()> {
    if size < HEADER_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("size {size} is below the probe header ({HEADER_LEN} bytes)"),
        ));
    }
    Ok(())
}

/// Sends `options.count` probes on `socket` to `destination` at `options.rate`.
fn send_probes<G>(
    socket: &Socket,
    destination: &SockAddr,
    options: &SendOptions<G>,
) -> io::Result<SendReport> {
    let interval = options
        .rate
        .filter(|rate| *rate > 0)
        .map(|rate| Duration::from_secs_f64(1.0 / rate as f64));
    let start = Instant::now();
    let mut payload = vec![0u8; options.size];
    let mut sent = 0;
    for i in 0..options.count {
        if let Some(interval) = interval {
            let due = start + interval.mul_f64(i as f64);
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
        }
        Probe {
            sender: options.sender,
            seq: options.first_seq + i,
            sent_ns: monotonic_ns(),
        }
        .write(&mut payload);
        socket.send_to(&payload, destination)?;
        sent += 1;
    }
    Ok(SendReport {
        sent,
        elapsed_us: start.elapsed().as_micros() as u64,
    })
}
