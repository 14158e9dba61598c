//! Helpers shared by the topology tests.

use std::{net::UdpSocket, time::Duration};

use netns_rs::NetNs;

/// Whether a UDP datagram sent from namespace `from` reaches a socket bound to
/// `to_addr:port` in namespace `to` (waits up to two seconds: ARP comes first).
pub fn udp_reaches(from: &str, to: &str, to_addr: &str, port: u16) -> bool {
    let in_ns = |name: &str, bind: &str| {
        NetNs::get(name)
            .unwrap()
            .run(|_| UdpSocket::bind(bind))
            .unwrap()
            .unwrap()
    };
    let receiver = in_ns(to, &format!("{to_addr}:{port}"));
    receiver
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let sender = in_ns(from, "0.0.0.0:0");
    sender
        .send_to(b"hello", format!("{to_addr}:{port}"))
        .unwrap();
    let mut buffer = [0u8; 16];
    matches!(receiver.recv(&mut buffer), Ok(5))
}
