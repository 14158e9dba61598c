//! What the agent does when a step of its loop fails (a map that cannot be read while the
//! dataplane is detached or re-attached, a send that fails): it says so and goes on, and stops
//! only when nothing has succeeded for [`FAILURE_GRACE`]. An agent that ended on the first
//! error would leave the node's membership unqueried and unaged until somebody noticed.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use mcastlab_common::Reason;
use mcastlab_dataplane::{Node, monotonic_ns};
use tokio::time::Instant;

use crate::AgentError;

/// How long the agent goes on while every step of its loop fails before it stops with the last
/// error: longer than a detach and attach takes, shorter than a member's aging
/// (`Settings::group_membership_interval`).
pub const FAILURE_GRACE: Duration = Duration::from_secs(10);

/// When the agent last finished a step of its loop, whatever its outcome, for whoever watches
/// it: an agent whose thread runs but whose steps stopped is stuck, not idle (its group poll
/// alone finishes a step every `GROUP_POLL_INTERVAL`). Clones share the clock.
#[derive(Clone, Debug, Default)]
pub struct LastStep(Arc<AtomicU64>);

impl LastStep {
    /// A step finished now.
    pub fn mark(&self) {
        self.0.store(monotonic_ns(), Ordering::Relaxed);
    }

    /// How long ago the last step finished; `None` before the first.
    pub fn age(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            at => Some(Duration::from_nanos(monotonic_ns().saturating_sub(at))),
        }
    }
}

/// The agent's run of failed steps.
#[derive(Debug, Default)]
pub struct Failures {
    /// When the first failure since the last success happened.
    since: Option<Instant>,
}

impl Failures {
    /// A step succeeded: the run of failures, if any, is over.
    pub fn succeeded(&mut self) {
        self.since = None;
    }

    /// A step of `node`'s agent failed at `now` with `error`: logged and counted
    /// (`agent_step_failed`, if the counter can be written), and given back only when steps
    /// have failed without a success in between for [`FAILURE_GRACE`], when the agent should
    /// stop.
    pub fn failed(
        &mut self,
        node: &Node,
        error: AgentError,
        now: Instant,
    ) -> Result<(), AgentError> {
        // The counter may be what fails; the log says it either way.
        let _ = node.count(Reason::AgentStepFailed, 1);
        self.decide(node.name(), error, now)
    }

    /// [`Failures::failed`] without the counter.
    fn decide(&mut self, node: &str, error: AgentError, now: Instant) -> Result<(), AgentError> {
        let since = *self.since.get_or_insert(now);
        if now.duration_since(since) >= FAILURE_GRACE {
            tracing::error!(node, %error, "every step failed for {FAILURE_GRACE:?}: the agent stops");
            return Err(error);
        }
        tracing::warn!(node, %error, "an agent step failed; going on");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error() -> AgentError {
        AgentError::Netns(std::io::Error::other("gone"))
    }

    #[test]
    fn failures_stop_the_agent_only_when_nothing_succeeded_for_the_grace() {
        let start = Instant::now();
        let mut failures = Failures::default();
        assert!(failures.decide("n1", error(), start).is_ok());
        let almost = start + FAILURE_GRACE - Duration::from_millis(1);
        assert!(failures.decide("n1", error(), almost).is_ok());
        assert!(
            failures
                .decide("n1", error(), start + FAILURE_GRACE)
                .is_err()
        );
    }

    #[test]
    fn the_last_step_has_no_age_until_one_finishes() {
        let last_step = LastStep::default();
        let watcher = last_step.clone();
        assert_eq!(watcher.age(), None);
        last_step.mark();
        assert!(
            watcher
                .age()
                .is_some_and(|age| age < Duration::from_secs(60))
        );
    }

    #[test]
    fn a_success_starts_the_grace_again() {
        let start = Instant::now();
        let mut failures = Failures::default();
        assert!(failures.decide("n1", error(), start).is_ok());
        failures.succeeded();
        let later = start + FAILURE_GRACE;
        assert!(failures.decide("n1", error(), later).is_ok());
        assert!(
            failures
                .decide("n1", error(), later + FAILURE_GRACE / 2)
                .is_ok()
        );
    }
}
