//! Named network namespaces (`ip netns`): creating them, their sysctls, listing a lab's, and
//! the tokio runtime that rtnetlink calls run in.

use std::{fs, io};

use netns_rs::NetNs;

use crate::{
    error::{Result, TopologyError},
    model::{LabSpec, check_name},
    netlink::run_in_netns,
};

/// Where `ip netns` keeps named namespaces.
pub(crate) const NETNS_DIR: &str = "/run/netns";

/// Sets `net.ipv4.conf.<iface>.force_igmp_version` in namespace `netns`.
pub fn set_igmp_version(netns: &str, iface: &str, version: u8) -> Result<()> {
    let path = format!("/proc/sys/net/ipv4/conf/{iface}/force_igmp_version");
    write_sysctl(netns, &path, &version.to_string())
}

/// Sets `net.ipv6.conf.<iface>.force_mld_version` in namespace `netns`.
pub fn set_mld_version(netns: &str, iface: &str, version: u8) -> Result<()> {
    let path = format!("/proc/sys/net/ipv6/conf/{iface}/force_mld_version");
    write_sysctl(netns, &path, &version.to_string())
}

/// The `net.ipv6.conf.<iface>.*` settings that turn IPv6 on for an interface of a dual-stack
/// lab, in the order they are written: no duplicate address detection (its addresses, the
/// link-local one too, are usable at once), no router solicitations (nothing answers them, and
/// captures stay clean), then IPv6 itself. MLD stays on: the pods' reports are the point.
pub(crate) const IPV6_ON: [(&str, &str); 3] = [
    ("accept_dad", "0"),
    ("router_solicitations", "0"),
    ("disable_ipv6", "0"),
];

/// Turns IPv6 on for interface `iface` of namespace `netns` ([`IPV6_ON`]), whatever the
/// namespace's defaults say.
pub(crate) fn enable_ipv6(netns: &str, iface: &str) -> Result<()> {
    for (key, value) in IPV6_ON {
        write_sysctl(
            netns,
            &format!("/proc/sys/net/ipv6/conf/{iface}/{key}"),
            value,
        )?;
    }
    Ok(())
}

/// Writes a sysctl of namespace `netns` (`ip netns exec NETNS sysctl -w ...`): /proc/sys/net
/// belongs to the namespace of the thread that opens it.
pub(crate) fn write_sysctl(netns: &str, path: &str, value: &str) -> Result<()> {
    run_in_netns(netns, "writing sysctl", path, || fs::write(path, value))
}

/// What IPv6 is in a namespace the lab creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ipv6Mode {
    /// Off on every interface (no router solicitations, neighbour discovery or MLD in the
    /// captures); one can still be turned on by itself ([`enable_ipv6`]).
    Off,
    /// On for the interfaces created in it from now on ([`IPV6_ON`] as their defaults): a pod
    /// of a dual-stack lab.
    On,
}

impl Ipv6Mode {
    /// The mode of the pods of `spec`: on in a dual-stack lab.
    pub(crate) fn of_pods(spec: &LabSpec) -> Self {
        if spec.ipv6 { Self::On } else { Self::Off }
    }
}

/// `ip netns add NAME`, with IPv6 as `ipv6` says.
pub(crate) fn create_netns(name: &str, ipv6: Ipv6Mode) -> Result<()> {
    NetNs::new(name).map_err(|source| TopologyError::Netns {
        name: name.to_owned(),
        action: "creating",
        source,
    })?;
    let settings: &[(&str, &str)] = match ipv6 {
        Ipv6Mode::Off => &[("disable_ipv6", "1")],
        Ipv6Mode::On => &IPV6_ON,
    };
    for (setting, value) in settings {
        for key in ["all", "default"] {
            let path = format!("/proc/sys/net/ipv6/conf/{key}/{setting}");
            match write_sysctl(name, &path, value) {
                // A kernel without IPv6: nothing to turn off.
                Err(TopologyError::Io { source, .. })
                    if ipv6 == Ipv6Mode::Off && source.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
    }
    Ok(())
}

/// The namespaces that carry lab `lab`'s prefix (`<lab>-`), sorted.
pub fn lab_namespaces(lab: &str) -> Result<Vec<String>> {
    check_name("lab", lab, 12)?;
    let prefix = format!("{lab}-");
    let entries = match fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(TopologyError::Io {
                action: "listing",
                path: NETNS_DIR.into(),
                source,
            });
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(std::result::Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    names.sort();
    Ok(names)
}

/// A tokio runtime on this thread for rtnetlink calls.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| TopologyError::Io {
            action: "starting the tokio runtime for",
            path: NETNS_DIR.into(),
            source,
        })
}
