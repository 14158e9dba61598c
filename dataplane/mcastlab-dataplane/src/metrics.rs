//! The reason counters as Prometheus metrics: `mcastlab stats -o prometheus` prints them, and a
//! `/metrics` endpoint can serve the same text.
//!
//! The text is the OpenMetrics exposition format (what `prometheus-client` writes, which
//! Prometheus scrapes as it does its own text format): one counter family,
//! `mcastlab_packets_total{node="...",reason="..."}`, one sample per reason of each node.

use prometheus_client::{
    encoding::{EncodeLabelSet, text},
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

use super::ReasonCount;

/// The counter family's name; its samples are named `mcastlab_packets_total`.
pub const PACKETS_METRIC: &str = "mcastlab_packets";

/// Help text of [`PACKETS_METRIC`].
const PACKETS_HELP: &str =
    "Packets the mcastlab dataplane handled, by reason code name (summed over CPUs)";

/// The labels of one sample.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    /// The node (network namespace) whose dataplane counted.
    node: String,
    /// The reason's stable name.
    reason: String,
}

/// Encodes the counters of each `(node, counters)` pair as OpenMetrics text, ending in `# EOF`.
pub fn encode(nodes: &[(&str, &[ReasonCount])]) -> Result<String, std::fmt::Error> {
    let family = Family::<ReasonLabels, Counter>::default();
    for (node, counters) in nodes {
        for counter in *counters {
            family
                .get_or_create(&ReasonLabels {
                    node: (*node).to_owned(),
                    reason: counter.name.to_owned(),
                })
                .inc_by(counter.count);
        }
    }
    let mut registry = Registry::default();
    registry.register(PACKETS_METRIC, PACKETS_HELP, family);
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
        let text = encode(&[("lab-n1", &counters)]).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        // The family's samples come out in hash order.
        lines[2..4].sort_unstable();
        assert_eq!(
            lines,
            [
                "# HELP mcastlab_packets Packets the mcastlab dataplane handled, by reason code \
                 name (summed over CPUs).",
                "# TYPE mcastlab_packets counter",
                "mcastlab_packets_total{node=\"lab-n1\",reason=\"igmp_handled\"} 3",
                "mcastlab_packets_total{node=\"lab-n1\",reason=\"replicated\"} 0",
                "# EOF",
            ]
        );
    }
}
