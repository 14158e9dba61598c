//! `mcastlab agent`: the node agent in the foreground, until SIGINT or SIGTERM.

use std::time::Duration;

use anyhow::Context as _;
use mcastlab_agent::{Settings, timers};

use super::NodeArg;

/// Arguments of `mcastlab agent`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The agent sends IGMPv3 General Queries (source 0.0.0.0, as the Linux \
                        bridge's querier) into every pod veth each query interval, and a round \
                        of startup queries when it starts and whenever a group appears, so \
                        pods that joined before are learned; it expires members not heard for \
                        the group membership interval (robustness x query interval + response \
                        interval; counter member_expired) and removes the memberships of \
                        pods whose veth disappears (counter member_pod_gone). Its state is the \
                        node's pins: stop and start it at will; while it is stopped the \
                        datapath keeps forwarding. `mcastlab up` starts one per node with the \
                        lab timers (query interval 10 s, response interval 1 s)."
)]
pub struct AgentArgs {
    #[command(flatten)]
    node: NodeArg,
    /// Seconds between General Queries (RFC 3376 Query Interval; default 125).
    #[arg(long, value_name = "SECONDS", default_value_t = timers::QUERY_INTERVAL.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=31_744))]
    query_interval: u64,
    /// Seconds a pod may take to answer a query (RFC 3376 Query Response Interval, sent as
    /// Max Resp Time; 0.1 to 3174.4, default 10).
    #[arg(long, value_name = "SECONDS", default_value_t = timers::QUERY_RESPONSE_INTERVAL.as_secs_f64(),
          value_parser = parse_response_interval)]
    query_response_interval: f64,
    /// Serve the node's counters on http://ADDRESS/metrics (Prometheus text format), e.g.
    /// 127.0.0.1:9464; bound in the namespace the agent is started in.
    #[arg(long, value_name = "ADDRESS")]
    metrics_address: Option<std::net::SocketAddr>,
    /// Robustness Variable: startup queries sent (RFC 3376; 1 to 7, default 2).
    #[arg(long, default_value_t = timers::ROBUSTNESS,
          value_parser = clap::value_parser!(u8).range(1..=7))]
    robustness: u8,
}

impl AgentArgs {
    fn settings(&self) -> Settings {
        Settings {
            query_interval: Duration::from_secs(self.query_interval),
            query_response_interval: Duration::from_secs_f64(self.query_response_interval),
            robustness: self.robustness,
        }
    }
}

fn parse_response_interval(text: &str) -> Result<f64, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if (0.1..=3174.4).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(format!(
            "{seconds} s is outside 0.1..=3174.4 s (what Max Resp Code can carry)"
        ))
    }
}

/// Runs the agent until SIGINT or SIGTERM.
pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    let settings = args.settings();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let shutdown = async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        };
        let metrics = match args.metrics_address {
            Some(address) => {
                let listener = mcastlab_agent::metrics::bind(address)
                    .await
                    .with_context(|| format!("binding the metrics endpoint to {address}"))?;
                Some(tokio::spawn(mcastlab_agent::metrics::serve(
                    listener,
                    args.node.node.clone(),
                )))
            }
            None => None,
        };
        let result = mcastlab_agent::run(&args.node.node, settings, shutdown).await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        result?;
        Ok(())
    })
}
