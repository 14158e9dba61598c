//! A pod's sender: a UDP socket that sends numbered, timestamped probes to a group.

use std::{
    io,
    net::{Ipv4Addr, SocketAddrV4},
    thread,
    time::{Duration, Instant},
};

use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

use crate::{
    netns::{ifindex, run_in},
    probe::{HEADER_LEN, Probe, monotonic_ns},
};

/// What to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendOptions {
    /// Destination group.
    pub group: Ipv4Addr,
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
    if options.size < HEADER_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "size {} is below the probe header ({HEADER_LEN} bytes)",
                options.size
            ),
        ));
    }
    let socket = sender_socket(netns)?;
    let destination = SocketAddrV4::new(options.group, options.port).into();
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
        socket.send_to(&payload, &destination)?;
        sent += 1;
    }
    Ok(SendReport {
        sent,
        elapsed_us: start.elapsed().as_micros() as u64,
    })
}
