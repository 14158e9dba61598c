//! Reason codes: why the dataplane counted a packet, a record or a copy.
//!
//! Each code is an index into the per-CPU counter array [`crate::names::MAP_REASONS`].
//! Codes only grow: a retired code keeps its number and its name.

/// One counter of the dataplane. The discriminant is the counter's slot.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// An IGMP message from a pod was parsed and consumed (not forwarded), whatever its effect.
    IgmpHandled = 0,
    /// A join added a new subscriber to a configured group.
    Subscribed = 1,
    /// A join for a subscriber already present (reports are repeated); nothing changed.
    JoinRefreshed = 2,
    /// A leave removed a subscriber.
    Left = 3,
    /// A leave for a subscriber that was not subscribed; nothing changed.
    LeaveNotSubscribed = 4,
    /// A join or leave for a group that is not configured; ignored (Cilium parity).
    IgnoredGroup = 5,
    /// An IGMPv3 report with more records than the node's limit (`NodeConfig::record_limit`,
    /// `MAX_IGMPV3_RECORDS` unless set); rejected whole.
    TooManyRecords = 6,
    /// A truncated or inconsistent IGMP message (lengths, non-multicast group, fragment).
    Malformed = 7,
    /// An IGMP message whose checksum does not verify.
    BadChecksum = 8,
    /// An IGMP message that is not a report or leave (a query, an unknown type); consumed.
    IgmpUnhandledType = 9,
    /// An IGMPv3 record that changes no any-source membership (BLOCK_OLD_SOURCES, unknown type,
    /// ALLOW_NEW_SOURCES without sources).
    RecordNoEffect = 10,
    /// A join refused because the group already holds `MAX_SUBSCRIBERS_PER_GROUP` subscribers.
    SubscriberTableFull = 11,
    /// A packet from a pod to a configured group was replicated (once per packet).
    Replicated = 12,
    /// A copy was cloned to a local subscriber's veth.
    CopyLocal = 13,
    /// A copy was cloned into the tunnel towards a remote node.
    CopyRemote = 14,
    /// `bpf_clone_redirect` failed for one subscriber; that copy is lost.
    CloneFailed = 15,
    /// Setting the tunnel key for a remote copy failed; that copy is lost.
    TunnelKeyFailed = 16,
    /// A remote subscriber exists but the node has no tunnel configured; that copy is lost.
    NoTunnel = 17,
    /// Multicast to a group that is not configured; passed untouched.
    UnconfiguredPassed = 18,
    /// A packet from the overlay to a configured group was delivered to local subscribers.
    OverlayDelivered = 19,
    /// A packet from the overlay carried a VNI other than the node's; passed untouched.
    OverlayForeignVni = 20,
    /// Rewriting the destination MAC failed; the packet was dropped.
    RewriteFailed = 21,
    /// A join or leave whose subscriber map update failed for another reason (such as a high-water
    /// mark that stayed below the claimed slot for `slots::RAISE_ATTEMPTS`).
    SubscriberUpdateFailed = 22,
    /// The node agent removed a local subscriber whose pod veth is gone (counted by the agent,
    /// once per membership).
    MemberPodGone = 23,
    /// The node agent removed a local subscriber not heard (no join, no answer to a query) for
    /// the Group Membership Interval (counted by the agent).
    MemberExpired = 24,
    /// A node membership message (`wire::membership`) that is not exactly its layout, or whose
    /// node address is not the datagram's source; dropped whole (counted by the agent).
    MembershipMalformed = 25,
    /// A node membership message of another lab (lab id) or from outside the lab's underlay
    /// prefix; dropped whole (counted by the agent).
    MembershipForeign = 26,
    /// A membership record for a group this node does not have configured; ignored (counted
    /// by the agent).
    MembershipIgnoredGroup = 27,
    /// The agent added a remote node as a learned subscriber of a group: the node announced
    /// local members of it.
    RemoteLearned = 28,
    /// The agent removed a learned remote subscriber: its node announced that its last local
    /// member of the group left.
    RemoteWithdrawn = 29,
    /// The agent removed a learned remote subscriber whose node did not refresh it for the
    /// Group Membership Interval (a node that died, or whose agent stopped).
    RemoteExpired = 30,
    /// An IGMP report or leave whose source is neither the address its veth's pod owns (the pod
    /// map) nor 0.0.0.0; counted once per message, nothing changed.
    SpoofedSource = 31,
    /// An IGMP report or leave from a veth with no pod identity in the pod map; counted once per
    /// message, nothing changed (set one with `mcastlab pod set`).
    NoPodIdentity = 32,
    /// A join or leave of a group in 224.0.0.0/24 (RFC 5771's Local Network Control Block),
    /// which never becomes a membership; nothing changed.
    LinkLocalGroup = 33,
    /// A membership event (`events::MembershipEvent`) found the event ring buffer full and was
    /// dropped: no agent is reading it, or it reads too slowly. The change itself happened.
    EventsLost = 34,
    /// A leave of a member while fast leave is off (`CONFIG_NO_FAST_LEAVE`): the member stays
    /// until the node agent's Group-Specific Queries go unanswered.
    LeavePending = 35,
    /// The node agent removed a member after a pending leave: nobody behind its veth answered
    /// the Group-Specific Queries (counted by the agent).
    LeaveConfirmed = 36,
    /// A leave ignored because an IGMPv1 host behind the same veth reported the group within
    /// the Older Host Present Interval (RFC 2236 section 4): v1 hosts cannot leave.
    LeaveIgnoredV1Host = 37,
    /// A copy not sent: the packet's source does not pass the member's source filter
    /// (`mcastlab_common::sources`), e.g. a source an INCLUDE member did not ask for.
    SourceFiltered = 38,
    /// An any-source membership refused in the source-specific range 232.0.0.0/8 (RFC 4607):
    /// an IGMPv1/v2 report or leave, or a record that leaves the member in EXCLUDE mode
    /// (RFC 4604 section 2.2.1).
    SsmAnySourceIgnored = 39,
    /// A member's source list grew past `MAX_SOURCES_PER_MEMBER`: the member gets every source
    /// (EXCLUDE{}) until a report fits the bound again.
    SourceListOverflow = 40,
    /// The source filter map is full: a member that asked for a filter gets every source.
    SourceFiltersFull = 41,
    /// An MLD message from a pod, consumed (one per message, whatever it did): the IPv6
    /// counterpart of `IgmpHandled`.
    MldHandled = 42,
    /// An MLD message (ICMPv6 type 130, 131, 132 or 143) without a Hop-by-Hop header carrying
    /// Router Alert value 0 (RFC 2710 section 3, RFC 3810 section 5): dropped.
    MldNoRouterAlert = 43,
    /// An MLD report or done whose IPv6 source is neither link-local nor `::` (RFC 3810
    /// section 5.2.13, RFC 2710 section 3): dropped.
    MldSourceNotLinkLocal = 44,
    /// A step of the node agent's loop failed (a map it could not read or write, a message it
    /// could not send), or a membership record from another node could not be applied; the
    /// agent logged it and went on (counted by the agent, when the counter itself can be
    /// written).
    AgentStepFailed = 45,
}

impl Reason {
    /// Every reason, in code order.
    pub const ALL: [Reason; 46] = [
        Reason::IgmpHandled,
        Reason::Subscribed,
        Reason::JoinRefreshed,
        Reason::Left,
        Reason::LeaveNotSubscribed,
        Reason::IgnoredGroup,
        Reason::TooManyRecords,
        Reason::Malformed,
        Reason::BadChecksum,
        Reason::IgmpUnhandledType,
        Reason::RecordNoEffect,
        Reason::SubscriberTableFull,
        Reason::Replicated,
        Reason::CopyLocal,
        Reason::CopyRemote,
        Reason::CloneFailed,
        Reason::TunnelKeyFailed,
        Reason::NoTunnel,
        Reason::UnconfiguredPassed,
        Reason::OverlayDelivered,
        Reason::OverlayForeignVni,
        Reason::RewriteFailed,
        Reason::SubscriberUpdateFailed,
        Reason::MemberPodGone,
        Reason::MemberExpired,
        Reason::MembershipMalformed,
        Reason::MembershipForeign,
        Reason::MembershipIgnoredGroup,
        Reason::RemoteLearned,
        Reason::RemoteWithdrawn,
        Reason::RemoteExpired,
        Reason::SpoofedSource,
        Reason::NoPodIdentity,
        Reason::LinkLocalGroup,
        Reason::EventsLost,
        Reason::LeavePending,
        Reason::LeaveConfirmed,
        Reason::LeaveIgnoredV1Host,
        Reason::SourceFiltered,
        Reason::SsmAnySourceIgnored,
        Reason::SourceListOverflow,
        Reason::SourceFiltersFull,
        Reason::MldHandled,
        Reason::MldNoRouterAlert,
        Reason::MldSourceNotLinkLocal,
        Reason::AgentStepFailed,
    ];

    /// Whether only userspace (the node agent) counts this reason, never a program: its
    /// per-CPU slot can then be updated from userspace without losing a program's count.
    pub const fn is_agent_reason(self) -> bool {
        matches!(
            self,
            Reason::MemberPodGone
                | Reason::MemberExpired
                | Reason::MembershipMalformed
                | Reason::MembershipForeign
                | Reason::MembershipIgnoredGroup
                | Reason::RemoteLearned
                | Reason::RemoteWithdrawn
                | Reason::RemoteExpired
                | Reason::LeaveConfirmed
                | Reason::AgentStepFailed
        )
    }

    /// The counter slot of this reason.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The reason with code `code`, if it exists.
    pub const fn from_code(code: u32) -> Option<Reason> {
        if (code as usize) < Self::ALL.len() {
            Some(Self::ALL[code as usize])
        } else {
            None
        }
    }

    /// Stable snake_case name, used in `mcastlab stats` and its JSON output.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::IgmpHandled => "igmp_handled",
            Reason::Subscribed => "subscribed",
            Reason::JoinRefreshed => "join_refreshed",
            Reason::Left => "left",
            Reason::LeaveNotSubscribed => "leave_not_subscribed",
            Reason::IgnoredGroup => "ignored_group",
            Reason::TooManyRecords => "too_many_records",
            Reason::Malformed => "malformed",
            Reason::BadChecksum => "bad_checksum",
            Reason::IgmpUnhandledType => "igmp_unhandled_type",
            Reason::RecordNoEffect => "record_no_effect",
            Reason::SubscriberTableFull => "subscriber_table_full",
            Reason::Replicated => "replicated",
            Reason::CopyLocal => "copy_local",
            Reason::CopyRemote => "copy_remote",
            Reason::CloneFailed => "clone_failed",
            Reason::TunnelKeyFailed => "tunnel_key_failed",
            Reason::NoTunnel => "no_tunnel",
            Reason::UnconfiguredPassed => "unconfigured_passed",
            Reason::OverlayDelivered => "overlay_delivered",
            Reason::OverlayForeignVni => "overlay_foreign_vni",
            Reason::RewriteFailed => "rewrite_failed",
            Reason::SubscriberUpdateFailed => "subscriber_update_failed",
            Reason::MemberPodGone => "member_pod_gone",
            Reason::MemberExpired => "member_expired",
            Reason::MembershipMalformed => "membership_malformed",
            Reason::MembershipForeign => "membership_foreign",
            Reason::MembershipIgnoredGroup => "membership_ignored_group",
            Reason::RemoteLearned => "remote_learned",
            Reason::RemoteWithdrawn => "remote_withdrawn",
            Reason::RemoteExpired => "remote_expired",
            Reason::SpoofedSource => "spoofed_source",
            Reason::NoPodIdentity => "no_pod_identity",
            Reason::LinkLocalGroup => "link_local_group",
            Reason::EventsLost => "events_lost",
            Reason::LeavePending => "leave_pending",
            Reason::LeaveConfirmed => "leave_confirmed",
            Reason::LeaveIgnoredV1Host => "leave_ignored_v1_host",
            Reason::SourceFiltered => "source_filtered",
            Reason::SsmAnySourceIgnored => "ssm_any_source_ignored",
            Reason::SourceListOverflow => "source_list_overflow",
            Reason::SourceFiltersFull => "source_filters_full",
            Reason::MldHandled => "mld_handled",
            Reason::MldNoRouterAlert => "mld_no_router_alert",
            Reason::MldSourceNotLinkLocal => "mld_source_not_link_local",
            Reason::AgentStepFailed => "agent_step_failed",
        }
    }
}

// Codes are dense, ordered and fit the counter array.
const _: () = {
    let mut i = 0;
    while i < Reason::ALL.len() {
        assert!(Reason::ALL[i] as u32 == i as u32);
        i += 1;
    }
    assert!(Reason::ALL.len() as u32 <= crate::REASON_SLOTS);
};
