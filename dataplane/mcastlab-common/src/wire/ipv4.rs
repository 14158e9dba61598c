//! The IPv4 header (RFC 791 section 3.1), and the checks the dataplane makes of an IPv4 packet
//! that carries IGMP.

use crate::{
    Reason,
    wire::{checksum, igmp},
};

/// Byte ranges of the fixed header's fields (RFC 791 section 3.1).
mod field {
    use core::ops::Range;

    pub const VERSION_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LENGTH: Range<usize> = 2..4;
    pub const IDENTIFICATION: Range<usize> = 4..6;
    pub const FLAGS_FRAGMENT: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SOURCE: Range<usize> = 12..16;
    pub const DESTINATION: Range<usize> = 16..20;
}

/// The More Fragments flag and the Fragment Offset (RFC 791 section 3.1): non-zero for a
/// fragment. The Don't Fragment bit is not part of it.
pub const FRAGMENT_MASK: u16 = 0x3fff;

/// The fixed 20 bytes of an IPv4 header (RFC 791 section 3.1), options excluded, as they sit on
/// the wire. The eBPF side loads it whole with `bpf_skb_load_bytes`; userspace builds it with
/// [`Ipv4Header::new`] and the setters.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Header(pub [u8; Ipv4Header::LEN]);

const _: () = assert!(core::mem::size_of::<Ipv4Header>() == Ipv4Header::LEN);

impl Ipv4Header {
    /// Length of the fixed header: the smallest IPv4 header (IHL 5). Reports with Router Alert
    /// have IHL 6 (RFC 2113).
    pub const LEN: usize = 20;
    /// Longest header, options included (IHL 15).
    pub const MAX_LEN: usize = 60;

    /// A header of `header_len` bytes (20 plus options) from `source` to `destination`,
    /// carrying `total_len` bytes of header and payload of `protocol`, with TTL `ttl`. The
    /// identification, flags, fragment offset and checksum are zero; see
    /// [`Ipv4Header::fill_checksum`].
    pub fn new(
        source: [u8; 4],
        destination: [u8; 4],
        protocol: u8,
        ttl: u8,
        header_len: u32,
        total_len: u16,
    ) -> Self {
        let mut header = Self([0; Self::LEN]);
        header.set_version_and_header_len(header_len);
        header.set_total_len(total_len);
        header.set_ttl(ttl);
        header.set_protocol(protocol);
        header.set_source(source);
        header.set_destination(destination);
        header
    }

    /// Version (RFC 791 section 3.1): 4.
    #[inline(always)]
    pub fn version(&self) -> u8 {
        self.0[field::VERSION_IHL] >> 4
    }

    /// Header length in bytes: IHL, in 32-bit words, times 4 (RFC 791 section 3.1).
    #[inline(always)]
    pub fn header_len(&self) -> u32 {
        u32::from(self.0[field::VERSION_IHL] & 0x0f) * 4
    }

    /// Type of Service (RFC 791 section 3.1; DSCP and ECN since RFC 2474, RFC 3168).
    #[inline(always)]
    pub fn tos(&self) -> u8 {
        self.0[field::TOS]
    }

    /// Total Length: header and data, in bytes (RFC 791 section 3.1).
    #[inline(always)]
    pub fn total_len(&self) -> u16 {
        let b = &self.0[field::TOTAL_LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Identification (RFC 791 section 3.1).
    #[inline(always)]
    pub fn identification(&self) -> u16 {
        let b = &self.0[field::IDENTIFICATION];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Flags (3 bits) and Fragment Offset (13 bits), as one word (RFC 791 section 3.1).
    #[inline(always)]
    pub fn flags_fragment(&self) -> u16 {
        let b = &self.0[field::FLAGS_FRAGMENT];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Whether this is a fragment: More Fragments set or a non-zero Fragment Offset.
    #[inline(always)]
    pub fn is_fragment(&self) -> bool {
        self.flags_fragment() & FRAGMENT_MASK != 0
    }

    /// Time to Live (RFC 791 section 3.1).
    #[inline(always)]
    pub fn ttl(&self) -> u8 {
        self.0[field::TTL]
    }

    /// Protocol (RFC 791 section 3.1): 2 for IGMP.
    #[inline(always)]
    pub fn protocol(&self) -> u8 {
        self.0[field::PROTOCOL]
    }

    /// Header Checksum (RFC 791 section 3.1).
    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        let b = &self.0[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Source Address, as its four wire octets (RFC 791 section 3.1).
    #[inline(always)]
    pub fn source(&self) -> [u8; 4] {
        let b = &self.0[field::SOURCE];
        [b[0], b[1], b[2], b[3]]
    }

    /// Destination Address, as its four wire octets (RFC 791 section 3.1).
    #[inline(always)]
    pub fn destination(&self) -> [u8; 4] {
        let b = &self.0[field::DESTINATION];
        [b[0], b[1], b[2], b[3]]
    }

    /// The source address as a map key (wire octets read as a native `u32`).
    #[inline(always)]
    pub fn source_key(&self) -> u32 {
        u32::from_ne_bytes(self.source())
    }

    /// The destination address as a map key (wire octets read as a native `u32`).
    #[inline(always)]
    pub fn destination_key(&self) -> u32 {
        u32::from_ne_bytes(self.destination())
    }

    /// Whether this is an IPv4 header: version 4 and an IHL of at least 5 (RFC 791 section
    /// 3.1). `Malformed` otherwise; the dataplane passes such packets untouched.
    #[inline(always)]
    pub fn check(&self) -> Result<(), Reason> {
        if self.version() != 4 || self.header_len() < Self::LEN as u32 {
            return Err(Reason::Malformed);
        }
        Ok(())
    }

    /// The length of the IGMP message this (checked) header carries, checked as the dataplane
    /// checks it: not a fragment, at least the 8 bytes of an IGMP header (RFC 2236 section 2),
    /// at most [`crate::MAX_IGMP_LEN`], and within the `available` bytes from the start of the IPv4
    /// header to the end of the packet. `Malformed` otherwise.
    #[inline(always)]
    pub fn igmp_len(&self, available: u32) -> Result<u32, Reason> {
        let total_len = u32::from(self.total_len());
        let header_len = self.header_len();
        if self.is_fragment() || total_len < header_len {
            return Err(Reason::Malformed);
        }
        let len = total_len - header_len;
        igmp::check_len(len)?;
        if total_len > available {
            return Err(Reason::Malformed);
        }
        Ok(len)
    }

    /// Sets the version to 4 and the IHL to `header_len / 4` (RFC 791 section 3.1);
    /// `header_len` is 20 plus the options' length, a multiple of 4 up to 60.
    pub fn set_version_and_header_len(&mut self, header_len: u32) {
        self.0[field::VERSION_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    /// Sets the Type of Service.
    pub fn set_tos(&mut self, tos: u8) {
        self.0[field::TOS] = tos;
    }

    /// Sets the Total Length.
    pub fn set_total_len(&mut self, total_len: u16) {
        self.0[field::TOTAL_LENGTH].copy_from_slice(&total_len.to_be_bytes());
    }

    /// Sets the Identification.
    pub fn set_identification(&mut self, identification: u16) {
        self.0[field::IDENTIFICATION].copy_from_slice(&identification.to_be_bytes());
    }

    /// Sets the Flags and Fragment Offset word.
    pub fn set_flags_fragment(&mut self, flags_fragment: u16) {
        self.0[field::FLAGS_FRAGMENT].copy_from_slice(&flags_fragment.to_be_bytes());
    }

    /// Sets the Time to Live.
    pub fn set_ttl(&mut self, ttl: u8) {
        self.0[field::TTL] = ttl;
    }

    /// Sets the Protocol.
    pub fn set_protocol(&mut self, protocol: u8) {
        self.0[field::PROTOCOL] = protocol;
    }

    /// Sets the Header Checksum.
    pub fn set_checksum(&mut self, checksum: u16) {
        self.0[field::CHECKSUM].copy_from_slice(&checksum.to_be_bytes());
    }

    /// Sets the Source Address.
    pub fn set_source(&mut self, source: [u8; 4]) {
        self.0[field::SOURCE].copy_from_slice(&source);
    }

    /// Sets the Destination Address.
    pub fn set_destination(&mut self, destination: [u8; 4]) {
        self.0[field::DESTINATION].copy_from_slice(&destination);
    }

    /// Computes and sets the Header Checksum over this header and the `options` that follow it
    /// (RFC 791 section 3.1: "the checksum field is the 16 bit one's complement of the one's
    /// complement sum of all 16 bit words in the header").
    pub fn fill_checksum(&mut self, options: &[u8]) {
        self.set_checksum(0);
        let sum = checksum::sum(checksum::sum(0, &self.0), options);
        self.set_checksum(!checksum::fold(sum));
    }

    /// Whether the Header Checksum verifies over this header and `options`.
    pub fn checksum_verifies(&self, options: &[u8]) -> bool {
        checksum::fold(checksum::sum(checksum::sum(0, &self.0), options)) == 0xffff
    }

    /// The fixed header at the start of `bytes`, checked with [`Ipv4Header::check`];
    /// `Malformed` if `bytes` is shorter than 20 bytes or than the IHL says.
    pub fn parse(bytes: &[u8]) -> Result<Self, Reason> {
        let Some(fixed) = bytes.first_chunk::<{ Self::LEN }>() else {
            return Err(Reason::Malformed);
        };
        let header = Self(*fixed);
        header.check()?;
        if bytes.len() < header.header_len() as usize {
            return Err(Reason::Malformed);
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::Ipv4Header;
    use crate::Reason;

    /// An IGMPv2 report's IPv4 header as the kernel sends it, written out from RFC 791's
    /// layout: IHL 6 (Router Alert), total length 32, DF, TTL 1, protocol 2, 10.0.0.11 to
    /// 239.1.1.1, followed by the Router Alert option (RFC 2113).
    const REPORT_HEADER: [u8; 24] = [
        0x46, 0xc0, 0x00, 0x20, // version 4, IHL 6, TOS 0xc0, total length 32
        0x00, 0x00, 0x40, 0x00, // identification 0, DF, offset 0
        0x01, 0x02, 0x00, 0x00, // TTL 1, protocol 2, checksum (filled below)
        10, 0, 0, 11, // source
        239, 1, 1, 1, // destination
        0x94, 0x04, 0x00, 0x00, // Router Alert
    ];

    #[test]
    fn fields_of_a_literal_header() {
        let header = Ipv4Header::parse(&REPORT_HEADER).expect("an IPv4 header");
        assert_eq!(header.version(), 4);
        assert_eq!(header.header_len(), 24);
        assert_eq!(header.tos(), 0xc0);
        assert_eq!(header.total_len(), 32);
        assert_eq!(header.flags_fragment(), 0x4000);
        assert!(!header.is_fragment());
        assert_eq!(header.ttl(), 1);
        assert_eq!(header.protocol(), 2);
        assert_eq!(header.source(), [10, 0, 0, 11]);
        assert_eq!(header.destination(), [239, 1, 1, 1]);
        assert_eq!(header.destination_key().to_ne_bytes(), [239, 1, 1, 1]);
    }

    #[test]
    fn checksum_of_a_literal_header() {
        // Words: 46c0 + 0020 + 0000 + 4000 + 0102 + 0000 + 0a00 + 000b + ef01 + 0101 + 9404
        // + 0000 = 0x2_15f3, folded 0x15f5, complement 0xea0a.
        let mut header = Ipv4Header::parse(&REPORT_HEADER).expect("an IPv4 header");
        header.fill_checksum(&REPORT_HEADER[20..]);
        assert_eq!(header.checksum(), 0xea0a);
        assert!(header.checksum_verifies(&REPORT_HEADER[20..]));
        assert!(!header.checksum_verifies(&[0x94, 0x04, 0x00, 0x01]));
    }

    #[test]
    fn fragments_and_bad_lengths_are_malformed_igmp() {
        let header = Ipv4Header::parse(&REPORT_HEADER).expect("an IPv4 header");
        assert_eq!(header.igmp_len(32), Ok(8));
        assert_eq!(header.igmp_len(31), Err(Reason::Malformed));
        let mut more_fragments = header;
        more_fragments.set_flags_fragment(0x2000);
        assert_eq!(more_fragments.igmp_len(32), Err(Reason::Malformed));
        let mut offset = header;
        offset.set_flags_fragment(0x0001);
        assert_eq!(offset.igmp_len(32), Err(Reason::Malformed));
        let mut short = header;
        short.set_total_len(31);
        assert_eq!(short.igmp_len(32), Err(Reason::Malformed));
        let mut long = header;
        long.set_total_len(24 + 1481);
        assert_eq!(long.igmp_len(2000), Err(Reason::Malformed));
        long.set_total_len(24 + 1480);
        assert_eq!(long.igmp_len(2000), Ok(1480));
    }

    #[test]
    fn not_ipv4_is_refused() {
        let mut bytes = REPORT_HEADER;
        bytes[0] = 0x66;
        assert_eq!(Ipv4Header::parse(&bytes), Err(Reason::Malformed));
        bytes[0] = 0x44;
        assert_eq!(Ipv4Header::parse(&bytes), Err(Reason::Malformed));
        assert_eq!(
            Ipv4Header::parse(&REPORT_HEADER[..23]),
            Err(Reason::Malformed)
        );
        assert_eq!(
            Ipv4Header::parse(&REPORT_HEADER[..19]),
            Err(Reason::Malformed)
        );
    }
}
