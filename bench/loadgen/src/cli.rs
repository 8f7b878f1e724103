//! Command-line arguments and the phase syntax (`open:RATE:SECS`, `closed:POSTERS:SECS`).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Load generator for Petit chat: users with open live streams, groups, and posters.
#[derive(Debug, Parser)]
#[command(about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sets up users, groups and live streams on a running server, then runs the phases.
    Run(RunArgs),
    /// Prints the results file written by `run` (JSON lines) as a Markdown table.
    Table {
        /// The results file.
        file: PathBuf,
    },
    /// Removes what a cluster benchmark left in the stack: its Cassandra keyspace and its
    /// NATS JetStream streams and KV buckets.
    Cleanup(CleanupArgs),
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The keyspace to drop (the nodes' `store.keyspace`).
    #[arg(long)]
    pub keyspace: Option<String>,
    /// CQL contact points, comma-separated.
    #[arg(long, env = "PETIT_CHAT_STACK_CQL_CONTACT_POINTS", default_value = "127.0.0.1:9042", value_delimiter = ',')]
    pub contact_points: Vec<String>,
    /// The CQL datacenter (as the nodes' `store.local_datacenter`).
    #[arg(long, env = "PETIT_CHAT_STACK_CQL_LOCAL_DATACENTER")]
    pub local_datacenter: Option<String>,
    /// The NATS prefix whose streams and KV buckets to delete (the nodes' `bus.prefix`).
    #[arg(long)]
    pub nats_prefix: Option<String>,
    /// The NATS server.
    #[arg(long, env = "PETIT_CHAT_STACK_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Base URL of the server; only loopback addresses are accepted. Give it more than once
    /// (or comma-separated) for the nodes of a cluster: users log in and groups are made on
    /// the first, streams and posts go round-robin over all of them.
    #[arg(long = "base", default_value = "http://127.0.0.1:8080", value_delimiter = ',', num_args = 1)]
    pub bases: Vec<String>,
    /// Users, each with one open live stream (or, with `--deliver webhook`, one webhook).
    #[arg(long, default_value_t = 100)]
    pub streams: usize,
    /// How deliveries are seen: `stream` (each user's live stream, SSE) or `webhook` (no
    /// stream: each user is offline with a webhook push target that this run receives, on
    /// loopback, so the server needs `notifications.allow_private_targets`).
    #[arg(long, default_value = "stream")]
    pub deliver: Deliver,
    /// Members per group, 2 to 64; `streams` must be a multiple of it.
    #[arg(long, default_value_t = 10)]
    pub group_size: usize,
    /// A phase, run in the order given: `open:RATE:SECS` posts at a fixed offered rate
    /// (messages per second); `closed:POSTERS:SECS` runs that many posters, each sending
    /// its next message when the previous one is answered.
    #[arg(long = "phase", required = true)]
    pub phases: Vec<Phase>,
    /// Most posts in one phase.
    #[arg(long, default_value_t = 200_000)]
    pub max_posts: u64,
    /// Most posts awaiting their answer in an open-loop phase; sends due beyond it are
    /// skipped and counted.
    #[arg(long, default_value_t = 1024)]
    pub max_in_flight: usize,
    /// Seconds to wait after a phase for answers and missing deliveries.
    #[arg(long, default_value = "20", value_parser = secs)]
    pub drain: Duration,
    /// Seconds the whole run may take, setup included.
    #[arg(long, default_value = "1200", value_parser = secs)]
    pub deadline: Duration,
    /// Length of each message text in bytes (sequence number plus padding).
    #[arg(long, default_value_t = 64)]
    pub text_bytes: usize,
    /// The server's process id, to report its CPU use per phase; once per node for a
    /// cluster (their CPU is added up, and also reported per node).
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// `NAME=PID` of another process of the system under test (Cassandra, NATS) whose CPU
    /// use is reported per phase and not counted as "other".
    #[arg(long = "watch-pid", value_parser = watched)]
    pub watch_pids: Vec<(String, u32)>,
    /// A label stored with each result (for example the SQLite durability).
    #[arg(long, default_value = "")]
    pub label: String,
    /// Append one JSON line per phase to this file.
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// Re-run a phase when other processes used more than this share of the machine
    /// (percent of all cores) while it ran...
    #[arg(long, default_value_t = 15.0)]
    pub max_other_cpu: f64,
    /// ... at most this many times (the last attempt is reported either way).
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// Requests in flight during setup (logins, groups, stream opening).
    #[arg(long, default_value_t = 16)]
    pub setup_concurrency: usize,
    /// Seconds a refused post or reaction is tried again (with the same nonce, on the next
    /// node, every 250 ms), and a stream that ends is opened again on the next node,
    /// resuming with `Last-Event-ID`, as an app does: for runs with faults. 0: neither.
    #[arg(long, default_value = "0", value_parser = secs)]
    pub retry: Duration,
    /// Members (the ones after the author) who add a reaction to each acknowledged post.
    #[arg(long, default_value_t = 0)]
    pub reactors: usize,
    /// Write what happened in each second (acknowledged and refused requests, resumed
    /// streams) to this file, as JSON lines.
    #[arg(long)]
    pub timeline: Option<PathBuf>,
    /// An open-loop phase ends early once this file exists (a fault run ends its load when
    /// its faults are over).
    #[arg(long)]
    pub stop_file: Option<PathBuf>,
    /// After the phases, read every group's history: each acknowledged post must be there
    /// exactly once and each reaction count must be what was acknowledged; exit 1 if not.
    #[arg(long)]
    pub verify: bool,
    /// Open the live streams from this many loopback source addresses (127.0.0.1 to
    /// 127.0.0.N), a few thousand streams each: one address has about 28,000 ephemeral
    /// ports, fewer while an earlier run's connections are in TIME_WAIT.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=254))]
    pub stream_sources: u8,
}

/// How a run sees deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Deliver {
    Stream,
    Webhook,
}

fn watched(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s.split_once('=').ok_or_else(|| format!("{s:?}: NAME=PID"))?;
    let pid = pid.parse().map_err(|_| format!("{s:?}: the PID is a number"))?;
    if name.is_empty() {
        return Err(format!("{s:?}: a name is needed"));
    }
    Ok((name.to_string(), pid))
}

fn secs(s: &str) -> Result<Duration, String> {
    s.parse::<u64>().map(Duration::from_secs).map_err(|e| format!("{s:?} is not a number of seconds: {e}"))
}

/// One posting phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// A fixed offered rate, whatever the answers do.
    Open { rate: f64, secs: u64 },
    /// A fixed number of posters, each waiting for its answer before the next send.
    Closed { posters: usize, secs: u64 },
}

impl Phase {
    pub fn duration(&self) -> Duration {
        match *self {
            Phase::Open { secs, .. } | Phase::Closed { secs, .. } => Duration::from_secs(secs),
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Phase::Open { rate, secs } => write!(f, "open:{rate}:{secs}"),
            Phase::Closed { posters, secs } => write!(f, "closed:{posters}:{secs}"),
        }
    }
}

impl FromStr for Phase {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(':').collect();
        let [kind, amount, secs] = parts[..] else {
            return Err(format!("{s:?}: a phase is open:RATE:SECS or closed:POSTERS:SECS"));
        };
        let secs: u64 = secs.parse().map_err(|_| format!("{s:?}: SECS is a whole number"))?;
        if secs == 0 {
            return Err(format!("{s:?}: a phase lasts at least a second"));
        }
        match kind {
            "open" => {
                let rate: f64 = amount.parse().map_err(|_| format!("{s:?}: RATE is a number"))?;
                if !(rate > 0.0 && rate.is_finite()) {
                    return Err(format!("{s:?}: RATE must be positive"));
                }
                Ok(Phase::Open { rate, secs })
            }
            "closed" => {
                let posters: usize = amount.parse().map_err(|_| format!("{s:?}: POSTERS is a whole number"))?;
                if posters == 0 {
                    return Err(format!("{s:?}: at least one poster"));
                }
                Ok(Phase::Closed { posters, secs })
            }
            _ => Err(format!("{s:?}: the kind is `open` or `closed`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_parse() {
        assert_eq!("open:250:20".parse::<Phase>(), Ok(Phase::Open { rate: 250.0, secs: 20 }));
        assert_eq!("closed:32:15".parse::<Phase>(), Ok(Phase::Closed { posters: 32, secs: 15 }));
        assert!("open:0:20".parse::<Phase>().is_err());
        assert!("closed:4".parse::<Phase>().is_err());
        assert!("burst:4:4".parse::<Phase>().is_err());
    }

    #[test]
    fn bases_repeat_or_split_on_commas() {
        let parse = |args: &[&str]| {
            let mut all = vec!["loadgen", "run", "--phase", "open:1:1"];
            all.extend_from_slice(args);
            match Cli::try_parse_from(all).expect("valid").command {
                Command::Run(run) => run.bases,
                _ => unreachable!(),
            }
        };
        assert_eq!(parse(&[]), ["http://127.0.0.1:8080"]);
        assert_eq!(parse(&["--base", "http://127.0.0.1:1", "--base", "http://127.0.0.1:2"]).len(), 2);
        assert_eq!(parse(&["--base", "http://127.0.0.1:1,http://127.0.0.1:2"]).len(), 2);
        assert_eq!(watched("cassandra=42"), Ok(("cassandra".into(), 42)));
        assert!(watched("42").is_err());
    }
}
