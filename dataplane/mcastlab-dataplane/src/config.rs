//! A node's settings (the config map, [`mcastlab_common::NodeConfig`]): read them, and change
//! the IGMPv3 record limit, fast leave and the Older Host Present Interval of an attached node
//! without attaching again.

use std::time::Duration;

use aya::maps::{Array, Map, MapData};
use mcastlab_common::{
    CONFIG_KEY, CONFIG_LAST_COPY_REDIRECT, CONFIG_NO_FAST_LEAVE, MAX_IGMPV3_RECORDS_PER_MTU,
    NodeConfig, is_valid_record_limit, names::MAP_CONFIG,
};

use crate::{
    Node,
    error::{DataplaneError, Result, map_error},
};

impl Node {
    /// The node's settings: tunnel, VNI, record limit ([`NodeConfig::record_limit`]).
    pub fn config(&self) -> Result<NodeConfig> {
        self.require_attached()?;
        let map = self.config_map()?;
        map.get(&CONFIG_KEY, 0)
            .map_err(|source| map_error(format!("reading {MAP_CONFIG}"), source))
    }

    /// Sets the most group records an IGMPv3 report from a pod of this node may carry
    /// (1..=[`MAX_IGMPV3_RECORDS_PER_MTU`]); reports with more are refused whole
    /// (`too_many_records`). Takes effect with the next report; nothing else changes. Holds
    /// the node's writer lock. Returns the settings now in force.
    pub fn set_record_limit(&self, limit: u32) -> Result<NodeConfig> {
        check_record_limit(limit)?;
        self.update_config(|config| config.max_records = limit)
    }

    /// Turns fast leave on (the default: a leave removes the veth's membership at once) or off
    /// (a leave is pending, counted `leave_pending`, until the node agent's Group-Specific
    /// Queries go unanswered; see [`mcastlab_common::CONFIG_NO_FAST_LEAVE`]). Holds the node's
    /// writer lock; returns the settings now in force.
    pub fn set_fast_leave(&self, on: bool) -> Result<NodeConfig> {
        self.update_config(|config| {
            if on {
                config.flags &= !CONFIG_NO_FAST_LEAVE;
            } else {
                config.flags |= CONFIG_NO_FAST_LEAVE;
            }
        })
    }

    /// Turns the last-copy experiment on or off: with it, the last local member of each packet
    /// gets the original (`bpf_redirect`) instead of a clone
    /// ([`mcastlab_common::CONFIG_LAST_COPY_REDIRECT`], off by default). Holds the node's writer
    /// lock; returns the settings now in force.
    pub fn set_last_copy_redirect(&self, on: bool) -> Result<NodeConfig> {
        self.update_config(|config| {
            if on {
                config.flags |= CONFIG_LAST_COPY_REDIRECT;
            } else {
                config.flags &= !CONFIG_LAST_COPY_REDIRECT;
            }
        })
    }

    /// Sets how long after an IGMPv1 report from a veth its leaves of that group are ignored
    /// (at least a millisecond; the node agent writes its own Older Host Present Interval).
    /// Holds the node's writer lock; returns the settings now in force.
    pub fn set_older_host_present(&self, interval: Duration) -> Result<NodeConfig> {
        let ms = u32::try_from(interval.as_millis())
            .unwrap_or(u32::MAX)
            .max(1);
        self.update_config(|config| config.older_host_present_ms = ms)
    }

    /// Changes the node's settings with `change`, as one writer.
    fn update_config(&self, change: impl FnOnce(&mut NodeConfig)) -> Result<NodeConfig> {
        self.require_attached()?;
        let _lock = self.lock()?;
        let mut map = self.config_map()?;
        let mut config = map
            .get(&CONFIG_KEY, 0)
            .map_err(|source| map_error(format!("reading {MAP_CONFIG}"), source))?;
        change(&mut config);
        map.set(CONFIG_KEY, config, 0)
            .map_err(|source| map_error(format!("writing {MAP_CONFIG}"), source))?;
        Ok(config)
    }

    /// The pinned config map.
    fn config_map(&self) -> Result<Array<MapData, NodeConfig>> {
        MapData::from_pin(self.pins().map(MAP_CONFIG))
            .and_then(Map::from_map_data)
            .and_then(Array::try_from)
            .map_err(|source| map_error(format!("opening {MAP_CONFIG}"), source))
    }
}

/// Refuses a record limit outside 1..=[`MAX_IGMPV3_RECORDS_PER_MTU`].
pub(crate) fn check_record_limit(limit: u32) -> Result<()> {
    if is_valid_record_limit(limit) {
        Ok(())
    } else {
        Err(DataplaneError::InvalidRecordLimit {
            limit,
            max: MAX_IGMPV3_RECORDS_PER_MTU,
        })
    }
}
