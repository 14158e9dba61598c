//! `mcastlab agent`: the node agent in the foreground, until SIGINT or SIGTERM.

use std::{net::Ipv4Addr, time::Duration};

use anyhow::Context as _;
use mcastlab_agent::{Peering, Settings, timers};
use mcastlab_topology::model::Cidr;

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
                        lab timers (query interval 10 s, response interval 1 s).\n\n\
                        Between nodes, the agent sends the groups that have local members from \
                        its underlay address to UDP port 4791 of each peer, at once on a change \
                        and every query interval, and makes the nodes that announce theirs \
                        learned remote subscribers (counters remote_learned, remote_withdrawn, \
                        remote_expired after the group membership interval without refresh). \
                        Messages from any address of the underlay prefix with the lab's VNI are \
                        accepted, so a node added later is learned. Without --underlay-address \
                        the peering comes from the recorded lab the node belongs to; a node of \
                        no recorded lab exchanges nothing."
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
    /// Seconds between the Group-Specific Queries the agent sends after a leave while fast
    /// leave is off, and their Max Resp Time (RFC 3376 Last Member Query Interval; 0.1 to
    /// 3174.4, default 1); robustness of them are sent.
    #[arg(long, value_name = "SECONDS", default_value_t = timers::LAST_MEMBER_QUERY_INTERVAL.as_secs_f64(),
          value_parser = parse_response_interval)]
    last_member_query_interval: f64,
    /// Robustness Variable: startup queries sent (RFC 3376; 1 to 7, default 2).
    #[arg(long, default_value_t = timers::ROBUSTNESS,
          value_parser = clap::value_parser!(u8).range(1..=7))]
    robustness: u8,
    /// The node's underlay address and the underlay's prefix length: membership messages go
    /// out from it and are accepted from the whole prefix (default: the recorded lab's).
    #[arg(long, value_name = "A.B.C.D/LEN")]
    underlay_address: Option<Cidr>,
    /// With --underlay-address: the other nodes' underlay addresses (repeat or
    /// comma-separate).
    #[arg(
        long = "peer",
        requires = "underlay_address",
        value_delimiter = ',',
        value_name = "ADDR"
    )]
    peers: Vec<Ipv4Addr>,
}

impl AgentArgs {
    /// The peering the flags give, or the recorded lab's.
    fn peering(&self) -> anyhow::Result<Option<Peering>> {
        match self.underlay_address {
            Some(address) => Ok(Some(Peering {
                address: address.address,
                prefix_len: address.prefix,
                peers: self.peers.clone(),
            })),
            None => Ok(mcastlab_lab::recorded_peering(&self.node.node)?),
        }
    }

    fn settings(&self) -> Settings {
        Settings {
            query_interval: Duration::from_secs(self.query_interval),
            query_response_interval: Duration::from_secs_f64(self.query_response_interval),
            robustness: self.robustness,
            last_member_query_interval: Duration::from_secs_f64(self.last_member_query_interval),
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
    let peering = args.peering()?;
    if peering.is_none() {
        tracing::info!(
            node = args.node.node,
            "no underlay address given and no recorded lab has this node: no membership exchange with other nodes"
        );
    }
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
        let result = mcastlab_agent::run(
            &args.node.node,
            settings,
            peering,
            mcastlab_agent::failures::LastStep::default(),
            shutdown,
        )
        .await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        result?;
        Ok(())
    })
}
