//! Attaching and detaching a node's programs: load the object with its maps pinned, attach TCX
//! links and pin them (or, on kernels without TCX, tc filters), through [`IngressAttachment`]. Attach is
//! idempotent: on a node already attached it swaps in the new programs (atomically with TCX);
//! membership lives in the maps and survives.

use std::{fs, io, net::Ipv4Addr};

use aya::maps::{Array, MapData};
use mcastlab_common::{
    CONFIG_KEY, NodeConfig,
    names::{MAP_CONFIG, MAPS},
};

use crate::{
    Node,
    config::check_record_limit,
    error::{DataplaneError, Result, map_error},
    kernel,
    link::{IngressAttachment, LinkReport},
    object,
    pins::{self, LinkKind, NodePins, io_error, remove_pin},
    pods::{PodIface, PodTable},
    tc_filter::TcFilters,
    tcx::TcxLinks,
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    /// Host-side veths of pods; each gets `mcast_pod_ingress` at ingress, and those with an
    /// address get it as their pod's identity (the only source their reports may carry).
    pub pod_ifaces: Vec<PodIface>,
    /// The tunnel; gets `mcast_overlay_ingress` at ingress. Without it the node keeps the
    /// tunnel it had (if any).
    pub tunnel: Option<TunnelOptions>,
    /// The node's IGMPv3 record limit (1..=`MAX_IGMPV3_RECORDS_PER_MTU`, see
    /// [`Node::set_record_limit`]). Without it the node keeps the limit it had: on a new node,
    /// `MAX_IGMPV3_RECORDS`.
    pub max_records: Option<u32>,
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
    /// The IGMPv3 record limit in force.
    pub max_records: u16,
    /// How the programs' loops run on this kernel: `bpf_loop`, or `for_each_map_elem` before
    /// Linux 5.17 ([`kernel::Loops`]).
    pub loops: &'static str,
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
    /// interface and, with a tunnel, `mcast_overlay_ingress` on it; records the pod addresses
    /// given as the veths' identities. Interfaces and addresses are checked before anything
    /// changes; a failed first attach leaves no pins behind. Holds the node's writer lock
    /// throughout, so concurrent attaches of one node run one after the other.
    pub fn attach(&self, options: &AttachOptions) -> Result<AttachReport> {
        kernel::check_datapath_support()?;
        let mode = options.mode.resolve()?;
        if let Some(limit) = options.max_records {
            check_record_limit(limit)?;
        }
        let _lock = self.lock()?;
        let _netns = self.enter()?;
        let mut identities = Vec::new();
        for pod in &options.pod_ifaces {
            let ifindex = self.ifindex(&pod.iface)?;
            if let Some(address) = pod.address {
                check_pod_address(address)?;
                identities.push((ifindex, address));
            }
        }
        let tunnel_ifindex = match &options.tunnel {
            Some(tunnel) => Some(self.ifindex(&tunnel.iface)?),
            None => None,
        };

        pins::ensure_bpffs()?;
        let fresh = !self.pins().is_attached();
        let result = self.attach_pinned(options, mode, tunnel_ifindex, &identities);
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
        identities: &[(u32, Ipv4Addr)],
    ) -> Result<AttachReport> {
        let pins = self.pins();
        let links_dir = pins.links_dir();
        fs::create_dir_all(&links_dir)
            .map_err(|source| io_error("creating", &links_dir, source))?;
        let loops = kernel::Loops::for_this_kernel()?;
        let mut ebpf = object::load_with(Some(pins), loops)?;

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
        let before = config;
        if let (Some(tunnel), Some(ifindex)) = (&options.tunnel, tunnel_ifindex) {
            config.tunnel_ifindex = ifindex;
            config.vni = tunnel.vni;
        }
        if let Some(limit) = options.max_records {
            config.max_records = limit;
        }
        if config != before {
            config_map
                .set(CONFIG_KEY, config, 0)
                .map_err(|source| map_error("writing the node config", source))?;
        }

        // Identities before programs: a veth's first report already meets its pod's address.
        if !identities.is_empty() {
            let mut pods = PodTable::open(self)?;
            for &(ifindex, address) in identities {
                pods.set_ifindex(ifindex, address)?;
            }
        }

        let targets = options
            .pod_ifaces
            .iter()
            .map(|pod| (LinkKind::Pod, &pod.iface))
            .chain(options.tunnel.iter().map(|t| (LinkKind::Overlay, &t.iface)));
        let attachment: &dyn IngressAttachment = match mode {
            AttachMode::Netlink => &TcFilters { node: self.name() },
            AttachMode::Tcx | AttachMode::Auto => &TcxLinks { pins },
        };
        let links = targets
            .map(|(kind, iface)| attachment.attach(&mut ebpf, kind, iface))
            .collect::<Result<Vec<_>>>()?;
        Ok(AttachReport {
            node: self.name().to_owned(),
            links,
            tunnel_ifindex: config.tunnel_ifindex,
            vni: config.vni,
            max_records: config.record_limit(),
            loops: loops.name(),
        })
    }

    /// Removes every link and map pin of the node, which detaches its programs and frees its
    /// maps. A node with nothing attached is not an error: the report is empty. Holds the
    /// node's writer lock.
    pub fn detach(&self) -> Result<DetachReport> {
        let lock = self.lock()?;
        let pins = self.pins();
        let mut report = DetachReport {
            node: self.name().to_owned(),
            links: Vec::new(),
            maps: Vec::new(),
        };
        // Without the namespace the interfaces, and what was attached to them, are gone already.
        let netns = self.enter().ok();
        for attachment in self.attachments() {
            report.links.extend(attachment.detach_all(netns.is_some())?);
        }
        drop(netns);
        for name in MAPS {
            if remove_pin(&pins.map(name))? {
                report.maps.push(name.to_owned());
            }
        }
        remove_node_pins(pins)?;
        lock.remove_file();
        Ok(report)
    }

    /// Where the node's programs are attached, by TCX links and tc filters alike, as (kind,
    /// interface, the pinned link or tc filter record).
    pub fn links(&self) -> Result<Vec<(LinkKind, String, std::path::PathBuf)>> {
        let mut links = Vec::new();
        for attachment in self.attachments() {
            links.extend(attachment.attached()?);
        }
        Ok(links)
    }

    /// Both ways of attaching, as this node's.
    fn attachments(&self) -> [Box<dyn IngressAttachment + '_>; 2] {
        [
            Box::new(TcxLinks { pins: self.pins() }),
            Box::new(TcFilters { node: self.name() }),
        ]
    }

    /// The ifindex of `iface`; the caller must be in the node's namespace.
    pub(crate) fn ifindex(&self, iface: &str) -> Result<u32> {
        nix::net::if_::if_nametoindex(iface).map_err(|source| DataplaneError::UnknownInterface {
            node: self.name().to_owned(),
            iface: iface.to_owned(),
            source,
        })
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

/// A pod address must be a unicast host address.
pub(crate) fn check_pod_address(address: Ipv4Addr) -> Result<()> {
    if address.is_multicast()
        || address.is_unspecified()
        || address.is_broadcast()
        || address.is_loopback()
    {
        Err(DataplaneError::InvalidPodAddress { address })
    } else {
        Ok(())
    }
}
