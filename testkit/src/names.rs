//! Unique namespace names from the registry of prefixes (`testkit/test-prefixes`), which
//! `scripts/test.sh` also reads to check that no test left a namespace behind.

use std::sync::atomic::{AtomicU32, Ordering};

/// The registry: one "<kind> <prefix> <who>" line per prefix; `#` starts a comment.
pub const TEST_PREFIXES: &str = include_str!("../test-prefixes");

/// A name for a test's lab or namespace: `<prefix><pid>x<n>`, unique in this machine while
/// this process lives. Panics unless `prefix` is a "test" prefix of [`TEST_PREFIXES`], so that
/// the leftover check knows every name a test makes.
pub fn unique_name(prefix: &str) -> String {
    assert!(
        is_test_prefix(prefix),
        "test prefix {prefix:?} is not in testkit/test-prefixes: add it there so that \
         scripts/test.sh checks for its leftovers"
    );
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn is_test_prefix(prefix: &str) -> bool {
    TEST_PREFIXES
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            Some((fields.next()?, fields.next()?))
        })
        .any(|(kind, listed)| kind == "test" && listed == prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_listed_prefixes_only() {
        let name = unique_name("dp");
        assert!(
            name.starts_with(&format!("dp{}x", std::process::id())),
            "{name}"
        );
        assert_ne!(unique_name("dp"), unique_name("dp"));
        assert!(
            !is_test_prefix("demo-"),
            "a tool prefix is not a test prefix"
        );
        assert!(!is_test_prefix("zz"));
    }

    #[test]
    #[should_panic(expected = "not in testkit/test-prefixes")]
    fn an_unlisted_prefix_is_refused() {
        unique_name("unlisted");
    }
}
