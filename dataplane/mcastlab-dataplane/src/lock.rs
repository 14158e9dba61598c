//! One writer at a time per node: attach, detach, and every change of groups, subscribers and
//! pod identities of a node hold an exclusive `flock(2)` on `/run/mcastlab/locks/<node>` while
//! they run. Other writers, in this process or another, wait for it (up to [`LOCK_WAIT`]) and
//! then fail naming the holder; a change is never half-applied beside another.
//!
//! The lock file lives in tmpfs, not in the node's bpffs folder: bpffs may not be mounted yet,
//! and detach removes that folder. Detach removes the lock file too, while holding it; a writer
//! that was waiting on the removed file sees, once it holds the flock, that the path no longer
//! names the file it locked, and takes the lock again on the path's current file, so two
//! writers never hold "the" lock at once.

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
    /// Held for its flock, released when the file closes.
    _file: File,
    path: PathBuf,
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
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|source| lock_io("opening", &path, source))
        };
        let mut file = open()?;
        let deadline = Instant::now() + wait;
        loop {
            // SAFETY: flock on a file descriptor this function owns.
            let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if locked == 0 {
                if still_at(&file, &path) {
                    break;
                }
                // A detach removed the file while we waited: lock the path's file instead.
                file = open()?;
                continue;
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
        Ok(Self { _file: file, path })
    }

    /// Removes the lock file, still holding the lock until dropped (detach: the node is gone
    /// from /run as it is from bpffs). Writers waiting on the removed file lock a new one.
    pub(crate) fn remove_file(&self) {
        // Best effort: a lock file left behind is harmless.
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether `path` still names the file `file` is (a detach did not remove it meanwhile).
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
        _ => false,
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
        NodeLock::acquire_within(&node, Duration::from_millis(200))
            .expect("free again")
            .remove_file();
        assert!(!Path::new(LOCK_DIR).join(&node).exists());
    }

    #[test]
    fn a_writer_waiting_on_a_removed_lock_file_locks_the_new_one() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("SKIPPED: needs root for {LOCK_DIR}");
            return;
        }
        let node = format!("locktest-removed-{}", std::process::id());
        let held = NodeLock::acquire(&node).expect("first writer");
        std::thread::scope(|scope| {
            // Given a second writer waiting on the file, when the holder removes it and a third
            // writer takes the lock on a new file at the same path...
            let waiter = scope.spawn(|| NodeLock::acquire_within(&node, Duration::from_secs(5)));
            std::thread::sleep(Duration::from_millis(50));
            held.remove_file();
            let third = NodeLock::acquire_within(&node, Duration::from_millis(200))
                .expect("the path is free: a new file");
            drop(held);
            // ...then the waiter does not hold the removed file's lock beside the third: it
            // waits for the third and times out while the third holds on.
            std::thread::sleep(Duration::from_millis(100));
            assert!(
                !waiter.is_finished(),
                "the waiter got a lock the third holds"
            );
            drop(third);
            waiter
                .join()
                .expect("waiter")
                .expect("locks after the third")
                .remove_file();
        });
    }
}
