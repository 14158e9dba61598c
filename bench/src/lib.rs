//! Reproducible performance runs: the dataplane measured side by side with what users would use
//! instead, in the same run and topology. Results go to `results/<run>/` with the machine,
//! kernel, commit and tool versions that produced them.
//!
//! Each fan-out mode (the dataplane and each baseline) is one [`modes::FanoutMode`]
//! implementation in its own file under `modes/`; every lab is driven through
//! [`mcastlab_lab::Scenario`].
#![cfg_attr(
    test,
    allow(
        unused_crate_dependencies,
        reason = "dev-dependencies serve the integration tests"
    )
)]
#![deny(missing_docs)]

pub mod control;
pub mod environment;
pub mod fanout;
pub mod modes;
pub mod report;
pub mod sparse;
pub mod system;
