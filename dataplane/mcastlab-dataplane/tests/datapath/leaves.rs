//! What a leave does besides removing the member: nothing while an IGMPv1 host behind the same
//! veth reported the group recently (RFC 2236 section 4), and only a pending leave while fast
//! leave is off.

use super::*;

#[test]
fn with_fast_leave_off_a_leave_is_pending_and_the_member_stays() {
    require_datapath!();
    // Given pod 1 subscribed on a node with fast leave off.
    let node = node_with_group(1);
    node.node.set_fast_leave(false).expect("fast leave off");
    send_igmp(&node, "h1", POD1, &IgmpMessage::V2Report(GROUP).frame(POD1));
    // When pod 1 leaves, with IGMPv2 and with an IGMPv3 TO_IN({}) record.
    let v2 = send_igmp(&node, "h1", POD1, &IgmpMessage::V2Leave(GROUP).frame(POD1));
    let to_in = vec![GroupRecord::new(record::CHANGE_TO_INCLUDE_MODE, GROUP)];
    let v3 = send_igmp(&node, "h1", POD1, &IgmpMessage::V3Report(to_in).frame(POD1));
    // Then each leave is pending, and pod 1 stays a member (the agent asks before it goes).
    let pending = expect(&[(Reason::IgmpHandled, 1), (Reason::LeavePending, 1)]);
    assert_eq!(v2, pending);
    assert_eq!(v3, pending);
    assert_eq!(addresses(&subscribers(&node, GROUP)), vec![POD1]);

    // When fast leave is on again. Then the next leave removes pod 1 at once.
    node.node.set_fast_leave(true).expect("fast leave on");
    let leave = send_igmp(&node, "h1", POD1, &IgmpMessage::V2Leave(GROUP).frame(POD1));
    assert_eq!(
        leave,
        expect(&[(Reason::IgmpHandled, 1), (Reason::Left, 1)])
    );
    assert_eq!(
        addresses(&subscribers(&node, GROUP)),
        Vec::<Ipv4Addr>::new()
    );
}

#[test]
fn a_leave_is_ignored_while_an_igmpv1_host_behind_its_veth_reported_the_group() {
    require_datapath!();
    // Given an IGMPv1 host behind h1 reported the group, and pod 2 joined with IGMPv2.
    let node = node_with_group(2);
    send_igmp(&node, "h1", POD1, &IgmpMessage::V1Report(GROUP).frame(POD1));
    send_igmp(&node, "h2", POD2, &IgmpMessage::V2Report(GROUP).frame(POD2));
    // When a leave comes from behind h1 (another host there), and from pod 2.
    let behind_v1 = send_igmp(&node, "h1", POD1, &IgmpMessage::V2Leave(GROUP).frame(POD1));
    let pod2 = send_igmp(&node, "h2", POD2, &IgmpMessage::V2Leave(GROUP).frame(POD2));
    // Then h1's leave is ignored (a v1 host cannot leave; its membership stays until it ages
    // out), and pod 2's, behind a veth without a v1 host, removes pod 2.
    assert_eq!(
        behind_v1,
        expect(&[(Reason::IgmpHandled, 1), (Reason::LeaveIgnoredV1Host, 1)])
    );
    assert_eq!(pod2, expect(&[(Reason::IgmpHandled, 1), (Reason::Left, 1)]));
    assert_eq!(addresses(&subscribers(&node, GROUP)), vec![POD1]);

    // When the Older Host Present Interval (shortened to 1 ms) has passed since the v1 report.
    node.node
        .set_older_host_present(Duration::from_millis(1))
        .expect("set the interval");
    std::thread::sleep(Duration::from_millis(5));
    // Then h1's next leave removes it.
    let late = send_igmp(&node, "h1", POD1, &IgmpMessage::V2Leave(GROUP).frame(POD1));
    assert_eq!(late, expect(&[(Reason::IgmpHandled, 1), (Reason::Left, 1)]));
    assert_eq!(
        addresses(&subscribers(&node, GROUP)),
        Vec::<Ipv4Addr>::new()
    );
}
