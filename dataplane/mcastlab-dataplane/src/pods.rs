//! The pod identities of a node (`mcastlab pod set|delete|list`, as `cilium-dbg endpoint`
//! shows endpoints): which address the pod behind each host-side veth owns. The datapath
//! accepts an IGMP report from a veth only with that address (or 0.0.0.0) as its source, and
//! refuses, counting `no_pod_identity`, every report from a veth without an entry.

use std::{net::Ipv4Addr, path::PathBuf};

use aya::maps::{HashMap, Map, MapData, MapError};
use mcastlab_common::{PodIdentity, addr_key, key_addr, names::MAP_PODS};

use crate::{
    Node,
    error::{DataplaneError, Result, map_error},
};

/// The pod behind one host-side veth.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PodEntry {
    /// The host-side veth's ifindex (the map key).
    pub ifindex: u32,
    /// Its name in the node, if the interface still exists.
    pub iface: Option<String>,
    /// The address the pod owns: the only source its reports may carry (besides 0.0.0.0).
    pub address: Ipv4Addr,
}

/// A host-side veth to attach, with the address of its pod if known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodIface {
    /// The host-side veth, in the node's namespace.
    pub iface: String,
    /// The pod's address: attach records it as the veth's identity. Without it, attach leaves
    /// the veth's identity as it is (none on a new veth: its pod's reports are refused until
    /// `mcastlab pod set`).
    pub address: Option<Ipv4Addr>,
}

impl PodIface {
    /// `iface` with its pod's `address`.
    pub fn new(iface: impl Into<String>, address: Ipv4Addr) -> Self {
        Self {
            iface: iface.into(),
            address: Some(address),
        }
    }

    /// `iface` without an address (its identity stays as it is).
    pub fn without_address(iface: impl Into<String>) -> Self {
        Self {
            iface: iface.into(),
            address: None,
        }
    }
}

impl std::str::FromStr for PodIface {
    type Err = String;

    /// `IFACE` or `IFACE=ADDRESS`, as `--pod-iface` takes it.
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.split_once('=') {
            None if !text.is_empty() => Ok(Self::without_address(text)),
            Some((iface, address)) if !iface.is_empty() => address
                .parse()
                .map(|address| Self::new(iface, address))
                .map_err(|_| format!("'{address}' is not an IPv4 address (IFACE=ADDRESS)")),
            _ => Err(format!("'{text}' is not IFACE or IFACE=ADDRESS")),
        }
    }
}

/// The open pod map of a node.
pub struct PodTable {
    node: Node,
    pods: HashMap<MapData, u32, PodIdentity>,
}

impl PodTable {
    pub(crate) fn open(node: &Node) -> Result<Self> {
        let pin: PathBuf = node.pins().map(MAP_PODS);
        let pods = MapData::from_pin(&pin)
            .and_then(Map::from_map_data)
            .and_then(HashMap::try_from)
            .map_err(|source| map_error(format!("opening {MAP_PODS}"), source))?;
        Ok(Self {
            node: node.clone(),
            pods,
        })
    }

    /// Records that the pod behind `iface` owns `address` (replacing what it owned before), as
    /// one writer of the node. Memberships the veth holds stay; its pod's next report moves them
    /// to the new address.
    pub fn set(&mut self, iface: &str, address: Ipv4Addr) -> Result<PodEntry> {
        let _lock = self.node.lock()?;
        let ifindex = {
            let _netns = self.node.enter()?;
            self.node.ifindex(iface)?
        };
        self.set_ifindex(ifindex, address)?;
        Ok(PodEntry {
            ifindex,
            iface: Some(iface.to_owned()),
            address,
        })
    }

    /// [`PodTable::set`] by ifindex, for a caller that holds the node's lock already.
    pub(crate) fn set_ifindex(&mut self, ifindex: u32, address: Ipv4Addr) -> Result<()> {
        crate::attach::check_pod_address(address)?;
        let key = addr_key(address);
        for (other, identity) in self.raw()? {
            if other != ifindex && identity.address == key {
                return Err(DataplaneError::PodAddressTaken {
                    node: self.node.name().to_owned(),
                    address,
                    owner: self
                        .node
                        .interface_name(other)
                        .unwrap_or_else(|| format!("ifindex {other}")),
                });
            }
        }
        let identity = PodIdentity {
            address: key,
            _pad: 0,
        };
        self.pods
            .insert(ifindex, identity, 0)
            .map_err(|source| map_error(format!("setting the pod of ifindex {ifindex}"), source))
    }

    /// Forgets the pod behind `iface`, as one writer of the node: its reports are refused from
    /// now on. The memberships it holds stay until they are deleted.
    pub fn delete(&mut self, iface: &str) -> Result<()> {
        let _lock = self.node.lock()?;
        let ifindex = {
            let _netns = self.node.enter()?;
            self.node.ifindex(iface)?
        };
        self.pods.remove(&ifindex).map_err(|err| match err {
            MapError::KeyNotFound => self.not_found(iface),
            MapError::SyscallError(ref e) if e.io_error.raw_os_error() == Some(libc::ENOENT) => {
                self.not_found(iface)
            }
            err => map_error(format!("deleting the pod of {iface}"), err),
        })
    }

    /// Forgets the identities of veths that no longer exist (their pods are gone), as one
    /// writer of the node, so that a new veth that reuses an ifindex does not inherit a dead
    /// pod's address. The node's interfaces are listed under the lock: a veth that an attach
    /// records meanwhile is seen. Returns the identities forgotten.
    pub fn forget_gone(&mut self) -> Result<Vec<PodEntry>> {
        let _lock = self.node.lock()?;
        let present: std::collections::BTreeSet<u32> = {
            let _netns = self.node.enter()?;
            nix::net::if_::if_nameindex()
                .map_err(|errno| DataplaneError::Io {
                    action: "listing the interfaces of",
                    path: self.node.name().into(),
                    source: errno.into(),
                })?
                .iter()
                .map(nix::net::if_::Interface::index)
                .collect()
        };
        let mut forgotten = Vec::new();
        for (ifindex, identity) in self.raw()? {
            if present.contains(&ifindex) {
                continue;
            }
            match self.pods.remove(&ifindex) {
                Ok(()) | Err(MapError::KeyNotFound) => {}
                Err(MapError::SyscallError(ref e))
                    if e.io_error.raw_os_error() == Some(libc::ENOENT) => {}
                Err(err) => {
                    return Err(map_error(
                        format!("forgetting the pod of ifindex {ifindex}"),
                        err,
                    ));
                }
            }
            forgotten.push(PodEntry {
                ifindex,
                iface: None,
                address: key_addr(identity.address),
            });
        }
        Ok(forgotten)
    }

    /// The pod behind `iface`.
    pub fn get(&self, iface: &str) -> Result<PodEntry> {
        let ifindex = {
            let _netns = self.node.enter()?;
            self.node.ifindex(iface)?
        };
        self.entries()?
            .into_iter()
            .find(|entry| entry.ifindex == ifindex)
            .ok_or_else(|| self.not_found(iface))
    }

    /// Every pod identity, sorted by ifindex.
    pub fn entries(&self) -> Result<Vec<PodEntry>> {
        let mut entries: Vec<PodEntry> = self
            .raw()?
            .into_iter()
            .map(|(ifindex, identity)| PodEntry {
                ifindex,
                iface: self.node.interface_name(ifindex),
                address: key_addr(identity.address),
            })
            .collect();
        entries.sort_by_key(|entry| entry.ifindex);
        Ok(entries)
    }

    /// The map's entries as they are.
    fn raw(&self) -> Result<Vec<(u32, PodIdentity)>> {
        self.pods
            .iter()
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|source| map_error(format!("listing {MAP_PODS}"), source))
    }

    fn not_found(&self, iface: &str) -> DataplaneError {
        DataplaneError::PodNotFound {
            node: self.node.name().to_owned(),
            iface: iface.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_ifaces_parse_with_and_without_an_address() {
        assert_eq!(
            "veth-p1=10.200.1.1".parse(),
            Ok(PodIface::new("veth-p1", Ipv4Addr::new(10, 200, 1, 1)))
        );
        assert_eq!("h1".parse(), Ok(PodIface::without_address("h1")));
        assert!("h1=10.200.1".parse::<PodIface>().is_err());
        assert!("=10.200.1.1".parse::<PodIface>().is_err());
        assert!("".parse::<PodIface>().is_err());
    }
}
