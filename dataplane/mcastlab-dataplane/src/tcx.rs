//! Pinned TCX links (Linux 6.6+): each program runs through a BPF link pinned in the node's
//! bpffs folder (`links/pod-<iface>`, `links/overlay-<iface>`), so it outlives the command that
//! attached it. Re-attaching swaps the program of the pinned link atomically; removing the pin
//! detaches.

use std::{io, path::PathBuf};

use aya::{
    Ebpf,
    programs::{
        LinkOrder, ProgramError, SchedClassifier, TcAttachType,
        links::{FdLink, LinkError, PinnedLink},
        tc::{SchedClassifierLink, TcAttachOptions},
    },
    sys::SyscallError,
};

use crate::{
    error::{DataplaneError, Result},
    link::{IngressAttachment, LinkAction, LinkKind, LinkReport, program_name},
    object,
    pins::{NodePins, remove_pin},
};

/// The TCX links of one node.
pub(crate) struct TcxLinks<'a> {
    /// The node's pins.
    pub pins: &'a NodePins,
}

impl IngressAttachment for TcxLinks<'_> {
    fn attach(&self, ebpf: &mut Ebpf, kind: LinkKind, iface: &str) -> Result<LinkReport> {
        attach_link(ebpf, self.pins, kind, iface)
    }

    fn attached(&self) -> Result<Vec<(LinkKind, String, PathBuf)>> {
        self.pins.links()
    }

    fn detach_all(&self, _in_netns: bool) -> Result<Vec<LinkReport>> {
        let mut detached = Vec::new();
        for (kind, iface, path) in self.pins.links()? {
            remove_pin(&path)?;
            detached.push(LinkReport {
                kind,
                iface,
                action: LinkAction::Detached,
            });
        }
        Ok(detached)
    }
}

/// Attaches the program of `kind` at ingress of `iface` through a pinned TCX link: replaces the
/// program of an existing pinned link, or attaches and pins a new one.
fn attach_link(
    ebpf: &mut Ebpf,
    pins: &NodePins,
    kind: LinkKind,
    iface: &str,
) -> Result<LinkReport> {
    let name = program_name(kind);
    let program = object::load_program(ebpf, name)?;
    let pin = pins.link(kind, iface);
    let context = || format!("attaching {name} to {iface}");

    let mut action = LinkAction::Attached;
    let link_id = match PinnedLink::from_pin(&pin) {
        Ok(pinned) => {
            let link = SchedClassifierLink::try_from(FdLink::from(pinned))
                .map_err(|source| link_error(context(), source))?;
            match program.attach_to_link(link) {
                Ok(id) => {
                    action = LinkAction::Replaced;
                    id
                }
                // The interface is gone (the link is defunct): start over.
                Err(_) => {
                    remove_pin(&pin)?;
                    attach_tcx(program, iface).map_err(|source| program_error(context(), source))?
                }
            }
        }
        Err(LinkError::SyscallError(SyscallError { io_error, .. }))
            if io_error.kind() == io::ErrorKind::NotFound =>
        {
            attach_tcx(program, iface).map_err(|source| program_error(context(), source))?
        }
        Err(source) => return Err(link_error(context(), source)),
    };
    let link = program
        .take_link(link_id)
        .map_err(|source| program_error(context(), source))?;
    let link = FdLink::try_from(link).map_err(|source| link_error(context(), source))?;
    if action == LinkAction::Attached {
        link.pin(&pin).map_err(|source| DataplaneError::Pin {
            path: pin.clone(),
            source,
        })?;
    }
    Ok(LinkReport {
        kind,
        iface: iface.to_owned(),
        action,
    })
}

fn attach_tcx(
    program: &mut SchedClassifier,
    iface: &str,
) -> Result<aya::programs::tc::SchedClassifierLinkId, ProgramError> {
    program.attach_with_options(
        iface,
        TcAttachType::Ingress,
        TcAttachOptions::TcxOrder(LinkOrder::default()),
    )
}

fn program_error(action: String, source: ProgramError) -> DataplaneError {
    DataplaneError::Program { action, source }
}

fn link_error(action: String, source: LinkError) -> DataplaneError {
    DataplaneError::Link { action, source }
}
