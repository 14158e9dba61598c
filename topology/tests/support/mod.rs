//! Helpers shared by the topology tests.

use std::{
    ffi::CString,
    net::{Ipv6Addr, SocketAddrV6, UdpSocket},
    time::Duration,
};

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

/// Whether a UDP datagram sent from namespace `from` out of `from_iface` reaches a socket bound
/// to link-local `[to_addr%to_iface]:port` in namespace `to` (waits up to two seconds).
pub fn udp6_link_local_reaches(
    from: &str,
    from_iface: &str,
    to: &str,
    to_iface: &str,
    to_addr: Ipv6Addr,
    port: u16,
) -> bool {
    let in_ns = |name: &str, iface: &str, address: Ipv6Addr, port: u16| {
        NetNs::get(name)
            .unwrap()
            .run(|_| {
                let iface = CString::new(iface).unwrap();
                // SAFETY: a valid NUL-terminated name.
                let index = unsafe { libc::if_nametoindex(iface.as_ptr()) };
                assert_ne!(index, 0, "no interface {iface:?} in {name}");
                UdpSocket::bind(SocketAddrV6::new(address, port, 0, index))
                    .map(|socket| (socket, index))
            })
            .unwrap()
            .unwrap()
    };
    let (receiver, _) = in_ns(to, to_iface, to_addr, port);
    receiver
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let (sender, index) = in_ns(from, from_iface, Ipv6Addr::UNSPECIFIED, 0);
    sender
        .send_to(b"hello", SocketAddrV6::new(to_addr, port, 0, index))
        .unwrap();
    let mut buffer = [0u8; 16];
    matches!(receiver.recv(&mut buffer), Ok(5))
}
