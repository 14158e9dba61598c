//! MLD from pods (RFC 2710, RFC 3810), the IPv6 counterpart of `igmp.rs`: MLDv1 reports join,
//! dones leave, MLDv2 reports are applied record by record as any-source memberships (their
//! sources are not kept). Every MLD message is consumed: the caller drops it. A report or done
//! changes only the membership of the pod behind the veth it arrived on, and only if it carries
//! the Hop-by-Hop Router Alert, a valid checksum and a link-local (or `::`) source.
//!
//! The headers are the common crate's wire views and every decision is theirs
//! (`mcastlab_common::wire::{ipv6, mld}`); this file loads them and keeps the loops.

use core::ffi::c_void;

use aya_ebpf::{bindings::__sk_buff, programs::TcContext};
use mcastlab_common::{
    CONFIG_KEY, MAX_IGMP_LEN, MAX_MLD_LEN, NodeConfig, Reason,
    igmp::RecordEffect,
    slots::Member,
    wire::{
        checksum::add_ipv6_pseudo_header,
        ipv6::{self, HopByHopHeader, Ipv6Header, NEXT_HEADER_HOP_BY_HOP, NEXT_HEADER_ICMPV6},
        mld::{self, MldHeader, MldType, V1Message, V2RecordHeader},
    },
};

use crate::{
    checksum,
    counters::count,
    events::emit,
    fanout::{CONTINUE, STOP, run},
    group::Group,
    maps::MCAST_CONFIG,
    membership::{join, leave},
    packet::{self, ETH_HLEN, ifindex},
    pod_identity,
};

// The checksum loop's bound covers the longest MLD message.
const _: () = assert!(MAX_MLD_LEN <= MAX_IGMP_LEN);

/// Where the IPv6 header starts.
const IPV6_OFFSET: u32 = ETH_HLEN;
/// Where the first header after the fixed IPv6 header starts.
const AFTER_IPV6: u32 = IPV6_OFFSET + Ipv6Header::LEN as u32;

/// Where the MLD message of an IPv6 packet `ip` (ICMPv6 type 130, 131, 132 or 143) starts,
/// directly after the IPv6 header or behind a Hop-by-Hop header, with that header; `None`
/// when the packet carries no MLD.
#[inline(always)]
fn locate(ctx: &TcContext, ip: &Ipv6Header) -> Option<(u32, Option<HopByHopHeader>)> {
    match ip.next_header() {
        NEXT_HEADER_ICMPV6 => is_mld_type(ctx, AFTER_IPV6).then_some((AFTER_IPV6, None)),
        NEXT_HEADER_HOP_BY_HOP => {
            let hop_by_hop: HopByHopHeader = ctx.load(AFTER_IPV6 as usize).ok()?;
            if hop_by_hop.next_header() != NEXT_HEADER_ICMPV6 {
                return None;
            }
            let offset = AFTER_IPV6 + hop_by_hop.header_len();
            is_mld_type(ctx, offset).then_some((offset, Some(hop_by_hop)))
        }
        _ => None,
    }
}

/// Whether the packet (IPv6 by its ethertype) carries an MLD message.
#[inline(always)]
pub fn carries_mld(ctx: &TcContext) -> bool {
    packet::ipv6(ctx).is_some_and(|ip| locate(ctx, &ip).is_some())
}

/// Whether the ICMPv6 message at `offset` is of an MLD type.
#[inline(always)]
fn is_mld_type(ctx: &TcContext, offset: u32) -> bool {
    ctx.load::<u8>(offset as usize).is_ok_and(mld::is_mld_type)
}

/// Handles one MLD message from a pod and counts what it did. The message is always consumed.
/// It and the check below are BPF subprograms of their own: their stack frames add up only
/// along one call chain (the verifier allows 512 bytes, `bpf_loop` callbacks included).
#[inline(never)]
pub fn consume(ctx: &TcContext) {
    count(Reason::MldHandled);
    let Some(ip) = packet::ipv6(ctx) else {
        count(Reason::Malformed);
        return;
    };
    let ip = &ip;
    let reason = match locate(ctx, ip) {
        Some((offset, Some(hop_by_hop))) => match check(ctx, ip, offset, &hop_by_hop) {
            Ok(len) => apply(ctx, ip, offset, len),
            Err(reason) => Some(reason),
        },
        // No Hop-by-Hop header: no Router Alert.
        Some((_, None)) => Some(Reason::MldNoRouterAlert),
        None => Some(Reason::Malformed),
    };
    if let Some(reason) = reason {
        count(reason);
        if reason == Reason::TooManyRecords {
            emit(reason, None, 0, ifindex(ctx));
        }
    }
}

/// Checks the Router Alert, lengths and checksum of the message at `offset`; returns its
/// length.
#[inline(never)]
fn check(
    ctx: &TcContext,
    ip: &Ipv6Header,
    offset: u32,
    hop_by_hop: &HopByHopHeader,
) -> Result<u32, Reason> {
    hop_by_hop
        .check_mld()
        .map_err(|_| Reason::MldNoRouterAlert)?;
    let available = ctx.len().saturating_sub(IPV6_OFFSET);
    let len = ip.mld_len(hop_by_hop.header_len(), available)?;
    let pseudo = add_ipv6_pseudo_header(0, ip.source(), ip.destination(), len, NEXT_HEADER_ICMPV6);
    if !checksum::verifies_from(ctx, offset, len, pseudo) {
        return Err(Reason::BadChecksum);
    }
    Ok(len)
}

/// Applies a checked message; returns a reason to count for the message as a whole, if any
/// (joins and leaves count their own outcome).
#[inline(always)]
fn apply(ctx: &TcContext, ip: &Ipv6Header, offset: u32, len: u32) -> Option<Reason> {
    let Ok(header) = ctx.load::<MldHeader>(offset as usize) else {
        return Some(Reason::Malformed);
    };
    let record_limit = MCAST_CONFIG
        .get(CONFIG_KEY)
        .copied()
        .unwrap_or(NodeConfig::default())
        .record_limit();
    let kind = match header.check(len, record_limit) {
        Ok(kind) => kind,
        Err(reason) => return Some(reason),
    };
    if !ipv6::is_mld_source(ip.source()) {
        return Some(Reason::MldSourceNotLinkLocal);
    }
    // Every report and done speaks for the veth's own pod only.
    let veth = ifindex(ctx);
    let member = match pod_identity::pod_address(veth) {
        Ok(address) => Member::local(address, veth),
        Err(reason) => {
            emit(reason, None, 0, veth);
            return Some(reason);
        }
    };
    match kind {
        MldType::V1Report | MldType::V1Done => {
            let Ok(message) = ctx.load::<V1Message>(offset as usize) else {
                return Some(Reason::Malformed);
            };
            if let Err(reason) = message.check() {
                return Some(reason);
            }
            let group = Group::v6(message.group_key());
            if kind == MldType::V1Report {
                join(group, member);
            } else {
                leave(group, member);
            }
            None
        }
        MldType::V2Report => v2_report(ctx, member, offset, len, header.num_records()),
    }
}

/// Loads and checks the record at `offset` of a message ending at `end`; returns it and the
/// offset of the next record.
#[inline(always)]
fn record_at(ctx: &TcContext, offset: u32, end: u32) -> Result<(V2RecordHeader, u32), Reason> {
    let header: V2RecordHeader = ctx.load(offset as usize).map_err(|_| Reason::Malformed)?;
    let next = header.check(offset, end)?;
    Ok((header, next))
}

/// Applies an MLDv2 report of `records` records (at most the node's record limit)
/// all-or-nothing, as `igmp.rs` applies an IGMPv3 report: every record is checked before the
/// first change, both passes `bpf_loop`s.
#[inline(always)]
fn v2_report(
    ctx: &TcContext,
    member: Member,
    offset: u32,
    len: u32,
    records: u16,
) -> Option<Reason> {
    let first = offset + MldHeader::LEN as u32;
    let mut pass = Records {
        skb: ctx.skb.skb,
        member,
        at: first,
        end: offset + len,
        failed: None,
    };
    run(u32::from(records), check_step as *mut c_void, &mut pass);
    if pass.failed.is_some() {
        return pass.failed;
    }
    pass.at = first;
    run(u32::from(records), apply_step as *mut c_void, &mut pass);
    pass.failed
}

/// The state of a pass over a report's records, shared by the `bpf_loop` steps.
#[repr(C)]
struct Records {
    /// The program's context pointer.
    skb: *mut __sk_buff,
    /// The pod the report speaks for.
    member: Member,
    /// Offset of the next record.
    at: u32,
    /// Offset of the end of the message.
    end: u32,
    /// Why the pass stopped early, if it did.
    failed: Option<Reason>,
}

/// First pass: checks the record at `at` and moves past it; stops at the first bad one.
extern "C" fn check_step(_index: u64, context: *mut Records) -> i64 {
    // SAFETY: bpf_loop passes our context, which outlives the loop.
    let pass = unsafe { &mut *context };
    match record_at(&TcContext::new(pass.skb), pass.at, pass.end) {
        Ok((_, next)) => {
            pass.at = next;
            CONTINUE
        }
        Err(reason) => {
            pass.failed = Some(reason);
            STOP
        }
    }
}

/// Second pass: applies the record at `at` (checked by the first) as an any-source member's
/// record (`RecordEffect`) and moves past it.
extern "C" fn apply_step(_index: u64, context: *mut Records) -> i64 {
    // SAFETY: bpf_loop passes our context, which outlives the loop.
    let pass = unsafe { &mut *context };
    let Ok((record, next)) = record_at(&TcContext::new(pass.skb), pass.at, pass.end) else {
        // Checked by the first pass; only a concurrent change of the packet could get here.
        pass.failed = Some(Reason::Malformed);
        return STOP;
    };
    let group = Group::v6(record.group_key());
    match record.effect() {
        RecordEffect::Join => join(group, pass.member),
        RecordEffect::Leave => leave(group, pass.member),
        RecordEffect::NoEffect => count(Reason::RecordNoEffect),
    }
    pass.at = next;
    CONTINUE
}
