//! The Internet checksum over an IGMP message (RFC 1071; IGMP: RFC 2236 section 2.3,
//! RFC 3376 section 4.2.3): the ones' complement sum of the whole message, checksum field
//! included, folds to 0xffff when it verifies.

use aya_ebpf::programs::TcContext;
use mcastlab_common::MAX_IGMP_LEN;

/// Loop bound: 32-bit words in the longest message we verify.
const MAX_WORDS: u32 = MAX_IGMP_LEN / 4;
/// Loop bound: bytes after the last whole word.
const MAX_TAIL: u32 = 3;

/// Whether the `len` bytes at `offset` carry a valid Internet checksum. `len` must be at most
/// `MAX_IGMP_LEN`; a read past the packet fails the check.
#[inline(always)]
pub fn verifies(ctx: &TcContext, offset: u32, len: u32) -> bool {
    let words = len / 4;
    let mut sum: u64 = 0;
    for i in 0..MAX_WORDS {
        if i >= words {
            break;
        }
        let Ok(word) = ctx.load::<u32>((offset + i * 4) as usize) else {
            return false;
        };
        let word = u32::from_be(word);
        sum += u64::from(word >> 16) + u64::from(word & 0xffff);
    }
    let tail_offset = offset + words * 4;
    for i in 0..MAX_TAIL {
        if i >= len % 4 {
            break;
        }
        let Ok(byte) = ctx.load::<u8>((tail_offset + i) as usize) else {
            return false;
        };
        // Bytes 0 and 2 of the last word are high bytes of their 16-bit words.
        sum += if i % 2 == 0 {
            u64::from(byte) << 8
        } else {
            u64::from(byte)
        };
    }
    fold(sum) == 0xffff
}

/// Folds a 64-bit sum of 16-bit words into 16 bits with end-around carry.
#[inline(always)]
fn fold(mut sum: u64) -> u64 {
    // Four folds bring any 64-bit value below 2^16 (named bound for the verifier).
    for _ in 0..4 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}
