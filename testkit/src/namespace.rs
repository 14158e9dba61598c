//! A network namespace a test owns: created on `new`, deleted on drop, on every path.

use crate::command::ip;

/// A named network namespace (`ip netns add`), deleted when dropped.
#[derive(Debug)]
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// Creates namespace `name` with `lo` up. A namespace of that name left by a killed earlier
    /// run with the same pid is removed first.
    pub fn new(name: &str) -> Self {
        remove(name);
        ip(&["netns", "add", name]);
        // From here on, dropping cleans up.
        let namespace = Self {
            name: name.to_owned(),
        };
        ip(&["-n", name, "link", "set", "lo", "up"]);
        namespace
    }

    /// The name (`ip netns` name).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        remove(&self.name);
    }
}

/// Deletes namespace `name` if it exists; never panics.
fn remove(name: &str) {
    if crate::netns_path(name).exists() {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", name])
            .status();
    }
}
