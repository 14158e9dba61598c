//! Errors of the topology library.

use std::{io, path::PathBuf};

/// An error of building, reading or deploying a lab.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// A name that cannot be used (names become namespace and interface names).
    #[error("invalid {what} name '{name}': {rule}")]
    InvalidName {
        /// "lab", "node" or "pod".
        what: &'static str,
        /// The name.
        name: String,
        /// What a valid name looks like.
        rule: &'static str,
    },
    /// A spec that does not hold together.
    #[error("invalid lab spec: {reason}")]
    InvalidSpec {
        /// What is wrong.
        reason: String,
    },
    /// A lab file that could not be read or parsed.
    #[error("cannot read lab file {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A namespace with a lab's name exists already.
    #[error("namespace {name} already exists: run `mcastlab down --lab {lab}` first")]
    AlreadyDeployed {
        /// The lab.
        lab: String,
        /// The namespace found.
        name: String,
    },
    /// Creating, entering or removing a network namespace failed.
    #[error("network namespace {name}: {action} failed")]
    Netns {
        /// The namespace.
        name: String,
        /// What was being done.
        action: &'static str,
        /// Why.
        #[source]
        source: netns_rs::Error,
    },
    /// A netlink request failed.
    #[error("netlink: {action} in {netns} failed")]
    Netlink {
        /// The namespace the request went to.
        netns: String,
        /// What was being done (the equivalent `ip` command).
        action: String,
        /// Why.
        #[source]
        source: rtnetlink::Error,
    },
    /// A file or sysctl operation failed.
    #[error("{action} {} failed", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = TopologyError> = std::result::Result<T, E>;
