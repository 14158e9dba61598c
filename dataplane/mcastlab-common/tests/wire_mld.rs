//! Properties of the IPv6 and MLD wire views: the parsers never panic, what is emitted parses
//! back to the same records, and a parsed message emits to bytes that parse to the same
//! message.
#![allow(
    unused_crate_dependencies,
    reason = "the package's dependencies are not all this test's"
)]

use mcastlab_common::{
    MAX_MLD_LEN, Reason,
    wire::{
        ipv6::{HopByHopHeader, is_link_scope_group, is_multicast, multicast_scope},
        mld::{
            ALL_MLDV2_ROUTERS, MAX_CODED_RESPONSE_MS, Mld, V2ReportWriter, decode_max_resp_code,
            encode_max_resp_code, parse, parse_packet,
        },
    },
};
use proptest::{collection::vec, prelude::*};

/// fe80::1, the source of the reports.
const SOURCE: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// A group in ff00::/8, as its wire octets.
fn multicast() -> impl Strategy<Value = [u8; 16]> {
    any::<[u8; 15]>().prop_map(|rest| {
        let mut group = [0xff; 16];
        group[1..].copy_from_slice(&rest);
        group
    })
}

/// One v2 record: type (including unknown ones), group, sources, words of auxiliary data.
fn record() -> impl Strategy<Value = (u8, [u8; 16], Vec<[u8; 16]>, usize)> {
    (
        0u8..=8,
        multicast(),
        vec(any::<[u8; 16]>(), 0..4),
        0usize..3,
    )
}

proptest! {
    #[test]
    fn the_parsers_never_panic(bytes in vec(any::<u8>(), 0..160), destination: [u8; 16]) {
        let _ = parse_packet(&bytes);
        let _ = parse(SOURCE, destination, &bytes);
    }

    #[test]
    fn the_hop_by_hop_walk_never_panics(header: [u8; 8]) {
        let _ = HopByHopHeader(header).check_mld();
    }

    #[test]
    fn reports_round_trip(records in vec(record(), 0..8)) {
        let mut buf = [0u8; MAX_MLD_LEN as usize];
        let mut writer = V2ReportWriter::new(&mut buf).expect("fits");
        for (record_type, group, sources, aux_words) in &records {
            writer
                .push_record(*record_type, *group, sources, &vec![0xaa; aux_words * 4])
                .expect("fits");
        }
        let len = writer.finish(SOURCE, ALL_MLDV2_ROUTERS);
        let parsed = parse(SOURCE, ALL_MLDV2_ROUTERS, &buf[..len]);
        let Ok(Mld::V2Report(report)) = parsed else {
            panic!("a v2 report, got {parsed:?}");
        };
        prop_assert_eq!(report.len(), len);
        prop_assert_eq!(report.records().count(), records.len());
        for (parsed, (record_type, group, sources, aux_words)) in report.records().zip(&records) {
            prop_assert_eq!(parsed.record_type(), *record_type);
            prop_assert_eq!(parsed.group(), *group);
            prop_assert_eq!(parsed.sources().collect::<Vec<_>>(), sources.clone());
            prop_assert_eq!(parsed.aux_data().len(), aux_words * 4);
        }
        let message = Mld::V2Report(report);
        let mut again = [0u8; MAX_MLD_LEN as usize];
        let len = message.emit(SOURCE, ALL_MLDV2_ROUTERS, &mut again).expect("fits");
        prop_assert_eq!(parse(SOURCE, ALL_MLDV2_ROUTERS, &again[..len]), Ok(message));
    }

    #[test]
    fn a_flipped_bit_never_verifies(records in vec(record(), 1..4), bit in 0usize..64) {
        let mut buf = [0u8; MAX_MLD_LEN as usize];
        let mut writer = V2ReportWriter::new(&mut buf).expect("fits");
        for (record_type, group, sources, _) in &records {
            writer.push_record(*record_type, *group, sources, &[]).expect("fits");
        }
        let len = writer.finish(SOURCE, ALL_MLDV2_ROUTERS);
        buf[bit / 8] ^= 1 << (bit % 8);
        prop_assert_eq!(
            parse(SOURCE, ALL_MLDV2_ROUTERS, &buf[..len]).map(|_| ()),
            Err(Reason::BadChecksum)
        );
    }

    #[test]
    fn max_resp_codes_are_the_largest_not_above_the_value(value in 0u32..=MAX_CODED_RESPONSE_MS) {
        let code = encode_max_resp_code(value);
        prop_assert!(decode_max_resp_code(code) <= value);
        if code < u16::MAX {
            prop_assert!(decode_max_resp_code(code + 1) > value);
        }
    }

    #[test]
    fn link_scope_is_scope_two_and_below(address: [u8; 16]) {
        prop_assert_eq!(
            is_link_scope_group(address),
            address[0] == 0xff && multicast_scope(address) <= 2
        );
        prop_assert_eq!(is_multicast(address), address[0] == 0xff);
    }
}
