//! The per-CPU reason counters, summed.

use aya::maps::{Map, MapData, PerCpuArray};
use mcastlab_common::{Reason, names::MAP_REASONS};

use super::{
    error::{DataplaneError, Result},
    pins::NodePins,
};

/// One counter: a reason and how often it happened on all CPUs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReasonCount {
    /// The reason code (slot in the counter map).
    pub code: u32,
    /// The reason's stable name.
    pub name: &'static str,
    /// The sum over CPUs.
    pub count: u64,
}

/// Adds `count` to the counter of `reason`, which only userspace counts (the node agent's
/// reasons, [`Reason::is_agent_reason`]): the read-modify-write of a per-CPU slot is safe only
/// where no program adds to the same slot.
pub(crate) fn add(pins: &NodePins, reason: Reason, count: u64) -> Result<()> {
    assert!(
        reason.is_agent_reason(),
        "{} is counted by the datapath, not userspace",
        reason.name()
    );
    let action = || format!("counting {} in {MAP_REASONS}", reason.name());
    let map_error = |source| DataplaneError::Map {
        action: action(),
        source,
    };
    let data = MapData::from_pin(pins.map(MAP_REASONS)).map_err(map_error)?;
    let mut counters: PerCpuArray<MapData, u64> = Map::from_map_data(data)
        .and_then(PerCpuArray::try_from)
        .map_err(map_error)?;
    let mut values: Vec<u64> = counters
        .get(&reason.code(), 0)
        .map_err(map_error)?
        .iter()
        .copied()
        .collect();
    values[0] += count;
    // One value per possible CPU, as read: the conversion cannot fail.
    let values = aya::maps::PerCpuValues::try_from(values)
        .map_err(|source| map_error(aya::maps::MapError::IoError(source)))?;
    counters.set(reason.code(), values, 0).map_err(map_error)
}

/// Reads every known reason's counter.
pub(crate) fn read(pins: &NodePins) -> Result<Vec<ReasonCount>> {
    let action = || format!("reading the counters {MAP_REASONS}");
    let map_error = |source| DataplaneError::Map {
        action: action(),
        source,
    };
    let data = MapData::from_pin(pins.map(MAP_REASONS)).map_err(map_error)?;
    let counters: PerCpuArray<MapData, u64> = Map::from_map_data(data)
        .and_then(PerCpuArray::try_from)
        .map_err(map_error)?;
    Reason::ALL
        .iter()
        .map(|&reason| {
            let per_cpu = counters.get(&reason.code(), 0).map_err(map_error)?;
            Ok(ReasonCount {
                code: reason.code(),
                name: reason.name(),
                count: per_cpu.iter().sum(),
            })
        })
        .collect()
}
