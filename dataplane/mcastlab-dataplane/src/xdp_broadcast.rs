//! The XDP devmap-broadcast experiment, for benchmarks only: `mcast_xdp_broadcast` in native XDP
//! mode at the sender pod's host-side veth broadcasts every IPv4 multicast frame to the
//! host-side veths in its device map with one `bpf_redirect_map(BPF_F_BROADCAST |
//! BPF_F_EXCLUDE_INGRESS)`, instead of one `bpf_clone_redirect` per subscriber (the program's
//! own documentation says what it matches). The fan-out benchmark's `xdp-devmap` mode measures
//! it beside the dataplane.
//!
//! It is not part of the dataplane: its device map is private to the [`XdpBroadcast`] that
//! loads it (not pinned, not in `names::MAPS`), the dataplane's attach never attaches it, and
//! it has no groups and reads no IGMP: the receivers are what [`XdpBroadcast::add_receiver`]
//! writes. The attachments are BPF links owned by the [`XdpBroadcast`]: they go when it is
//! dropped or [`XdpBroadcast::detach`]ed (or when the veth is deleted).
//!
//! A veth hands an XDP frame only to a peer with NAPI on (`veth_ndo_xdp_xmit`: GRO on the peer,
//! or an XDP program there); without it the frames are dropped. The receivers' pod ends need GRO
//! (`napi: true` pods).
//!
//! Minimum kernel: `BPF_F_BROADCAST` and `BPF_F_EXCLUDE_INGRESS`, 5.14, one release above the
//! dataplane's own minimum (`mcastlab_common::MIN_KERNEL`), which is all [`XdpBroadcast::load`]
//! checks: on 5.13 the load fails in the verifier.

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, MapError, xdp::DevMap, xdp::XdpMapError},
    programs::{Xdp, XdpMode},
};
use mcastlab_common::{
    MAX_SUBSCRIBERS_PER_GROUP,
    names::{MAP_XDP_BROADCAST_DEVS, PROG_XDP_BROADCAST},
};

use crate::{
    Node,
    error::{DataplaneError, Result, map_error},
    kernel, object,
};

/// `BPF_ANY`.
const BPF_ANY: u64 = 0;

/// The experiment loaded for one node: its program, its device map and the program's links.
pub struct XdpBroadcast {
    node: Node,
    ebpf: Ebpf,
    /// Slots of the device map.
    capacity: u32,
    /// Receivers written so far: slots `0..receivers` of the device map.
    receivers: u32,
}

impl XdpBroadcast {
    /// Loads the object with fresh maps of its own, the device map with `capacity` slots
    /// (1..=`MAX_SUBSCRIBERS_PER_GROUP`); nothing of the node's dataplane is touched. The
    /// kernel's broadcast visits every slot of the map for every frame, empty ones included, as
    /// the dataplane's walk visits its group's slots up to the high-water mark.
    pub fn load(node: &Node, capacity: u32) -> Result<Self> {
        if !(1..=MAX_SUBSCRIBERS_PER_GROUP).contains(&capacity) {
            return Err(DataplaneError::InvalidCapacity {
                capacity,
                limit: MAX_SUBSCRIBERS_PER_GROUP,
            });
        }
        kernel::check_datapath_support()?;
        let ebpf = EbpfLoader::new()
            .map_max_entries(MAP_XDP_BROADCAST_DEVS, capacity)
            .load(object::OBJECT)
            .map_err(DataplaneError::Load)?;
        Ok(Self {
            node: node.clone(),
            ebpf,
            capacity,
            receivers: 0,
        })
    }

    /// Adds host-side veth `iface` of the node to the device map: it gets a copy of every
    /// multicast frame that enters at a veth the program is attached to. At most
    /// the capacity given to [`XdpBroadcast::load`] receivers.
    pub fn add_receiver(&mut self, iface: &str) -> Result<()> {
        let node = self.node.clone();
        // The kernel resolves the ifindex of a device map entry in the writer's namespace.
        let _netns = node.enter()?;
        let ifindex = node.ifindex(iface)?;
        let slot = self.receivers;
        if slot >= self.capacity {
            return Err(map_error(
                format!("adding {iface} to {MAP_XDP_BROADCAST_DEVS}"),
                MapError::OutOfBounds {
                    index: slot,
                    max_entries: self.capacity,
                },
            ));
        }
        self.devices()?
            .set(slot, ifindex, None, BPF_ANY)
            .map_err(|err| match err {
                XdpMapError::MapError(source) => map_error(
                    format!("adding {iface} to {MAP_XDP_BROADCAST_DEVS}"),
                    source,
                ),
                // Only a chained program is refused this way, and none is written.
                err @ XdpMapError::ChainedProgramNotSupported => DataplaneError::MissingFeature {
                    feature: "programs in device map entries",
                    detail: err.to_string(),
                },
            })?;
        self.receivers += 1;
        Ok(())
    }

    /// The ifindexes (in the node's namespace) the device map holds, in slot order.
    pub fn receivers(&mut self) -> Result<Vec<u32>> {
        let count = self.receivers;
        let devices = self.devices()?;
        (0..count)
            .map(|slot| {
                devices
                    .get(slot, 0)
                    .map(|value| value.if_index)
                    .map_err(|err| map_error(format!("reading {MAP_XDP_BROADCAST_DEVS}"), err))
            })
            .collect()
    }

    /// Whether host-side veth `iface` of the node is in the device map (gets copies).
    pub fn holds(&mut self, iface: &str) -> Result<bool> {
        let ifindex = {
            let _netns = self.node.enter()?;
            self.node.ifindex(iface)?
        };
        Ok(self.receivers()?.contains(&ifindex))
    }

    /// `mcast_xdp_broadcast`, loaded into the kernel.
    pub fn program(&mut self) -> Result<&mut Xdp> {
        object::load_xdp_program(&mut self.ebpf, PROG_XDP_BROADCAST)
    }

    /// Attaches `mcast_xdp_broadcast` in native (driver) XDP mode (`ip link set dev IF xdpdrv
    /// ...`, as a BPF link) to each of `ifaces`, host-side veths of the node; fails with
    /// [`DataplaneError::XdpAttach`] where native XDP cannot be attached (generic XDP is not
    /// tried: it would measure another path). The attachments last as long as this
    /// `XdpBroadcast`.
    pub fn attach(&mut self, ifaces: &[&str]) -> Result<()> {
        let node = self.node.clone();
        let _netns = node.enter()?;
        for iface in ifaces {
            node.ifindex(iface)?;
        }
        let program = self.program()?;
        for iface in ifaces {
            program
                .attach(iface, XdpMode::Driver)
                .map_err(|source| DataplaneError::XdpAttach {
                    node: node.name().to_owned(),
                    iface: (*iface).to_owned(),
                    program: PROG_XDP_BROADCAST,
                    source: Box::new(source),
                })?;
        }
        Ok(())
    }

    /// Detaches the program from every interface it was attached to and unloads it with its
    /// map. Dropping an `XdpBroadcast` does the same, outside the node's namespace (enough for
    /// BPF links, which all attachments on a kernel of the dataplane's minimum are).
    pub fn detach(self) -> Result<()> {
        let Self { node, ebpf, .. } = self;
        // A namespace that is gone took its veths, and their attachments, with it.
        let _netns = node.enter().ok();
        drop(ebpf);
        Ok(())
    }

    fn devices(&mut self) -> Result<DevMap<&mut MapData>> {
        self.ebpf
            .map_mut(MAP_XDP_BROADCAST_DEVS)
            .ok_or(DataplaneError::MissingFromObject {
                kind: "map",
                name: MAP_XDP_BROADCAST_DEVS,
            })?
            .try_into()
            .map_err(|err| map_error(format!("opening {MAP_XDP_BROADCAST_DEVS}"), err))
    }
}
