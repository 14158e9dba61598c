//! The passes over a report's group records, one implementation for IGMPv3 (RFC 3376 section
//! 4.2) and MLDv2 (RFC 3810 section 5.2), whose records differ only in their header: a report
//! is applied all-or-nothing, every record's bounds and group checked by a first pass before
//! a second applies them. Both passes are [`loops`](crate::loops) of as many steps as the report
//! has records, so the record limit costs the verifier nothing. The second pass's step is the
//! protocol's; it reads each record with [`next`].

use core::marker::PhantomData;

use aya_ebpf::{bindings::__sk_buff, programs::TcContext};
use mcastlab_common::{
    Reason,
    slots::Member,
    wire::{igmp::V3RecordHeader, mld::V2RecordHeader},
};

use crate::loops::{CONTINUE, STOP, Step, run};

/// The fixed header of a group record, as the passes read it.
pub trait RecordHeader: Copy {
    /// Checks the record that starts at `offset` of a message ending at `end`; returns the
    /// offset of the next record.
    fn check_at(&self, offset: u32, end: u32) -> Result<u32, Reason>;
}

impl RecordHeader for V3RecordHeader {
    #[inline(always)]
    fn check_at(&self, offset: u32, end: u32) -> Result<u32, Reason> {
        self.check(offset, end)
    }
}

impl RecordHeader for V2RecordHeader {
    #[inline(always)]
    fn check_at(&self, offset: u32, end: u32) -> Result<u32, Reason> {
        self.check(offset, end)
    }
}

/// The state of a pass over a report's records, shared by the loop's steps.
#[repr(C)]
pub struct Records {
    /// The program's context pointer.
    pub skb: *mut __sk_buff,
    /// The pod the report speaks for.
    pub member: Member,
    /// Offset of the next record.
    pub at: u32,
    /// Offset of the end of the message.
    pub end: u32,
    /// Why the pass stopped early, if it did.
    pub failed: Option<Reason>,
}

/// Applies a report of `records` records of header `H` starting at `first` of a message
/// ending at `end`, from `member`: the check pass, then the protocol's `Apply` step over
/// [`Records`] unless a record was bad. Returns why the report was refused, if it was.
#[inline(always)]
pub fn apply_report<H: RecordHeader, Apply: Step<Context = Records>>(
    ctx: &TcContext,
    member: Member,
    first: u32,
    end: u32,
    records: u16,
) -> Option<Reason> {
    let mut pass = Records {
        skb: ctx.skb.skb,
        member,
        at: first,
        end,
        failed: None,
    };
    run::<CheckStep<H>>(u32::from(records), &mut pass);
    if pass.failed.is_some() {
        return pass.failed;
    }
    pass.at = first;
    run::<Apply>(u32::from(records), &mut pass);
    pass.failed
}

/// Loads and checks the record at `offset` of a message ending at `end`; returns it and the
/// offset of the next record.
#[inline(always)]
fn record_at<H: RecordHeader>(ctx: &TcContext, offset: u32, end: u32) -> Result<(H, u32), Reason> {
    let header: H = ctx.load(offset as usize).map_err(|_| Reason::Malformed)?;
    let next = header.check_at(offset, end)?;
    Ok((header, next))
}

/// The record at `pass.at` (checked by the first pass), moving past it; `None` (with the
/// pass failed) only if the packet changed since, and the step should stop.
#[inline(always)]
pub fn next<H: RecordHeader>(pass: &mut Records) -> Option<H> {
    match record_at::<H>(&TcContext::new(pass.skb), pass.at, pass.end) {
        Ok((record, next)) => {
            pass.at = next;
            Some(record)
        }
        Err(_) => {
            pass.failed = Some(Reason::Malformed);
            None
        }
    }
}

/// First pass: checks the record at `at` and moves past it; stops at the first bad one.
struct CheckStep<H>(PhantomData<H>);

impl<H: RecordHeader> Step for CheckStep<H> {
    type Context = Records;

    #[inline(always)]
    fn step(_index: u32, pass: &mut Records) -> i64 {
        match record_at::<H>(&TcContext::new(pass.skb), pass.at, pass.end) {
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
}
