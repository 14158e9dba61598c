//! The Internet checksum (RFC 1071), as IPv4 (RFC 791 section 3.1), IGMP (RFC 2236 section
//! 2.3, RFC 3376 section 4.2.3) and ICMPv6 (RFC 4443 section 2.3, so MLD) use it: the 16-bit
//! ones' complement of the ones' complement sum of the data as big-endian 16-bit words. ICMPv6
//! sums an IPv6 pseudo-header (RFC 8200 section 8.1) before the message
//! ([`add_ipv6_pseudo_header`]).
//!
//! The arithmetic is shared by both sides. Userspace sums a slice ([`sum`]); the eBPF side, which
//! cannot hold a slice over packet data, loads 32-bit words and trailing bytes in its own bounded
//! loop and adds them with [`add_word`] and [`add_tail_byte`]. Both finish with [`fold`].

/// Folds of a 64-bit sum into 16 bits: each halves the width above 16 bits, so four bring any
/// `u64` below 2^16 (a named loop bound for the verifier).
pub const FOLDS: usize = 4;

/// Adds one 32-bit word read in network byte order, as its two 16-bit words (RFC 1071 section
/// 2 (A): the sum may be taken over any word size and folded).
#[inline(always)]
pub const fn add_word(sum: u64, word: u32) -> u64 {
    sum + (word >> 16) as u64 + (word & 0xffff) as u64
}

/// Adds byte `index` (0..3) of an incomplete last 32-bit word: bytes 0 and 2 are the high bytes
/// of their 16-bit words, byte 1 the low byte of the first; missing bytes count as zero
/// (RFC 1071 section 4.1, "add left-over byte, if any").
#[inline(always)]
pub const fn add_tail_byte(sum: u64, index: u32, byte: u8) -> u64 {
    if index.is_multiple_of(2) {
        sum + ((byte as u64) << 8)
    } else {
        sum + byte as u64
    }
}

/// Folds a sum of 16-bit words into 16 bits with end-around carry (RFC 1071 section 4.1).
#[inline(always)]
pub const fn fold(mut sum: u64) -> u16 {
    let mut i = 0;
    while i < FOLDS {
        sum = (sum & 0xffff) + (sum >> 16);
        i += 1;
    }
    sum as u16
}

/// The unfolded sum of `bytes` as 16-bit big-endian words (an odd last byte padded with zero),
/// added to `sum`: the same words and order as the eBPF verify loop.
pub fn sum(mut sum: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(4);
    for word in words.by_ref() {
        sum = add_word(
            sum,
            u32::from_be_bytes([word[0], word[1], word[2], word[3]]),
        );
    }
    for (index, &byte) in (0u32..).zip(words.remainder()) {
        sum = add_tail_byte(sum, index, byte);
    }
    sum
}

/// Adds the IPv6 pseudo-header of an upper-layer message (RFC 8200 section 8.1): Source
/// Address, Destination Address, the Upper-Layer Packet Length as 32 bits, three zero bytes and
/// the Next Header of the message (58 for ICMPv6, RFC 4443 section 2.3). `source` and
/// `destination` are the IPv6 header's (for MLD never a routing header's final destination).
/// The eBPF side starts its verify loop from this sum; it reads no packet data.
#[inline(always)]
pub const fn add_ipv6_pseudo_header(
    mut sum: u64,
    source: [u8; 16],
    destination: [u8; 16],
    upper_len: u32,
    next_header: u8,
) -> u64 {
    let mut i = 0;
    while i < 16 {
        let s = [source[i], source[i + 1], source[i + 2], source[i + 3]];
        let d = [
            destination[i],
            destination[i + 1],
            destination[i + 2],
            destination[i + 3],
        ];
        sum = add_word(sum, u32::from_be_bytes(s));
        sum = add_word(sum, u32::from_be_bytes(d));
        i += 4;
    }
    sum = add_word(sum, upper_len);
    add_word(sum, next_header as u32)
}

/// The checksum to write into a header whose checksum field is zero so that it verifies.
pub fn checksum(bytes: &[u8]) -> u16 {
    !fold(sum(0, bytes))
}

/// Whether `bytes`, checksum field included, carry a valid checksum: their sum folds to 0xffff
/// (RFC 1071 section 1, "if the result is all 1 bits, the check succeeds").
pub fn verifies(bytes: &[u8]) -> bool {
    fold(sum(0, bytes)) == 0xffff
}

/// The checksum to write into the zeroed checksum field of an upper-layer `message` of
/// `next_header` carried from `source` to `destination` in IPv6 (RFC 8200 section 8.1; ICMPv6:
/// RFC 4443 section 2.3).
pub fn checksum_ipv6(
    source: [u8; 16],
    destination: [u8; 16],
    next_header: u8,
    message: &[u8],
) -> u16 {
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    let pseudo = add_ipv6_pseudo_header(0, source, destination, len, next_header);
    !fold(sum(pseudo, message))
}

/// Whether an upper-layer `message` of `next_header` from `source` to `destination`, checksum
/// field included, carries a valid IPv6 checksum (RFC 8200 section 8.1).
pub fn verifies_ipv6(
    source: [u8; 16],
    destination: [u8; 16],
    next_header: u8,
    message: &[u8],
) -> bool {
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    let pseudo = add_ipv6_pseudo_header(0, source, destination, len, next_header);
    fold(sum(pseudo, message)) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::{checksum, checksum_ipv6, fold, verifies, verifies_ipv6};

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to 0x2ddf0, which folds to
        // 0xddf2; the checksum is its complement.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(0x2ddf0), 0xddf2);
        assert_eq!(checksum(&bytes), 0x220d);
    }

    #[test]
    fn an_odd_last_byte_is_the_high_byte_of_a_padded_word() {
        // 0x0102 + 0x0300 = 0x0402.
        assert_eq!(checksum(&[0x01, 0x02, 0x03]), !0x0402);
        // Three tail bytes after a whole word: 0x0001 + 0x0002 + 0x0304 + 0x0500.
        assert_eq!(checksum(&[0, 1, 0, 2, 3, 4, 5]), !0x0807);
    }

    #[test]
    fn a_checksummed_igmpv2_report_verifies() {
        // An IGMPv2 report for 239.1.1.1 (RFC 2236 section 2) with its checksum written by hand:
        // 0x1600 + 0x0000 + 0xef01 + 0x0101 = 0x10602, folded 0x0603, complement 0xf9fc.
        let bytes = [0x16, 0x00, 0xf9, 0xfc, 239, 1, 1, 1];
        assert!(verifies(&bytes));
        let mut zeroed = bytes;
        zeroed[2..4].copy_from_slice(&[0, 0]);
        assert_eq!(checksum(&zeroed), 0xf9fc);
        let mut corrupted = bytes;
        corrupted[7] ^= 1;
        assert!(!verifies(&corrupted));
    }
    #[test]
    fn an_icmpv6_checksum_covers_the_pseudo_header() {
        // An MLDv1 Done for ff0e::1:2 from fe80::1 to ff02::2 (RFC 2710 section 3), as scapy
        // writes it. Pseudo-header words fe80 + 0001 + ff02 + 0002 + 0018 (length 24) + 003a
        // (ICMPv6), message words 8400 + ff0e + 0001 + 0002 = 0x380e8, folded 0x80eb,
        // complement 0x7f14.
        let mut source = [0u8; 16];
        source[..2].copy_from_slice(&[0xfe, 0x80]);
        source[15] = 1;
        let mut destination = [0u8; 16];
        destination[..2].copy_from_slice(&[0xff, 0x02]);
        destination[15] = 2;
        let mut done = [0u8; 24];
        done[0] = 0x84;
        done[8..10].copy_from_slice(&[0xff, 0x0e]);
        done[21] = 0x01;
        done[23] = 0x02;
        assert_eq!(checksum_ipv6(source, destination, 58, &done), 0x7f14);
        done[2..4].copy_from_slice(&[0x7f, 0x14]);
        assert!(verifies_ipv6(source, destination, 58, &done));
        assert!(
            !verifies_ipv6(source, destination, 17, &done),
            "next header"
        );
        assert!(
            !verifies_ipv6(destination, source, 58, &done[..23]),
            "length"
        );
        destination[15] = 1;
        assert!(
            !verifies_ipv6(source, destination, 58, &done),
            "destination"
        );
    }
}
