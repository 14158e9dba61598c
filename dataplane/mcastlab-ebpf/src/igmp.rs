//! IGMP from pods: v1/v2 reports join every source, v2 leaves leave, v3 reports are applied
//! record by record to the member's source filter (RFC 1112, RFC 2236, RFC 3376,
//! `mcastlab_common::sources`). Every IGMP message is consumed: the caller drops it. A report
//! or leave changes only the membership of the pod behind the veth it arrived on, and only if
//! its source is that pod's address or 0.0.0.0 (`pod_identity`).
//!
//! The headers are the common crate's wire views and every decision is theirs
//! (`mcastlab_common::wire`); this file loads them and keeps the loops.

use core::marker::PhantomData;

use aya_ebpf::{bindings::__sk_buff, programs::TcContext};
use mcastlab_common::{
    Reason,
    slots::Member,
    sources::RecordUpdate,
    wire::{
        igmp::{IgmpHeader, IgmpType, V3RecordHeader},
        ipv4::Ipv4Header,
    },
};

use crate::{
    checksum,
    counters::count,
    events::emit,
    group::Group,
    loops::{CONTINUE, STOP, Step, run},
    maps::{MCAST_RECORD_SCRATCH, node_config},
    membership::{self, join, leave, v1_host_heard},
    packet::{ETH_HLEN, ifindex, payload_offset},
    pod_identity,
    records::{self, Records},
};

/// Handles one IGMP message from a pod and counts what it did. The message is always consumed.
/// A BPF subprogram of its own (see `pod_ingress.rs`).
#[inline(never)]
pub fn consume(ctx: &TcContext, ip: &Ipv4Header) {
    count(Reason::IgmpHandled);
    let offset = payload_offset(ip);
    let reason = match check(ctx, ip, offset) {
        Ok(len) => apply(ctx, ip, offset, len),
        Err(reason) => Some(reason),
    };
    if let Some(reason) = reason {
        count(reason);
        if reason == Reason::TooManyRecords {
            emit(reason, Group::NONE, ip.source_key(), ifindex(ctx));
        }
    }
}

/// Checks lengths and checksum of the message at `offset`; returns its length.
#[inline(always)]
fn check(ctx: &TcContext, ip: &Ipv4Header, offset: u32) -> Result<u32, Reason> {
    let len = ip.igmp_len(ctx.len().saturating_sub(ETH_HLEN))?;
    if !checksum::verifies(ctx, offset, len) {
        return Err(Reason::BadChecksum);
    }
    Ok(len)
}

/// Applies a checked message; returns a reason to count for the message as a whole, if any
/// (joins and leaves count their own outcome).
#[inline(always)]
fn apply(ctx: &TcContext, ip: &Ipv4Header, offset: u32, len: u32) -> Option<Reason> {
    let Ok(header) = ctx.load::<IgmpHeader>(offset as usize) else {
        return Some(Reason::Malformed);
    };
    let record_limit = node_config().record_limit();
    let kind = match header.check(record_limit) {
        Ok(kind) => kind,
        Err(reason) => return Some(reason),
    };
    // Every report and leave speaks for the veth's own pod only: another source changes nothing.
    let veth = ifindex(ctx);
    let member = match pod_identity::member_address(veth, ip.source_key()) {
        Ok(address) => Member::local(address, veth),
        Err(reason) => {
            // An IGMPv3 report names its groups in records; the refusal is the message's.
            let group = match kind {
                IgmpType::V3Report => Group::NONE,
                _ => Group::v4(header.group_key()),
            };
            emit(reason, group, ip.source_key(), veth);
            return Some(reason);
        }
    };
    match kind {
        IgmpType::V1Report => {
            join(Group::v4(header.group_key()), member);
            v1_host_heard(header.group_key(), member);
            None
        }
        IgmpType::V2Report => {
            join(Group::v4(header.group_key()), member);
            None
        }
        IgmpType::V2Leave => {
            leave(Group::v4(header.group_key()), member);
            None
        }
        IgmpType::V3Report => v3_report(ctx, member, offset, len, header.num_records()),
    }
}

/// Applies an IGMPv3 report of `records` records (at most the node's record limit, checked by
/// `IgmpHeader::check`) all-or-nothing (`records.rs`).
#[inline(always)]
fn v3_report(
    ctx: &TcContext,
    member: Member,
    offset: u32,
    len: u32,
    records: u16,
) -> Option<Reason> {
    records::apply_report::<V3RecordHeader, ApplyStep>(
        ctx,
        member,
        offset + IgmpHeader::LEN as u32,
        offset + len,
        records,
    )
}

/// Second pass: applies the record at `at` (checked by the first) to the member's source
/// filter for its group, and moves past it. The record's sources are read by a third loop.
struct ApplyStep;

impl Step for ApplyStep {
    type Context = Records;

    #[inline(always)]
    fn step(_index: u32, pass: &mut Records) -> i64 {
        let at = pass.at;
        let Some(record) = records::next::<V3RecordHeader>(pass) else {
            return STOP;
        };
        apply_record(
            pass.skb,
            pass.member,
            &record,
            at + V3RecordHeader::LEN as u32,
        );
        CONTINUE
    }
}

/// Applies one checked record, whose sources start at `sources_at`, to `member`'s filter for
/// its group.
#[inline(always)]
fn apply_record(skb: *mut __sk_buff, member: Member, record: &V3RecordHeader, sources_at: u32) {
    let group = record.group_key();
    // The update lives in a per-CPU map value, off the stack (see `MCAST_RECORD_SCRATCH`).
    let Some(update) = MCAST_RECORD_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's value, used by this program run alone (tc programs do not nest).
    let update = unsafe { &mut *update };
    membership::current_filter(group, member, update.filter_mut());
    if !update.restart(record.record_type()) {
        count(Reason::RecordNoEffect);
        return;
    }
    let mut sources = Sources {
        skb,
        at: sources_at,
        update,
    };
    run::<SourceStep>(u32::from(record.num_sources()), &mut sources);
    let update = &*sources.update;
    if update.overflowed() {
        count(Reason::SourceListOverflow);
    }
    if update.has_no_effect() {
        count(Reason::RecordNoEffect);
    } else {
        membership::apply_filter(group, member, update.filter_ref());
    }
}

/// A record's sources being applied to a member's filter, shared by the loop's steps.
#[repr(C)]
struct Sources<'a> {
    /// The program's context pointer.
    skb: *mut __sk_buff,
    /// Offset of the next source address.
    at: u32,
    /// The filter being built.
    update: &'a mut RecordUpdate,
}

/// A step over a record's sources: applies the source address at `at` (inside the record,
/// checked by the first pass) and moves past it; stops once the list overflowed (later sources
/// change nothing).
struct SourceStep<'a>(PhantomData<&'a ()>);

impl<'a> Step for SourceStep<'a> {
    type Context = Sources<'a>;

    #[inline(always)]
    fn step(_index: u32, sources: &mut Sources<'a>) -> i64 {
        let Ok(source) = TcContext::new(sources.skb).load::<[u8; 4]>(sources.at as usize) else {
            return STOP;
        };
        sources.update.source(u32::from_ne_bytes(source));
        sources.at += SOURCE_LEN;
        if sources.update.overflowed() {
            STOP
        } else {
            CONTINUE
        }
    }
}

/// Length of a source address in a group record (RFC 3376 section 4.2.4).
const SOURCE_LEN: u32 = 4;
