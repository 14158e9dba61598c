//! What produced a result: machine, kernel, commit and tool versions.

use std::process::Command;

use serde::Serialize;

/// The environment of a run, recorded beside its results.
#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    /// UTC time of the run (RFC 3339).
    pub date: String,
    /// `uname -r`.
    pub kernel: String,
    /// The commit the benchmark was built from ([`build_commit`]'s suffixes say when the
    /// checkout it ran in differs).
    pub commit: String,
    /// CPU model.
    pub cpu: String,
    /// Online CPUs.
    pub cpus: usize,
    /// Memory, in MiB.
    pub memory_mib: u64,
    /// `net.core.netdev_max_backlog`.
    pub netdev_max_backlog: String,
    /// rustc (stable) version.
    pub rustc: String,
    /// rustc (nightly, builds the eBPF object) version.
    pub rustc_nightly: String,
    /// bpf-linker version.
    pub bpf_linker: String,
    /// aya version the userspace uses.
    pub aya: &'static str,
    /// mcastlab version.
    pub mcastlab: &'static str,
    /// Where CPU busy times come from ([`crate::system::cpu_time_source`]).
    pub cpu_time: &'static str,
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The commit the benchmark was built from, with `-dirty` when it runs in that commit's
/// checkout and the checkout has changes; with `-other-checkout` when it runs in a checkout of
/// another commit (whose changes cannot be told apart).
fn build_commit() -> String {
    let mut commit = env!("MCASTLAB_BUILD_COMMIT").to_owned();
    if commit == "unknown" {
        return commit;
    }
    let checkout = command_line("git", &["rev-parse", "--short=12", "HEAD"]);
    if checkout == "unknown" {
        return commit;
    }
    if checkout != commit {
        commit.push_str("-other-checkout");
    } else if !command_line("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        commit.push_str("-dirty");
    }
    commit
}

impl Environment {
    /// Reads the environment now.
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: u64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let commit = build_commit();
        Self {
            date: command_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
            kernel: mcastlab_dataplane::kernel::release(),
            commit,
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            memory_mib: memory_kib / 1024,
            netdev_max_backlog: std::fs::read_to_string("/proc/sys/net/core/netdev_max_backlog")
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned()),
            rustc: command_line("rustc", &["--version"]),
            rustc_nightly: command_line("rustc", &["+nightly", "--version"]),
            bpf_linker: command_line("bpf-linker", &["--version"]),
            aya: "0.14.0",
            mcastlab: env!("CARGO_PKG_VERSION"),
            cpu_time: crate::system::cpu_time_source(),
        }
    }
}
