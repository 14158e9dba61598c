//! The IGMPv3 Membership Query (RFC 3376 section 4.1), which the node agent sends into pod
//! veths, and the exponential code of its Max Resp Code and QQIC fields (sections 4.1.1 and
//! 4.1.7).
//!
//! IGMPv2 and IGMPv1 hosts take an IGMPv3 query for a query of their own version (RFC 3376
//! section 7.2.1: the first 8 bytes are a v2 query), so one query form serves pods of every
//! version; a v2-form query would instead put IGMPv3 hosts into IGMPv2 compatibility mode.

use crate::igmp::MEMBERSHIP_QUERY;

/// Byte ranges of the fields (RFC 3376 section 4.1).
mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const MAX_RESP_CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const GROUP: Range<usize> = 4..8;
    pub const S_QRV: usize = 8;
    pub const QQIC: usize = 9;
    pub const NUM_SOURCES: Range<usize> = 10..12;
}

/// Largest value the exponential code can carry: mantissa 0xf, exponent 7 (RFC 3376 section
/// 4.1.1): (0x0f | 0x10) << (7 + 3) = 31744 units.
pub const MAX_CODED_VALUE: u32 = 31_744;

/// Robustness values above 7 are sent as 0 in QRV (RFC 3376 section 4.1.6).
const MAX_QRV: u8 = 7;

/// An IGMPv3 query without sources: 12 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V3Query(pub [u8; V3Query::LEN]);

const _: () = assert!(core::mem::size_of::<V3Query>() == V3Query::LEN);

impl V3Query {
    /// Length of a query without sources.
    pub const LEN: usize = 12;

    /// A General Query (group 0.0.0.0, no sources; RFC 3376 section 4.1.9): hosts answer
    /// within `max_response_tenths` tenths of a second; `robustness` and
    /// `query_interval_s` tell them the querier's settings (QRV, QQIC). Checksum zero; see
    /// [`crate::wire::igmp::fill_checksum`].
    pub const fn general(max_response_tenths: u32, robustness: u8, query_interval_s: u32) -> Self {
        let qrv = if robustness > MAX_QRV { 0 } else { robustness };
        Self([
            MEMBERSHIP_QUERY,
            encode_code(max_response_tenths),
            0,
            0,
            0,
            0,
            0,
            0,
            qrv,
            encode_code(query_interval_s),
            0,
            0,
        ])
    }

    /// A Group-Specific Query (RFC 3376 section 4.1.9): only members of `group` answer, within
    /// `max_response_tenths` (the Last Member Query Interval, section 8.8); other fields as in
    /// [`V3Query::general`].
    pub const fn group_specific(
        group: [u8; 4],
        max_response_tenths: u32,
        robustness: u8,
        query_interval_s: u32,
    ) -> Self {
        let mut query = Self::general(max_response_tenths, robustness, query_interval_s);
        query.0[4] = group[0];
        query.0[5] = group[1];
        query.0[6] = group[2];
        query.0[7] = group[3];
        query
    }

    /// Type: Membership Query (RFC 3376 section 4.1).
    pub const fn kind(&self) -> u8 {
        self.0[field::TYPE]
    }

    /// Max Resp Code (RFC 3376 section 4.1.1), in the exponential code.
    pub const fn max_resp_code(&self) -> u8 {
        self.0[field::MAX_RESP_CODE]
    }

    /// Checksum (RFC 3376 section 4.1.2).
    pub const fn checksum(&self) -> u16 {
        u16::from_be_bytes([
            self.0[field::CHECKSUM.start],
            self.0[field::CHECKSUM.start + 1],
        ])
    }

    /// Group Address (RFC 3376 section 4.1.3): 0.0.0.0 in a General Query.
    pub const fn group(&self) -> [u8; 4] {
        let g = field::GROUP.start;
        [self.0[g], self.0[g + 1], self.0[g + 2], self.0[g + 3]]
    }

    /// QRV, the querier's robustness variable (RFC 3376 section 4.1.6).
    pub const fn qrv(&self) -> u8 {
        self.0[field::S_QRV] & 0x07
    }

    /// QQIC, the querier's query interval code (RFC 3376 section 4.1.7).
    pub const fn qqic(&self) -> u8 {
        self.0[field::QQIC]
    }

    /// Number of Sources (RFC 3376 section 4.1.8).
    pub const fn num_sources(&self) -> u16 {
        let n = field::NUM_SOURCES.start;
        u16::from_be_bytes([self.0[n], self.0[n + 1]])
    }
}

/// The one-byte code of `value` (RFC 3376 sections 4.1.1 and 4.1.7): below 128 the value
/// itself; above, `1 exp(3) mant(4)` standing for `(mant | 0x10) << (exp + 3)`, the largest
/// code not above `value` (a querier must not promise more than it waits). Values above
/// [`MAX_CODED_VALUE`] are sent as that.
pub const fn encode_code(value: u32) -> u8 {
    if value < 128 {
        return value as u8;
    }
    let value = if value > MAX_CODED_VALUE {
        MAX_CODED_VALUE
    } else {
        value
    };
    let mut exp = 7u32;
    loop {
        let mant = (value >> (exp + 3)) & 0x1f;
        if mant >= 0x10 || exp == 0 {
            return 0x80 | ((exp as u8) << 4) | ((mant & 0x0f) as u8);
        }
        exp -= 1;
    }
}

/// The value of a one-byte code (RFC 3376 sections 4.1.1 and 4.1.7).
pub const fn decode_code(code: u8) -> u32 {
    if code < 128 {
        return code as u32;
    }
    let mant = (code & 0x0f) as u32;
    let exp = ((code >> 4) & 0x07) as u32;
    (mant | 0x10) << (exp + 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_below_128_are_the_value() {
        assert_eq!(encode_code(0), 0);
        assert_eq!(encode_code(100), 100);
        assert_eq!(encode_code(127), 127);
    }

    #[test]
    fn codes_from_128_use_the_exponential_form() {
        // RFC 3376 section 4.1.1: 0x80 = mant 0, exp 0 = 0x10 << 3 = 128.
        assert_eq!(encode_code(128), 0x80);
        assert_eq!(decode_code(0x80), 128);
        // 125 s Query Interval fits as is; 1250 tenths: exp 3 (0x10 << 6 = 1024), mant 3
        // (0x13 << 6 = 1216, the largest code not above 1250).
        assert_eq!(encode_code(1250), 0xb3);
        assert_eq!(decode_code(0xb3), 1216);
        assert_eq!(encode_code(MAX_CODED_VALUE), 0xff);
        assert_eq!(encode_code(u32::MAX), 0xff);
        assert_eq!(decode_code(0xff), MAX_CODED_VALUE);
    }

    #[test]
    fn a_general_query_has_the_rfc_layout() {
        // Max Resp 10 s (100 tenths), QRV 2, QQIC 125 s.
        let query = V3Query::general(100, 2, 125);
        assert_eq!(query.0, [0x11, 100, 0, 0, 0, 0, 0, 0, 2, 125, 0, 0]);
        assert_eq!(query.group(), [0, 0, 0, 0]);
        assert_eq!((query.qrv(), query.num_sources()), (2, 0));
        assert_eq!(
            V3Query::general(10, 9, 10).qrv(),
            0,
            "robustness above 7 is sent as 0"
        );
    }
}
