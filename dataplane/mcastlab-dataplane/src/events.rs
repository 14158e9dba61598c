//! A node's membership events (`mcastlab_common::events`) as the datapath writes them: the
//! reading end of its ring buffer. One reader per node: the node agent, which passes them on
//! to every monitor.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use aya::maps::{Map, MapData, RingBuf};
use mcastlab_common::{events::MembershipEvent, names::MAP_EVENTS};

use crate::{
    Node,
    error::{Result, map_error},
};

/// The reading end of a node's event ring buffer. Its file descriptor becomes readable when
/// events wait (for `tokio::io::unix::AsyncFd` or `poll`).
pub struct EventReader {
    ring: RingBuf<MapData>,
}

impl EventReader {
    pub(crate) fn open(node: &Node) -> Result<Self> {
        let ring = MapData::from_pin(node.pins().map(MAP_EVENTS))
            .and_then(Map::from_map_data)
            .and_then(RingBuf::try_from)
            .map_err(|source| map_error(format!("opening {MAP_EVENTS}"), source))?;
        Ok(Self { ring })
    }

    /// The next waiting event, if any. An entry of another size (never written by this
    /// datapath) is skipped.
    pub fn next_event(&mut self) -> Option<MembershipEvent> {
        loop {
            let item = self.ring.next()?;
            if item.len() == size_of::<MembershipEvent>() {
                // SAFETY: the entry holds exactly one `#[repr(C)]` event of plain integers,
                // written whole by the datapath; the read tolerates any alignment.
                return Some(unsafe { item.as_ptr().cast::<MembershipEvent>().read_unaligned() });
            }
        }
    }
}

impl AsFd for EventReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }
}

impl AsRawFd for EventReader {
    fn as_raw_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }
}
