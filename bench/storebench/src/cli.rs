//! Command-line options.

use std::time::Duration;

use clap::Parser;

/// Signal insert and page-read throughput and latency of `CqlStore` (through the
/// `ports::Store` trait) against plain prepared statements on the same node.
#[derive(Debug, Clone, Parser)]
#[command(name = "storebench", version)]
pub struct Args {
    /// CQL contact points, comma-separated (`host:port`). Loopback only is expected.
    #[arg(long, env = "PETIT_CHAT_STACK_CQL_CONTACT_POINTS", default_value = "127.0.0.1:9042")]
    pub contact_points: String,
    /// Datacenter to route to (as the service's `store.local_datacenter`).
    #[arg(long, env = "PETIT_CHAT_STACK_CQL_LOCAL_DATACENTER")]
    pub local_datacenter: Option<String>,
    /// Operations per measured phase.
    #[arg(long, default_value_t = 20_000)]
    pub ops: u64,
    /// Operations per phase in the unreported warm-up round (0: no warm-up).
    #[arg(long, default_value_t = 5_000)]
    pub warmup_ops: u64,
    /// Requests in flight per phase (one task each).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Time limit per phase, in seconds: a phase stops at `--ops` or at this, whichever
    /// comes first (the report says which).
    #[arg(long, default_value_t = 120)]
    pub phase_secs: u64,
    /// Measured rounds; each uses fresh chats, even ones run the baseline first, and the
    /// summary merges them.
    #[arg(long, default_value_t = 4)]
    pub rounds: u32,
    /// Chats (partitions) the inserts of a phase are spread over.
    #[arg(long, default_value_t = 4)]
    pub chats: usize,
    /// Bytes of text per signal.
    #[arg(long, default_value_t = 100)]
    pub text_bytes: usize,
    /// Signals per page read.
    #[arg(long, default_value_t = 50)]
    pub page: usize,
    /// Pid of the Cassandra JVM, to report its CPU time per operation
    /// (`$(cut -d" " -f1 ~/.local/state/petit-chat/stack/run/cassandra-node1.pid)`).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// NATS to claim nonces at (the stack's): adds the phase of sends behind the NATS
    /// nonce fence, as a cluster node makes them. Its bucket is removed at the end.
    #[arg(long, env = "PETIT_CHAT_STACK_NATS_URL")]
    pub nats: Option<String>,
    /// Pid of nats-server, to report its CPU time per operation
    /// (`$(cut -d" " -f1 ~/.local/state/petit-chat/stack/run/nats.pid)`).
    #[arg(long)]
    pub nats_pid: Option<u32>,
    /// Keep the run's keyspace instead of dropping it at the end.
    #[arg(long)]
    pub keep_keyspace: bool,
}

impl Args {
    pub fn contact_points(&self) -> Vec<String> {
        self.contact_points.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
    }

    pub fn phase_limit(&self) -> Duration {
        Duration::from_secs(self.phase_secs)
    }
}
