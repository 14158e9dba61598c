//! The group map of a node, as `cilium-dbg bpf multicast group|subscriber` shows and edits it:
//! groups are added by the operator; local subscribers come from IGMP; remote subscribers are
//! nodes, added by address: static ones by the operator (never aged), learned ones by the node
//! agent from the other nodes' membership messages (stamped when heard, aged like local ones).

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use aya::{
    maps::{HashMap, HashOfMaps, Map, MapData, MapError},
    sys::SyscallError,
};
use mcastlab_common::{
    CONFIG_KEY, MAX_GROUPS, MAX_SUBSCRIBERS_PER_GROUP, NodeConfig, addr_key,
    identity::is_link_local_group,
    key_addr,
    names::{MAP_CONFIG, MAP_GROUPS, MAP_GROUPS6, MAP_SOURCES, MAP_SUBSCRIBERS},
    slots::{GROUP_ARRAY_LEN, GROUP_MAP_FLAGS, Member, NEVER_HEARD},
    sources::{SourceFilter, SourceKey},
    wire::ipv6::{self, Ipv6Key},
};

use super::{
    Node,
    error::{DataplaneError, Result, map_error},
    fanout::{AddError, MappedGroup},
    typed_array::create_u64_array,
};

/// `BPF_NOEXIST`: insert only if the key is absent.
const BPF_NOEXIST: u64 = 1;

/// A group and how many subscribers it has.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GroupEntry {
    /// The group address.
    pub group: IpAddr,
    /// Most subscribers the group holds.
    pub capacity: u32,
    /// Local subscribers (pods that joined with IGMP).
    pub local_subscribers: usize,
    /// Remote subscribers (nodes).
    pub remote_subscribers: usize,
}

/// Whether a subscriber is a pod on this node or another node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberKind {
    /// A pod on this node, behind a host-side veth.
    Local,
    /// Another node, reached over the tunnel.
    Remote,
}

/// How a subscriber came to be, told by its slot's last-heard word
/// (`mcastlab_common::slots::heard_index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberOrigin {
    /// A pod's IGMP join, stamped by the datapath at each join and refresh.
    Igmp,
    /// A remote node added by hand (`subscriber add`): never heard, never aged.
    Static,
    /// A remote node the agent learned from the node's membership messages, stamped at each
    /// one; it ages out when they stop.
    Learned,
}

/// Whether a member's listed sources are the ones it wants or the ones it refuses
/// (`mcastlab_common::sources`, RFC 3376 section 3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterMode {
    /// Only the listed sources.
    Include,
    /// Every source but the listed ones.
    Exclude,
}

/// A member's source filter, as `subscriber list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MemberFilter {
    /// Include or exclude the listed sources.
    pub mode: FilterMode,
    /// The listed sources, sorted.
    pub sources: Vec<Ipv4Addr>,
}

impl MemberFilter {
    /// `EXCLUDE{}`: every source (a member without a filter entry).
    pub fn any_source() -> Self {
        Self {
            mode: FilterMode::Exclude,
            sources: Vec::new(),
        }
    }

    /// Whether the filter lets every source through.
    pub fn is_any_source(&self) -> bool {
        self.mode == FilterMode::Exclude && self.sources.is_empty()
    }
}

impl From<SourceFilter> for MemberFilter {
    fn from(filter: SourceFilter) -> Self {
        let mut sources: Vec<Ipv4Addr> = filter.listed().iter().copied().map(key_addr).collect();
        sources.sort();
        Self {
            mode: if filter.is_include() {
                FilterMode::Include
            } else {
                FilterMode::Exclude
            },
            sources,
        }
    }
}

impl std::fmt::Display for MemberFilter {
    /// `any`, or the mode and the sources: `include 10.0.0.1,10.0.0.2`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_any_source() {
            return f.write_str("any");
        }
        let mode = match self.mode {
            FilterMode::Include => "include",
            FilterMode::Exclude => "exclude",
        };
        let sources: Vec<String> = self.sources.iter().map(Ipv4Addr::to_string).collect();
        write!(f, "{mode} {}", sources.join(","))
    }
}

/// What [`GroupTable::learn_remote`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// The node became a learned subscriber.
    Added,
    /// The node was a learned subscriber; its stamp is now.
    Refreshed,
    /// The node is a static subscriber (or the address is a local one): left as it is.
    Static,
}

/// One subscriber of one group.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SubscriberEntry {
    /// The group.
    pub group: IpAddr,
    /// The subscriber's address (a pod's, or a remote node's).
    pub address: Ipv4Addr,
    /// Local or remote.
    pub kind: SubscriberKind,
    /// The interface copies go to (a pod's host-side veth, or the tunnel).
    pub ifindex: u32,
    /// IGMP (local), static or learned (remote).
    pub origin: SubscriberOrigin,
    /// Whole seconds since the subscriber was last heard (joined, refreshed, announced);
    /// `None` for a static one, which is never heard.
    pub age_s: Option<u64>,
    /// Copies delivered to the subscriber since it took its slot (joined or was added); a copy
    /// whose clone failed is not counted.
    pub packets: u64,
    /// The bytes of those copies: each copy's length as replicated (the Ethernet frame, before
    /// any tunnel header).
    pub bytes: u64,
    /// Which sources' traffic the subscriber gets (`EXCLUDE{}`: every source).
    pub filter: MemberFilter,
}

/// The interface label of a remote member's copies in [`MemberDelivery::iface`].
pub const TUNNEL_IFACE: &str = "tunnel";

/// What was delivered to one member of one group, with the interface its copies leave by:
/// what `mcastlab stats --members` lists and `/metrics` exports (as Antrea's
/// `antctl get podmulticaststats`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MemberDelivery {
    /// The group.
    pub group: IpAddr,
    /// The member's address (a pod's, or a remote node's).
    pub member: Ipv4Addr,
    /// Local or remote.
    pub kind: SubscriberKind,
    /// A local member's host-side veth by name (`ifindex N` if it is gone), or
    /// [`TUNNEL_IFACE`] for a remote one.
    pub iface: String,
    /// Copies delivered since the member took its slot ([`SubscriberEntry::packets`]).
    pub packets: u64,
    /// Their bytes ([`SubscriberEntry::bytes`]).
    pub bytes: u64,
}

impl MemberDelivery {
    /// The delivery of `subscriber`, whose local veth is named by `names` (ifindex -> name).
    pub fn of(
        subscriber: &SubscriberEntry,
        names: &std::collections::HashMap<u32, String>,
    ) -> Self {
        let iface = match subscriber.kind {
            SubscriberKind::Remote => TUNNEL_IFACE.to_owned(),
            SubscriberKind::Local => names
                .get(&subscriber.ifindex)
                .cloned()
                .unwrap_or_else(|| format!("ifindex {}", subscriber.ifindex)),
        };
        Self {
            group: subscriber.group,
            member: subscriber.address,
            kind: subscriber.kind,
            iface,
            packets: subscriber.packets,
            bytes: subscriber.bytes,
        }
    }
}

/// A member with when it was last heard (a local member, or a learned remote one), as the
/// agent's aging reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeardMember {
    /// The group.
    pub group: IpAddr,
    /// The member's slot in the group's fan-out list.
    pub slot: u32,
    /// The member.
    pub member: Member,
    /// When its latest join or refresh was handled: `CLOCK_MONOTONIC` nanoseconds.
    pub heard_ns: u64,
}

/// The open group map of a node.
pub struct GroupTable {
    node: String,
    owner: Node,
    groups_pin: std::path::PathBuf,
    groups: HashOfMaps<MapData, u32, MapData>,
    groups6: HashOfMaps<MapData, Ipv6Key, MapData>,
    sources: HashMap<MapData, SourceKey, SourceFilter>,
    config: NodeConfig,
}

impl GroupTable {
    pub(crate) fn open(node: &Node) -> Result<Self> {
        let pins = node.pins();
        let groups_pin = pins.map(MAP_GROUPS);
        let groups = MapData::from_pin(&groups_pin)
            .and_then(Map::from_map_data)
            .and_then(HashOfMaps::try_from)
            .map_err(|source| map_error(format!("opening {MAP_GROUPS}"), source))?;
        let groups6 = MapData::from_pin(pins.map(MAP_GROUPS6))
            .and_then(Map::from_map_data)
            .and_then(HashOfMaps::try_from)
            .map_err(|source| map_error(format!("opening {MAP_GROUPS6}"), source))?;
        let config: aya::maps::Array<MapData, NodeConfig> = MapData::from_pin(pins.map(MAP_CONFIG))
            .and_then(Map::from_map_data)
            .and_then(aya::maps::Array::try_from)
            .map_err(|source| map_error(format!("opening {MAP_CONFIG}"), source))?;
        let config = config
            .get(&CONFIG_KEY, 0)
            .map_err(|source| map_error(format!("reading {MAP_CONFIG}"), source))?;
        let sources = MapData::from_pin(pins.map(MAP_SOURCES))
            .and_then(Map::from_map_data)
            .and_then(HashMap::try_from)
            .map_err(|source| map_error(format!("opening {MAP_SOURCES}"), source))?;
        Ok(Self {
            node: node.name().to_owned(),
            owner: node.clone(),
            groups_pin,
            groups,
            groups6,
            sources,
            config,
        })
    }

    /// Configures `group` (IPv4 or IPv6) with no subscribers and room for the most subscribers
    /// allowed.
    pub fn add_group(&mut self, group: impl Into<IpAddr>) -> Result<()> {
        self.add_group_with_capacity(group, MAX_SUBSCRIBERS_PER_GROUP)
    }

    /// Configures `group` with no subscribers and room for `capacity` of them (1 to
    /// `MAX_SUBSCRIBERS_PER_GROUP`). Joins beyond it are refused and counted. The capacity is a
    /// quota, not a cost: replication reads only the slots that were ever used. Groups in
    /// 224.0.0.0/24 are refused ([`DataplaneError::LinkLocalGroup`]), and IPv6 groups of link
    /// scope or narrower ([`DataplaneError::LinkScopeGroup`]). IPv4 and IPv6 groups are two
    /// maps of `MAX_GROUPS` each. Holds the node's lock.
    pub fn add_group_with_capacity(
        &mut self,
        group: impl Into<IpAddr>,
        capacity: u32,
    ) -> Result<()> {
        let group = group.into();
        require_multicast(group)?;
        match group {
            IpAddr::V4(v4) if is_link_local_group(addr_key(v4)) => {
                return Err(DataplaneError::LinkLocalGroup { group: v4 });
            }
            IpAddr::V6(v6) if ipv6::is_link_scope_group(v6.octets()) => {
                return Err(DataplaneError::LinkScopeGroup { group: v6 });
            }
            _ => {}
        }
        let _lock = self.owner.lock()?;
        if !(1..=MAX_SUBSCRIBERS_PER_GROUP).contains(&capacity) {
            return Err(DataplaneError::InvalidCapacity {
                capacity,
                limit: MAX_SUBSCRIBERS_PER_GROUP,
            });
        }
        // A duplicate or the group limit shows as EEXIST or E2BIG from the insert below: no
        // scan of the existing groups, so adding N groups costs N inserts, not N^2 reads.
        let subscribers = create_u64_array(MAP_SUBSCRIBERS, GROUP_ARRAY_LEN, GROUP_MAP_FLAGS)
            .map_err(|source| DataplaneError::MapMemory { group, source })?;
        MappedGroup::map(&subscribers)
            .map_err(|source| DataplaneError::MapMemory { group, source })?
            .slots()
            .start(capacity);
        let inserted = match group {
            IpAddr::V4(v4) => self.groups.insert(addr_key(v4), &subscribers, BPF_NOEXIST),
            IpAddr::V6(v6) => {
                self.groups6
                    .insert(ipv6::addr_key(v6.octets()), &subscribers, BPF_NOEXIST)
            }
        };
        match inserted {
            Ok(()) => {
                make_room_for(capacity);
                Ok(())
            }
            Err(err) => Err(match errno(&err) {
                Some(libc::EEXIST) => self.group_exists(group),
                Some(libc::E2BIG) => self.group_limit(),
                _ => map_error(format!("adding group {group}"), err),
            }),
        }
    }

    /// Removes `group` and all its subscribers. Holds the node's lock.
    pub fn delete_group(&mut self, group: impl Into<IpAddr>) -> Result<()> {
        let group = group.into();
        require_multicast(group)?;
        let _lock = self.owner.lock()?;
        let removed = match group {
            IpAddr::V4(v4) => self.groups.remove(&addr_key(v4)),
            IpAddr::V6(v6) => self.groups6.remove(&ipv6::addr_key(v6.octets())),
        };
        removed.map_err(|err| match errno(&err) {
            Some(libc::ENOENT) => self.group_not_found(group),
            _ => map_error(format!("deleting group {group}"), err),
        })?;
        let IpAddr::V4(v4) = group else {
            // IPv6 members have no source filters.
            return Ok(());
        };
        let filters: Vec<SourceKey> = self
            .sources
            .keys()
            .filter_map(std::result::Result::ok)
            .filter(|key| key.group == addr_key(v4))
            .collect();
        for key in filters {
            self.forget_filter_key(key);
        }
        Ok(())
    }

    /// Every configured group with its subscriber counts, sorted by address.
    pub fn groups(&self) -> Result<Vec<GroupEntry>> {
        let mut entries = Vec::new();
        for (group, mapped) in self.mapped_groups()? {
            let slots = mapped.slots();
            let members = slots.members();
            let remote = members.iter().filter(|(_, m)| m.is_remote()).count();
            entries.push(GroupEntry {
                group,
                capacity: slots.header().capacity,
                local_subscribers: members.len() - remote,
                remote_subscribers: remote,
            });
        }
        entries.sort_by_key(|entry| entry.group);
        Ok(entries)
    }

    /// Adds the node at `address` as a remote subscriber of `group`: copies go to it through
    /// the tunnel.
    pub fn add_remote_subscriber(
        &mut self,
        group: impl Into<IpAddr>,
        address: Ipv4Addr,
    ) -> Result<()> {
        self.add_remote_subscribers(group, &[address])
    }

    /// Adds many remote subscribers to `group` in one pass over its fan-out list (what a control
    /// plane does when it learns a group's nodes); stops at the first error, keeping the ones
    /// before it. An address of the node itself (its underlay address) is refused
    /// ([`DataplaneError::OwnUnderlayAddress`]) before anything changes. Holds the node's lock.
    pub fn add_remote_subscribers(
        &mut self,
        group: impl Into<IpAddr>,
        addresses: &[Ipv4Addr],
    ) -> Result<()> {
        let group = group.into();
        require_multicast(group)?;
        if self.config.tunnel_ifindex == 0 {
            return Err(DataplaneError::NoTunnel {
                node: self.node.clone(),
            });
        }
        for &address in addresses {
            require_unicast(address)?;
        }
        let own = self.owner.ipv4_addresses()?;
        if let Some(&address) = addresses.iter().find(|address| own.contains(address)) {
            return Err(DataplaneError::OwnUnderlayAddress {
                node: self.node.clone(),
                address,
            });
        }
        let _lock = self.owner.lock()?;
        let members: Vec<Member> = addresses
            .iter()
            .map(|&address| Member::remote(addr_key(address)))
            .collect();
        let mapped = self.mapped(group)?;
        let added = mapped.slots().add_all(&members);
        // A claimed slot keeps the last-heard word of whoever held it before: a static
        // member is never heard.
        let count = match added {
            Ok(()) => members.len(),
            Err((index, _)) => index,
        };
        for member in &members[..count] {
            if let Some(found) = mapped.slots().find(member.address)
                && found.word == member.word()
            {
                let old = mapped.last_heard(found.slot);
                mapped.set_last_heard(found.slot, old, NEVER_HEARD);
            }
        }
        added.map_err(|(index, err)| self.subscriber_add_error(group, addresses[index], err))
    }

    /// Adds the node at `address` as a learned remote subscriber of `group` heard at
    /// `now_ns` (`CLOCK_MONOTONIC`, [`monotonic_ns`]) that wants the sources `filter` lets
    /// through (what the node's members want, from its membership message), or refreshes it
    /// with that filter; a static subscriber at that address stays static (and takes every
    /// source). A new member's filter is written before its slot, so it never gets a copy the
    /// filter refuses.
    pub fn learn_remote(
        &mut self,
        group: impl Into<IpAddr>,
        address: Ipv4Addr,
        filter: SourceFilter,
        now_ns: u64,
    ) -> Result<Learned> {
        let group = group.into();
        require_multicast(group)?;
        require_unicast(address)?;
        if self.config.tunnel_ifindex == 0 {
            return Err(DataplaneError::NoTunnel {
                node: self.node.clone(),
            });
        }
        let mapped = self.mapped(group)?;
        let member = Member::remote(addr_key(address));
        let slots = mapped.slots();
        let found = match slots.find(member.address) {
            Some(found) => found,
            None => {
                self.set_filter(&mapped, group, member, filter)?;
                match slots.add(member) {
                    Ok(slot) => {
                        let old = mapped.last_heard(slot);
                        mapped.set_last_heard(slot, old, now_ns);
                        return Ok(Learned::Added);
                    }
                    // Added by another writer meanwhile: refresh it below.
                    Err(AddError::Present(_)) => match slots.find(member.address) {
                        Some(found) => found,
                        None => return Ok(Learned::Static),
                    },
                    Err(err) => {
                        self.forget_filter(group, member);
                        return Err(self.subscriber_add_error(group, address, err));
                    }
                }
            }
        };
        if found.word != member.word() {
            return Ok(Learned::Static);
        }
        let old = mapped.last_heard(found.slot);
        if old == NEVER_HEARD {
            // A static subscriber: every source, whatever a filter written above said.
            self.forget_filter(group, member);
            return Ok(Learned::Static);
        }
        self.set_filter(&mapped, group, member, filter)?;
        mapped.set_last_heard(found.slot, old, now_ns.max(old));
        Ok(Learned::Refreshed)
    }

    /// Removes the learned remote subscriber `address` from `group` (its node has no member
    /// left); returns whether it did. A static subscriber stays.
    pub fn withdraw_learned(
        &mut self,
        group: impl Into<IpAddr>,
        address: Ipv4Addr,
    ) -> Result<bool> {
        let group = group.into();
        require_multicast(group)?;
        let mapped = self.mapped(group)?;
        let member = Member::remote(addr_key(address));
        let Some(found) = mapped.slots().find(member.address) else {
            return Ok(false);
        };
        if found.word != member.word() || mapped.last_heard(found.slot) == NEVER_HEARD {
            return Ok(false);
        }
        let removed = mapped.slots().remove_at(found.slot, member);
        if removed {
            self.forget_filter(group, member);
        }
        Ok(removed)
    }

    /// The groups that have at least one local subscriber, with what their local subscribers
    /// want together (the merge of their source filters, RFC 3376 section 3.2): what the node
    /// announces.
    pub fn local_member_filters(&self) -> Result<BTreeMap<IpAddr, SourceFilter>> {
        let mut wanted = BTreeMap::new();
        for (group, mapped) in self.mapped_groups()? {
            for (_, member) in mapped.slots().members() {
                if member.is_remote() {
                    continue;
                }
                let filter = self.source_filter(group, member);
                let merged = wanted.entry(group).or_insert(SourceFilter::NO_SOURCE);
                *merged = merged.merge(filter);
            }
        }
        Ok(wanted)
    }

    /// Removes subscriber `address` (local or remote) from `group`. Holds the node's lock.
    pub fn delete_subscriber(&mut self, group: impl Into<IpAddr>, address: Ipv4Addr) -> Result<()> {
        let group = group.into();
        require_multicast(group)?;
        let _lock = self.owner.lock()?;
        match self.mapped(group)?.slots().remove(addr_key(address)) {
            Some(member) => {
                self.forget_filter(group, member);
                Ok(())
            }
            None => Err(DataplaneError::SubscriberNotFound {
                node: self.node.clone(),
                group,
                address,
            }),
        }
    }

    /// Removes the local subscribers behind host-side veth `ifindex` from every group (the
    /// pod behind it is gone); returns what was removed, as (group, address).
    pub fn delete_subscribers_behind(&mut self, ifindex: u32) -> Result<Vec<(IpAddr, Ipv4Addr)>> {
        let mut removed = Vec::new();
        for (group, mapped) in self.mapped_groups()? {
            for member in mapped.slots().remove_behind(ifindex) {
                self.forget_filter(group, member);
                removed.push((group, key_addr(member.address)));
            }
        }
        Ok(removed)
    }

    /// Every member that was heard, with when: local members the datapath stamped (joined or
    /// refreshed) and remote ones the agent learned.
    pub fn heard_members(&self) -> Result<Vec<HeardMember>> {
        let mut heard = Vec::new();
        for (group, mapped) in self.mapped_groups()? {
            heard.extend(heard_in(group, &mapped));
        }
        Ok(heard)
    }

    /// The members of `group` that were heard, with when (as [`GroupTable::heard_members`]).
    pub fn heard_members_of(&self, group: impl Into<IpAddr>) -> Result<Vec<HeardMember>> {
        let group = group.into();
        require_multicast(group)?;
        Ok(heard_in(group, &self.mapped(group)?).collect())
    }

    /// Removes `heard.member` from its slot if it is still there (not left, replaced or moved
    /// since it was read); returns whether it did.
    pub fn remove_heard(&mut self, heard: &HeardMember) -> Result<bool> {
        match self.mapped(heard.group) {
            Ok(mapped) => {
                let removed = mapped.slots().remove_at(heard.slot, heard.member);
                if removed {
                    self.forget_filter(heard.group, heard.member);
                }
                Ok(removed)
            }
            Err(DataplaneError::GroupNotFound { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Every group with the id of its fan-out list, unsorted. A group deleted and added
    /// again, and every group of a node attached again, has a new list and so a new id.
    pub fn group_lists(&self) -> Result<Vec<(IpAddr, u32)>> {
        let mut lists = Vec::new();
        for group in self.group_keys()? {
            let data = match self.subscriber_map_data(group) {
                Ok(data) => data,
                // Deleted since it was listed.
                Err(DataplaneError::GroupNotFound { .. }) => continue,
                Err(err) => return Err(err),
            };
            let info = data.info().map_err(|source| {
                map_error(format!("reading the fan-out list of {group}"), source)
            })?;
            lists.push((group, info.id()));
        }
        Ok(lists)
    }

    /// The subscribers of `group`, sorted by address.
    pub fn subscribers_of(&self, group: impl Into<IpAddr>) -> Result<Vec<SubscriberEntry>> {
        let group = group.into();
        require_multicast(group)?;
        let mapped = self.mapped(group)?;
        let now = monotonic_ns();
        let mut entries: Vec<SubscriberEntry> = mapped
            .slots()
            .members()
            .into_iter()
            .map(|(slot, member)| (member, mapped.last_heard(slot), mapped.delivered(slot)))
            .map(|(member, heard, delivered)| SubscriberEntry {
                group,
                address: key_addr(member.address),
                kind: if member.is_remote() {
                    SubscriberKind::Remote
                } else {
                    SubscriberKind::Local
                },
                ifindex: if member.is_remote() {
                    self.config.tunnel_ifindex
                } else {
                    member.target
                },
                origin: match (member.is_remote(), heard) {
                    (false, _) => SubscriberOrigin::Igmp,
                    (true, NEVER_HEARD) => SubscriberOrigin::Static,
                    (true, _) => SubscriberOrigin::Learned,
                },
                age_s: (heard != NEVER_HEARD).then(|| now.saturating_sub(heard) / 1_000_000_000),
                packets: delivered.packets,
                bytes: delivered.bytes,
                filter: self.filter_of(group, member),
            })
            .collect();
        entries.sort_by_key(|entry| entry.address);
        Ok(entries)
    }

    /// The subscribers of every group, sorted by group then address.
    pub fn all_subscribers(&self) -> Result<Vec<SubscriberEntry>> {
        let mut groups: Vec<IpAddr> = self.group_keys()?;
        groups.sort();
        let mut entries = Vec::new();
        for group in groups {
            match self.subscribers_of(group) {
                Ok(mut subscribers) => entries.append(&mut subscribers),
                Err(DataplaneError::GroupNotFound { .. }) => continue,
                Err(err) => return Err(err),
            }
        }
        Ok(entries)
    }

    /// How many members of the node have a source filter (entries of the source map, at most
    /// `mcastlab_common::sources::MAX_SOURCE_FILTERS`).
    pub fn source_filter_count(&self) -> usize {
        self.sources
            .keys()
            .filter(std::result::Result::is_ok)
            .count()
    }

    /// `member`'s source filter in `group`, as shown.
    fn filter_of(&self, group: IpAddr, member: Member) -> MemberFilter {
        MemberFilter::from(self.source_filter(group, member))
    }

    /// `member`'s source filter in `group`: its entry in the source map, or every source (no
    /// entry; IPv6 members always).
    fn source_filter(&self, group: IpAddr, member: Member) -> SourceFilter {
        let IpAddr::V4(group) = group else {
            return SourceFilter::ANY_SOURCE;
        };
        self.sources
            .get(&SourceKey::new(addr_key(group), member), 0)
            .unwrap_or(SourceFilter::ANY_SOURCE)
    }

    /// Writes `member`'s source filter in `group` (whose array is `mapped`): an any-source
    /// filter is no entry; any other marks the group as filtered first. IPv6 members take
    /// every source.
    fn set_filter(
        &mut self,
        mapped: &MappedGroup,
        group: IpAddr,
        member: Member,
        filter: SourceFilter,
    ) -> Result<()> {
        let IpAddr::V4(v4) = group else {
            return Ok(());
        };
        if filter.is_any_source() {
            self.forget_filter(group, member);
            return Ok(());
        }
        mapped.mark_source_filters();
        match self
            .sources
            .insert(SourceKey::new(addr_key(v4), member), filter, 0)
        {
            Ok(()) => Ok(()),
            // Full: no entry, so the member gets every source, which loses nothing it wants.
            Err(err) if errno(&err) == Some(libc::E2BIG) => {
                tracing::warn!(%group, "the source filter map is full: the member gets every source");
                Ok(())
            }
            Err(err) => Err(map_error(
                format!("writing a source filter of {group}"),
                err,
            )),
        }
    }

    /// Removes the source filter of a member that was removed from `group`. The datapath
    /// replaces a filter at the member's next join, so one left behind (a removal that failed)
    /// only holds an entry of the map.
    fn forget_filter(&mut self, group: IpAddr, member: Member) {
        if let IpAddr::V4(group) = group {
            self.forget_filter_key(SourceKey::new(addr_key(group), member));
        }
    }

    /// Removes the filter at `key`, if there is one.
    fn forget_filter_key(&mut self, key: SourceKey) {
        match self.sources.remove(&key) {
            Ok(()) => {}
            Err(err) if errno(&err) == Some(libc::ENOENT) => {}
            Err(err) => tracing::warn!(%err, "could not remove a source filter"),
        }
    }

    /// Kernel memory charged to the group map and every group's subscriber map, in bytes (the
    /// `memlock` the kernel reports for each map).
    pub fn memory_bytes(&self) -> Result<u64> {
        let outer = MapData::from_pin(&self.groups_pin)
            .map_err(|source| map_error(format!("opening {MAP_GROUPS}"), source))?;
        let mut total = memlock(&outer)?;
        for key in self.group_keys()? {
            total += memlock(&self.subscriber_map_data(key)?)?;
        }
        Ok(total)
    }

    /// The node's settings as attach wrote them.
    pub fn config(&self) -> NodeConfig {
        self.config
    }

    /// Every configured group, IPv4 then IPv6, unsorted within each.
    fn group_keys(&self) -> Result<Vec<IpAddr>> {
        let v4 = self
            .groups
            .keys()
            .map(|key| key.map(|key| IpAddr::V4(key_addr(key))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| map_error(format!("listing {MAP_GROUPS}"), source))?;
        let v6 = self
            .groups6
            .keys()
            .map(|key| key.map(|key| IpAddr::V6(Ipv6Addr::from(ipv6::key_addr(key)))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| map_error(format!("listing {MAP_GROUPS6}"), source))?;
        Ok(v4.into_iter().chain(v6).collect())
    }

    fn subscriber_map_data(&self, group: IpAddr) -> Result<MapData> {
        let found = match group {
            IpAddr::V4(v4) => self.groups.get(&addr_key(v4), 0),
            IpAddr::V6(v6) => self.groups6.get(&ipv6::addr_key(v6.octets()), 0),
        };
        found.map_err(|err| match err {
            MapError::KeyNotFound => self.group_not_found(group),
            // The list was freed between the lookup of its id and its open: the group was
            // deleted (or the dataplane detached) meanwhile, and is gone.
            MapError::SyscallError(SyscallError {
                call: "bpf_map_get_fd_by_id",
                ref io_error,
            }) if io_error.raw_os_error() == Some(libc::ENOENT) => self.group_not_found(group),
            err => map_error(format!("opening the subscribers of {group}"), err),
        })
    }

    /// The fan-out list of `group`, mapped into this process.
    /// Every configured group with its fan-out list mapped, unsorted; a group deleted between
    /// listing and mapping is left out (it is gone).
    fn mapped_groups(&self) -> Result<Vec<(IpAddr, MappedGroup)>> {
        let mut groups = Vec::new();
        for group in self.group_keys()? {
            match self.mapped(group) {
                Ok(mapped) => groups.push((group, mapped)),
                Err(DataplaneError::GroupNotFound { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(groups)
    }

    fn mapped(&self, group: IpAddr) -> Result<MappedGroup> {
        let map = self.subscriber_map_data(group)?;
        MappedGroup::map(&map).map_err(|source| DataplaneError::MapMemory { group, source })
    }

    fn subscriber_add_error(
        &self,
        group: IpAddr,
        address: Ipv4Addr,
        err: AddError,
    ) -> DataplaneError {
        match err {
            AddError::Present(_) => DataplaneError::SubscriberExists {
                node: self.node.clone(),
                group,
                address,
            },
            AddError::Full { capacity } => DataplaneError::SubscriberLimit {
                node: self.node.clone(),
                group,
                limit: capacity,
            },
            AddError::Contended => DataplaneError::SubscriberContended {
                node: self.node.clone(),
                group,
                address,
            },
        }
    }

    fn group_exists(&self, group: IpAddr) -> DataplaneError {
        DataplaneError::GroupExists {
            node: self.node.clone(),
            group,
        }
    }

    fn group_not_found(&self, group: IpAddr) -> DataplaneError {
        DataplaneError::GroupNotFound {
            node: self.node.clone(),
            group,
        }
    }

    fn group_limit(&self) -> DataplaneError {
        DataplaneError::GroupLimit {
            node: self.node.clone(),
            limit: MAX_GROUPS,
        }
    }
}

/// Now on `CLOCK_MONOTONIC`, the clock of `bpf_ktime_get_ns` and of every last-heard word,
/// in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always there");
    u64::try_from(now.tv_sec()).unwrap_or(0) * 1_000_000_000
        + u64::try_from(now.tv_nsec()).unwrap_or(0)
}

fn require_unicast(address: Ipv4Addr) -> Result<()> {
    if address.is_multicast()
        || address.is_unspecified()
        || address.is_broadcast()
        || address.is_loopback()
    {
        Err(DataplaneError::NotUnicast { address })
    } else {
        Ok(())
    }
}

fn require_multicast(group: IpAddr) -> Result<()> {
    if group.is_multicast() {
        Ok(())
    } else {
        Err(DataplaneError::NotMulticast { address: group })
    }
}

/// The `memlock` the kernel reports for a map (/proc/self/fdinfo), in bytes.
fn memlock(map: &MapData) -> Result<u64> {
    use std::os::fd::{AsFd as _, AsRawFd as _};
    let path = std::path::PathBuf::from(format!(
        "/proc/self/fdinfo/{}",
        map.fd().as_fd().as_raw_fd()
    ));
    let info = std::fs::read_to_string(&path).map_err(|source| DataplaneError::Io {
        action: "reading",
        path: path.clone(),
        source,
    })?;
    Ok(info
        .lines()
        .find_map(|line| line.strip_prefix("memlock:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0))
}

/// The errno of a failed map syscall.
fn errno(err: &MapError) -> Option<i32> {
    match err {
        MapError::SyscallError(SyscallError { io_error, .. }) => io_error.raw_os_error(),
        MapError::KeyNotFound => Some(libc::ENOENT),
        _ => None,
    }
}

/// Raises the host's per-CPU backlog so that one packet's copies to a full group of `capacity`
/// fit ([`crate::backlog`]), saying so; a failure is reported, not fatal: the group works, its
/// last subscribers may lose copies.
fn make_room_for(capacity: u32) {
    match crate::backlog::ensure_room_for(capacity) {
        Ok(Some(raise)) => tracing::warn!(
            from = raise.from,
            to = raise.to,
            "raised net.core.netdev_max_backlog so that one packet's copies to a full group fit \
             in the per-CPU backlog"
        ),
        Ok(None) => {}
        Err(err) => tracing::warn!(
            %err,
            "could not raise net.core.netdev_max_backlog: copies beyond it are dropped"
        ),
    }
}

/// The heard members of `group`'s fan-out list `mapped`.
fn heard_in(group: IpAddr, mapped: &MappedGroup) -> impl Iterator<Item = HeardMember> + '_ {
    mapped
        .slots()
        .members()
        .into_iter()
        .filter_map(move |(slot, member)| {
            let heard_ns = mapped.last_heard(slot);
            (heard_ns != NEVER_HEARD).then_some(HeardMember {
                group,
                slot,
                member,
                heard_ns,
            })
        })
}
