//! The seed baseline, for benchmarks only: `mcast_seed_pod_ingress`, a port of the replication
//! of Cilium's multicast datapath (cilium PR 29469), the design mcastlab started from (the
//! program's own documentation says what it keeps and what it leaves out). The fan-out
//! benchmark's `seed` mode runs it where the dataplane would run, so its results set ours
//! beside the reference's design.
//!
//! It is not part of the dataplane: its maps are private to the [`Seed`] that loads them (not
//! pinned, not in `names::MAPS`), the dataplane's attach never attaches it, and nothing handles
//! IGMP for it: the membership is what [`Seed::add_subscriber`] writes. Use it on a node
//! without the dataplane (the benchmark's lab deploys none), as tc filters of its own
//! (`tc filter add dev IF ingress prio 43 handle 0x5345 bpf da ...`), which stay on each veth
//! until [`detach`] or until the veth is deleted.

use std::net::Ipv4Addr;

use aya::{
    Ebpf,
    maps::{HashMap, HashOfMaps, Map, MapData, MapError},
    programs::SchedClassifier,
    sys::SyscallError,
};
use mcastlab_common::{
    MAX_SUBSCRIBERS_PER_GROUP, addr_key, key_addr,
    names::{MAP_SEED_GROUPS, MAP_SEED_SUBSCRIBERS, PROG_SEED_POD_INGRESS},
    seed::SeedSubscriber,
};

use crate::{
    Node,
    error::{DataplaneError, Result, map_error},
    kernel, object,
    typed_array::create_u32_keyed_hash,
};

/// Priority of the seed baseline's tc filters (mcastlab's own are at 42).
const PRIORITY: u16 = 43;
/// Handle of the seed baseline's tc filters ("SE").
const HANDLE: u16 = 0x5345;
/// `BPF_F_NO_PREALLOC`: the reference's maps are not preallocated (Cilium's default), and the
/// inner hashes must carry the flags of the program's template.
const NO_PREALLOC: u32 = 1;
/// `BPF_NOEXIST`, `BPF_ANY`.
const BPF_NOEXIST: u64 = 1;
const BPF_ANY: u64 = 0;

/// The seed baseline loaded for one node: its program and its private maps.
pub struct Seed {
    node: Node,
    ebpf: Ebpf,
}

impl Seed {
    /// Loads the object with fresh maps of its own; nothing of the node's dataplane is touched.
    pub fn load(node: &Node) -> Result<Self> {
        kernel::check_datapath_support()?;
        Ok(Self {
            node: node.clone(),
            ebpf: object::load(None)?,
        })
    }

    /// Configures `group` with an empty subscriber hash (up to `MAX_SUBSCRIBERS_PER_GROUP`
    /// subscribers).
    pub fn add_group(&mut self, group: Ipv4Addr) -> Result<()> {
        if !group.is_multicast() {
            return Err(DataplaneError::NotMulticast {
                address: group.into(),
            });
        }
        let subscribers = create_u32_keyed_hash(
            MAP_SEED_SUBSCRIBERS,
            (size_of::<SeedSubscriber>() / size_of::<u32>()) as u32,
            MAX_SUBSCRIBERS_PER_GROUP,
            NO_PREALLOC,
        )
        .map_err(|io_error| {
            map_error(
                format!("creating the seed subscribers of {group}"),
                MapError::SyscallError(SyscallError {
                    call: "bpf_map_create",
                    io_error,
                }),
            )
        })?;
        self.groups()?
            .insert(addr_key(group), &subscribers, BPF_NOEXIST)
            .map_err(|err| map_error(format!("adding seed group {group}"), err))
    }

    /// Makes `address`, the pod behind host-side veth `iface` of the node, a subscriber of
    /// `group`: it gets a copy of every packet to the group that enters at another veth.
    pub fn add_subscriber(
        &mut self,
        group: Ipv4Addr,
        address: Ipv4Addr,
        iface: &str,
    ) -> Result<()> {
        let ifindex = {
            let _netns = self.node.enter()?;
            self.node.ifindex(iface)?
        };
        let mut subscribers = self.subscriber_hash(group)?;
        let subscriber = SeedSubscriber {
            address: addr_key(address),
            ifindex,
            ..SeedSubscriber::default()
        };
        subscribers
            .insert(subscriber.address, subscriber, BPF_ANY)
            .map_err(|err| map_error(format!("adding seed subscriber {address} of {group}"), err))
    }

    /// The subscribers of `group` as (address, ifindex), sorted by address.
    pub fn subscribers(&self, group: Ipv4Addr) -> Result<Vec<(Ipv4Addr, u32)>> {
        let subscribers = self.subscriber_hash(group)?;
        let mut entries = subscribers
            .iter()
            .map(|entry| entry.map(|(key, value)| (key_addr(key), value.ifindex)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| map_error(format!("listing the seed subscribers of {group}"), err))?;
        entries.sort();
        Ok(entries)
    }

    /// `mcast_seed_pod_ingress`, loaded into the kernel (to attach, or to run with
    /// `BPF_PROG_TEST_RUN`).
    pub fn program(&mut self) -> Result<&mut SchedClassifier> {
        object::load_program(&mut self.ebpf, PROG_SEED_POD_INGRESS)
    }

    /// Attaches `mcast_seed_pod_ingress` at ingress of each of `ifaces` (host-side veths of the
    /// node) as a tc filter, which outlives this `Seed` and keeps its maps: the membership
    /// written so far stays in force.
    pub fn attach(&mut self, ifaces: &[&str]) -> Result<()> {
        let node = self.node.clone();
        let _netns = node.enter()?;
        for iface in ifaces {
            node.ifindex(iface)?;
        }
        let program = self.program()?;
        for iface in ifaces {
            attach_filter(program, iface)?;
        }
        Ok(())
    }

    fn groups(&mut self) -> Result<HashOfMaps<&mut MapData, u32, MapData>> {
        self.ebpf
            .map_mut(MAP_SEED_GROUPS)
            .ok_or(DataplaneError::MissingFromObject {
                kind: "map",
                name: MAP_SEED_GROUPS,
            })?
            .try_into()
            .map_err(|err| map_error(format!("opening {MAP_SEED_GROUPS}"), err))
    }

    fn subscriber_hash(&self, group: Ipv4Addr) -> Result<HashMap<MapData, u32, SeedSubscriber>> {
        let groups: HashOfMaps<&MapData, u32, MapData> = self
            .ebpf
            .map(MAP_SEED_GROUPS)
            .ok_or(DataplaneError::MissingFromObject {
                kind: "map",
                name: MAP_SEED_GROUPS,
            })?
            .try_into()
            .map_err(|err| map_error(format!("opening {MAP_SEED_GROUPS}"), err))?;
        let inner = groups.get(&addr_key(group), 0).map_err(|err| match err {
            MapError::KeyNotFound => DataplaneError::GroupNotFound {
                node: self.node.name().to_owned(),
                group: group.into(),
            },
            err => map_error(format!("opening the seed subscribers of {group}"), err),
        })?;
        Map::from_map_data(inner)
            .and_then(HashMap::try_from)
            .map_err(|err| map_error(format!("opening the seed subscribers of {group}"), err))
    }
}

/// Removes the seed baseline's tc filter from each of `ifaces` of `node` (`tc filter del dev
/// IF ingress prio 43 handle 0x5345 bpf`); an interface without one, or gone, is fine.
/// The program and its maps go with the last filter.
pub fn detach(node: &Node, ifaces: &[&str]) -> Result<()> {
    let _netns = node.enter()?;
    for iface in ifaces {
        crate::tc_filter::remove_ingress_filter(iface, PRIORITY, HANDLE)?;
    }
    Ok(())
}

/// Attaches `program` at ingress of `iface` as the seed baseline's tc filter (`tc qdisc add dev
/// IF clsact; tc filter add dev IF ingress prio 43 handle 0x5345 bpf da ...`). The caller is in
/// the node's namespace.
fn attach_filter(program: &mut SchedClassifier, iface: &str) -> Result<()> {
    crate::tc_filter::add_ingress_filter(program, iface, PRIORITY, HANDLE)
}
