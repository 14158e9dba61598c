//! Properties of the wire views: what is emitted parses back to the same fields, the parser
//! never panics, and a parsed message emits to bytes that parse to the same message.
#![allow(
    unused_crate_dependencies,
    reason = "the package's dependencies are not all this test's"
)]

use mcastlab_common::{
    MAX_IGMP_LEN, MAX_IGMPV3_RECORDS, MAX_IGMPV3_RECORDS_PER_MTU, Reason,
    igmp::{V1_MEMBERSHIP_REPORT, V2_LEAVE_GROUP, V2_MEMBERSHIP_REPORT, V3_MEMBERSHIP_REPORT},
    wire::{
        checksum,
        igmp::{
            Igmp, IgmpHeader, V3RecordHeader, V3ReportWriter, fill_checksum, parse,
            parse_with_record_limit,
        },
        ipv4::Ipv4Header,
    },
};
use proptest::{collection::vec, prelude::*};

/// A group in 224.0.0.0/4, as its wire octets.
fn multicast() -> impl Strategy<Value = [u8; 4]> {
    (224u8..=239, any::<[u8; 3]>()).prop_map(|(first, [b, c, d])| [first, b, c, d])
}

/// One v3 record: type (including unknown ones), group, sources, words of auxiliary data.
fn record() -> impl Strategy<Value = (u8, [u8; 4], Vec<[u8; 4]>, usize)> {
    (0u8..=8, multicast(), vec(any::<[u8; 4]>(), 0..6), 0usize..3)
}

/// Asserts that a parsed message emits to bytes that parse to the same message.
fn assert_fixpoint(message: &Igmp<'_>) {
    let mut buf = [0u8; MAX_IGMP_LEN as usize];
    let len = message.emit(&mut buf).expect("a parsed message fits");
    assert_eq!(len, message.len());
    assert_eq!(parse(&buf[..len]).as_ref(), Ok(message));
}

proptest! {
    #[test]
    fn ipv4_headers_round_trip(
        source: [u8; 4],
        destination: [u8; 4],
        protocol: u8,
        ttl: u8,
        tos: u8,
        identification: u16,
        flags_fragment: u16,
        total_len: u16,
        options in vec(any::<[u8; 4]>(), 0..=10),
    ) {
        let options: Vec<u8> = options.concat();
        let header_len = Ipv4Header::LEN + options.len();
        let mut header = Ipv4Header::new(
            source, destination, protocol, ttl, header_len as u32, total_len,
        );
        header.set_tos(tos);
        header.set_identification(identification);
        header.set_flags_fragment(flags_fragment);
        header.fill_checksum(&options);
        let mut bytes = header.0.to_vec();
        bytes.extend_from_slice(&options);

        let parsed = Ipv4Header::parse(&bytes).expect("an IPv4 header");
        prop_assert_eq!(parsed.version(), 4);
        prop_assert_eq!(parsed.header_len() as usize, header_len);
        prop_assert_eq!(parsed.tos(), tos);
        prop_assert_eq!(parsed.total_len(), total_len);
        prop_assert_eq!(parsed.identification(), identification);
        prop_assert_eq!(parsed.flags_fragment(), flags_fragment);
        prop_assert_eq!(parsed.is_fragment(), flags_fragment & 0x3fff != 0);
        prop_assert_eq!(parsed.ttl(), ttl);
        prop_assert_eq!(parsed.protocol(), protocol);
        prop_assert_eq!(parsed.source(), source);
        prop_assert_eq!(parsed.destination(), destination);
        prop_assert!(parsed.checksum_verifies(&bytes[Ipv4Header::LEN..]));
        prop_assert!(checksum::verifies(&bytes));
    }

    #[test]
    fn v1_and_v2_messages_round_trip(
        kind in prop_oneof![
            Just(V1_MEMBERSHIP_REPORT),
            Just(V2_MEMBERSHIP_REPORT),
            Just(V2_LEAVE_GROUP),
        ],
        group in multicast(),
    ) {
        let message = match kind {
            V1_MEMBERSHIP_REPORT => Igmp::V1Report { group },
            V2_MEMBERSHIP_REPORT => Igmp::V2Report { group },
            _ => Igmp::V2Leave { group },
        };
        let mut bytes = [0u8; IgmpHeader::LEN];
        prop_assert_eq!(message.emit(&mut bytes), Ok(IgmpHeader::LEN));
        prop_assert_eq!(bytes[0], kind);
        prop_assert_eq!(&bytes[4..8], &group);
        prop_assert!(checksum::verifies(&bytes));
        prop_assert_eq!(parse(&bytes), Ok(message));
    }

    #[test]
    fn v1_and_v2_messages_for_a_unicast_group_are_malformed(
        kind in prop_oneof![
            Just(V1_MEMBERSHIP_REPORT),
            Just(V2_MEMBERSHIP_REPORT),
            Just(V2_LEAVE_GROUP),
        ],
        first in prop_oneof![0u8..224, 240u8..=255],
        rest: [u8; 3],
    ) {
        let mut bytes = IgmpHeader::new(kind, [first, rest[0], rest[1], rest[2]]).0;
        fill_checksum(&mut bytes);
        prop_assert_eq!(parse(&bytes), Err(Reason::Malformed));
    }

    #[test]
    fn v3_reports_round_trip(records in vec(record(), 0..=usize::from(MAX_IGMPV3_RECORDS))) {
        let len = IgmpHeader::LEN
            + records
                .iter()
                .map(|(_, _, sources, aux)| V3RecordHeader::LEN + 4 * (sources.len() + aux))
                .sum::<usize>();
        let mut bytes = vec![0u8; len];
        let mut writer = V3ReportWriter::new(&mut bytes).expect("fits");
        for (record_type, group, sources, aux) in &records {
            writer
                .push_record(*record_type, *group, sources, &vec![0xa5; aux * 4])
                .expect("fits");
        }
        prop_assert_eq!(writer.finish(), len);
        prop_assert_eq!(bytes[0], V3_MEMBERSHIP_REPORT);
        prop_assert!(checksum::verifies(&bytes));

        let Ok(Igmp::V3Report(report)) = parse(&bytes) else {
            panic!("a v3 report: {:?}", parse(&bytes));
        };
        prop_assert_eq!(usize::from(report.num_records()), records.len());
        prop_assert_eq!(report.records().count(), records.len());
        for (record, (record_type, group, sources, aux)) in report.records().zip(&records) {
            prop_assert_eq!(record.record_type(), *record_type);
            prop_assert_eq!(record.group(), *group);
            prop_assert_eq!(&record.sources().collect::<Vec<_>>(), sources);
            prop_assert_eq!(record.aux_data(), &vec![0xa5; aux * 4][..]);
        }
        let mut again = vec![0u8; len];
        prop_assert_eq!(Igmp::V3Report(report).emit(&mut again), Ok(len));
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn v3_reports_of_more_than_24_records_are_too_many(
        declared in (MAX_IGMPV3_RECORDS + 1)..=u16::MAX,
        records in vec(record(), 0..3),
    ) {
        let mut bytes = vec![0u8; MAX_IGMP_LEN as usize];
        let mut writer = V3ReportWriter::new(&mut bytes).expect("fits");
        for (record_type, group, sources, _) in &records {
            writer.push_record(*record_type, *group, sources, &[]).expect("fits");
        }
        let len = writer.finish_declaring(declared);
        prop_assert_eq!(parse(&bytes[..len]), Err(Reason::TooManyRecords));
    }

    #[test]
    fn a_report_is_refused_whole_exactly_when_it_declares_more_records_than_the_limit(
        limit in 1..=MAX_IGMPV3_RECORDS_PER_MTU,
        count in 0..=MAX_IGMPV3_RECORDS_PER_MTU,
    ) {
        // `count` records without sources for 239.0.x.y: 8 bytes each, at most a full MTU.
        let mut bytes = vec![0u8; IgmpHeader::LEN + usize::from(count) * V3RecordHeader::LEN];
        let mut writer = V3ReportWriter::new(&mut bytes).expect("fits");
        for i in 0..count {
            let [hi, lo] = i.to_be_bytes();
            writer.push_record(4, [239, 0, hi, lo], &[], &[]).expect("fits");
        }
        writer.finish();
        let parsed = parse_with_record_limit(&bytes, limit);
        if count > limit {
            prop_assert_eq!(parsed, Err(Reason::TooManyRecords));
        } else {
            let Ok(Igmp::V3Report(report)) = parsed else {
                panic!("a v3 report of {count} records under a limit of {limit}: {parsed:?}");
            };
            prop_assert_eq!(report.records().count(), usize::from(count));
        }
    }

    #[test]
    fn parse_never_panics(bytes in vec(any::<u8>(), 0..1600)) {
        if let Ok(message) = parse(&bytes) {
            assert_fixpoint(&message);
        }
    }

    /// Arbitrary bytes rarely carry a valid checksum; these do, and look like a v3 report of
    /// a few records, so the parser gets past the checksum into the records.
    #[test]
    fn parse_of_checksummed_bytes_never_panics_and_is_a_fixpoint(
        kind in prop_oneof![
            Just(V1_MEMBERSHIP_REPORT),
            Just(V2_MEMBERSHIP_REPORT),
            Just(V2_LEAVE_GROUP),
            Just(V3_MEMBERSHIP_REPORT),
            any::<u8>(),
        ],
        num_records in 0u16..=30,
        mut bytes in vec(any::<u8>(), 8..400),
    ) {
        bytes[0] = kind;
        bytes[6..8].copy_from_slice(&num_records.to_be_bytes());
        fill_checksum(&mut bytes);
        if let Ok(message) = parse(&bytes) {
            assert_fixpoint(&message);
        }
    }
}
