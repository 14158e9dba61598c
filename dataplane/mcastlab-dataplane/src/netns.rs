//! Entering a node's network namespace from this thread, and coming back.
//!
//! Only the network namespace is switched (`setns(CLONE_NEWNET)`), unlike `ip netns exec`, which
//! also remounts /sys and would hide /sys/fs/bpf.

use std::{
    fs::File,
    io,
    marker::PhantomData,
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
/// thread was in before. Not `Send`: a namespace belongs to a thread, and the guard must be
/// dropped on the thread that entered.
#[derive(Debug)]
pub struct NetnsGuard {
    original: File,
    _thread_bound: PhantomData<*const ()>,
}

impl NetnsGuard {
    /// Moves this thread into the network namespace at `path`.
    pub fn enter(path: &Path) -> io::Result<Self> {
        let original = File::open("/proc/thread-self/ns/net")?;
        let target = File::open(path)?;
        setns(&target, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        Ok(Self {
            original,
            _thread_bound: PhantomData,
        })
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        // Failing to come back would leave the thread in the wrong namespace for whatever runs
        // next on it: that is not recoverable. While unwinding, a second panic would abort
        // before the first one's message is seen, so then the failure is only printed.
        if let Err(err) = setns(&self.original, CloneFlags::CLONE_NEWNET) {
            if std::thread::panicking() {
                eprintln!("could not return to the original network namespace: {err}");
            } else {
                panic!("could not return to the original network namespace: {err}");
            }
        }
    }
}
