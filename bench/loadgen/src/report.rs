//! One phase's results: printed as it ends, appended to the results file as a JSON line,
//! and rendered as a Markdown table by `loadgen table`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::setup::SetupMemory;
use crate::sys::CpuUse;

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// Everything measured in one phase.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PhaseResult {
    pub label: String,
    pub streams: usize,
    /// Nodes the streams and posts were spread over (0 in files from before clusters: 1).
    #[serde(default)]
    pub nodes: usize,
    pub group_size: usize,
    /// The phase as given (`open:RATE:SECS` or `closed:POSTERS:SECS`).
    pub phase: String,
    pub offered_rate: Option<f64>,
    pub posters: Option<usize>,
    /// 1-minute load average when the phase started.
    pub load_avg_1m: Option<f64>,
    pub posts_created: u64,
    pub posts_failed: u64,
    /// Open loop: sends due while too many posts were unanswered.
    pub posts_skipped: u64,
    /// Posts with no answer when the drain time was up.
    pub posts_unanswered: u64,
    /// From the phase's start to its last answer.
    pub posting_secs: f64,
    pub msgs_per_s: f64,
    pub deliveries_expected: u64,
    pub deliveries: u64,
    /// From the phase's start to its last delivery.
    pub deliveries_per_s: f64,
    pub lost: u64,
    pub duplicated: u64,
    pub misrouted: u64,
    /// Post sent → `signal.created` parsed by a receiving stream.
    pub delivery: Latency,
    /// Cluster only: the same for streams on another node than the post's...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_cross: Option<Latency>,
    /// ... and for streams on the post's node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_same: Option<Latency>,
    /// Cluster only: expected deliveries to streams on another node than the post's...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliveries_expected_cross: Option<u64>,
    /// ... and how many of them were lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_cross: Option<u64>,
    /// Post sent → its HTTP answer.
    pub answer: Latency,
    /// Open loop: how late the load generator made its sends, against when they were due
    /// (the latencies above start when a send is made, so this is not in them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_late: Option<Latency>,
    /// Since the run began: `resync` events, streams that ended, unknown signals.
    pub resyncs: u64,
    pub streams_ended: u64,
    pub foreign_signals: u64,
    pub cpu: CpuUse,
    /// The servers' resident memory as the stage was set (the same for each phase of a run).
    #[serde(default)]
    pub setup_memory: SetupMemory,
    /// The servers' highest resident memory during the phase and its drain (KiB)...
    #[serde(default)]
    pub rss_peak_kib: Option<u64>,
    /// ... and at its end.
    #[serde(default)]
    pub rss_end_kib: Option<u64>,
    /// Runs of this phase (more than one when other work disturbed the first).
    #[serde(default)]
    pub attempts: u32,
}

impl PhaseResult {
    /// The servers' peak resident memory during the phase above `baseline`, per stream, in KiB.
    fn rss_per_stream_kib(&self, baseline: Option<u64>) -> Option<f64> {
        Some(self.rss_peak_kib?.saturating_sub(baseline?) as f64 / self.streams.max(1) as f64)
    }

    /// The servers' memory: peak during the phase (MiB), and per stream (KiB) above their
    /// start (what the users with their streams cost) and above the moment before the
    /// streams opened (what the streams alone cost).
    fn rss(&self) -> String {
        let Some(peak) = self.rss_peak_kib else { return "?".into() };
        let per_stream = |baseline| self.rss_per_stream_kib(baseline).map_or_else(|| "?".into(), |k| format!("{k:.1}"));
        format!(
            "{:.0} MiB ({} / {} KiB per stream)",
            peak as f64 / 1024.0,
            per_stream(self.setup_memory.rss_at_start_kib),
            per_stream(self.setup_memory.rss_before_streams_kib),
        )
    }

    /// A short human summary.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} [{} streams] {}: {:.1} msgs/s ({} created, {} failed, {} skipped, {} unanswered), \
             {:.0} deliveries/s, delivery p50 {:.1} ms p99 {:.1} ms max {:.1} ms, answer p50 {:.1} ms \
             p99 {:.1} ms, lost {}/{} dup {} misrouted {} resyncs {} ended {}; CPU server {} loadgen {} \
             machine busy {} iowait {} other {}; load {}; server RSS peak {}",
            self.label,
            self.streams,
            self.phase,
            self.msgs_per_s,
            self.posts_created,
            self.posts_failed,
            self.posts_skipped,
            self.posts_unanswered,
            self.deliveries_per_s,
            self.delivery.p50_ms,
            self.delivery.p99_ms,
            self.delivery.max_ms,
            self.answer.p50_ms,
            self.answer.p99_ms,
            self.lost,
            self.deliveries_expected,
            self.duplicated,
            self.misrouted,
            self.resyncs,
            self.streams_ended,
            pct(self.cpu.server_pct),
            pct(self.cpu.loadgen_pct),
            pct(self.cpu.machine_busy_pct),
            pct(self.cpu.machine_iowait_pct),
            pct(self.cpu.other_pct),
            self.load_avg_1m.map_or_else(|| "?".into(), |l| format!("{l:.2}")),
            self.rss(),
        );
        if let Some(late) = self.send_late {
            out.push_str(&format!(
                "; sends made late p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
                late.p50_ms, late.p99_ms, late.max_ms
            ));
        }
        if let (Some(cross), Some(same)) = (self.delivery_cross, self.delivery_same) {
            out.push_str(&format!(
                "; {} nodes: cross-node delivery p50 {:.1} ms p99 {:.1} ms max {:.1} ms, same-node p50 {:.1} ms \
                 p99 {:.1} ms, cross-node lost {}/{}; CPU per node {}",
                self.nodes,
                cross.p50_ms,
                cross.p99_ms,
                cross.max_ms,
                same.p50_ms,
                same.p99_ms,
                self.lost_cross.unwrap_or(0),
                self.deliveries_expected_cross.unwrap_or(0),
                self.cpu.node_pct.iter().map(|&p| pct(p)).collect::<Vec<_>>().join(" + "),
            ));
        }
        for (name, p) in &self.cpu.watched_pct {
            out.push_str(&format!(" {name} {}", pct(*p)));
        }
        out
    }

    /// Appends this result to `path` as one JSON line.
    pub fn append_to(&self, path: &Path) -> anyhow::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        writeln!(file, "{}", serde_json::to_string(self)?)?;
        Ok(())
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "?".into(), |v| format!("{v:.0}%"))
}

/// The results of a file of JSON lines as a Markdown table (the cluster layout when any
/// result is from more than one node).
pub fn table(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let results = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| serde_json::from_str::<PhaseResult>(line).context("bad results line"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if results.iter().any(|r| r.nodes > 1) {
        return Ok(cluster_table(&results));
    }
    let mut out = String::from(
        "| durability | streams | phase | offered msgs/s | achieved msgs/s | deliveries/s \
         | delivery p50 ms | p99 ms | max ms | answer p50 / p99 ms | lost | duplicated \
         | server CPU | loadgen CPU | other CPU | iowait | load | server RSS peak (per stream over start / over 0 streams) |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &results {
        let offered = offered(r);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} / {:.1} | {}/{} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.label,
            r.streams,
            r.phase,
            offered,
            r.msgs_per_s,
            r.deliveries_per_s,
            r.delivery.p50_ms,
            r.delivery.p99_ms,
            r.delivery.max_ms,
            r.answer.p50_ms,
            r.answer.p99_ms,
            r.lost,
            r.deliveries_expected,
            r.duplicated,
            pct(r.cpu.server_pct),
            pct(r.cpu.loadgen_pct),
            pct(r.cpu.other_pct),
            pct(r.cpu.machine_iowait_pct),
            r.load_avg_1m.map_or_else(|| "?".into(), |l| format!("{l:.2}")),
            r.rss(),
        ));
    }
    Ok(out)
}

fn offered(r: &PhaseResult) -> String {
    match (r.offered_rate, r.posters) {
        (Some(rate), _) => format!("{rate:.0}"),
        (None, Some(p)) => format!("max ({p} posters)"),
        _ => "?".into(),
    }
}

/// Results of a cluster run: overall and cross-node latency, CPU per node and of the
/// watched processes (Cassandra, NATS).
fn cluster_table(results: &[PhaseResult]) -> String {
    let watched: Vec<&String> = {
        let mut names: Vec<&String> = results.iter().flat_map(|r| r.cpu.watched_pct.keys()).collect();
        names.sort();
        names.dedup();
        names
    };
    let mut out = String::from(
        "| nodes | streams | phase | offered msgs/s | achieved msgs/s | deliveries/s | delivery p50 ms | p99 ms \
         | max ms | cross-node p50 / p99 ms | same-node p50 / p99 ms | answer p50 / p99 ms | lost (cross-node) \
         | duplicated / misrouted | node CPU |",
    );
    for name in &watched {
        out.push_str(&format!(" {name} CPU |"));
    }
    out.push_str(" loadgen CPU | other CPU | load |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    out.push_str(&"---:|".repeat(watched.len() + 3));
    out.push('\n');
    let lat = |l: Option<Latency>| l.map_or_else(|| "–".into(), |l| format!("{:.1} / {:.1}", l.p50_ms, l.p99_ms));
    for r in results {
        let nodes_cpu = if r.cpu.node_pct.is_empty() {
            pct(r.cpu.server_pct)
        } else {
            r.cpu.node_pct.iter().map(|&p| pct(p)).collect::<Vec<_>>().join(" + ")
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} | {:.1} / {:.1} | {}/{} ({}/{}) | {} / {} | {} |",
            r.nodes.max(1),
            r.streams,
            r.phase,
            offered(r),
            r.msgs_per_s,
            r.deliveries_per_s,
            r.delivery.p50_ms,
            r.delivery.p99_ms,
            r.delivery.max_ms,
            lat(r.delivery_cross),
            lat(r.delivery_same),
            r.answer.p50_ms,
            r.answer.p99_ms,
            r.lost,
            r.deliveries_expected,
            r.lost_cross.unwrap_or(0),
            r.deliveries_expected_cross.unwrap_or(0),
            r.duplicated,
            r.misrouted,
            nodes_cpu,
        ));
        for name in &watched {
            out.push_str(&format!(" {} |", pct(r.cpu.watched_pct.get(*name).copied().flatten())));
        }
        out.push_str(&format!(
            " {} | {} | {} |\n",
            pct(r.cpu.loadgen_pct),
            pct(r.cpu.other_pct),
            r.load_avg_1m.map_or_else(|| "?".into(), |l| format!("{l:.2}")),
        ));
    }
    out
}
