//! tc filters, for kernels without TCX links (before 6.6): a clsact qdisc and
//! a direct-action `cls_bpf` filter per interface (`tc qdisc add dev IF clsact`,
//! `tc filter add dev IF ingress prio 42 handle 0x4d43 bpf da ...`).
//!
//! Such filters cannot be pinned in bpffs; they live on the interface until removed. Each one is
//! recorded in `/run/mcastlab/tc/<node>/<kind>-<iface>` ("priority handle") so that `detach`
//! and a later `attach` find it. Re-attaching replaces the filter: delete, then add, which
//! leaves the interface without the program for that short moment (TCX swaps atomically).

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf,
    programs::{
        Link as _, ProgramError, SchedClassifier, TcAttachType,
        tc::{
            NlOptions, SchedClassifierLink, TcAttachOptions, TcError, TcHandle, qdisc_add_clsact,
        },
    },
};

use crate::{
    error::{DataplaneError, Result},
    link::{IngressAttachment, LinkAction, LinkKind, LinkReport, program_name},
    object,
    pins::{io_error, link_files},
};

/// Priority of mcastlab's filters.
const PRIORITY: u16 = 42;
/// Handle of mcastlab's filters ("MC").
const HANDLE: u16 = 0x4d43;
/// Where filter records live (tmpfs: gone after a reboot, like the filters).
const RECORDS_ROOT: &str = "/run/mcastlab/tc";

/// The tc filters of one node.
pub(crate) struct TcFilters<'a> {
    /// The node (its namespace name).
    pub node: &'a str,
}

impl IngressAttachment for TcFilters<'_> {
    fn attach(&self, ebpf: &mut Ebpf, kind: LinkKind, iface: &str) -> Result<LinkReport> {
        let program = object::load_program(ebpf, program_name(kind))?;
        attach(program, self.node, kind, iface)
    }

    fn attached(&self) -> Result<Vec<(LinkKind, String, PathBuf)>> {
        records(self.node)
    }

    fn detach_all(&self, in_netns: bool) -> Result<Vec<LinkReport>> {
        let mut detached = Vec::new();
        for (kind, iface, record) in records(self.node)? {
            if in_netns {
                detach_filter(&iface)?;
            }
            remove_record(&record)?;
            detached.push(LinkReport {
                kind,
                iface,
                action: LinkAction::Detached,
            });
        }
        if !detached.is_empty() {
            remove_records_dir(self.node);
        }
        Ok(detached)
    }
}

/// The records of one node.
fn records_dir(node: &str) -> PathBuf {
    Path::new(RECORDS_ROOT).join(node)
}

fn record_path(node: &str, kind: LinkKind, iface: &str) -> PathBuf {
    records_dir(node).join(kind.file_name(iface))
}

/// The filters recorded for `node`, as (kind, interface, record path), sorted.
fn records(node: &str) -> Result<Vec<(LinkKind, String, PathBuf)>> {
    link_files(&records_dir(node))
}

/// Adds a clsact qdisc to `iface` if it has none and `program` as its ingress filter with
/// `priority` and `handle` (`tc filter add dev IF ingress prio P handle H bpf da ...`). The
/// filter outlives this process; the caller is in the interface's namespace.
pub(crate) fn add_ingress_filter(
    program: &mut SchedClassifier,
    iface: &str,
    priority: u16,
    handle: u16,
) -> Result<()> {
    match qdisc_add_clsact(iface) {
        Ok(()) | Err(TcError::AlreadyAttached) => {}
        Err(TcError::NetlinkError(err)) if err.raw_os_error() == Some(libc::EEXIST) => {}
        Err(err) => {
            return Err(DataplaneError::Io {
                action: "adding the clsact qdisc to",
                path: iface.into(),
                source: io::Error::other(err),
            });
        }
    }
    let context = || format!("attaching a tc filter to {iface}");
    let link_id = program
        .attach_with_options(
            iface,
            TcAttachType::Ingress,
            TcAttachOptions::Netlink(NlOptions {
                priority,
                handle: TcHandle::new(0, handle),
                classid: None,
            }),
        )
        .map_err(|source| DataplaneError::Program {
            action: context(),
            source,
        })?;
    let link = program
        .take_link(link_id)
        .map_err(|source| DataplaneError::Program {
            action: context(),
            source,
        })?;
    // Dropping the link would remove the filter: it must outlive this process.
    std::mem::forget(link);
    Ok(())
}

/// Attaches `program` at ingress of `iface` as a tc filter, replacing mcastlab's filter there
/// if one is recorded. The caller is in the node's namespace.
fn attach(
    program: &mut SchedClassifier,
    node: &str,
    kind: LinkKind,
    iface: &str,
) -> Result<LinkReport> {
    let record = record_path(node, kind, iface);
    let action = if record.exists() {
        detach_filter(iface)?;
        LinkAction::Replaced
    } else {
        LinkAction::Attached
    };
    add_ingress_filter(program, iface, PRIORITY, HANDLE)?;
    let dir = records_dir(node);
    fs::create_dir_all(&dir).map_err(|source| io_error("creating", &dir, source))?;
    fs::write(&record, format!("{PRIORITY} {HANDLE}\n"))
        .map_err(|source| io_error("writing", &record, source))?;
    Ok(LinkReport {
        kind,
        iface: iface.to_owned(),
        action,
    })
}

/// Removes mcastlab's filter from `iface` (`tc filter del dev IF ingress prio 42 handle
/// 0x4d43 bpf`); a filter or interface that is gone already is fine. The caller is in the
/// node's namespace.
fn detach_filter(iface: &str) -> Result<()> {
    remove_ingress_filter(iface, PRIORITY, HANDLE)
}

/// Removes the ingress filter of `iface` with `priority` and `handle` (`tc filter del dev IF
/// ingress prio P handle H bpf`); an interface without one, or gone, is fine. The caller is in
/// the interface's namespace.
pub(crate) fn remove_ingress_filter(iface: &str, priority: u16, handle: u16) -> Result<()> {
    let Ok(link) = SchedClassifierLink::attached(
        iface,
        TcAttachType::Ingress,
        priority,
        TcHandle::new(0, handle),
        None,
    ) else {
        // The interface is gone, and its filters with it.
        return Ok(());
    };
    match link.detach() {
        Ok(()) => Ok(()),
        // No such filter (ENOENT), or no clsact qdisc, so no filter either (EINVAL, "Parent
        // Qdisc doesn't exists"); aya reports either in two shapes.
        Err(
            ProgramError::NetlinkError(err) | ProgramError::TcError(TcError::NetlinkError(err)),
        ) if matches!(err.raw_os_error(), Some(libc::ENOENT | libc::EINVAL)) => Ok(()),
        Err(source) => Err(DataplaneError::Program {
            action: format!("removing the tc filter of {iface}"),
            source,
        }),
    }
}

/// Forgets a record.
fn remove_record(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(io_error("removing", path, source)),
    }
}

/// Removes the node's record folder once empty.
fn remove_records_dir(node: &str) {
    let _ = fs::remove_dir(records_dir(node));
}
