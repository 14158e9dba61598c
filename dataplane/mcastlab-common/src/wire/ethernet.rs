//! The Ethernet II header (RFC 894): destination, source, EtherType.

/// EtherType of IPv4 (RFC 894).
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6 (RFC 2464 section 3).
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType of ARP (RFC 826).
pub const ETHERTYPE_ARP: u16 = 0x0806;

/// Byte ranges of the fields.
mod field {
    use core::ops::Range;

    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
}

/// An Ethernet II header (RFC 894), as it sits on the wire. The eBPF side loads it whole with
/// `bpf_skb_load_bytes`; userspace builds it with [`EthernetHeader::new`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetHeader(pub [u8; EthernetHeader::LEN]);

const _: () = assert!(core::mem::size_of::<EthernetHeader>() == EthernetHeader::LEN);

impl EthernetHeader {
    /// Length of the header: the IPv4 header starts this far into the frame.
    pub const LEN: usize = 14;

    /// A header from `source` to `destination` carrying `ethertype`.
    pub const fn new(destination: [u8; 6], source: [u8; 6], ethertype: u16) -> Self {
        let [t0, t1] = ethertype.to_be_bytes();
        let d = destination;
        let s = source;
        Self([
            d[0], d[1], d[2], d[3], d[4], d[5], s[0], s[1], s[2], s[3], s[4], s[5], t0, t1,
        ])
    }

    /// Destination address (RFC 894).
    #[inline(always)]
    pub fn destination(&self) -> [u8; 6] {
        let d = &self.0[field::DESTINATION];
        [d[0], d[1], d[2], d[3], d[4], d[5]]
    }

    /// Source address (RFC 894).
    #[inline(always)]
    pub fn source(&self) -> [u8; 6] {
        let s = &self.0[field::SOURCE];
        [s[0], s[1], s[2], s[3], s[4], s[5]]
    }

    /// EtherType: 0x0800 for IPv4 (RFC 894), 0x86dd for IPv6 (RFC 2464 section 3).
    #[inline(always)]
    pub fn ethertype(&self) -> u16 {
        let t = &self.0[field::ETHERTYPE];
        u16::from_be_bytes([t[0], t[1]])
    }

    /// Whether the frame carries IPv4.
    #[inline(always)]
    pub fn is_ipv4(&self) -> bool {
        self.ethertype() == ETHERTYPE_IPV4
    }

    /// Whether the frame carries IPv6.
    #[inline(always)]
    pub fn is_ipv6(&self) -> bool {
        self.ethertype() == ETHERTYPE_IPV6
    }
}

#[cfg(test)]
mod tests {
    use super::EthernetHeader;

    #[test]
    fn fields_of_a_literal_header() {
        let header = EthernetHeader([
            0x01, 0x00, 0x5e, 0x01, 0x01, 0x01, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,
        ]);
        assert_eq!(header.destination(), [0x01, 0x00, 0x5e, 1, 1, 1]);
        assert_eq!(header.source(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(header.ethertype(), 0x0800);
        assert!(header.is_ipv4());
        assert!(!header.is_ipv6());
        assert!(
            EthernetHeader::new([0x33, 0x33, 0, 0, 0, 0x16], [2, 0, 0, 0, 0, 1], 0x86dd).is_ipv6()
        );
        assert_eq!(
            EthernetHeader::new([0x01, 0x00, 0x5e, 1, 1, 1], [2, 0, 0, 0, 0, 1], 0x0800),
            header
        );
    }
}
