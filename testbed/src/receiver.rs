//! A pod's receiver: a UDP socket bound to a group and joined to it with `IP_ADD_MEMBERSHIP`,
//! so the pod's kernel sends real IGMP reports (and leaves when it drops the membership).

use std::{
    collections::{BTreeMap, BTreeSet},
    io,
    mem::MaybeUninit,
    net::{Ipv4Addr, SocketAddrV4},
    time::{Duration, Instant},
};

use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

use crate::{
    netns::run_in,
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
        let deadline = Instant::now() + timeout;
        let mut buffer = [MaybeUninit::<u8>::uninit(); 65536];
        while !done(&self.report) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.socket
                .set_read_timeout(Some(left.min(Duration::from_millis(100))))?;
            match self.receive_one(&mut buffer) {
                Ok(()) => {}
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(&self.report)
    }

    /// Reads whatever is queued on the socket now, without waiting, and returns the report.
    pub fn drain(&mut self) -> io::Result<&ReceiveReport> {
        self.socket.set_nonblocking(true)?;
        let mut buffer = [MaybeUninit::<u8>::uninit(); 65536];
        let result = loop {
            match self.receive_one(&mut buffer) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(err) => break Err(err),
            }
        };
        self.socket.set_nonblocking(false)?;
        result.map(|()| &self.report)
    }

    /// Receives one datagram into the report.
    fn receive_one(&mut self, buffer: &mut [MaybeUninit<u8>]) -> io::Result<()> {
        let n = self.socket.recv(buffer)?;
        // SAFETY: recv initialized the first n bytes.
        let payload: Vec<u8> = buffer[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        self.report.record(&payload, monotonic_ns());
        Ok(())
    }

    /// Everything received so far.
    pub fn report(&self) -> &ReceiveReport {
        &self.report
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
