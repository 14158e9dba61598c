//! A node's settings (the config map, [`mcastlab_common::NodeConfig`]): read them, and change
//! the IGMPv3 record limit of an attached node without attaching again.

use aya::maps::{Array, Map, MapData};
use mcastlab_common::{
    CONFIG_KEY, MAX_IGMPV3_RECORDS_PER_MTU, NodeConfig, is_valid_record_limit, names::MAP_CONFIG,
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
        self.require_attached()?;
        let _lock = self.lock()?;
        let mut map = self.config_map()?;
        let mut config = map
            .get(&CONFIG_KEY, 0)
            .map_err(|source| map_error(format!("reading {MAP_CONFIG}"), source))?;
        config.max_records = limit;
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
