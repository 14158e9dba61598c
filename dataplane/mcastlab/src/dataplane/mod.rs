//! The dataplane of one node: attach and detach the tc programs, manage groups and subscribers,
//! read the reason counters. State lives in bpffs pins (see [`pins`]), so every call works across
//! invocations of the CLI and survives its exit.

mod attach;
mod error;
pub mod fanout;
mod groups;
pub mod kernel;
pub mod metrics;
pub mod netns;
mod node;
pub mod object;
pub mod pins;
mod stats;
mod tc_legacy;
mod typed_array;

pub use attach::{
    AttachMode, AttachOptions, AttachReport, DetachReport, LinkAction, LinkReport, TunnelOptions,
};
pub use error::DataplaneError;
pub use groups::{GroupEntry, GroupTable, SubscriberEntry, SubscriberKind};
pub use node::Node;
pub use stats::ReasonCount;
