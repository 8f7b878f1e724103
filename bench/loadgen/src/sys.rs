//! Linux process and machine counters from `/proc`, sampled around each phase: the CPU
//! time of the server and of this process, the machine's busy and I/O-wait shares, the
//! load average, and the server's resident memory.

use std::collections::BTreeMap;
use std::time::Instant;

/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`; 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// A reading of the counters.
#[derive(Debug, Clone)]
pub struct Sample {
    at: Instant,
    /// One per server process (node).
    server_ticks: Vec<Option<u64>>,
    /// Other processes of the system under test, by name.
    watched_ticks: Vec<(String, Option<u64>)>,
    own_ticks: Option<u64>,
    /// (all ticks, idle ticks, iowait ticks) of the whole machine.
    machine: Option<(u64, u64, u64)>,
}

/// CPU use between two samples, in percent of one core (so up to 100 × cores).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CpuUse {
    /// All server processes together.
    pub server_pct: Option<f64>,
    /// Each server process (node), when there is more than one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_pct: Vec<Option<f64>>,
    /// The watched processes (`--watch-pid`), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub watched_pct: BTreeMap<String, Option<f64>>,
    pub loadgen_pct: Option<f64>,
    /// Share of all cores' time that was busy, in percent.
    pub machine_busy_pct: Option<f64>,
    /// Share of all cores' time spent idle waiting for I/O, in percent.
    pub machine_iowait_pct: Option<f64>,
    /// Share of all cores' time used by processes other than the server(s), the watched
    /// processes and this one, in percent: high means the numbers are disturbed by other
    /// work.
    #[serde(default)]
    pub other_pct: Option<f64>,
}

impl Sample {
    pub fn take(server_pids: &[u32], watched: &[(String, u32)]) -> Self {
        let ticks = |pid: u32| process_ticks(&format!("/proc/{pid}/stat"));
        Self {
            at: Instant::now(),
            server_ticks: server_pids.iter().map(|&pid| ticks(pid)).collect(),
            watched_ticks: watched.iter().map(|(name, pid)| (name.clone(), ticks(*pid))).collect(),
            own_ticks: process_ticks("/proc/self/stat"),
            machine: machine_ticks(),
        }
    }

    /// CPU use from `self` to `later`.
    pub fn until(&self, later: &Sample) -> CpuUse {
        let secs = later.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let pct = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?) as f64 / TICKS_PER_SEC / secs * 100.0);
        let (busy, iowait) = match (self.machine, later.machine) {
            (Some((t0, i0, w0)), Some((t1, i1, w1))) if t1 > t0 => {
                let total = (t1 - t0) as f64;
                let idle = i1.saturating_sub(i0) as f64;
                let wait = w1.saturating_sub(w0) as f64;
                (Some((total - idle - wait) / total * 100.0), Some(wait / total * 100.0))
            }
            _ => (None, None),
        };
        let nodes: Vec<Option<f64>> =
            self.server_ticks.iter().zip(&later.server_ticks).map(|(&a, &b)| pct(a, b)).collect();
        // The servers together: unknown if there is none or one could not be read.
        let server_pct = if nodes.is_empty() { None } else { nodes.iter().copied().sum::<Option<f64>>() };
        let watched_pct: BTreeMap<String, Option<f64>> = self
            .watched_ticks
            .iter()
            .zip(&later.watched_ticks)
            .map(|((name, a), (_, b))| (name.clone(), pct(*a, *b)))
            .collect();
        let watched_sum: f64 = watched_pct.values().flatten().sum();
        let loadgen_pct = pct(self.own_ticks, later.own_ticks);
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        let other_pct = match (busy, server_pct, loadgen_pct) {
            (Some(busy), Some(server), Some(own)) => Some((busy - (server + own + watched_sum) / cores).max(0.0)),
            _ => None,
        };
        CpuUse {
            server_pct,
            node_pct: if nodes.len() > 1 { nodes } else { vec![] },
            watched_pct,
            loadgen_pct,
            machine_busy_pct: busy,
            machine_iowait_pct: iowait,
            other_pct,
        }
    }
}

/// utime + stime of a process, from its `stat` file.
fn process_ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces; the fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15 (1-based).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// (all, idle, iowait) ticks of the machine, from the `cpu` line of `/proc/stat`.
fn machine_ticks() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = v.iter().take(8).sum();
    Some((total, *v.get(3)?, *v.get(4)?))
}

/// The resident memory (`VmRSS`) of the processes, added up, in KiB; `None` if one
/// cannot be read.
pub fn rss_kib(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_time_and_the_load_average_can_be_read() {
        assert!(process_ticks("/proc/self/stat").is_some());
        assert!(machine_ticks().is_some());
        assert!(load_average().is_some());
        assert!(rss_kib(&[std::process::id()]).is_some_and(|kib| kib > 0));
        assert_eq!(rss_kib(&[]), None);
    }
}
