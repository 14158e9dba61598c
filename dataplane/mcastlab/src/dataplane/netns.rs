//! Entering a node's network namespace from this thread, and coming back.
//!
//! Only the network namespace is switched (`setns(CLONE_NEWNET)`), unlike `ip netns exec`, which
//! also remounts /sys and would hide /sys/fs/bpf.

use std::{
    fs::File,
    io,
    path::{Path, PathBuf},
};

use nix::sched::{CloneFlags, setns};

/// Where `ip netns` keeps named network namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// The path of the named network namespace `name`.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// While alive, this thread is in another network namespace; dropping it returns to the one the
/// thread was in before.
#[derive(Debug)]
pub struct NetnsGuard {
    original: File,
}

impl NetnsGuard {
    /// Moves this thread into the network namespace at `path`.
    pub fn enter(path: &Path) -> io::Result<Self> {
        let original = File::open("/proc/thread-self/ns/net")?;
        let target = File::open(path)?;
        setns(&target, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        Ok(Self { original })
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        // Failing to come back would leave the thread in the wrong namespace for whatever runs
        // next on it: that is not recoverable.
        if let Err(err) = setns(&self.original, CloneFlags::CLONE_NEWNET) {
            panic!("could not return to the original network namespace: {err}");
        }
    }
}
