//! The reason counters and the per-member delivery counters as Prometheus metrics: `mcastlab
//! stats -o prometheus` prints them, and the agent's `/metrics` endpoint serves the same text.
//!
//! The text is the OpenMetrics exposition format (what `prometheus-client` writes, which
//! Prometheus scrapes as it does its own text format), three counter families:
//!
//! - `mcastlab_packets_total{node="...",reason="..."}`, one sample per reason of each node;
//! - `mcastlab_member_delivered_packets_total{node,group,member,iface}` and
//!   `mcastlab_member_delivered_bytes_total{...}`, one sample per member of each group: the
//!   copies that left for it since it took its slot and their bytes
//!   ([`crate::MemberDelivery`]). `iface` is a pod's host-side veth, or `tunnel` for a
//!   remote node.

use prometheus_client::{
    encoding::{EncodeLabelSet, text},
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

use super::{
    MemberDelivery, Node, ReasonCount,
    error::{DataplaneError, Result},
};

/// The counter family's name; its samples are named `mcastlab_packets_total`.
pub const PACKETS_METRIC: &str = "mcastlab_packets";

/// Help text of [`PACKETS_METRIC`].
const PACKETS_HELP: &str =
    "Packets the mcastlab dataplane handled, by reason code name (summed over CPUs)";

/// The family of delivered copies per member; its samples are named
/// `mcastlab_member_delivered_packets_total`.
pub const MEMBER_PACKETS_METRIC: &str = "mcastlab_member_delivered_packets";

/// Help text of [`MEMBER_PACKETS_METRIC`].
const MEMBER_PACKETS_HELP: &str =
    "Copies replicated to a member of a group since it took its slot (failed clones excluded)";

/// The family of delivered bytes per member; its samples are named
/// `mcastlab_member_delivered_bytes_total`.
pub const MEMBER_BYTES_METRIC: &str = "mcastlab_member_delivered_bytes";

/// Help text of [`MEMBER_BYTES_METRIC`].
const MEMBER_BYTES_HELP: &str = "Bytes of the copies replicated to a member of a group (Ethernet frames, before any tunnel header)";

/// The labels of one reason sample.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    /// The node (network namespace) whose dataplane counted.
    node: String,
    /// The reason's stable name.
    reason: String,
}

/// The labels of one member sample.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    /// The node (network namespace) whose dataplane counted.
    node: String,
    /// The group address.
    group: String,
    /// The member's address: a pod's, or a remote node's.
    member: String,
    /// The pod's host-side veth, or `tunnel`.
    iface: String,
}

/// What one node's metrics are made of.
#[derive(Clone, Copy, Debug)]
pub struct NodeMetrics<'a> {
    /// The node's name.
    pub node: &'a str,
    /// Its reason counters.
    pub counters: &'a [ReasonCount],
    /// What was delivered to each member of its groups.
    pub members: &'a [MemberDelivery],
}

/// Reads `node`'s reason counters and member deliveries and encodes them ([`encode`]): the
/// text of `mcastlab stats -o prometheus` and of the agent's `/metrics`.
pub fn render(node: &Node) -> Result<String> {
    let counters = node.stats()?;
    let members = node.member_deliveries()?;
    encode(&[NodeMetrics {
        node: node.name(),
        counters: &counters,
        members: &members,
    }])
    .map_err(|source| DataplaneError::MetricsFormat {
        node: node.name().to_owned(),
        source,
    })
}

/// Encodes the counters of each node as OpenMetrics text, ending in `# EOF`.
pub fn encode(nodes: &[NodeMetrics<'_>]) -> std::result::Result<String, std::fmt::Error> {
    let reasons = Family::<ReasonLabels, Counter>::default();
    let member_packets = Family::<MemberLabels, Counter>::default();
    let member_bytes = Family::<MemberLabels, Counter>::default();
    for node in nodes {
        for counter in node.counters {
            reasons
                .get_or_create(&ReasonLabels {
                    node: node.node.to_owned(),
                    reason: counter.name.to_owned(),
                })
                .inc_by(counter.count);
        }
        for member in node.members {
            let labels = MemberLabels {
                node: node.node.to_owned(),
                group: member.group.to_string(),
                member: member.member.to_string(),
                iface: member.iface.clone(),
            };
            member_packets.get_or_create(&labels).inc_by(member.packets);
            member_bytes.get_or_create(&labels).inc_by(member.bytes);
        }
    }
    let mut registry = Registry::default();
    registry.register(PACKETS_METRIC, PACKETS_HELP, reasons);
    registry.register(MEMBER_PACKETS_METRIC, MEMBER_PACKETS_HELP, member_packets);
    registry.register(MEMBER_BYTES_METRIC, MEMBER_BYTES_HELP, member_bytes);
    let mut out = String::new();
    text::encode(&mut out, &registry)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_become_one_sample_per_node_and_reason() {
        let counters = [
            ReasonCount {
                code: 0,
                name: "igmp_handled",
                count: 3,
            },
            ReasonCount {
                code: 12,
                name: "replicated",
                count: 0,
            },
        ];
        let text = encode(&[NodeMetrics {
            node: "lab-n1",
            counters: &counters,
            members: &[],
        }])
        .unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        // The family's samples come out in hash order.
        lines[2..4].sort_unstable();
        assert_eq!(
            lines[..4],
            [
                "# HELP mcastlab_packets Packets the mcastlab dataplane handled, by reason code \
                 name (summed over CPUs).",
                "# TYPE mcastlab_packets counter",
                "mcastlab_packets_total{node=\"lab-n1\",reason=\"igmp_handled\"} 3",
                "mcastlab_packets_total{node=\"lab-n1\",reason=\"replicated\"} 0",
            ]
        );
        assert!(
            !text.contains("mcastlab_member_delivered_packets_total"),
            "no member, no member sample: {text}"
        );
        assert_eq!(lines.last(), Some(&"# EOF"));
    }

    #[test]
    fn each_member_gets_a_packets_and_a_bytes_sample_labelled_with_its_iface() {
        use std::net::Ipv4Addr;

        use crate::SubscriberKind;

        let group = Ipv4Addr::new(239, 1, 1, 1).into();
        let members = [
            MemberDelivery {
                group,
                member: Ipv4Addr::new(10, 0, 0, 12),
                kind: SubscriberKind::Local,
                iface: "h2".to_owned(),
                packets: 3,
                bytes: 300,
            },
            MemberDelivery {
                group,
                member: Ipv4Addr::new(192, 168, 1, 2),
                kind: SubscriberKind::Remote,
                iface: "tunnel".to_owned(),
                packets: 1,
                bytes: 100,
            },
        ];
        let text = encode(&[NodeMetrics {
            node: "lab-n1",
            counters: &[],
            members: &members,
        }])
        .unwrap();
        let mut samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        samples.sort_unstable();
        assert_eq!(
            samples,
            [
                "mcastlab_member_delivered_bytes_total{node=\"lab-n1\",group=\"239.1.1.1\",\
                 member=\"10.0.0.12\",iface=\"h2\"} 300",
                "mcastlab_member_delivered_bytes_total{node=\"lab-n1\",group=\"239.1.1.1\",\
                 member=\"192.168.1.2\",iface=\"tunnel\"} 100",
                "mcastlab_member_delivered_packets_total{node=\"lab-n1\",group=\"239.1.1.1\",\
                 member=\"10.0.0.12\",iface=\"h2\"} 3",
                "mcastlab_member_delivered_packets_total{node=\"lab-n1\",group=\"239.1.1.1\",\
                 member=\"192.168.1.2\",iface=\"tunnel\"} 1",
            ]
        );
        assert!(
            text.contains("# TYPE mcastlab_member_delivered_packets counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE mcastlab_member_delivered_bytes counter\n"),
            "{text}"
        );
    }
}
