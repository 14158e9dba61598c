//! The querier's timers: each a named constant with its RFC 3376 default (section 8), and the
//! settings one agent runs with.

use std::time::Duration;

/// Robustness Variable (RFC 3376 section 8.1): how many lost messages the protocol tolerates.
pub const ROBUSTNESS: u8 = 2;
/// Query Interval (RFC 3376 section 8.2): between general queries.
pub const QUERY_INTERVAL: Duration = Duration::from_secs(125);
/// Query Response Interval (RFC 3376 section 8.3): the Max Resp Time of general queries.
pub const QUERY_RESPONSE_INTERVAL: Duration = Duration::from_secs(10);

/// Last Member Query Interval (RFC 3376 section 8.8): the Max Resp Time of Group-Specific
/// Queries after a leave, and the time between them.
pub const LAST_MEMBER_QUERY_INTERVAL: Duration = Duration::from_secs(1);

/// Query Interval of lab nodes: short, so that tests and the demo see a full cycle.
pub const LAB_QUERY_INTERVAL: Duration = Duration::from_secs(10);
/// Query Response Interval of lab nodes: pods answer a query within a second.
pub const LAB_QUERY_RESPONSE_INTERVAL: Duration = Duration::from_secs(1);

/// Between the repeats of a node's membership change announcement (RFC 3376 section 8.11's
/// Unsolicited Report Interval, whose role it plays): a change is sent Robustness times, this
/// far apart, so that one lost message does not leave another node stale until the next
/// refresh.
pub const CHANGE_REPEAT_INTERVAL: Duration = Duration::from_secs(1);

/// How often the agent looks for groups that appeared (a `group add`, a new attach): each one
/// starts a round of startup queries, so that pods that joined before are learned within one
/// response interval. Not an RFC timer: the group map has no change notification.
pub const GROUP_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The querier settings of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Between general queries.
    pub query_interval: Duration,
    /// Max Resp Time of general queries.
    pub query_response_interval: Duration,
    /// Robustness Variable: startup queries sent, general queries a member may miss, and
    /// Group-Specific Queries sent after a leave (Last Member Query Count, section 8.9).
    pub robustness: u8,
    /// Max Resp Time of Group-Specific Queries and the time between them.
    pub last_member_query_interval: Duration,
}

impl Settings {
    /// RFC 3376's defaults, what a router uses.
    pub const RFC: Settings = Settings {
        query_interval: QUERY_INTERVAL,
        query_response_interval: QUERY_RESPONSE_INTERVAL,
        robustness: ROBUSTNESS,
        last_member_query_interval: LAST_MEMBER_QUERY_INTERVAL,
    };

    /// The defaults of lab nodes (`mcastlab up`, the demo, the e2e suite).
    pub const LAB: Settings = Settings {
        query_interval: LAB_QUERY_INTERVAL,
        query_response_interval: LAB_QUERY_RESPONSE_INTERVAL,
        robustness: ROBUSTNESS,
        last_member_query_interval: LAST_MEMBER_QUERY_INTERVAL,
    };

    /// Startup Query Interval (RFC 3376 section 8.6): a quarter of the Query Interval.
    pub fn startup_query_interval(&self) -> Duration {
        self.query_interval / 4
    }

    /// Startup Query Count (RFC 3376 section 8.7): the Robustness Variable.
    pub fn startup_query_count(&self) -> u32 {
        u32::from(self.robustness)
    }

    /// Last Member Query Count (RFC 3376 section 8.9): Group-Specific Queries sent after a
    /// leave.
    pub fn last_member_query_count(&self) -> u32 {
        u32::from(self.robustness)
    }

    /// Last Member Query Time (RFC 3376 section 8.10): count x interval; a member that left and
    /// did not answer for this long is gone.
    pub fn last_member_query_time(&self) -> Duration {
        self.last_member_query_interval * self.last_member_query_count()
    }

    /// Older Host Present Interval (RFC 3376 section 8.13): how long after an IGMPv1 report
    /// leaves of its group are ignored; the Group Membership Interval.
    pub fn older_host_present_interval(&self) -> Duration {
        self.group_membership_interval()
    }

    /// Group Membership Interval (RFC 3376 section 8.4): robustness x query interval + query
    /// response interval; a member not heard for this long is gone.
    pub fn group_membership_interval(&self) -> Duration {
        self.query_interval * u32::from(self.robustness) + self.query_response_interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_timers_follow_rfc_3376() {
        let rfc = Settings::RFC;
        assert_eq!(rfc.startup_query_interval(), Duration::from_millis(31_250));
        assert_eq!(rfc.startup_query_count(), 2);
        // 2 x 125 s + 10 s: the bridge's 260 s membership interval.
        assert_eq!(rfc.group_membership_interval(), Duration::from_secs(260));
        assert_eq!(
            Settings::LAB.group_membership_interval(),
            Duration::from_secs(21)
        );
    }
}
