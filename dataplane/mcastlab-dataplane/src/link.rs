//! What runs a node's programs at ingress of its interfaces, whichever way it was attached, and
//! the one interface both ways implement: pinned TCX links ([`crate::tcx`], Linux 6.6+) and tc
//! filters ([`crate::tc_filter`], any supported kernel).

use std::path::PathBuf;

use aya::Ebpf;
use mcastlab_common::names::{PROG_OVERLAY_INGRESS, PROG_POD_INGRESS};

use crate::error::Result;
pub use crate::pins::LinkKind;

/// What happened to one link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkAction {
    /// A new link was attached and pinned.
    Attached,
    /// A pinned link now runs the freshly loaded program.
    Replaced,
    /// A pinned link was removed.
    Detached,
}

/// One link touched by attach or detach.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LinkReport {
    /// Which program.
    pub kind: LinkKind,
    /// On which interface.
    pub iface: String,
    /// What happened.
    pub action: LinkAction,
}
/// One way of running the node's programs at ingress of its interfaces.
pub(crate) trait IngressAttachment {
    /// Runs the program of `kind`, loaded from `ebpf`, at ingress of `iface`: attaches it, or
    /// swaps it in where this way attached one before. The caller is in the node's namespace.
    fn attach(&self, ebpf: &mut Ebpf, kind: LinkKind, iface: &str) -> Result<LinkReport>;

    /// What this way attached on the node, as (kind, interface, the file that records it: a
    /// pinned link or a tc filter record), sorted.
    fn attached(&self) -> Result<Vec<(LinkKind, String, PathBuf)>>;

    /// Removes everything this way attached on the node. `in_netns` says whether the caller
    /// is in the node's namespace: without it, the interfaces (and what was attached to them)
    /// are gone already and only the records remain to be removed.
    fn detach_all(&self, in_netns: bool) -> Result<Vec<LinkReport>>;
}

/// The program a link of `kind` runs.
pub(crate) fn program_name(kind: LinkKind) -> &'static str {
    match kind {
        LinkKind::Pod => PROG_POD_INGRESS,
        LinkKind::Overlay => PROG_OVERLAY_INGRESS,
    }
}
