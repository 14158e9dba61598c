//! MLD from pods (RFC 2710, RFC 3810), the IPv6 counterpart of `igmp.rs`: MLDv1 reports join,
//! dones leave, MLDv2 reports are applied record by record as any-source memberships (their
//! sources are not kept). Every MLD message is consumed: the caller drops it. A report or done
//! changes only the membership of the pod behind the veth it arrived on, and only if it carries
//! the Hop-by-Hop Router Alert, a valid checksum and a link-local (or `::`) source.
//!
//! The headers are the common crate's wire views and every decision is theirs
//! (`mcastlab_common::wire::{ipv6, mld}`); this file loads them and keeps the loops.

use aya_ebpf::programs::TcContext;
use mcastlab_common::{
    MAX_IGMP_LEN, MAX_MLD_LEN, Reason,
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
    group::Group,
    loops::{CONTINUE, STOP, Step},
    maps::node_config,
    membership::{join, leave},
    packet::{ETH_HLEN, ifindex},
    pod_identity,
    records::{self, Records},
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

/// Whether the packet (IPv6 by its ethertype) carries an MLD message. Reads the bytes it
/// needs, not the whole header: its caller's stack frame stays small.
#[inline(always)]
pub fn carries_mld(ctx: &TcContext) -> bool {
    let Ok(next_header) = ctx.load::<u8>((IPV6_OFFSET + NEXT_HEADER_FIELD) as usize) else {
        return false;
    };
    match next_header {
        NEXT_HEADER_ICMPV6 => is_mld_type(ctx, AFTER_IPV6),
        NEXT_HEADER_HOP_BY_HOP => {
            let Ok([next, ext_len]) = ctx.load::<[u8; 2]>(AFTER_IPV6 as usize) else {
                return false;
            };
            next == NEXT_HEADER_ICMPV6
                && is_mld_type(ctx, AFTER_IPV6 + (u32::from(ext_len) + 1) * HOP_BY_HOP_UNIT)
        }
        _ => false,
    }
}

/// Offset of the Next Header field in the IPv6 header (RFC 8200 section 3).
const NEXT_HEADER_FIELD: u32 = 6;
/// A Hop-by-Hop header's length unit: Hdr Ext Len counts 8-octet units after the first 8
/// (RFC 8200 section 4.3).
const HOP_BY_HOP_UNIT: u32 = 8;

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
    let Ok(ip) = ctx.load::<Ipv6Header>(IPV6_OFFSET as usize) else {
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
            emit(reason, Group::NONE, 0, ifindex(ctx));
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
    let record_limit = node_config().record_limit();
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
            emit(reason, Group::NONE, 0, veth);
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

/// Applies an MLDv2 report of `records` records (at most the node's record limit)
/// all-or-nothing, as an IGMPv3 report is (`records.rs`).
#[inline(always)]
fn v2_report(
    ctx: &TcContext,
    member: Member,
    offset: u32,
    len: u32,
    records: u16,
) -> Option<Reason> {
    records::apply_report::<V2RecordHeader, ApplyStep>(
        ctx,
        member,
        offset + MldHeader::LEN as u32,
        offset + len,
        records,
    )
}

/// Second pass: applies the record at `at` (checked by the first) as an any-source member's
/// record (`RecordEffect`) and moves past it.
struct ApplyStep;

impl Step for ApplyStep {
    type Context = Records;

    #[inline(always)]
    fn step(_index: u32, pass: &mut Records) -> i64 {
        let Some(record) = records::next::<V2RecordHeader>(pass) else {
            return STOP;
        };
        let group = Group::v6(record.group_key());
        match record.effect() {
            RecordEffect::Join => join(group, pass.member),
            RecordEffect::Leave => leave(group, pass.member),
            RecordEffect::NoEffect => count(Reason::RecordNoEffect),
        }
        CONTINUE
    }
}
