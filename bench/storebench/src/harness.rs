//! The closed-loop phase runner: `concurrency` tasks each take the next operation number
//! from a shared gate until the phase's operation count or time limit is reached, and time
//! every operation into their own histogram; the histograms are merged at the end.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::cpu;

/// Microseconds; 3 significant figures up to 10 minutes.
const MAX_US: u64 = 600_000_000;

/// Hands out operation numbers until the count or the deadline is reached.
#[derive(Debug)]
pub struct Gate {
    next: AtomicU64,
    ops: u64,
    deadline: Instant,
    timed_out: AtomicBool,
}

impl Gate {
    fn new(ops: u64, limit: Duration) -> Self {
        Self { next: AtomicU64::new(0), ops, deadline: Instant::now() + limit, timed_out: AtomicBool::new(false) }
    }

    /// The next operation's number, or `None` when the phase is over.
    pub fn claim(&self) -> Option<u64> {
        if Instant::now() >= self.deadline {
            self.timed_out.store(true, Ordering::Relaxed);
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.ops).then_some(i)
    }
}

/// One task's (or, merged, one phase's) latencies and counts.
#[derive(Debug, Clone)]
pub struct Tally {
    pub hist: Histogram<u64>,
    pub errors: u64,
    /// Rows returned (reads) or written (inserts).
    pub rows: u64,
    pub first_error: Option<String>,
}

impl Tally {
    pub fn new() -> Self {
        // Bounds are constants known to be valid.
        let hist = Histogram::new_with_bounds(1, MAX_US, 3).unwrap_or_else(|_| unreachable!());
        Self { hist, errors: 0, rows: 0, first_error: None }
    }

    /// Runs and times one operation; failures are counted, not timed.
    pub async fn time<T, E: Display>(&mut self, op: impl Future<Output = Result<T, E>>) -> Option<T> {
        let start = Instant::now();
        let result = op.await;
        let us = start.elapsed().as_micros().min(u128::from(MAX_US)) as u64;
        match result {
            Ok(v) => {
                self.hist.saturating_record(us.max(1));
                Some(v)
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| e.to_string());
                None
            }
        }
    }

    /// Counts a failure that happened after the request (a wrong answer).
    pub fn fail(&mut self, why: String) {
        self.errors += 1;
        self.first_error.get_or_insert(why);
    }

    pub fn merge(&mut self, other: &Tally) {
        // Same bounds on both sides: `add` cannot fail.
        let _ = self.hist.add(&other.hist);
        self.errors += other.errors;
        self.rows += other.rows;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

/// What a phase measured.
#[derive(Debug, Clone)]
pub struct PhaseResult {
    pub name: &'static str,
    pub tally: Tally,
    pub elapsed: Duration,
    /// The time limit ended the phase before its operation count.
    pub timed_out: bool,
    pub client_cpu: Option<Duration>,
    pub server_cpu: Option<Duration>,
    pub nats_cpu: Option<Duration>,
}

impl PhaseResult {
    pub fn ok_ops(&self) -> u64 {
        self.tally.hist.len()
    }

    pub fn ops_per_sec(&self) -> f64 {
        self.ok_ops() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A quantile in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.tally.hist.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.tally.hist.max() as f64 / 1000.0
    }

    /// Several rounds of one phase as one: merged latencies, summed time and CPU.
    pub fn merge(&mut self, other: &PhaseResult) {
        self.tally.merge(&other.tally);
        self.elapsed += other.elapsed;
        self.timed_out |= other.timed_out;
        let add = |a: Option<Duration>, b: Option<Duration>| Some(a? + b?);
        self.client_cpu = add(self.client_cpu, other.client_cpu);
        self.server_cpu = add(self.server_cpu, other.server_cpu);
        self.nats_cpu = add(self.nats_cpu, other.nats_cpu);
    }
}

/// How every phase is bounded.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub ops: u64,
    pub concurrency: usize,
    pub limit: Duration,
    pub server_pid: Option<u32>,
    pub nats_pid: Option<u32>,
}

/// Runs `worker(task_number, gate)` on `concurrency` tasks and merges what they measured.
pub async fn run_phase<W, Fut>(name: &'static str, bounds: &Bounds, worker: W) -> PhaseResult
where
    W: Fn(usize, Arc<Gate>) -> Fut,
    Fut: Future<Output = Tally> + Send + 'static,
{
    let gate = Arc::new(Gate::new(bounds.ops, bounds.limit));
    let cpu_before = cpu::Sample::now(bounds.server_pid, bounds.nats_pid);
    let start = Instant::now();
    let tasks: Vec<_> = (0..bounds.concurrency).map(|w| tokio::spawn(worker(w, gate.clone()))).collect();
    let mut tally = Tally::new();
    for task in tasks {
        match task.await {
            Ok(t) => tally.merge(&t),
            Err(e) => tally.fail(format!("task failed: {e}")),
        }
    }
    let elapsed = start.elapsed();
    let (client_cpu, server_cpu, nats_cpu) = cpu::Sample::now(bounds.server_pid, bounds.nats_pid).since(&cpu_before);
    let timed_out = gate.timed_out.load(Ordering::Relaxed) && gate.next.load(Ordering::Relaxed) < bounds.ops;
    PhaseResult { name, tally, elapsed, timed_out, client_cpu, server_cpu, nats_cpu }
}
