//! Readings of the running system during a measurement: CPU time per CPU, backlog drops, and
//! the kernel's run-time statistics of the dataplane's programs.

use std::{collections::BTreeMap, fs, os::fd::OwnedFd, time::Duration};

/// Busy time of each CPU so far, by CPU number, read as [`cpu_time_source`] says: differences
/// between two readings are what a window spent.
pub fn cpu_busy() -> Vec<Duration> {
    cpuidle_busy().unwrap_or_else(proc_stat_busy)
}

/// How [`cpu_busy`] reads CPU time here, for the results: with cpuidle (every CPU has idle
/// states in sysfs), to the microsecond; else /proc/stat's clock ticks.
pub fn cpu_time_source() -> &'static str {
    if cpuidle_busy().is_some() {
        CPUIDLE_SOURCE
    } else {
        PROC_STAT_SOURCE
    }
}

const CPUIDLE_SOURCE: &str = "monotonic time minus cpuidle residency (1 us; an idle period \
                              still running at a reading counts as busy)";
const PROC_STAT_SOURCE: &str = "/proc/stat user+nice+system+irq+softirq+steal (clock ticks)";

/// Busy time of each CPU as the monotonic clock minus the time it spent in its idle states
/// (`/sys/devices/system/cpu/cpuN/cpuidle/stateK/time`, microseconds, added when a state is
/// left); `None` unless every CPU has idle states. Only differences mean anything: both terms
/// grow alike while a CPU idles.
fn cpuidle_busy() -> Option<Vec<Duration>> {
    let now = monotonic();
    (0..online_cpus())
        .map(|cpu| {
            let states = fs::read_dir(format!("/sys/devices/system/cpu/cpu{cpu}/cpuidle")).ok()?;
            let mut idle_us = 0u64;
            let mut any = false;
            for state in states.filter_map(Result::ok) {
                let time = fs::read_to_string(state.path().join("time")).ok()?;
                idle_us += time.trim().parse::<u64>().ok()?;
                any = true;
            }
            any.then(|| now.saturating_sub(Duration::from_micros(idle_us)))
        })
        .collect()
}

/// Busy time of each CPU (user, nice, system, irq, softirq, steal) from /proc/stat, in clock
/// ticks (10 ms where USER_HZ is 100).
fn proc_stat_busy() -> Vec<Duration> {
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

/// CPUs the kernel has online (numbered from 0; the bench pins to low numbers).
fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize
}

/// CLOCK_MONOTONIC now, since its (boot-time) origin.
fn monotonic() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
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
