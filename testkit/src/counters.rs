//! Reason counters before and after: what a test's action changed.

use std::collections::BTreeMap;

use mcastlab_common::Reason;

/// The change of each counter between two readings, zeros left out.
pub fn delta(
    before: &BTreeMap<&'static str, u64>,
    after: &BTreeMap<&'static str, u64>,
) -> BTreeMap<&'static str, u64> {
    after
        .iter()
        .filter_map(|(name, count)| {
            let change = count - before.get(name).copied().unwrap_or(0);
            (change > 0).then_some((*name, change))
        })
        .collect()
}

/// The expected counter changes, from (reason, count) pairs.
pub fn expect(changes: &[(Reason, u64)]) -> BTreeMap<&'static str, u64> {
    changes
        .iter()
        .map(|(reason, n)| (reason.name(), *n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_leave_out_what_did_not_change() {
        let before = BTreeMap::from([("a", 1), ("b", 5)]);
        let after = BTreeMap::from([("a", 1), ("b", 7), ("c", 2)]);
        assert_eq!(delta(&before, &after), BTreeMap::from([("b", 2), ("c", 2)]));
    }
}
