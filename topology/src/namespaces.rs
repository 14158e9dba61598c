//! Named network namespaces (`ip netns`): creating them, their sysctls, listing a lab's, and
//! the tokio runtime that rtnetlink calls run in.

use std::{fs, io};

use netns_rs::NetNs;

use crate::{
    error::{Result, TopologyError},
    model::check_name,
    netlink::run_in_netns,
};

/// Where `ip netns` keeps named namespaces.
pub(crate) const NETNS_DIR: &str = "/run/netns";

/// Sets `net.ipv4.conf.<iface>.force_igmp_version` in namespace `netns`.
pub fn set_igmp_version(netns: &str, iface: &str, version: u8) -> Result<()> {
    let path = format!("/proc/sys/net/ipv4/conf/{iface}/force_igmp_version");
    write_sysctl(netns, &path, &version.to_string())
}

/// Writes a sysctl of namespace `netns` (`ip netns exec NETNS sysctl -w ...`): /proc/sys/net
/// belongs to the namespace of the thread that opens it.
pub(crate) fn write_sysctl(netns: &str, path: &str, value: &str) -> Result<()> {
    run_in_netns(netns, "writing sysctl", path, || fs::write(path, value))
}

/// `ip netns add NAME`, with IPv6 off inside (no router solicitations or MLD in the captures).
pub(crate) fn create_netns(name: &str) -> Result<()> {
    NetNs::new(name).map_err(|source| TopologyError::Netns {
        name: name.to_owned(),
        action: "creating",
        source,
    })?;
    for key in ["all", "default"] {
        let path = format!("/proc/sys/net/ipv6/conf/{key}/disable_ipv6");
        match write_sysctl(name, &path, "1") {
            Err(TopologyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => other?,
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
