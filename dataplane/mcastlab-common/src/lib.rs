//! Shared between the mcastlab eBPF programs and userspace: every name, limit, reason code and
//! `#[repr(C)]` type that crosses the kernel boundary is defined here, once.
//!
//! Addresses in maps are IPv4 addresses as their four wire octets read as a native `u32`
//! (`u32::from_ne_bytes(addr.octets())`): exactly what the eBPF side loads from a packet.
#![no_std]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        unused_crate_dependencies,
        reason = "dev-dependencies serve the integration tests"
    )
)]

pub mod events;
pub mod identity;
pub mod igmp;
pub mod limits;
pub mod names;
pub mod reason;
pub mod seed;
pub mod slots;
pub mod sources;
pub mod types;
pub mod wire;

pub use limits::*;
pub use reason::Reason;
pub use types::*;

#[cfg(test)]
mod tests {
    use super::igmp::{RecordEffect, group_mac, record, record_effect};

    #[test]
    fn group_mac_keeps_the_low_23_bits() {
        // RFC 1112 section 6.4: 01:00:5e followed by the low 23 bits of the group.
        assert_eq!(
            group_mac([239, 1, 1, 1]),
            [0x01, 0x00, 0x5e, 0x01, 0x01, 0x01]
        );
        assert_eq!(
            group_mac([224, 129, 2, 3]),
            [0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]
        );
        // 239.255.1.2: the high bit of the second octet is dropped.
        assert_eq!(group_mac([239, 255, 1, 2]), [0x01, 0x00, 0x5e, 0x7f, 1, 2]);
        assert_eq!(group_mac([224, 0, 0, 251]), [0x01, 0x00, 0x5e, 0, 0, 251]);
    }

    #[test]
    fn any_source_record_effects() {
        assert_eq!(
            record_effect(record::CHANGE_TO_EXCLUDE_MODE, 0),
            RecordEffect::Join
        );
        assert_eq!(
            record_effect(record::MODE_IS_EXCLUDE, 3),
            RecordEffect::Join
        );
        assert_eq!(
            record_effect(record::CHANGE_TO_INCLUDE_MODE, 0),
            RecordEffect::Leave
        );
        assert_eq!(
            record_effect(record::MODE_IS_INCLUDE, 0),
            RecordEffect::Leave
        );
        assert_eq!(
            record_effect(record::MODE_IS_INCLUDE, 2),
            RecordEffect::Join
        );
        assert_eq!(
            record_effect(record::ALLOW_NEW_SOURCES, 1),
            RecordEffect::Join
        );
        assert_eq!(
            record_effect(record::ALLOW_NEW_SOURCES, 0),
            RecordEffect::NoEffect
        );
        assert_eq!(
            record_effect(record::BLOCK_OLD_SOURCES, 1),
            RecordEffect::NoEffect
        );
        assert_eq!(record_effect(0, 0), RecordEffect::NoEffect);
        assert_eq!(record_effect(7, 0), RecordEffect::NoEffect);
    }
}

#[cfg(test)]
mod key_tests {
    use core::net::Ipv4Addr;

    use super::{addr_key, key_addr};

    #[test]
    fn address_keys_are_wire_octets() {
        let group = Ipv4Addr::new(239, 1, 2, 3);
        assert_eq!(addr_key(group).to_ne_bytes(), [239, 1, 2, 3]);
        assert_eq!(key_addr(addr_key(group)), group);
    }
}
