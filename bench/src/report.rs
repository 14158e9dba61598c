//! A run's folder: environment, raw samples, medians with spread, ratios to the baselines,
//! a markdown summary and SVG plots.

use std::{
    fmt::Write as _,
    fs, io,
    path::{Path, PathBuf},
};

use plotters::prelude::*;
use serde::Serialize;

use super::{
    environment::Environment,
    fanout::{FanoutOptions, FanoutRun, Latency, Mode, Sample},
};

/// The median and spread of one point (mode, receivers) over its repetitions.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// The mode.
    pub mode: Mode,
    /// Receivers.
    pub receivers: usize,
    /// Median delivered copies per second.
    pub delivered_per_s: f64,
    /// Smallest of the repetitions.
    pub delivered_min: f64,
    /// Largest of the repetitions.
    pub delivered_max: f64,
    /// Median datagrams sent per second.
    pub sent_per_s: f64,
    /// Median loss fraction.
    pub loss: f64,
    /// Median sender-CPU time per copy, ns.
    pub sender_cpu_ns_per_copy: f64,
    /// Median CPU time (both CPUs) per copy, ns.
    pub total_cpu_ns_per_copy: f64,
    /// Median eBPF run time per packet, ns (dataplane only).
    pub bpf_ns_per_packet: Option<f64>,
    /// Backlog drops over all repetitions.
    pub backlog_drops: u64,
}

/// The dataplane against the baselines at one receiver count.
#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    /// Receivers.
    pub receivers: usize,
    /// Delivered copies/s, dataplane / bridge.
    pub vs_bridge: Option<f64>,
    /// Delivered copies/s, dataplane / unicast fan-out.
    pub vs_unicast: Option<f64>,
    /// Delivered copies/s, dataplane / the seed baseline (the design it started from).
    pub vs_seed: Option<f64>,
    /// Sender-CPU time per copy, dataplane / bridge (below 1 is better).
    pub sender_cpu_vs_bridge: Option<f64>,
    /// Delivered copies/s across nodes, dataplane / bridge + vxlan head-end replication.
    pub cross_node_vs_bridge: Option<f64>,
}

/// The CPU one more copy costs at a fixed offered load: for one mode, the least-squares slope of
/// busy time per offered packet over the receiver count, fitted per repetition (the windows with
/// the same index at every N, so that each fit sees one stretch of the machine's drift).
///
/// At a fixed packet rate the sender's own per-packet work (pacing, wake-ups, the system call)
/// is the same at every N and falls into the intercept; the slope is what replication and
/// delivery add per copy. Points where the path could not carry the load (fewer than 98% of the
/// copies delivered) are left out.
#[derive(Clone, Debug, Serialize)]
pub struct MarginalCpu {
    /// The mode.
    pub mode: Mode,
    /// Receiver counts fitted.
    pub receivers: Vec<usize>,
    /// Receiver counts left out: the load was more than the path carried.
    pub saturated: Vec<usize>,
    /// Median busy time of the sender's CPU per offered packet at each fitted count, ns.
    pub sender_ns_per_packet: Vec<f64>,
    /// Sender-CPU ns per additional copy: median and range of the per-repetition slopes.
    pub sender_ns_per_copy: Spread,
    /// Both CPUs' ns per additional copy: median and range of the per-repetition slopes.
    pub total_ns_per_copy: Spread,
}

/// A median with the smallest and largest value it was taken from.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    fn of(values: Vec<f64>) -> Self {
        Self {
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            median: median(values),
        }
    }
}

/// [`MarginalCpu`] per mode for a run at offered load `offered_pps` (none at saturation, where
/// the sender's work per packet is not fixed).
pub fn marginal_cpu(samples: &[Sample], offered_pps: Option<u64>) -> Vec<MarginalCpu> {
    let Some(offered) = offered_pps.map(|pps| pps as f64) else {
        return Vec::new();
    };
    let mut modes: Vec<Mode> = samples.iter().map(|s| s.mode).collect();
    modes.sort_by_key(|mode| Mode::ALL.iter().position(|m| m == mode));
    modes.dedup();
    modes
        .into_iter()
        .filter_map(|mode| {
            let of: Vec<&Sample> = samples.iter().filter(|s| s.mode == mode).collect();
            let mut counts: Vec<usize> = of.iter().map(|s| s.receivers).collect();
            counts.sort_unstable();
            counts.dedup();
            let carried = |n: usize| {
                let delivered = median(
                    of.iter()
                        .filter(|s| s.receivers == n)
                        .map(|s| s.delivered_per_s)
                        .collect(),
                );
                delivered >= 0.98 * n as f64 * offered
            };
            let (receivers, saturated): (Vec<usize>, Vec<usize>) =
                counts.into_iter().partition(|&n| carried(n));
            // Busy ns per offered packet: per copy times copies per second over packets per second.
            let per_packet = |s: &Sample, per_copy: f64| per_copy * s.delivered_per_s / offered;
            let slopes = |per_copy: fn(&Sample) -> f64| -> Vec<f64> {
                let mut repetitions: Vec<usize> = of.iter().map(|s| s.repetition).collect();
                repetitions.sort_unstable();
                repetitions.dedup();
                repetitions
                    .into_iter()
                    .filter_map(|r| {
                        let fit: Vec<(f64, f64)> = of
                            .iter()
                            .filter(|s| s.repetition == r && receivers.contains(&s.receivers))
                            .map(|s| (s.receivers as f64, per_packet(s, per_copy(s))))
                            .collect();
                        least_squares_slope(&fit)
                    })
                    .collect()
            };
            let sender = slopes(|s| s.sender_cpu_ns_per_copy);
            let total = slopes(|s| s.total_cpu_ns_per_copy);
            (!sender.is_empty()).then(|| MarginalCpu {
                mode,
                sender_ns_per_packet: receivers
                    .iter()
                    .map(|&n| {
                        median(
                            of.iter()
                                .filter(|s| s.receivers == n)
                                .map(|s| per_packet(s, s.sender_cpu_ns_per_copy))
                                .collect(),
                        )
                    })
                    .collect(),
                receivers,
                saturated,
                sender_ns_per_copy: Spread::of(sender),
                total_ns_per_copy: Spread::of(total),
            })
        })
        .collect()
}

/// The least-squares slope of `points` (x, y); none without two distinct x.
fn least_squares_slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Medians per (mode, receivers), in the order measured.
pub fn points(samples: &[Sample]) -> Vec<Point> {
    let mut keys: Vec<(Mode, usize)> = Vec::new();
    for sample in samples {
        if !keys.contains(&(sample.mode, sample.receivers)) {
            keys.push((sample.mode, sample.receivers));
        }
    }
    keys.into_iter()
        .map(|(mode, receivers)| {
            let of: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.mode == mode && s.receivers == receivers)
                .collect();
            let pick = |f: fn(&Sample) -> f64| median(of.iter().map(|s| f(s)).collect());
            // Never empty: every key comes from a sample.
            let delivered = Spread::of(of.iter().map(|s| s.delivered_per_s).collect());
            let bpf: Vec<f64> = of.iter().filter_map(|s| s.bpf_ns_per_packet).collect();
            Point {
                mode,
                receivers,
                delivered_per_s: delivered.median,
                delivered_min: delivered.min,
                delivered_max: delivered.max,
                sent_per_s: pick(|s| s.sent_per_s),
                loss: pick(|s| s.loss),
                sender_cpu_ns_per_copy: pick(|s| s.sender_cpu_ns_per_copy),
                total_cpu_ns_per_copy: pick(|s| s.total_cpu_ns_per_copy),
                bpf_ns_per_packet: (!bpf.is_empty()).then(|| median(bpf)),
                backlog_drops: of.iter().map(|s| s.backlog_drops).sum(),
            }
        })
        .collect()
}

/// Ratios of the dataplane to each baseline, per receiver count.
pub fn ratios(points: &[Point]) -> Vec<Ratio> {
    let find = |mode: Mode, n: usize| points.iter().find(|p| p.mode == mode && p.receivers == n);
    let mut counts: Vec<usize> = points.iter().map(|p| p.receivers).collect();
    counts.sort_unstable();
    counts.dedup();
    counts
        .into_iter()
        .map(|n| {
            let ours = find(Mode::Dataplane, n);
            let over = |a: Option<&Point>, b: Option<&Point>| {
                Some(a?.delivered_per_s / b?.delivered_per_s)
            };
            Ratio {
                receivers: n,
                vs_bridge: over(ours, find(Mode::Bridge, n)),
                vs_unicast: over(ours, find(Mode::Unicast, n)),
                vs_seed: over(ours, find(Mode::Seed, n)),
                sender_cpu_vs_bridge: ours
                    .zip(find(Mode::Bridge, n))
                    .map(|(o, b)| o.sender_cpu_ns_per_copy / b.sender_cpu_ns_per_copy),
                cross_node_vs_bridge: over(
                    find(Mode::CrossNodeDataplane, n),
                    find(Mode::CrossNodeBridge, n),
                ),
            }
        })
        .collect()
}

/// Everything a run writes.
#[derive(Serialize)]
struct Summary<'a> {
    environment: &'a Environment,
    options: &'a FanoutOptions,
    points: &'a [Point],
    ratios: &'a [Ratio],
    latencies: &'a [Latency],
    marginal_cpu: &'a [MarginalCpu],
}

/// Creates a run's folder, `<date>-<commit><suffix>` under `results`.
fn run_dir(results: &Path, environment: &Environment, suffix: &str) -> io::Result<PathBuf> {
    let stamp: String = environment
        .date
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let dir = results.join(format!("{stamp}-{}{suffix}", environment.commit));
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Writes a control run's folder (`<date>-<commit>-control/`) and returns it and its summary.
pub fn write_control(
    results: &Path,
    environment: &Environment,
    options: &super::control::ControlOptions,
    result: &super::control::ControlResult,
) -> io::Result<(PathBuf, String)> {
    let dir = run_dir(results, environment, "-control")?;
    let spread = |values: &[u64]| {
        let as_f64: Vec<f64> = values.iter().map(|v| *v as f64).collect();
        format!(
            "{:.0} us (min {} - max {})",
            median(as_f64),
            values.iter().min().copied().unwrap_or(0),
            values.iter().max().copied().unwrap_or(0)
        )
    };
    let mut summary = String::new();
    let _ = writeln!(
        summary,
        "# Control path, {}\n\nKernel {}, commit {}, {} ({} CPUs); {}; bpf-linker {}; aya {}.\n\n\
         Background traffic of one 64-byte datagram every 100 us; times seen at the pod's eth0 \
         (AF_PACKET), over {} join/leave cycles.\n",
        environment.date,
        environment.kernel,
        environment.commit,
        environment.cpu,
        environment.cpus,
        environment.rustc,
        environment.bpf_linker,
        environment.aya,
        options.repetitions
    );
    let _ = writeln!(summary, "| measure | value |\n|---|---|");
    let latencies: [(&str, &[u64]); 4] = [
        (
            "join (IP_ADD_MEMBERSHIP) to first copy",
            &result.join_to_first_packet_us,
        ),
        (
            "leave (IP_DROP_MEMBERSHIP) to last copy",
            &result.leave_to_last_packet_us,
        ),
        (
            "bridge with IGMP snooping: join to first copy",
            &result.bridge_join_to_first_packet_us,
        ),
        (
            "bridge with IGMP snooping: leave to last copy",
            &result.bridge_leave_to_last_packet_us,
        ),
    ];
    for (measure, values) in latencies {
        let _ = writeln!(summary, "| {measure} | {} |", spread(values));
    }
    let _ = writeln!(
        summary,
        "| install {} groups x {} remote subscribers from userspace | {} ms |",
        result.groups, result.subscribers, result.install_ms
    );
    let _ = writeln!(
        summary,
        "| kernel memory of the group maps (memlock) | {:.1} MiB |",
        result.map_memory_kib as f64 / 1024.0
    );
    let json = serde_json::json!({
        "environment": environment,
        "options": options,
        "result": result,
    });
    write_record(&dir, "control.json", &json, &summary)?;
    Ok((dir, summary))
}

/// Writes a sparse run's folder (`<date>-<commit>-sparse/`) and returns it and its summary.
pub fn write_sparse(
    results: &Path,
    environment: &Environment,
    options: &super::sparse::SparseOptions,
    rows: &[super::sparse::SparseRow],
) -> io::Result<(PathBuf, String)> {
    let dir = run_dir(results, environment, "-sparse")?;
    let mut summary = String::new();
    let _ = writeln!(
        summary,
        "# Sparse cross-node replication, {}\n\n\
         Kernel {}, commit {}, {} ({} CPUs); {}; bpf-linker {}; aya {}.\n\n\
         N nodes as namespaces on one underlay bridge, members (one pod each) on k of them, the \
         sender on n1: {} datagrams of 64 bytes at {}/s. Underlay copies counted on every other \
         node's ul0; CPU is the whole machine's busy time per packet ({}). Join and leave \
         timed on node N with one datagram every 500 us.\n",
        environment.date,
        environment.kernel,
        environment.commit,
        environment.cpu,
        environment.cpus,
        environment.rustc,
        environment.bpf_linker,
        environment.aya,
        options.packets,
        options.rate,
        environment.cpu_time,
    );
    summary.push_str(&super::sparse::markdown(rows));
    let json = serde_json::json!({
        "environment": environment,
        "options": options,
        "rows": rows,
    });
    write_record(&dir, "sparse.json", &json, &summary)?;
    Ok((dir, summary))
}

/// Writes a run's record into `dir`: `json` as `json_name` and `summary` as `summary.md`.
fn write_record(
    dir: &Path,
    json_name: &str,
    json: &serde_json::Value,
    summary: &str,
) -> io::Result<()> {
    fs::write(
        dir.join(json_name),
        serde_json::to_string_pretty(json).map_err(io::Error::other)?,
    )?;
    fs::write(dir.join("summary.md"), summary)
}

/// Writes the run's folder under `results` and returns it.
pub fn write(
    results: &Path,
    environment: &Environment,
    options: &FanoutOptions,
    run: &FanoutRun,
) -> io::Result<PathBuf> {
    let dir = run_dir(results, environment, "")?;
    let samples = &run.samples;
    let points = points(samples);
    let ratios = ratios(&points);
    let marginal = marginal_cpu(samples, options.offered_pps);

    let mut csv = String::from(
        "mode,receivers,repetition,sent_per_s,delivered_per_s,min_receiver_per_s,loss,\
         sender_cpu_ns_per_copy,total_cpu_ns_per_copy,backlog_drops,bpf_ns_per_packet\n",
    );
    for s in samples {
        let _ = writeln!(
            csv,
            "{:?},{},{},{:.0},{:.0},{:.0},{:.5},{:.1},{:.1},{},{}",
            s.mode,
            s.receivers,
            s.repetition,
            s.sent_per_s,
            s.delivered_per_s,
            s.min_receiver_per_s,
            s.loss,
            s.sender_cpu_ns_per_copy,
            s.total_cpu_ns_per_copy,
            s.backlog_drops,
            s.bpf_ns_per_packet
                .map_or(String::new(), |v| format!("{v:.1}"))
        );
    }
    fs::write(dir.join("samples.csv"), csv)?;
    let summary = Summary {
        environment,
        options,
        points: &points,
        ratios: &ratios,
        latencies: &run.latencies,
        marginal_cpu: &marginal,
    };
    fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&summary).map_err(io::Error::other)?,
    )?;
    fs::write(
        dir.join("summary.md"),
        markdown(
            environment,
            options,
            &points,
            &ratios,
            &run.latencies,
            &marginal,
        ),
    )?;
    plot_fanout(&dir.join("fanout.svg"), &points)
        .map_err(|err| io::Error::other(err.to_string()))?;
    plot_ratios(&dir.join("ratios.svg"), &ratios)
        .map_err(|err| io::Error::other(err.to_string()))?;
    Ok(dir)
}

fn number(value: Option<f64>, digits: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "-".to_owned(),
    }
}

/// The run as a markdown table (what results/README.md quotes).
pub fn markdown(
    environment: &Environment,
    options: &FanoutOptions,
    points: &[Point],
    ratios: &[Ratio],
    latencies: &[Latency],
    marginal: &[MarginalCpu],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Fan-out, {}\n\nKernel {}, commit {}, {} ({} CPUs, {} MiB), netdev_max_backlog {}; {}; \
         {}; bpf-linker {}; aya {}.\n\n{}; {}-byte datagrams, sendmmsg sender on CPU {}, recvmmsg \
         collector on CPU {}; dataplane group capacity {}; {} windows of {:?} after {:?} warm-up \
         per point; medians (min-max over windows). CPU time: {}.\n",
        environment.date,
        environment.kernel,
        environment.commit,
        environment.cpu,
        environment.cpus,
        environment.memory_mib,
        environment.netdev_max_backlog,
        environment.rustc,
        environment.rustc_nightly,
        environment.bpf_linker,
        environment.aya,
        match options.offered_pps {
            Some(pps) => format!("Offered load {pps} packets/s to the group"),
            None => "At saturation".to_owned(),
        },
        options.size,
        options.sender_cpu,
        options.receiver_cpu,
        options.group_capacity,
        options.repetitions,
        options.window,
        options.warmup,
        environment.cpu_time,
    );
    let find = |mode: Mode, n: usize| points.iter().find(|p| p.mode == mode && p.receivers == n);
    let cell = |p: Option<&Point>| match p {
        Some(p) => format!(
            "{:.0}k ({:.0}-{:.0}), loss {:.1}%",
            p.delivered_per_s / 1e3,
            p.delivered_min / 1e3,
            p.delivered_max / 1e3,
            p.loss * 100.0
        ),
        None => "-".to_owned(),
    };
    // Every mode has its column (in [`Mode::ALL`]'s order) in the local or the cross-node
    // table, measured or not; the ratios follow.
    let columns = |cross_node: bool| -> Vec<Mode> {
        Mode::ALL
            .into_iter()
            .filter(|mode| mode.fanout().cross_node() == cross_node)
            .collect()
    };
    let header = |modes: &[Mode], ratios: &[&str]| {
        let titles: Vec<&str> = modes
            .iter()
            .map(|mode| mode.fanout().column().header)
            .chain(ratios.iter().copied())
            .collect();
        format!(
            "| N | {} |\n|---|{}\n",
            titles.join(" | "),
            "---|".repeat(titles.len())
        )
    };
    let cells = |modes: &[Mode], n: usize| -> String {
        modes
            .iter()
            .map(|&mode| format!(" {} |", cell(find(mode, n))))
            .collect()
    };
    let local_modes = columns(false);
    out.push_str(&header(
        &local_modes,
        &[
            "ours/bridge",
            "ours/unicast",
            "ours/seed",
            "sender ns/copy ours/bridge",
            "eBPF ns/packet",
            "seed eBPF ns/packet",
        ],
    ));
    let mut counts: Vec<usize> = points.iter().map(|p| p.receivers).collect();
    counts.sort_unstable();
    counts.dedup();
    let measured = |modes: &[Mode], n: usize| {
        points
            .iter()
            .any(|p| p.receivers == n && modes.contains(&p.mode))
    };
    for &n in counts.iter().filter(|&&n| measured(&local_modes, n)) {
        let ratio = ratios.iter().find(|r| r.receivers == n);
        let ours = find(Mode::Dataplane, n);
        let _ = writeln!(
            out,
            "| {n} |{} {} | {} | {} | {} | {} | {} |",
            cells(&local_modes, n),
            number(ratio.and_then(|r| r.vs_bridge), 2),
            number(ratio.and_then(|r| r.vs_unicast), 2),
            number(ratio.and_then(|r| r.vs_seed), 2),
            number(ratio.and_then(|r| r.sender_cpu_vs_bridge), 2),
            number(
                ours.or(find(Mode::DataplaneNapi, n))
                    .and_then(|p| p.bpf_ns_per_packet),
                0
            ),
            number(find(Mode::Seed, n).and_then(|p| p.bpf_ns_per_packet), 0),
        );
    }
    let cross_modes = columns(true);
    if counts.iter().any(|&n| measured(&cross_modes, n)) {
        out.push_str("\nCross-node (sender on node 1, receivers on node 2, over vxlan):\n\n");
        out.push_str(&header(&cross_modes, &["ours/bridge+vxlan"]));
        for &n in counts.iter().filter(|&&n| measured(&cross_modes, n)) {
            let ratio = ratios.iter().find(|r| r.receivers == n);
            let _ = writeln!(
                out,
                "| {n} |{} {} |",
                cells(&cross_modes, n),
                number(ratio.and_then(|r| r.cross_node_vs_bridge), 2),
            );
        }
    }
    if !latencies.is_empty() {
        out.push_str(
            "\nOne-way latency to the first receiver (same host clock), with N receivers joined and \
             probes at up to 1000/s (at most 100k copies/s):\n\n\
             | mode | N | probes/s | received | p50 | p99 | max |\n|---|---|---|---|---|---|---|\n",
        );
        let us = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0} µs"));
        for latency in latencies {
            let _ = writeln!(
                out,
                "| {:?} | {} | {} | {}/{} | {} | {} | {} |",
                latency.mode,
                latency.receivers,
                latency.rate,
                latency.received,
                latency.probes,
                us(latency.p50_us),
                us(latency.p99_us),
                us(latency.max_us),
            );
        }
    }
    if !marginal.is_empty() {
        out.push_str(
            "\nCPU per additional copy at the offered load: the slope of busy time per packet over \
             N, fitted per repetition (median, min-max); the sender's own per-packet work is the \
             same at every N and stays out of it:\n\n\
             | mode | N fitted | sender ns/packet at each N | sender ns per copy | both CPUs ns per \
             copy | left out (load not carried) |\n|---|---|---|---|---|---|\n",
        );
        let spread = |s: &Spread| format!("{:.0} ({:.0}-{:.0})", s.median, s.min, s.max);
        let list = |values: Vec<String>| {
            if values.is_empty() {
                "-".to_owned()
            } else {
                values.join(", ")
            }
        };
        for m in marginal {
            let _ = writeln!(
                out,
                "| {:?} | {} | {} | {} | {} | {} |",
                m.mode,
                list(m.receivers.iter().map(usize::to_string).collect()),
                list(
                    m.sender_ns_per_packet
                        .iter()
                        .map(|v| format!("{v:.0}"))
                        .collect()
                ),
                spread(&m.sender_ns_per_copy),
                spread(&m.total_ns_per_copy),
                list(m.saturated.iter().map(usize::to_string).collect()),
            );
        }
    }
    out
}

fn mode_color(mode: Mode) -> RGBColor {
    let (red, green, blue) = mode.fanout().column().color;
    RGBColor(red, green, blue)
}

fn log2_axis(points: impl Iterator<Item = usize>) -> f64 {
    points.map(|n| (n.max(1) as f64).log2()).fold(1.0, f64::max)
}

fn plot_fanout(path: &Path, points: &[Point]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let x_max = log2_axis(points.iter().map(|p| p.receivers));
    let y_max = points.iter().map(|p| p.delivered_max).fold(1.0, f64::max) * 1.1 / 1e6;
    let mut chart = ChartBuilder::on(&root)
        .caption("Delivered copies/s vs local receivers", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("receivers (log2)")
        .y_desc("million copies/s")
        .x_label_formatter(&|x| format!("{}", 2f64.powf(*x).round()))
        .draw()?;
    for mode in Mode::ALL {
        let series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.mode == mode)
            .map(|p| ((p.receivers as f64).log2(), p.delivered_per_s / 1e6))
            .collect();
        if series.is_empty() {
            continue;
        }
        let color = mode_color(mode);
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))?
            .label(format!("{mode:?}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(
            series
                .into_iter()
                .map(|xy| Circle::new(xy, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Reads one ratio of a [`Ratio`].
type RatioOf = fn(&Ratio) -> Option<f64>;

fn plot_ratios(path: &Path, ratios: &[Ratio]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let x_max = log2_axis(ratios.iter().map(|r| r.receivers));
    let y_max = ratios
        .iter()
        .flat_map(|r| [r.vs_bridge, r.vs_unicast, r.vs_seed, r.cross_node_vs_bridge])
        .flatten()
        .fold(3.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Dataplane / baseline, delivered copies/s",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("receivers (log2)")
        .y_desc("ratio")
        .x_label_formatter(&|x| format!("{}", 2f64.powf(*x).round()))
        .draw()?;
    let lines: [(&str, RatioOf, RGBColor); 4] = [
        ("ours / bridge", |r| r.vs_bridge, mode_color(Mode::Bridge)),
        (
            "ours / unicast",
            |r| r.vs_unicast,
            mode_color(Mode::Unicast),
        ),
        ("ours / seed", |r| r.vs_seed, mode_color(Mode::Seed)),
        (
            "cross-node: ours / bridge + vxlan",
            |r| r.cross_node_vs_bridge,
            mode_color(Mode::CrossNodeBridge),
        ),
    ];
    for (label, value, color) in lines {
        let series: Vec<(f64, f64)> = ratios
            .iter()
            .filter_map(|r| Some(((r.receivers as f64).log2(), value(r)?)))
            .collect();
        if series.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(series, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    for (target, color) in [
        (1.2, mode_color(Mode::Bridge)),
        (2.8, mode_color(Mode::Unicast)),
    ] {
        chart.draw_series(LineSeries::new(
            vec![(0.0, target), (x_max, target)],
            color.mix(0.4),
        ))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Mode, Sample, marginal_cpu, median};

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }

    /// A window at 1000 packets/s whose busy time per packet is `fixed` + `per_copy` x N,
    /// delivering `carried` of the copies.
    fn window(
        receivers: usize,
        repetition: usize,
        fixed: f64,
        per_copy: f64,
        carried: f64,
    ) -> Sample {
        let delivered = 1000.0 * receivers as f64 * carried;
        let busy_per_s = 1000.0 * (fixed + per_copy * receivers as f64);
        Sample {
            mode: Mode::Dataplane,
            receivers,
            repetition,
            sent_per_s: 1000.0,
            delivered_per_s: delivered,
            min_receiver_per_s: 1000.0,
            loss: 1.0 - carried,
            sender_cpu_ns_per_copy: busy_per_s / delivered,
            total_cpu_ns_per_copy: 2.0 * busy_per_s / delivered,
            backlog_drops: 0,
            bpf_ns_per_packet: None,
        }
    }

    #[test]
    fn the_marginal_cost_is_the_slope_per_repetition_without_the_points_not_carried() {
        // Two repetitions, 300 and 500 ns per copy over a fixed 20 us per packet; N=64 carried
        // only half its copies (saturated) and would bend the fit.
        let mut samples = Vec::new();
        for (repetition, per_copy) in [(0, 300.0), (1, 500.0)] {
            for n in [1, 4, 16] {
                samples.push(window(n, repetition, 20_000.0, per_copy, 1.0));
            }
            samples.push(window(64, repetition, 20_000.0, 5_000.0, 0.5));
        }
        let marginal = marginal_cpu(&samples, Some(1000));
        assert_eq!(marginal.len(), 1);
        let m = &marginal[0];
        assert_eq!(m.receivers, [1, 4, 16]);
        assert_eq!(m.saturated, [64]);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(close(m.sender_ns_per_copy.min, 300.0), "{m:?}");
        assert!(close(m.sender_ns_per_copy.max, 500.0), "{m:?}");
        assert!(close(m.sender_ns_per_copy.median, 400.0), "{m:?}");
        assert!(close(m.total_ns_per_copy.median, 800.0), "{m:?}");
        assert!(close(m.sender_ns_per_packet[0], 20_400.0), "{m:?}");
        assert!(marginal_cpu(&samples, None).is_empty(), "not at saturation");
    }
}
