//! Readings of the running system during a measurement: CPU time per CPU, backlog drops, and
//! the kernel's run-time statistics of the dataplane's programs.

use std::{fs, os::fd::OwnedFd, time::Duration};

use mcastlab_common::names::PROG_POD_INGRESS;

/// Busy time of each CPU (user, nice, system, irq, softirq, steal) from /proc/stat.
pub fn cpu_busy() -> Vec<Duration> {
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .filter(|line| line.starts_with("cpu") && !line.starts_with("cpu "))
        .map(|line| {
            let fields: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            // user nice system idle iowait irq softirq steal
            let busy: u64 = [0, 1, 2, 5, 6, 7]
                .iter()
                .map(|&i| fields.get(i).copied().unwrap_or(0))
                .sum();
            Duration::from_nanos(busy * 1_000_000_000 / ticks_per_second)
        })
        .collect()
}

/// Packets dropped because a per-CPU backlog was full (/proc/net/softnet_stat, column 2), all
/// CPUs.
pub fn backlog_drops() -> u64 {
    let stat = fs::read_to_string("/proc/net/softnet_stat").unwrap_or_default();
    stat.lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter_map(|hex| u64::from_str_radix(hex, 16).ok())
        .sum()
}

/// Turns on the kernel's program run-time statistics while the returned descriptor lives
/// (`kernel.bpf_stats_enabled`, without touching the global sysctl).
pub fn enable_bpf_stats() -> Option<OwnedFd> {
    aya::sys::enable_stats(aya::sys::Stats::RunTime).ok()
}

/// Total run time and run count of every loaded `mcast_pod_ingress` program.
pub fn pod_ingress_runs() -> (Duration, u64) {
    // The kernel keeps 15 characters of a program name.
    let name = &PROG_POD_INGRESS[..PROG_POD_INGRESS.len().min(15)];
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|info| info.name_as_str() == Some(name))
        .fold((Duration::ZERO, 0), |(time, count), info| {
            (time + info.run_time(), count + info.run_count())
        })
}
