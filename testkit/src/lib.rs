//! The test kit of mcastlab's privileged tests (a dev-dependency, as aya's `test-helpers`): one
//! way to name, enter and remove a test's namespaces, to skip where root or kernel support is
//! missing, to run `ip` (a command or a batch of them), to build two "VMs" on one machine, to
//! compare reason counters, and to scale deadlines where the kernel runs emulated.
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        unused_crate_dependencies,
        reason = "dev-dependencies serve the integration tests"
    )
)]

mod command;
mod counters;
mod names;
mod namespace;
mod skip;
mod test_node;
mod time_scale;
mod two_vms;

pub use command::{batch, ip, run};
pub use counters::{delta, expect};
pub use mcastlab_dataplane::netns::{NetnsGuard, netns_path};
pub use names::{TEST_PREFIXES, unique_name};
pub use namespace::Namespace;
pub use skip::{datapath_skip_reason, root_skip_reason};
pub use test_node::{TestNode, run_classifier};
pub use time_scale::{TIME_SCALE_ENV, scaled};
pub use two_vms::{TwoVms, VM_A_ADDRESS, VM_B_ADDRESS};

/// Returns from the calling test with `SKIPPED: <reason>` printed when the dataplane cannot run
/// here (not root, or the kernel lacks a feature it needs).
#[macro_export]
macro_rules! require_datapath {
    () => {
        if let Some(reason) = $crate::datapath_skip_reason() {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
}

/// Returns from the calling test with `SKIPPED: <reason>` printed when not root.
#[macro_export]
macro_rules! require_root {
    () => {
        if let Some(reason) = $crate::root_skip_reason() {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
}
