//! Attaching and detaching a node's programs: load the object with its maps pinned, attach TCX
//! links and pin them (or, on kernels without TCX, tc filters: see `tc_legacy`). Attach is
//! idempotent: on a node already attached it swaps in the new programs (atomically with TCX);
//! membership lives in the maps and survives.

use std::{fs, io, path::Path};

use aya::{
    Ebpf,
    maps::{Array, MapData},
    programs::{
        LinkOrder, ProgramError, SchedClassifier, TcAttachType,
        links::{FdLink, LinkError, PinnedLink},
        tc::{SchedClassifierLink, TcAttachOptions},
    },
    sys::SyscallError,
};
use mcastlab_common::{
    CONFIG_KEY, NodeConfig,
    names::{MAP_CONFIG, MAPS, PROG_OVERLAY_INGRESS, PROG_POD_INGRESS},
};

use super::{
    Node,
    error::{DataplaneError, Result},
    kernel, object,
    pins::{self, LinkKind, NodePins, io_error},
    tc_legacy,
};

/// The tunnel of a node: a vxlan device in external (collect_md) mode, and the VNI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelOptions {
    /// The vxlan device, in the node's namespace.
    pub iface: String,
    /// The VNI written into remote copies and required of overlay packets.
    pub vni: u32,
}

/// How programs are attached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AttachMode {
    /// TCX links where the kernel has them (6.6+), tc filters otherwise.
    #[default]
    Auto,
    /// Pinned TCX links (Linux 6.6+): swapped atomically on re-attach.
    Tcx,
    /// A clsact qdisc and a cls_bpf filter (any supported kernel), recorded in /run/mcastlab.
    Netlink,
}

impl AttachMode {
    /// The mode in force on this kernel.
    fn resolve(self) -> Result<AttachMode> {
        match self {
            AttachMode::Auto if kernel::check_tcx_support().is_ok() => Ok(AttachMode::Tcx),
            AttachMode::Auto => Ok(AttachMode::Netlink),
            AttachMode::Tcx => kernel::check_tcx_support().map(|()| AttachMode::Tcx),
            AttachMode::Netlink => Ok(AttachMode::Netlink),
        }
    }
}

/// What to attach on a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttachOptions {
    /// TCX links or tc filters.
    pub mode: AttachMode,
    /// Host-side veths of pods; each gets `mcast_pod_ingress` at ingress.
    pub pod_ifaces: Vec<String>,
    /// The tunnel; gets `mcast_overlay_ingress` at ingress. Without it the node keeps the
    /// tunnel it had (if any).
    pub tunnel: Option<TunnelOptions>,
}

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

/// The result of `attach`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AttachReport {
    /// The node.
    pub node: String,
    /// Links attached or replaced.
    pub links: Vec<LinkReport>,
    /// The tunnel ifindex in force (0: none).
    pub tunnel_ifindex: u32,
    /// The VNI in force.
    pub vni: u32,
}

/// The result of `detach`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DetachReport {
    /// The node.
    pub node: String,
    /// Links removed.
    pub links: Vec<LinkReport>,
    /// Map pins removed.
    pub maps: Vec<String>,
}

impl Node {
    /// Loads the programs, pins the maps and attaches: `mcast_pod_ingress` on every pod
    /// interface and, with a tunnel, `mcast_overlay_ingress` on it. Interfaces are resolved
    /// before anything changes; a failed first attach leaves no pins behind.
    pub fn attach(&self, options: &AttachOptions) -> Result<AttachReport> {
        kernel::check_datapath_support()?;
        let mode = options.mode.resolve()?;
        let _netns = self.enter()?;
        for iface in &options.pod_ifaces {
            self.ifindex(iface)?;
        }
        let tunnel_ifindex = match &options.tunnel {
            Some(tunnel) => Some(self.ifindex(&tunnel.iface)?),
            None => None,
        };

        pins::ensure_bpffs()?;
        let fresh = !self.pins().is_attached();
        let result = self.attach_pinned(options, mode, tunnel_ifindex);
        if result.is_err() && fresh {
            // Best effort: the error being returned is the one worth reading.
            let _ = remove_node_pins(self.pins());
        }
        result
    }

    fn attach_pinned(
        &self,
        options: &AttachOptions,
        mode: AttachMode,
        tunnel_ifindex: Option<u32>,
    ) -> Result<AttachReport> {
        let pins = self.pins();
        let links_dir = pins.links_dir();
        fs::create_dir_all(&links_dir)
            .map_err(|source| io_error("creating", &links_dir, source))?;
        let mut ebpf = object::load(Some(pins))?;

        let mut config_map: Array<&mut MapData, NodeConfig> = ebpf
            .map_mut(MAP_CONFIG)
            .ok_or(DataplaneError::MissingFromObject {
                kind: "map",
                name: MAP_CONFIG,
            })?
            .try_into()
            .map_err(|source| map_error("opening the node config", source))?;
        let mut config = config_map
            .get(&CONFIG_KEY, 0)
            .map_err(|source| map_error("reading the node config", source))?;
        if let (Some(tunnel), Some(ifindex)) = (&options.tunnel, tunnel_ifindex) {
            config.tunnel_ifindex = ifindex;
            config.vni = tunnel.vni;
            config_map
                .set(CONFIG_KEY, config, 0)
                .map_err(|source| map_error("writing the node config", source))?;
        }

        let targets = options
            .pod_ifaces
            .iter()
            .map(|iface| (LinkKind::Pod, iface))
            .chain(options.tunnel.iter().map(|t| (LinkKind::Overlay, &t.iface)));
        let mut links = Vec::new();
        for (kind, iface) in targets {
            links.push(match mode {
                AttachMode::Netlink => {
                    let program = object::load_program(&mut ebpf, program_name(kind))?;
                    tc_legacy::attach(program, self.name(), kind, iface)?
                }
                AttachMode::Tcx | AttachMode::Auto => attach_link(&mut ebpf, pins, kind, iface)?,
            });
        }
        Ok(AttachReport {
            node: self.name().to_owned(),
            links,
            tunnel_ifindex: config.tunnel_ifindex,
            vni: config.vni,
        })
    }

    /// Removes every link and map pin of the node, which detaches its programs and frees its
    /// maps. A node with nothing attached is not an error: the report is empty.
    pub fn detach(&self) -> Result<DetachReport> {
        let pins = self.pins();
        let mut report = DetachReport {
            node: self.name().to_owned(),
            links: Vec::new(),
            maps: Vec::new(),
        };
        for (kind, iface, path) in pins.links()? {
            remove_pin(&path)?;
            report.links.push(LinkReport {
                kind,
                iface,
                action: LinkAction::Detached,
            });
        }
        let filters = tc_legacy::records(self.name())?;
        if !filters.is_empty() {
            // Without the namespace the interfaces, and their filters, are gone already.
            let netns = self.enter().ok();
            for (kind, iface, record) in filters {
                if netns.is_some() {
                    tc_legacy::detach_filter(&iface)?;
                }
                tc_legacy::remove_record(&record)?;
                report.links.push(LinkReport {
                    kind,
                    iface,
                    action: LinkAction::Detached,
                });
            }
            tc_legacy::remove_records_dir(self.name());
        }
        for name in MAPS {
            if remove_pin(&pins.map(name))? {
                report.maps.push(name.to_owned());
            }
        }
        remove_node_pins(pins)?;
        Ok(report)
    }

    /// The tc filters mcastlab attached on this node (legacy path), as (kind, interface,
    /// record path).
    pub fn tc_filters(&self) -> Result<Vec<(LinkKind, String, std::path::PathBuf)>> {
        tc_legacy::records(self.name())
    }

    /// The ifindex of `iface`; the caller must be in the node's namespace.
    fn ifindex(&self, iface: &str) -> Result<u32> {
        nix::net::if_::if_nametoindex(iface).map_err(|source| DataplaneError::UnknownInterface {
            node: self.name().to_owned(),
            iface: iface.to_owned(),
            source,
        })
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

/// The program a link of `kind` runs.
fn program_name(kind: LinkKind) -> &'static str {
    match kind {
        LinkKind::Pod => PROG_POD_INGRESS,
        LinkKind::Overlay => PROG_OVERLAY_INGRESS,
    }
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

/// Removes a pin; `Ok(false)` when there was none.
fn remove_pin(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(io_error("removing pin", path, source)),
    }
}

/// Removes the node's pin folders (and mcastlab's, once empty).
fn remove_node_pins(pins: &NodePins) -> Result<()> {
    let dir = pins.dir();
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(io_error("removing", dir, source)),
    }
    if let Some(root) = dir.parent() {
        // Fails while other nodes are attached: that is fine.
        let _ = fs::remove_dir(root);
    }
    Ok(())
}

fn map_error(action: &str, source: aya::maps::MapError) -> DataplaneError {
    DataplaneError::Map {
        action: action.to_owned(),
        source,
    }
}

fn program_error(action: String, source: ProgramError) -> DataplaneError {
    DataplaneError::Program { action, source }
}

fn link_error(action: String, source: LinkError) -> DataplaneError {
    DataplaneError::Link { action, source }
}
