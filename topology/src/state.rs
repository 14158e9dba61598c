//! Which labs are deployed: each deploy records its spec in `/run/mcastlab/labs/<lab>.json`
//! (tmpfs: gone after a reboot, like the namespaces).

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use crate::{
    error::{Result, TopologyError},
    model::LabSpec,
};

/// Folder of the state files.
pub const STATE_DIR: &str = "/run/mcastlab/labs";

fn state_path(lab: &str) -> PathBuf {
    Path::new(STATE_DIR).join(format!("{lab}.json"))
}

/// Records `spec` as deployed.
pub fn save(spec: &LabSpec) -> Result<()> {
    let path = state_path(&spec.name);
    let io_error = |action, source| TopologyError::Io {
        action,
        path: path.clone(),
        source,
    };
    fs::create_dir_all(STATE_DIR).map_err(|source| io_error("creating the folder of", source))?;
    let json = serde_json::to_vec_pretty(spec).expect("a lab spec serializes");
    fs::write(&path, json).map_err(|source| io_error("writing", source))
}

/// The spec of deployed lab `lab`, if it was recorded.
pub fn load(lab: &str) -> Result<Option<LabSpec>> {
    let path = state_path(lab);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(TopologyError::Io {
                action: "reading",
                path,
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| TopologyError::File {
            path,
            source: Box::new(source),
        })
}

/// Forgets lab `lab`.
pub fn remove(lab: &str) -> Result<()> {
    let path = state_path(lab);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(TopologyError::Io {
            action: "removing",
            path,
            source,
        }),
    }
}

/// The names of every recorded lab, sorted.
pub fn labs() -> Result<Vec<String>> {
    let entries = match fs::read_dir(STATE_DIR) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(TopologyError::Io {
                action: "listing",
                path: STATE_DIR.into(),
                source,
            });
        }
    };
    let mut labs: Vec<String> = entries
        .filter_map(std::result::Result::ok)
        .filter_map(|entry| {
            entry
                .file_name()
                .to_str()
                .and_then(|name| name.strip_suffix(".json"))
                .map(str::to_owned)
        })
        .collect();
    labs.sort();
    Ok(labs)
}
