//! CPU time of a process from `/proc/<pid>/stat` (Linux), to see where an operation's
//! cost is spent: in this client or in the server.

use std::time::Duration;

/// `USER_HZ`: the unit of `utime`/`stime`; 100 on every Linux architecture Rust targets.
const TICKS_PER_SEC: u64 = 100;

/// User + system CPU time used so far by `pid` (`None`: this process), or `None` when
/// `/proc` cannot tell.
pub fn used(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (`state`);
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / TICKS_PER_SEC))
}

/// CPU time of the client and (optionally) the database and NATS at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    client: Option<Duration>,
    server: Option<Duration>,
    nats: Option<Duration>,
}

impl Sample {
    pub fn now(server_pid: Option<u32>, nats_pid: Option<u32>) -> Self {
        Self {
            client: used(None),
            server: server_pid.and_then(|p| used(Some(p))),
            nats: nats_pid.and_then(|p| used(Some(p))),
        }
    }

    /// (client, database, NATS) CPU time spent since `earlier`.
    pub fn since(&self, earlier: &Sample) -> (Option<Duration>, Option<Duration>, Option<Duration>) {
        let d = |a: Option<Duration>, b: Option<Duration>| Some(a?.saturating_sub(b?));
        (d(self.client, earlier.client), d(self.server, earlier.server), d(self.nats, earlier.nats))
    }
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
