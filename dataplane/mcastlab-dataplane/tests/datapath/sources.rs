//! Source filters (RFC 3376 section 6 per member, `mcastlab_common::sources`): what each
//! IGMPv3 record does to a member's filter, which copies a filter lets through, and the
//! source-specific range, where any-source memberships are refused (RFC 4604 section 2.2.1).

use mcastlab_dataplane::{FilterMode, MemberFilter};

use super::*;

/// Sources named in the records (any unicast addresses do; S1 is pod 1, which sends below).
const S1: Ipv4Addr = POD1;
const S2: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const S3: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 3);
/// A group in the source-specific range 232.0.0.0/8.
const SSM_GROUP: Ipv4Addr = Ipv4Addr::new(232, 1, 1, 1);

fn include(sources: &[Ipv4Addr]) -> MemberFilter {
    MemberFilter {
        mode: FilterMode::Include,
        sources: sources.to_vec(),
    }
}

fn exclude(sources: &[Ipv4Addr]) -> MemberFilter {
    MemberFilter {
        mode: FilterMode::Exclude,
        sources: sources.to_vec(),
    }
}

/// Sends one IGMPv3 report of one record from pod `pod` behind `iface`; returns the counter
/// changes.
fn send_record(
    node: &TestNode,
    iface: &str,
    pod: Ipv4Addr,
    record_type: u8,
    group: Ipv4Addr,
    sources: &[Ipv4Addr],
) -> std::collections::BTreeMap<&'static str, u64> {
    let record = GroupRecord::new(record_type, group).with_sources(sources.to_vec());
    send_igmp(
        node,
        iface,
        pod,
        &IgmpMessage::V3Report(vec![record]).frame(pod),
    )
}

/// The filters of `group`'s members, by address.
fn filters(node: &TestNode, group: Ipv4Addr) -> Vec<(Ipv4Addr, MemberFilter)> {
    subscribers(node, group)
        .into_iter()
        .map(|s| (s.address, s.filter))
        .collect()
}

#[test]
fn each_record_changes_the_members_filter_as_rfc3376_says_for_one_member() {
    require_datapath!();
    let node = node_with_group(1);
    let steps: [(u8, &[Ipv4Addr], Reason, Option<MemberFilter>); 7] = [
        // Given pod 1 not subscribed: ALLOW{S1} joins INCLUDE{S1}.
        (
            record::ALLOW_NEW_SOURCES,
            &[S1],
            Reason::Subscribed,
            Some(include(&[S1])),
        ),
        // INCLUDE(A) + ALLOW(B) = INCLUDE(A+B).
        (
            record::ALLOW_NEW_SOURCES,
            &[S2],
            Reason::JoinRefreshed,
            Some(include(&[S1, S2])),
        ),
        // INCLUDE(A) + BLOCK(B) = INCLUDE(A-B).
        (
            record::BLOCK_OLD_SOURCES,
            &[S1],
            Reason::JoinRefreshed,
            Some(include(&[S2])),
        ),
        // BLOCK of the last included source is a leave.
        (record::BLOCK_OLD_SOURCES, &[S2], Reason::Left, None),
        // TO_EX(B) joins EXCLUDE(B).
        (
            record::CHANGE_TO_EXCLUDE_MODE,
            &[S3],
            Reason::Subscribed,
            Some(exclude(&[S3])),
        ),
        // EXCLUDE(X) + BLOCK(A) = EXCLUDE(X+A); EXCLUDE(X) + ALLOW(A) = EXCLUDE(X-A).
        (
            record::BLOCK_OLD_SOURCES,
            &[S2],
            Reason::JoinRefreshed,
            Some(exclude(&[S2, S3])),
        ),
        (
            record::ALLOW_NEW_SOURCES,
            &[S2, S3],
            Reason::JoinRefreshed,
            Some(exclude(&[])),
        ),
    ];
    for (i, (record_type, sources, reason, filter)) in steps.into_iter().enumerate() {
        // When pod 1 sends the step's record.
        let changes = send_record(&node, "h1", POD1, record_type, GROUP, sources);
        // Then it is counted as the step says, and the filter is the step's.
        assert_eq!(
            changes,
            expect(&[(Reason::IgmpHandled, 1), (reason, 1)]),
            "step {i}"
        );
        let expected: Vec<(Ipv4Addr, MemberFilter)> =
            filter.into_iter().map(|filter| (POD1, filter)).collect();
        assert_eq!(filters(&node, GROUP), expected, "step {i}");
    }
    // A filter of EXCLUDE{} (any source) holds no entry of the source map.
    assert_eq!(node.node.groups().expect("table").source_filter_count(), 0);
}

#[test]
fn a_copy_goes_only_to_members_whose_filter_lets_its_source_through() {
    require_datapath!();
    const POD4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 14);
    // Given pod 2 in INCLUDE{pod 1}, pod 3 in INCLUDE{S2}, pod 4 in EXCLUDE{pod 1}, and pod 1
    // (the sender) a member of every source with IGMPv2.
    let node = node_with_group(4);
    send_record(&node, "h2", POD2, record::MODE_IS_INCLUDE, GROUP, &[S1]);
    send_record(&node, "h3", POD3, record::MODE_IS_INCLUDE, GROUP, &[S2]);
    send_record(&node, "h4", POD4, record::MODE_IS_EXCLUDE, GROUP, &[S1]);
    // When pod 1 sends two datagrams to the group.
    let changes = send_datagrams(&node, GROUP, 2);
    // Then only pod 2 gets copies; pods 3 and 4 refuse pod 1's source.
    assert_eq!(
        changes,
        expect(&[
            (Reason::Replicated, 2),
            (Reason::CopyLocal, 2),
            (Reason::SourceFiltered, 4),
        ])
    );
    assert_eq!(
        deliveries(&node, GROUP),
        [(POD2, 2, 200), (POD3, 0, 0), (POD4, 0, 0)]
    );

    // When pod 3 moves to every source with IGMPv2 and pod 4 allows pod 1 again.
    send_igmp(&node, "h3", POD3, &IgmpMessage::V2Report(GROUP).frame(POD3));
    send_record(&node, "h4", POD4, record::ALLOW_NEW_SOURCES, GROUP, &[S1]);
    let changes = send_datagrams(&node, GROUP, 1);
    // Then all three get the next datagram.
    assert_eq!(
        changes,
        expect(&[(Reason::Replicated, 1), (Reason::CopyLocal, 3)])
    );
    assert_eq!(
        deliveries(&node, GROUP),
        [(POD2, 3, 300), (POD3, 1, 100), (POD4, 1, 100)]
    );
}

#[test]
fn the_source_specific_range_refuses_any_source_membership() {
    require_datapath!();
    let node = TestNode::new(1);
    node.node
        .groups()
        .expect("group table")
        .add_group(SSM_GROUP)
        .expect("add group");
    let refused = expect(&[(Reason::IgmpHandled, 1), (Reason::SsmAnySourceIgnored, 1)]);
    // When pod 1 asks for every source of a 232/8 group with IGMPv2 and with IGMPv3 TO_EX{}.
    let v2 = send_igmp(
        &node,
        "h1",
        POD1,
        &IgmpMessage::V2Report(SSM_GROUP).frame(POD1),
    );
    let to_ex = send_record(
        &node,
        "h1",
        POD1,
        record::CHANGE_TO_EXCLUDE_MODE,
        SSM_GROUP,
        &[],
    );
    // Then both are refused and counted.
    assert_eq!(v2, refused);
    assert_eq!(to_ex, refused);
    assert!(subscribers(&node, SSM_GROUP).is_empty());

    // When pod 1 asks for one source (the SSM model).
    let joined = send_record(&node, "h1", POD1, record::MODE_IS_INCLUDE, SSM_GROUP, &[S2]);
    // Then it is a member of that source.
    assert_eq!(
        joined,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Subscribed, 1)])
    );
    assert_eq!(filters(&node, SSM_GROUP), [(POD1, include(&[S2]))]);
    // When it sends an IGMPv2 leave or a BLOCK{S3} (a source it has not): Then it stays.
    let v2_leave = send_igmp(
        &node,
        "h1",
        POD1,
        &IgmpMessage::V2Leave(SSM_GROUP).frame(POD1),
    );
    assert_eq!(v2_leave, refused);
    let block = send_record(
        &node,
        "h1",
        POD1,
        record::BLOCK_OLD_SOURCES,
        SSM_GROUP,
        &[S3],
    );
    assert_eq!(
        block,
        expect(&[(Reason::IgmpHandled, 1), (Reason::JoinRefreshed, 1)])
    );
    // When it asks for EXCLUDE{S2} (any source but S2). Then that is refused: it keeps S2.
    let to_ex = send_record(
        &node,
        "h1",
        POD1,
        record::CHANGE_TO_EXCLUDE_MODE,
        SSM_GROUP,
        &[S2],
    );
    assert_eq!(to_ex, refused);
    assert_eq!(filters(&node, SSM_GROUP), [(POD1, include(&[S2]))]);
}

#[test]
fn a_source_list_past_the_bound_gets_every_source_and_is_counted() {
    require_datapath!();
    let node = node_with_group(1);
    let bound = mcastlab_common::sources::MAX_SOURCES_PER_MEMBER as u8;
    let sources: Vec<Ipv4Addr> = (1..=bound + 1)
        .map(|i| Ipv4Addr::new(10, 8, 0, i))
        .collect();
    // When pod 1 asks for exactly the bound, then for one source more.
    let at_bound = send_record(
        &node,
        "h1",
        POD1,
        record::MODE_IS_INCLUDE,
        GROUP,
        &sources[..usize::from(bound)],
    );
    let listed = filters(&node, GROUP);
    let past = send_record(&node, "h1", POD1, record::MODE_IS_INCLUDE, GROUP, &sources);
    // Then the bound is kept as asked; one more gives every source, counted.
    assert_eq!(
        at_bound,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Subscribed, 1)])
    );
    assert_eq!(listed, [(POD1, include(&sources[..usize::from(bound)]))]);
    assert_eq!(
        past,
        expect(&[
            (Reason::IgmpHandled, 1),
            (Reason::SourceListOverflow, 1),
            (Reason::JoinRefreshed, 1),
        ])
    );
    assert_eq!(filters(&node, GROUP), [(POD1, exclude(&[]))]);
}

#[test]
fn removing_a_member_removes_its_filter() {
    require_datapath!();
    // Given pods 1 and 2 with source filters in the group.
    let node = node_with_group(2);
    send_record(&node, "h1", POD1, record::MODE_IS_INCLUDE, GROUP, &[S2]);
    send_record(&node, "h2", POD2, record::MODE_IS_EXCLUDE, GROUP, &[S2]);
    let mut table = node.node.groups().expect("group table");
    assert_eq!(table.source_filter_count(), 2);
    // When pod 1 is deleted by hand and pod 2's veth is cleaned up as a gone pod's.
    table.delete_subscriber(GROUP, POD1).expect("delete pod 1");
    let h2 = subscribers(&node, GROUP)
        .iter()
        .find(|s| s.address == POD2)
        .expect("pod 2")
        .ifindex;
    table.delete_subscribers_behind(h2).expect("pod 2 gone");
    // Then no filter is left.
    assert_eq!(table.source_filter_count(), 0);
    // When pod 2 joins again with a filter, and the group is deleted.
    send_record(&node, "h2", POD2, record::MODE_IS_INCLUDE, GROUP, &[S2]);
    assert_eq!(table.source_filter_count(), 1);
    table.delete_group(GROUP).expect("delete the group");
    // Then the group's filters go with it.
    assert_eq!(table.source_filter_count(), 0);
}
