//! Verifies the Internet checksum over an IGMP or MLD message (RFC 1071; IGMP: RFC 2236
//! section 2.3, RFC 3376 section 4.2.3; MLD: ICMPv6, RFC 4443 section 2.3, after the IPv6
//! pseudo-header): the ones' complement sum of the whole message, checksum field included,
//! folds to 0xffff when it verifies. The arithmetic is the common crate's
//! (`mcastlab_common::wire::checksum`); this file only loads the words in a bounded loop.

use aya_ebpf::programs::TcContext;
use mcastlab_common::{
    MAX_IGMP_LEN,
    wire::checksum::{add_tail_byte, add_word, fold},
};

/// Loop bound: 32-bit words in the longest message we verify.
const MAX_WORDS: u32 = MAX_IGMP_LEN / 4;
/// Loop bound: bytes after the last whole word.
const MAX_TAIL: u32 = 3;

/// Whether the `len` bytes at `offset` carry a valid Internet checksum. `len` must be at most
/// `MAX_IGMP_LEN`; a read past the packet fails the check.
#[inline(always)]
pub fn verifies(ctx: &TcContext, offset: u32, len: u32) -> bool {
    verifies_from(ctx, offset, len, 0)
}

/// Whether the `len` bytes at `offset`, summed after `start` (an ICMPv6 message's
/// pseudo-header sum, `add_ipv6_pseudo_header`), carry a valid Internet checksum. `len` must
/// be at most `MAX_IGMP_LEN` (MLD's bound is lower); a read past the packet fails the check.
#[inline(always)]
pub fn verifies_from(ctx: &TcContext, offset: u32, len: u32, start: u64) -> bool {
    let words = len / 4;
    let mut sum: u64 = start;
    for i in 0..MAX_WORDS {
        if i >= words {
            break;
        }
        let Ok(word) = ctx.load::<u32>((offset + i * 4) as usize) else {
            return false;
        };
        sum = add_word(sum, u32::from_be(word));
    }
    let tail_offset = offset + words * 4;
    for i in 0..MAX_TAIL {
        if i >= len % 4 {
            break;
        }
        let Ok(byte) = ctx.load::<u8>((tail_offset + i) as usize) else {
            return false;
        };
        sum = add_tail_byte(sum, i, byte);
    }
    fold(sum) == 0xffff
}
