//! `mcastlab bench`: reproducible performance runs into `results/`.

use std::{path::PathBuf, time::Duration};

use mcastlab_bench::{
    control,
    environment::Environment,
    fanout::{self, FanoutOptions, Mode},
    report, sparse,
};

use super::{
    output::{OutputArg, OutputFormat, print_json},
    progress::Progress,
};

/// Benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Delivered copies/s and loss for growing numbers of local receivers: the dataplane, the
    /// design it started from (Cilium PR 29469's replication), a bridge with IGMP snooping, and
    /// application unicast fan-out, in one run.
    #[command(
        after_help = "Writes results/<date>-<commit>/ with environment, samples.csv, \
                            summary.json, summary.md (the table), fanout.svg and ratios.svg. \
                            Needs root and 2 CPUs. Takes about 5 minutes with the defaults."
    )]
    Fanout(FanoutArgs),
    /// Join-to-first-packet and leave-to-last-packet times, and the time and kernel memory to
    /// install many groups with many subscribers.
    #[command(
        after_help = "Writes results/<date>-<commit>-control/ with control.json and \
                            summary.md. Needs root. About a minute with the defaults."
    )]
    Control(ControlArgs),
    /// Across N nodes with members on k of them: underlay copies and CPU per packet, and a
    /// remote join's and leave's times, with learned membership against bridge + vxlan
    /// head-end replication.
    #[command(
        after_help = "Writes results/<date>-<commit>-sparse/ with sparse.json and summary.md. \
                            Needs root. Each (N, k, mode) deploys a lab of its own: a few \
                            minutes at 2,4,8 nodes."
    )]
    Sparse(SparseArgs),
}

/// Arguments of `bench sparse`.
#[derive(Debug, clap::Args)]
pub struct SparseArgs {
    /// Lab sizes (nodes, at least 2); each runs with members on 1 and on N-1 nodes.
    #[arg(long, value_delimiter = ',', default_value = "2,4,8")]
    nodes: Vec<usize>,
    /// Datagrams sent per measurement.
    #[arg(long, default_value_t = 2000)]
    packets: u64,
    /// Sending rate, datagrams per second.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Folder of results.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    #[command(flatten)]
    output: OutputArg,
}

/// Arguments of `bench control`.
#[derive(Debug, clap::Args)]
pub struct ControlArgs {
    /// Groups to install.
    #[arg(long, default_value_t = mcastlab_common::MAX_GROUPS)]
    groups: u32,
    /// Remote subscribers per group.
    #[arg(long, default_value_t = mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP)]
    subscribers: u32,
    /// Join/leave cycles to time.
    #[arg(long, default_value_t = 10)]
    repetitions: usize,
    /// Folder of results.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    #[command(flatten)]
    output: OutputArg,
}

/// Arguments of `bench fanout`.
#[derive(Debug, clap::Args)]
pub struct FanoutArgs {
    /// Receiver counts.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32,64")]
    receivers: Vec<usize>,
    /// What to measure.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "dataplane,dataplane-napi,seed,bridge,unicast,cross-node-dataplane,cross-node-bridge"
    )]
    modes: Vec<ModeArg>,
    /// Measured windows per point (medians are reported).
    #[arg(long, default_value_t = 5)]
    repetitions: usize,
    /// Length of a window, in seconds.
    #[arg(long, default_value_t = 1.0)]
    window: f64,
    /// Warm-up before each window, in seconds.
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// UDP payload bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// CPU of the sender (and of the softirq work it triggers).
    #[arg(long, default_value_t = 0)]
    sender_cpu: usize,
    /// CPU of the receiver.
    #[arg(long, default_value_t = 1)]
    receiver_cpu: usize,
    /// Capacity of the dataplane's group (at least the largest receiver count); the default is
    /// what `group add` gives.
    #[arg(long, default_value_t = mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP)]
    group_capacity: u32,
    /// Probes for each mode's one-way latency to one receiver (sent at 1000/s once the
    /// throughput points are done); 0 skips it.
    #[arg(long, default_value_t = 2000)]
    latency_probes: u64,
    /// Offered load, packets per second to the group (unicast: that many per receiver);
    /// 0 measures at saturation.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Folder of results.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    #[command(flatten)]
    output: OutputArg,
}

fn seconds(value: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| anyhow::anyhow!("--{what} must be a positive number of seconds"))
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Fanout(args) => run_fanout(args),
        BenchCommand::Control(args) => run_control(args),
        BenchCommand::Sparse(args) => run_sparse(args),
    }
}

fn run_sparse(args: SparseArgs) -> anyhow::Result<()> {
    if args.nodes.is_empty() || args.nodes.iter().any(|n| !(2..=64).contains(n)) {
        anyhow::bail!("--nodes takes lab sizes from 2 to 64");
    }
    if args.packets == 0 || args.rate == 0 {
        anyhow::bail!("--packets and --rate must be at least 1");
    }
    let options = sparse::SparseOptions {
        nodes: args.nodes,
        packets: args.packets,
        rate: args.rate,
    };
    let environment = Environment::read();
    let mut progress = Progress::new(None);
    let rows = sparse::run(&options, |step| progress.step(step))?;
    drop(progress);
    let (dir, summary) = report::write_sparse(&args.out, &environment, &options, &rows)?;
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "results": dir,
            "environment": environment,
            "options": options,
            "rows": rows,
        }))?,
        OutputFormat::Table => {
            print!("{summary}");
            eprintln!("results in {}", dir.display());
        }
    }
    Ok(())
}

fn run_control(args: ControlArgs) -> anyhow::Result<()> {
    let options = control::ControlOptions {
        groups: args.groups,
        subscribers: args.subscribers,
        repetitions: args.repetitions.max(1),
    };
    if options.groups == 0 || options.groups > mcastlab_common::MAX_GROUPS {
        anyhow::bail!("--groups takes 1 to {}", mcastlab_common::MAX_GROUPS);
    }
    if options.subscribers > mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP {
        anyhow::bail!(
            "--subscribers takes 0 to {}",
            mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP
        );
    }
    let environment = Environment::read();
    let mut progress = Progress::new(None);
    let result = control::run(&options, |step| progress.step(step))?;
    drop(progress);
    let (dir, summary) = report::write_control(&args.out, &environment, &options, &result)?;
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "results": dir,
            "environment": environment,
            "options": options,
            "result": result,
        }))?,
        OutputFormat::Table => {
            print!("{summary}");
            eprintln!("results in {}", dir.display());
        }
    }
    Ok(())
}

fn run_fanout(args: FanoutArgs) -> anyhow::Result<()> {
    let limit = mcastlab_common::MAX_SUBSCRIBERS_PER_GROUP as usize;
    if args.receivers.is_empty() || args.receivers.iter().any(|n| *n == 0 || *n > limit) {
        anyhow::bail!("--receivers takes counts from 1 to {limit} (the subscribers of one group)");
    }
    if args.repetitions == 0 {
        anyhow::bail!("--repetitions must be at least 1");
    }
    let options = FanoutOptions {
        receivers: args.receivers,
        modes: args.modes.into_iter().map(Mode::from).collect(),
        warmup: seconds(args.warmup, "warmup")?,
        window: seconds(args.window, "window")?,
        repetitions: args.repetitions,
        size: args.size.max(mcastlab_testbed::probe::HEADER_LEN),
        sender_cpu: args.sender_cpu,
        receiver_cpu: args.receiver_cpu,
        group_capacity: args.group_capacity,
        offered_pps: Some(args.rate).filter(|rate| *rate > 0),
        latency_probes: args.latency_probes,
    };
    let most = options.receivers.iter().copied().max().unwrap_or(1);
    if (options.group_capacity as usize) < most {
        anyhow::bail!(
            "--group-capacity {} is below the largest receiver count {most}",
            options.group_capacity
        );
    }
    let environment = Environment::read();
    let mut progress = Progress::new(None);
    progress.line(&format!(
        "bench fanout on kernel {} at {}: modes {:?}, receivers {:?}",
        environment.kernel, environment.commit, options.modes, options.receivers
    ));
    let run = fanout::run(&options, |step| progress.step(step))?;
    drop(progress);
    let dir = report::write(&args.out, &environment, &options, &run)?;
    let points = report::points(&run.samples);
    let ratios = report::ratios(&points);
    let marginal = report::marginal_cpu(&run.samples, options.offered_pps);
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "results": dir,
            "environment": environment,
            "options": options,
            "points": points,
            "ratios": ratios,
            "latencies": run.latencies,
            "marginal_cpu": marginal,
        }))?,
        OutputFormat::Table => {
            print!(
                "{}",
                report::markdown(
                    &environment,
                    &options,
                    &points,
                    &ratios,
                    &run.latencies,
                    &marginal
                )
            );
            eprintln!("results in {}", dir.display());
        }
    }
    Ok(())
}

/// [`Mode`] on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    /// mcastlab's dataplane.
    Dataplane,
    /// mcastlab's dataplane with the receiver pods on NAPI delivery.
    DataplaneNapi,
    /// mcastlab's dataplane with receivers joined for the sender only (INCLUDE{sender}):
    /// every copy passes a source filter.
    DataplaneSources,
    /// Experiment: mcastlab's dataplane handing the original to the last local member
    /// (`bpf_redirect`) instead of cloning it; not in the default list.
    DataplaneLastCopy,
    /// The seed baseline: Cilium PR 29469's replication (hash of subscriber hashes walked per
    /// packet), the design mcastlab started from.
    Seed,
    /// Experiment: XDP devmap broadcast (`bpf_redirect_map` with BPF_F_BROADCAST) in native
    /// mode at the sender's veth to the receivers' veths, receivers on NAPI; not in the default
    /// list.
    XdpDevmap,
    /// A Linux bridge with IGMP snooping and a querier.
    Bridge,
    /// The sender sends one unicast datagram per receiver.
    Unicast,
    /// Across two nodes: the dataplane (one copy over vxlan, fanned out on node 2).
    CrossNodeDataplane,
    /// Across two nodes: bridges with vxlan head-end replication.
    CrossNodeBridge,
}

impl From<ModeArg> for Mode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Dataplane => Mode::Dataplane,
            ModeArg::DataplaneNapi => Mode::DataplaneNapi,
            ModeArg::DataplaneSources => Mode::DataplaneSources,
            ModeArg::DataplaneLastCopy => Mode::DataplaneLastCopy,
            ModeArg::Seed => Mode::Seed,
            ModeArg::XdpDevmap => Mode::XdpDevmap,
            ModeArg::Bridge => Mode::Bridge,
            ModeArg::Unicast => Mode::Unicast,
            ModeArg::CrossNodeDataplane => Mode::CrossNodeDataplane,
            ModeArg::CrossNodeBridge => Mode::CrossNodeBridge,
        }
    }
}
