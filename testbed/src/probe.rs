//! The payload of testbed datagrams: who sent it, its sequence number and when.

use std::time::Duration;

/// Marks testbed datagrams ("mclb").
pub const MAGIC: u32 = 0x6d63_6c62;
/// Bytes of the probe header at the start of each payload.
pub const HEADER_LEN: usize = 24;

/// The header of one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Identifies the sender (each sender picks one).
    pub sender: u32,
    /// Sequence number, from 0.
    pub seq: u64,
    /// CLOCK_MONOTONIC at sending, in nanoseconds (one clock for every namespace of a host).
    pub sent_ns: u64,
}

impl Probe {
    /// Writes the header at the start of `payload` (at least [`HEADER_LEN`] bytes).
    pub fn write(&self, payload: &mut [u8]) {
        payload[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        payload[4..8].copy_from_slice(&self.sender.to_be_bytes());
        payload[8..16].copy_from_slice(&self.seq.to_be_bytes());
        payload[16..24].copy_from_slice(&self.sent_ns.to_be_bytes());
    }

    /// Reads the header of a datagram; `None` for anything else.
    pub fn read(payload: &[u8]) -> Option<Self> {
        if payload.len() < HEADER_LEN || payload[0..4] != MAGIC.to_be_bytes() {
            return None;
        }
        let u64_at = |at: usize| u64::from_be_bytes(payload[at..at + 8].try_into().unwrap());
        Some(Self {
            sender: u32::from_be_bytes(payload[4..8].try_into().unwrap()),
            seq: u64_at(8),
            sent_ns: u64_at(16),
        })
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32).as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let probe = Probe {
            sender: 7,
            seq: 1 << 40,
            sent_ns: 123,
        };
        let mut payload = [0u8; 64];
        probe.write(&mut payload);
        assert_eq!(Probe::read(&payload), Some(probe));
        assert_eq!(Probe::read(&payload[..10]), None);
        assert_eq!(Probe::read(&[0u8; 64]), None);
    }
}
