//! Room in the per-CPU backlog for a group's copies.
//!
//! A copy that `bpf_clone_redirect` hands to a pod's veth is queued on the sending CPU's
//! backlog (`enqueue_to_backlog`), which holds `net.core.netdev_max_backlog` packets (1000 by
//! default) and drops the rest: with more subscribers than that, the same last subscribers of
//! a group lose their copy of every packet. So when a group is added, the backlog is raised (never
//! lowered) to [`BACKLOG_PER_SLOT`] times the group's capacity: one packet's copies to a full
//! group, and as many again still queued from the packet before. The sysctl is the host's
//! (init network namespace), shared by every node of a lab on one machine.

use std::{fs, io, path::Path};

/// The sysctl that sizes each CPU's backlog.
pub const NETDEV_MAX_BACKLOG: &str = "/proc/sys/net/core/netdev_max_backlog";

/// Backlog entries per subscriber slot a group may fill.
pub const BACKLOG_PER_SLOT: u32 = 2;

/// A change of the backlog's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BacklogRaise {
    /// The size before.
    pub from: u32,
    /// The size now.
    pub to: u32,
}

/// The backlog a group of `capacity` subscribers needs.
pub const fn backlog_for(capacity: u32) -> u32 {
    capacity.saturating_mul(BACKLOG_PER_SLOT)
}

/// Raises `net.core.netdev_max_backlog` to [`backlog_for`]`(capacity)` if it is smaller;
/// returns the change, or `None` when it was large enough (or the sysctl is not visible: this
/// thread is not in the host's network namespace).
pub fn ensure_room_for(capacity: u32) -> io::Result<Option<BacklogRaise>> {
    ensure_at(Path::new(NETDEV_MAX_BACKLOG), backlog_for(capacity))
}

fn ensure_at(path: &Path, needed: u32) -> io::Result<Option<BacklogRaise>> {
    let current = match fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse::<u32>()
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    if current >= needed {
        return Ok(None);
    }
    fs::write(path, format!("{needed}\n"))?;
    Ok(Some(BacklogRaise {
        from: current,
        to: needed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_is_raised_to_twice_the_capacity_and_never_lowered() {
        let dir = std::env::temp_dir().join(format!("mcastlab-backlog-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("netdev_max_backlog");
        fs::write(&path, "1000\n").unwrap();
        assert_eq!(
            ensure_at(&path, backlog_for(1024)).unwrap(),
            Some(BacklogRaise {
                from: 1000,
                to: 2048
            })
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "2048\n");
        assert_eq!(ensure_at(&path, backlog_for(8)).unwrap(), None);
        assert_eq!(fs::read_to_string(&path).unwrap(), "2048\n");
        assert_eq!(ensure_at(&dir.join("absent"), 16).unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
