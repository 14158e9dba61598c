//! Readings of the running system during a measurement: CPU time per CPU, backlog drops, and
//! the kernel's run-time statistics of the dataplane's programs.

use std::{collections::BTreeMap, fs, os::fd::OwnedFd, time::Duration};

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

/// Run time and run count of each loaded program named `program` (such as
/// `mcast_pod_ingress`), by program id.
pub fn program_runs(program: &str) -> BTreeMap<u32, (Duration, u64)> {
    // The kernel keeps 15 characters of a program name.
    let name = &program[..program.len().min(15)];
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|info| info.name_as_str() == Some(name))
        .map(|info| (info.id(), (info.run_time(), info.run_count())))
        .collect()
}

/// Run time and run count between two readings of [`program_runs`], over the programs
/// loaded at both: a program loaded or unloaded meanwhile (another lab's) does not count.
pub fn runs_between(
    start: &BTreeMap<u32, (Duration, u64)>,
    end: &BTreeMap<u32, (Duration, u64)>,
) -> (Duration, u64) {
    end.iter()
        .filter_map(|(id, (time, count))| {
            let (time_before, count_before) = start.get(id)?;
            Some((
                time.saturating_sub(*time_before),
                count.saturating_sub(*count_before),
            ))
        })
        .fold((Duration::ZERO, 0), |(time, count), (t, c)| {
            (time + t, count + c)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_count_only_programs_loaded_at_both_readings() {
        let ms = Duration::from_millis;
        let start = BTreeMap::from([(1, (ms(10), 100)), (2, (ms(50), 900))]);
        let end = BTreeMap::from([(1, (ms(13), 130)), (3, (ms(1), 5))]);
        assert_eq!(runs_between(&start, &end), (ms(3), 30));
    }
}
