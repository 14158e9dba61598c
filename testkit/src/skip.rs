//! Why a privileged test cannot run here, if it cannot.

use mcastlab_dataplane::{DataplaneError, kernel};

/// Why tests that need root cannot run: `None` when they can.
pub fn root_skip_reason() -> Option<String> {
    (!nix::unistd::Uid::effective().is_root())
        .then(|| "needs root (BPF, network namespaces)".to_owned())
}

/// Why tests of the dataplane cannot run: not root, or the kernel lacks a feature the
/// dataplane needs (the dataplane's own probe says which). `None` when they can.
pub fn datapath_skip_reason() -> Option<String> {
    if let Some(reason) = root_skip_reason() {
        return Some(reason);
    }
    match kernel::check_datapath_support() {
        Ok(()) => None,
        Err(
            err @ (DataplaneError::KernelTooOld { .. } | DataplaneError::MissingFeature { .. }),
        ) => Some(format!("kernel support missing: {err}")),
        Err(err) => panic!("probing the kernel failed: {err}"),
    }
}
