//! One writer at a time per node: attach, detach, and every change of groups, subscribers and
//! pod identities of a node hold an exclusive `flock(2)` on `/run/mcastlab/locks/<node>` while
//! they run. Other writers, in this process or another, wait for it (up to [`LOCK_WAIT`]) and
//! then fail naming the holder; a change is never half-applied beside another.
//!
//! The lock file lives in tmpfs, not in the node's bpffs folder: bpffs may not be mounted yet,
//! and detach removes that folder. Lock files are never removed (a waiter could otherwise lock
//! an unlinked file while a third writer creates a new one); they are empty but for the holder's
//! description, and go with /run at reboot.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read as _, Seek as _, Write as _},
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::error::{DataplaneError, Result};

/// Folder of the per-node lock files.
pub const LOCK_DIR: &str = "/run/mcastlab/locks";

/// Longest a writer waits for another writer of the same node: more than an attach takes on a
/// loaded machine (about 1 s with verification), so only a stuck holder makes anyone fail.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// How often a waiting writer tries the lock again.
const LOCK_RETRY: Duration = Duration::from_millis(5);

/// The exclusive lock of one node, held until dropped (closing the file releases the flock).
#[derive(Debug)]
pub struct NodeLock {
    _file: File,
}

impl NodeLock {
    /// Takes the lock of `node`, waiting up to [`LOCK_WAIT`] for another holder.
    pub(crate) fn acquire(node: &str) -> Result<Self> {
        Self::acquire_within(node, LOCK_WAIT)
    }

    /// Takes the lock of `node`, waiting up to `wait`.
    pub(crate) fn acquire_within(node: &str, wait: Duration) -> Result<Self> {
        let dir = Path::new(LOCK_DIR);
        fs::create_dir_all(dir).map_err(|source| lock_io("creating", dir, source))?;
        let path = dir.join(node);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| lock_io("opening", &path, source))?;
        let deadline = Instant::now() + wait;
        loop {
            // SAFETY: flock on a file descriptor this function owns.
            let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if locked == 0 {
                break;
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(lock_io("locking", &path, err));
            }
            if Instant::now() >= deadline {
                return Err(DataplaneError::Locked {
                    node: node.to_owned(),
                    path: path.clone(),
                    holder: holder(&mut file),
                    waited: wait,
                });
            }
            std::thread::sleep(LOCK_RETRY);
        }
        // Say who holds it, for a writer that times out waiting (best effort: the lock is held).
        let _ = describe_holder(&mut file);
        Ok(Self { _file: file })
    }
}

/// Replaces the file's text with this process's id and command line.
fn describe_holder(file: &mut File) -> io::Result<()> {
    let command = fs::read("/proc/self/cmdline")
        .map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .split('\0')
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "pid {} ({command})", std::process::id())
}

/// What the holder wrote into the lock file.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let read = file.rewind().and_then(|()| file.read_to_string(&mut text));
    match read {
        Ok(_) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => "an unknown process".to_owned(),
    }
}

fn lock_io(action: &'static str, path: &Path, source: io::Error) -> DataplaneError {
    DataplaneError::Io {
        action,
        path: PathBuf::from(path),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_waits_then_fails_naming_the_holder() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("SKIPPED: needs root for {LOCK_DIR}");
            return;
        }
        let node = format!("locktest-{}", std::process::id());
        let held = NodeLock::acquire(&node).expect("first writer");
        let started = Instant::now();
        let err = NodeLock::acquire_within(&node, Duration::from_millis(200))
            .expect_err("the node is locked");
        assert!(started.elapsed() >= Duration::from_millis(200));
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "the error names the holder: {text}"
        );
        drop(held);
        NodeLock::acquire_within(&node, Duration::from_millis(200)).expect("free again");
        let _ = fs::remove_file(Path::new(LOCK_DIR).join(&node));
    }
}
