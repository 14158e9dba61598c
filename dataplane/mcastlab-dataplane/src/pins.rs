//! Where a node's dataplane lives in bpffs.
//!
//! ```text
//! /sys/fs/bpf/mcastlab/<node>/MCAST_GROUPS         maps, by their names in mcastlab_common::names
//! /sys/fs/bpf/mcastlab/<node>/MCAST_REASONS
//! /sys/fs/bpf/mcastlab/<node>/MCAST_CONFIG
//! /sys/fs/bpf/mcastlab/<node>/links/pod-<iface>      TCX link of mcast_pod_ingress on <iface>
//! /sys/fs/bpf/mcastlab/<node>/links/overlay-<iface>  TCX link of mcast_overlay_ingress
//! ```
//! Removing a link's pin detaches its program; removing the map pins frees the maps once no
//! program uses them.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use nix::{
    mount::{MsFlags, mount},
    sys::statfs::{BPF_FS_MAGIC, statfs},
};

use super::error::{DataplaneError, Result};

/// Mount point of bpffs.
pub const BPFFS: &str = "/sys/fs/bpf";
/// mcastlab's folder in bpffs; one sub-folder per node.
pub const ROOT_DIR: &str = "mcastlab";
/// Prefix of pod-ingress link pins.
const POD_LINK_PREFIX: &str = "pod-";
/// Prefix of overlay-ingress link pins.
const OVERLAY_LINK_PREFIX: &str = "overlay-";

/// Which program a link runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// `mcast_pod_ingress` on a pod's host-side veth.
    Pod,
    /// `mcast_overlay_ingress` on the tunnel device.
    Overlay,
}

/// The pin paths of one node.
#[derive(Clone, Debug)]
pub struct NodePins {
    dir: PathBuf,
}

impl NodePins {
    /// The pins of `node` under the default bpffs mount.
    pub fn new(node: &str) -> Self {
        Self {
            dir: Path::new(BPFFS).join(ROOT_DIR).join(node),
        }
    }

    /// The node's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pin of map `name`.
    pub fn map(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The folder of link pins.
    pub fn links_dir(&self) -> PathBuf {
        self.dir.join("links")
    }

    /// The pin of the link of `kind` on `iface`.
    pub fn link(&self, kind: LinkKind, iface: &str) -> PathBuf {
        self.links_dir().join(kind.file_name(iface))
    }

    /// Whether the node has a dataplane pinned (its group map exists).
    pub fn is_attached(&self) -> bool {
        self.map(mcastlab_common::names::MAP_GROUPS).exists()
    }

    /// The pinned links, as (kind, interface, pin path), sorted.
    pub fn links(&self) -> Result<Vec<(LinkKind, String, PathBuf)>> {
        link_files(&self.links_dir())
    }
}

impl LinkKind {
    /// The file naming this kind's link on `iface` (a pin, or a tc filter record):
    /// `pod-<iface>` or `overlay-<iface>`.
    pub(crate) fn file_name(self, iface: &str) -> String {
        let prefix = match self {
            LinkKind::Pod => POD_LINK_PREFIX,
            LinkKind::Overlay => OVERLAY_LINK_PREFIX,
        };
        format!("{prefix}{iface}")
    }

    /// The kind and interface a file name of [`LinkKind::file_name`] stands for.
    fn parse_file_name(name: &str) -> Option<(LinkKind, String)> {
        if let Some(iface) = name.strip_prefix(POD_LINK_PREFIX) {
            Some((LinkKind::Pod, iface.to_owned()))
        } else {
            name.strip_prefix(OVERLAY_LINK_PREFIX)
                .map(|iface| (LinkKind::Overlay, iface.to_owned()))
        }
    }
}

/// The link files (pins or tc filter records) in `dir`, as (kind, interface, path), sorted; a
/// missing folder has none.
pub(crate) fn link_files(dir: &Path) -> Result<Vec<(LinkKind, String, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(io_error("reading", dir, source)),
    };
    let mut links = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| io_error("reading", dir, source))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((kind, iface)) = LinkKind::parse_file_name(&name) {
            links.push((kind, iface, entry.path()));
        }
    }
    links.sort();
    Ok(links)
}

/// Mounts bpffs at [`BPFFS`] unless it is mounted already (`mount -t bpf bpf /sys/fs/bpf`).
pub fn ensure_bpffs() -> Result<()> {
    let path = Path::new(BPFFS);
    if statfs(path).is_ok_and(|fs| fs.filesystem_type() == BPF_FS_MAGIC) {
        return Ok(());
    }
    mount(
        Some("bpf"),
        path,
        Some("bpf"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|errno| io_error("mounting bpffs at", path, errno.into()))
}

/// Builds an [`DataplaneError::Io`].
pub(crate) fn io_error(action: &'static str, path: &Path, source: io::Error) -> DataplaneError {
    DataplaneError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Removes a pin; `Ok(false)` when there was none.
pub(crate) fn remove_pin(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(io_error("removing pin", path, source)),
    }
}
