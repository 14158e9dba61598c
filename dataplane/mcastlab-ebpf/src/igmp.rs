//! IGMP from pods: v1/v2 reports join, v2 leaves leave, v3 reports are applied record by record
//! (RFC 1112, RFC 2236, RFC 3376). Every IGMP message is consumed: the caller drops it.

use aya_ebpf::programs::TcContext;
use mcastlab_common::{
    MAX_IGMP_LEN, MAX_IGMPV3_RECORDS, Reason,
    igmp::{
        GROUP_OFFSET, HEADER_LEN, RecordEffect, V1_MEMBERSHIP_REPORT, V2_LEAVE_GROUP,
        V2_MEMBERSHIP_REPORT, V3_MEMBERSHIP_REPORT, V3_NUM_RECORDS_OFFSET, V3_RECORD_HEADER_LEN,
        record_effect,
    },
};

use crate::{
    checksum,
    counters::count,
    membership::{join, leave},
    packet::{ETH_HLEN, Ipv4, ifindex, is_multicast},
};

/// Handles one IGMP message from a pod and counts what it did. The message is always consumed.
#[inline(always)]
pub fn consume(ctx: &TcContext, ip: &Ipv4) {
    count(Reason::IgmpHandled);
    let reason = match check(ctx, ip) {
        Ok(len) => apply(ctx, ip, ip.payload_offset(), len),
        Err(reason) => Some(reason),
    };
    if let Some(reason) = reason {
        count(reason);
    }
}

/// Checks lengths and checksum; returns the IGMP message length.
#[inline(always)]
fn check(ctx: &TcContext, ip: &Ipv4) -> Result<u32, Reason> {
    if ip.is_fragment || ip.total_len < ip.header_len + HEADER_LEN as u32 {
        return Err(Reason::Malformed);
    }
    let len = ip.total_len - ip.header_len;
    if len > MAX_IGMP_LEN || ETH_HLEN + ip.total_len > ctx.len() {
        return Err(Reason::Malformed);
    }
    if !checksum::verifies(ctx, ip.payload_offset(), len) {
        return Err(Reason::BadChecksum);
    }
    Ok(len)
}

/// Applies a checked message; returns a reason to count for the message as a whole, if any
/// (joins and leaves count their own outcome).
#[inline(always)]
fn apply(ctx: &TcContext, ip: &Ipv4, offset: u32, len: u32) -> Option<Reason> {
    let Ok(kind) = ctx.load::<u8>(offset as usize) else {
        return Some(Reason::Malformed);
    };
    match kind {
        V1_MEMBERSHIP_REPORT | V2_MEMBERSHIP_REPORT | V2_LEAVE_GROUP => {
            let Ok(group) = ctx.load::<u32>(offset as usize + GROUP_OFFSET) else {
                return Some(Reason::Malformed);
            };
            if !is_multicast(group) {
                return Some(Reason::Malformed);
            }
            if kind == V2_LEAVE_GROUP {
                leave(group, ip.source);
            } else {
                join(group, ip.source, ifindex(ctx));
            }
            None
        }
        V3_MEMBERSHIP_REPORT => v3_report(ctx, ip, offset, len),
        _ => Some(Reason::IgmpUnhandledType),
    }
}

/// One IGMPv3 group record header (RFC 3376 section 4.2.4).
struct Record {
    kind: u8,
    num_sources: u16,
    group: u32,
    /// Offset of the next record.
    next: u32,
}

/// Reads the record at `offset`; `None` when it is cut short by `end`.
#[inline(always)]
fn record_at(ctx: &TcContext, offset: u32, end: u32) -> Option<Record> {
    let header: [u8; V3_RECORD_HEADER_LEN] = ctx.load(offset as usize).ok()?;
    let aux_words = u32::from(header[1]);
    let num_sources = u16::from_be_bytes([header[2], header[3]]);
    let next = offset + V3_RECORD_HEADER_LEN as u32 + (u32::from(num_sources) + aux_words) * 4;
    if next > end {
        return None;
    }
    Some(Record {
        kind: header[0],
        num_sources,
        group: u32::from_ne_bytes([header[4], header[5], header[6], header[7]]),
        next,
    })
}

/// Applies an IGMPv3 report all-or-nothing: the record count and every record's bounds and
/// group are checked before the first change.
#[inline(always)]
fn v3_report(ctx: &TcContext, ip: &Ipv4, offset: u32, len: u32) -> Option<Reason> {
    let Ok(records) = ctx.load::<u16>(offset as usize + V3_NUM_RECORDS_OFFSET) else {
        return Some(Reason::Malformed);
    };
    let records = u16::from_be(records);
    if records > MAX_IGMPV3_RECORDS {
        return Some(Reason::TooManyRecords);
    }
    let first = offset + HEADER_LEN as u32;
    let end = offset + len;

    let mut at = first;
    for i in 0..MAX_IGMPV3_RECORDS {
        if i >= records {
            break;
        }
        let Some(record) = record_at(ctx, at, end) else {
            return Some(Reason::Malformed);
        };
        if !is_multicast(record.group) {
            return Some(Reason::Malformed);
        }
        at = record.next;
    }

    let subscriber_ifindex = ifindex(ctx);
    let mut at = first;
    for i in 0..MAX_IGMPV3_RECORDS {
        if i >= records {
            break;
        }
        let Some(record) = record_at(ctx, at, end) else {
            // Checked above; only a concurrent change of the packet could get here.
            return Some(Reason::Malformed);
        };
        match record_effect(record.kind, record.num_sources) {
            RecordEffect::Join => join(record.group, ip.source, subscriber_ifindex),
            RecordEffect::Leave => leave(record.group, ip.source),
            RecordEffect::NoEffect => count(Reason::RecordNoEffect),
        }
        at = record.next;
    }
    None
}
