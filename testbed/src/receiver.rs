//! A pod's receiver: a UDP socket bound to a group and joined to it with `IP_ADD_MEMBERSHIP`,
//! so the pod's kernel sends real IGMP reports (and leaves when it drops the membership); and
//! its IPv6 twin, joined with `IPV6_JOIN_GROUP` or, for one source, `MCAST_JOIN_SOURCE_GROUP`
//! (RFC 3678 section 5.1), so the kernel sends real MLD.

use std::{
    collections::{BTreeMap, BTreeSet},
    io,
    mem::MaybeUninit,
    net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6},
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

use crate::{
    netns::{ifindex, run_in},
    probe::{Probe, monotonic_ns},
};

/// What a receiver got.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReceiveReport {
    /// Testbed datagrams received, duplicates included.
    pub received: u64,
    /// Distinct (sender, sequence) pairs.
    pub unique: u64,
    /// Datagrams seen before (same sender and sequence).
    pub duplicates: u64,
    /// Datagrams that were not testbed probes.
    pub foreign: u64,
    /// Distinct sequence numbers per sender.
    pub per_sender: BTreeMap<u32, u64>,
    /// Smallest one-way latency, in microseconds.
    pub latency_min_us: Option<u64>,
    /// Mean one-way latency, in microseconds.
    pub latency_mean_us: Option<u64>,
    /// Largest one-way latency, in microseconds.
    pub latency_max_us: Option<u64>,
    #[serde(skip)]
    seen: BTreeSet<(u32, u64)>,
    #[serde(skip)]
    latency_sum_ns: u128,
    #[serde(skip)]
    latencies_ns: Vec<u64>,
}

impl ReceiveReport {
    fn record(&mut self, payload: &[u8], now_ns: u64) {
        let Some(probe) = Probe::read(payload) else {
            self.foreign += 1;
            return;
        };
        self.received += 1;
        if !self.seen.insert((probe.sender, probe.seq)) {
            self.duplicates += 1;
            return;
        }
        self.unique += 1;
        *self.per_sender.entry(probe.sender).or_default() += 1;
        let latency_ns = now_ns.saturating_sub(probe.sent_ns);
        self.latency_sum_ns += u128::from(latency_ns);
        self.latencies_ns.push(latency_ns);
        let latency_us = latency_ns / 1000;
        self.latency_min_us = Some(
            self.latency_min_us
                .map_or(latency_us, |m| m.min(latency_us)),
        );
        self.latency_max_us = Some(
            self.latency_max_us
                .map_or(latency_us, |m| m.max(latency_us)),
        );
        self.latency_mean_us = Some((self.latency_sum_ns / u128::from(self.unique) / 1000) as u64);
    }

    /// The one-way latency below which a fraction `quantile` (0 to 1) of the distinct
    /// datagrams arrived, in microseconds (nearest rank).
    pub fn latency_quantile_us(&self, quantile: f64) -> Option<f64> {
        let mut sorted = self.latencies_ns.clone();
        sorted.sort_unstable();
        let last = sorted.len().checked_sub(1)?;
        let rank = (quantile.clamp(0.0, 1.0) * last as f64).round() as usize;
        Some(sorted[rank] as f64 / 1000.0)
    }

    /// Whether (sender, seq) arrived.
    pub fn has(&self, sender: u32, seq: u64) -> bool {
        self.seen.contains(&(sender, seq))
    }
}

/// A socket in a pod that reads testbed probes: [`Receiver`] (IPv4) or [`Receiver6`] (IPv6),
/// for code that collects from either.
pub trait Receive {
    /// Reads datagrams until `done(report)` holds or `timeout` passes; returns the report of
    /// everything received since the receiver was made.
    fn receive_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&ReceiveReport) -> bool,
    ) -> io::Result<&ReceiveReport>;
}

impl Receive for Receiver {
    fn receive_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&ReceiveReport) -> bool,
    ) -> io::Result<&ReceiveReport> {
        Receiver::receive_until(self, timeout, done)
    }
}

impl Receive for Receiver6 {
    fn receive_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&ReceiveReport) -> bool,
    ) -> io::Result<&ReceiveReport> {
        Receiver6::receive_until(self, timeout, done)
    }
}

/// A joined receiver socket in a pod.
pub struct Receiver {
    socket: Socket,
    group: Ipv4Addr,
    /// The one source the socket asks for (a source-specific join), or `None` for every source.
    source: Option<Ipv4Addr>,
    report: ReceiveReport,
}

impl Receiver {
    /// In namespace `netns`: binds `group:port` and joins `group` (the kernel reports it).
    pub fn join(netns: &str, group: Ipv4Addr, port: u16) -> io::Result<Self> {
        let receiver = Self::bind(netns, group, port)?;
        receiver.rejoin()?;
        Ok(receiver)
    }

    /// In namespace `netns`: binds `group:port` and joins `group` for datagrams from `source`
    /// only (`IP_ADD_SOURCE_MEMBERSHIP`, RFC 3678): the kernel reports INCLUDE{source} (an
    /// IGMPv3 `ALLOW_NEW_SOURCES` record, or `CHANGE_TO_INCLUDE_MODE` after other sources).
    pub fn join_source(
        netns: &str,
        source: Ipv4Addr,
        group: Ipv4Addr,
        port: u16,
    ) -> io::Result<Self> {
        let mut receiver = Self::bind(netns, group, port)?;
        receiver.source = Some(source);
        receiver.rejoin()?;
        Ok(receiver)
    }

    /// In namespace `netns`: binds `group:port` without joining. Such a "spy" receives only
    /// what is delivered to its pod although it never asked for the group.
    pub fn bind(netns: &str, group: Ipv4Addr, port: u16) -> io::Result<Self> {
        let socket = run_in(netns, || {
            let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
            socket.set_reuse_address(true)?;
            socket.bind(&SocketAddrV4::new(group, port).into())?;
            Ok(socket)
        })?;
        Ok(Self {
            socket,
            group,
            source: None,
            report: ReceiveReport::default(),
        })
    }

    /// Drops the membership: the kernel sends a leave (v2) or a TO_IN{} report (v3); for a
    /// source-specific join, a BLOCK{source} report when it was the interface's last source.
    pub fn leave(&self) -> io::Result<()> {
        match self.source {
            Some(source) => self
                .socket
                .leave_ssm_v4(&source, &self.group, &Ipv4Addr::UNSPECIFIED),
            None => self
                .socket
                .leave_multicast_v4(&self.group, &Ipv4Addr::UNSPECIFIED),
        }
    }

    /// Joins the group (again, after [`Receiver::leave`]), for its one source if it has one.
    pub fn rejoin(&self) -> io::Result<()> {
        match self.source {
            Some(source) => self
                .socket
                .join_ssm_v4(&source, &self.group, &Ipv4Addr::UNSPECIFIED),
            None => self
                .socket
                .join_multicast_v4(&self.group, &Ipv4Addr::UNSPECIFIED),
        }
    }

    /// Reads datagrams until `done(report)` holds or `timeout` passes; returns the report of
    /// everything received since the receiver was made.
    pub fn receive_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&ReceiveReport) -> bool,
    ) -> io::Result<&ReceiveReport> {
        receive_until(&self.socket, &mut self.report, timeout, done)
    }

    /// Reads whatever is queued on the socket now, without waiting, and returns the report.
    pub fn drain(&mut self) -> io::Result<&ReceiveReport> {
        drain(&self.socket, &mut self.report)
    }

    /// Everything received so far.
    pub fn report(&self) -> &ReceiveReport {
        &self.report
    }
}

/// Reads datagrams from `socket` into `report` until `done(report)` holds or `timeout` passes.
fn receive_until<'a>(
    socket: &Socket,
    report: &'a mut ReceiveReport,
    timeout: Duration,
    done: impl Fn(&ReceiveReport) -> bool,
) -> io::Result<&'a ReceiveReport> {
    let deadline = Instant::now() + timeout;
    let mut buffer = [MaybeUninit::<u8>::uninit(); 65536];
    while !done(report) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        socket.set_read_timeout(Some(left.min(Duration::from_millis(100))))?;
        match receive_one(socket, report, &mut buffer) {
            Ok(()) => {}
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(report)
}

/// Reads whatever is queued on `socket` now into `report`, without waiting.
fn drain<'a>(socket: &Socket, report: &'a mut ReceiveReport) -> io::Result<&'a ReceiveReport> {
    socket.set_nonblocking(true)?;
    let mut buffer = [MaybeUninit::<u8>::uninit(); 65536];
    let result = loop {
        match receive_one(socket, report, &mut buffer) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break Ok(()),
            Err(err) => break Err(err),
        }
    };
    socket.set_nonblocking(false)?;
    result.map(|()| &*report)
}

/// Receives one datagram from `socket` into `report`.
fn receive_one(
    socket: &Socket,
    report: &mut ReceiveReport,
    buffer: &mut [MaybeUninit<u8>],
) -> io::Result<()> {
    let n = socket.recv(buffer)?;
    // SAFETY: recv initialized the first n bytes.
    let payload: Vec<u8> = buffer[..n]
        .iter()
        .map(|b| unsafe { b.assume_init() })
        .collect();
    report.record(&payload, monotonic_ns());
    Ok(())
}

/// A joined IPv6 receiver socket in a pod: the kernel reports its membership with MLD (MLDv2
/// unless an MLDv1 querier was heard, or `force_mld_version` says otherwise).
pub struct Receiver6 {
    socket: Socket,
    group: Ipv6Addr,
    ifindex: u32,
    source: Option<Ipv6Addr>,
    report: ReceiveReport,
}

impl Receiver6 {
    /// In namespace `netns`: binds `[group]:port` and joins `group` on interface `iface` for
    /// any source (`IPV6_JOIN_GROUP`; the kernel reports EXCLUDE({}), RFC 3810 section 5.2.12).
    pub fn join(netns: &str, iface: &str, group: Ipv6Addr, port: u16) -> io::Result<Self> {
        let receiver = Self::bind(netns, iface, group, port)?;
        receiver.rejoin()?;
        Ok(receiver)
    }

    /// In namespace `netns`: binds `[group]:port` and joins (`source`, `group`) on interface
    /// `iface` (`MCAST_JOIN_SOURCE_GROUP`, RFC 3678 section 5.1; the kernel reports
    /// INCLUDE({source})).
    pub fn join_source(
        netns: &str,
        iface: &str,
        group: Ipv6Addr,
        source: Ipv6Addr,
        port: u16,
    ) -> io::Result<Self> {
        let mut receiver = Self::bind(netns, iface, group, port)?;
        receiver.source = Some(source);
        receiver.rejoin()?;
        Ok(receiver)
    }

    /// In namespace `netns`: binds `[group]:port` (scoped to interface `iface`) without
    /// joining: a spy, as [`Receiver::bind`].
    pub fn bind(netns: &str, iface: &str, group: Ipv6Addr, port: u16) -> io::Result<Self> {
        let (socket, ifindex) = run_in(netns, || {
            let ifindex = ifindex(iface)?;
            let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
            socket.set_only_v6(true)?;
            socket.set_reuse_address(true)?;
            socket.bind(&SocketAddrV6::new(group, port, 0, ifindex).into())?;
            Ok((socket, ifindex))
        })?;
        Ok(Self {
            socket,
            group,
            ifindex,
            source: None,
            report: ReceiveReport::default(),
        })
    }

    /// Drops the membership: the kernel reports TO_IN({}) for an any-source join, BLOCK({S})
    /// for a source-specific one (RFC 3810 section 6.1).
    pub fn leave(&self) -> io::Result<()> {
        match self.source {
            None => self.socket.leave_multicast_v6(&self.group, self.ifindex),
            Some(source) => self.source_membership(libc::MCAST_LEAVE_SOURCE_GROUP, source),
        }
    }

    /// Joins again, after [`Receiver6::leave`] (or first, after [`Receiver6::bind`]).
    pub fn rejoin(&self) -> io::Result<()> {
        match self.source {
            None => self.socket.join_multicast_v6(&self.group, self.ifindex),
            Some(source) => self.source_membership(libc::MCAST_JOIN_SOURCE_GROUP, source),
        }
    }

    /// `setsockopt(IPPROTO_IPV6, option, group_source_req)` for (`source`, group) on the
    /// interface (RFC 3678 section 5.1; socket2 has it for IPv4 only).
    fn source_membership(&self, option: libc::c_int, source: Ipv6Addr) -> io::Result<()> {
        // SAFETY: group_source_req is plain data; all-zero is valid.
        let mut request: libc::group_source_req = unsafe { std::mem::zeroed() };
        request.gsr_interface = self.ifindex;
        write_sockaddr_in6(&mut request.gsr_group, self.group);
        write_sockaddr_in6(&mut request.gsr_source, source);
        // SAFETY: a valid group_source_req of the given size.
        let ret = unsafe {
            libc::setsockopt(
                self.socket.as_raw_fd(),
                libc::IPPROTO_IPV6,
                option,
                std::ptr::from_ref(&request).cast(),
                size_of::<libc::group_source_req>() as libc::socklen_t,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads datagrams until `done(report)` holds or `timeout` passes; returns the report of
    /// everything received since the receiver was made.
    pub fn receive_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&ReceiveReport) -> bool,
    ) -> io::Result<&ReceiveReport> {
        receive_until(&self.socket, &mut self.report, timeout, done)
    }

    /// Reads whatever is queued on the socket now, without waiting, and returns the report.
    pub fn drain(&mut self) -> io::Result<&ReceiveReport> {
        drain(&self.socket, &mut self.report)
    }

    /// Everything received so far.
    pub fn report(&self) -> &ReceiveReport {
        &self.report
    }
}

/// Writes `address` as a `sockaddr_in6` (port 0, no scope) into `storage`.
fn write_sockaddr_in6(storage: &mut libc::sockaddr_storage, address: Ipv6Addr) {
    // SAFETY: sockaddr_in6 is plain data; all-zero is valid.
    let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sin6.sin6_addr.s6_addr = address.octets();
    // SAFETY: sockaddr_storage is larger than sockaddr_in6 and suitably aligned for it.
    unsafe {
        std::ptr::from_mut(storage)
            .cast::<libc::sockaddr_in6>()
            .write(sin6);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_are_nearest_rank_over_distinct_probes() {
        let mut report = ReceiveReport::default();
        assert_eq!(report.latency_quantile_us(0.5), None);
        let mut payload = [0u8; crate::probe::HEADER_LEN];
        for seq in 0..100u64 {
            Probe {
                sender: 1,
                seq,
                sent_ns: 0,
            }
            .write(&mut payload);
            // Probe `seq` took (seq + 1) µs; a duplicate does not count twice.
            report.record(&payload, (seq + 1) * 1000);
            report.record(&payload, 999_000);
        }
        assert_eq!(report.latency_quantile_us(0.0), Some(1.0));
        assert_eq!(report.latency_quantile_us(0.5), Some(51.0));
        assert_eq!(report.latency_quantile_us(0.99), Some(99.0));
        assert_eq!(report.latency_quantile_us(1.0), Some(100.0));
        assert_eq!(report.duplicates, 100);
    }
}
