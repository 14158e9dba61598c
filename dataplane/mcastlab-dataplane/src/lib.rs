//! The dataplane of one node: attach and detach the tc programs, manage groups and subscribers,
//! read the reason counters. State lives in bpffs pins (see [`pins`]), so every call works across
//! invocations of the CLI and survives its exit.
//!
//! This crate has no command line: `mcastlab` (the CLI) and the lab (`mcastlab-lab`) drive it.
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        unused_crate_dependencies,
        reason = "dev-dependencies serve the integration tests"
    )
)]

mod attach;
pub mod backlog;
mod config;
mod error;
mod events;
pub mod fanout;
mod groups;
pub mod kernel;
mod link;
pub mod lock;
pub mod metrics;
pub mod netns;
mod node;
pub mod object;
pub mod pins;
mod pods;
pub mod seed;
mod stats;
mod tc_filter;
mod tcx;
mod typed_array;
pub mod xdp_broadcast;

pub use attach::{AttachMode, AttachOptions, AttachReport, DetachReport, TunnelOptions};
pub use error::DataplaneError;
pub use events::EventReader;
pub use groups::{
    FilterMode, GroupEntry, GroupTable, HeardMember, Learned, MemberDelivery, MemberFilter,
    SubscriberEntry, SubscriberKind, SubscriberOrigin, TUNNEL_IFACE, monotonic_ns,
};
pub use link::{LinkAction, LinkKind, LinkReport};
pub use node::Node;
pub use pods::{PodEntry, PodIface, PodTable};
pub use stats::ReasonCount;
