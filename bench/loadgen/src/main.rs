//! Load generator for Petit chat (see `bench/README.md`).
//!
//! `loadgen run` logs users in on a running server (dev login, loopback only), puts them
//! in groups, opens one live stream per user, then runs posting phases: a fixed offered
//! rate (open loop) or a fixed number of posters (closed loop). For each phase it reports
//! messages posted per second, deliveries per second, the post → delivery latency
//! percentiles, deliveries lost or duplicated, and the server's resident memory. Given several nodes of a cluster
//! (`--base` more than once), it spreads the streams and the posts over them and reports
//! cross-node deliveries apart. `loadgen table` renders the results; `loadgen cleanup`
//! removes a cluster run's keyspace and NATS streams.

mod api;
mod cleanup;
mod cli;
mod drive;
mod hooks;
mod report;
mod setup;
mod sse;
mod stream;
mod sys;
mod tally;
mod timeline;
mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;

use crate::api::Api;
use crate::cli::{Cli, Command, Phase, RunArgs};
use crate::drive::Posting;
use crate::report::{Latency, PhaseResult};
use crate::setup::SetupMemory;
use crate::sys::Sample;
use crate::tally::Tally;
use crate::timeline::Timeline;
use crate::verify::Reactions;

/// Quiet time between phases, so one phase's tail does not land in the next.
const BETWEEN_PHASES: Duration = Duration::from_secs(3);
/// Wait before re-running a phase that other work disturbed.
const BEFORE_RETRY: Duration = Duration::from_secs(30);
/// How often the servers' resident memory is read during a phase (for its peak).
const RSS_EVERY: Duration = Duration::from_millis(250);

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Table { file } => {
            print!("{}", report::table(&file)?);
            Ok(())
        }
        Command::Cleanup(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(cleanup::run(&args))
        }
        Command::Run(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(async {
                let deadline = args.deadline;
                tokio::time::timeout(deadline, run(args))
                    .await
                    .with_context(|| format!("the run took longer than {deadline:?}"))?
            })
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    if !(2..=64).contains(&args.group_size) || !args.streams.is_multiple_of(args.group_size) {
        bail!("the group size is 2 to 64 and divides the number of streams");
    }
    if args.bases.is_empty() || args.bases.len() > 255 {
        bail!("one to 255 --base");
    }
    let apis = args.bases.iter().map(|b| Api::new(b, args.stream_sources)).collect::<anyhow::Result<Vec<_>>>()?;
    let tally = Arc::new(Tally::new(args.group_size, apis.len()));
    let pushes = args.deliver == cli::Deliver::Webhook;
    let hooks = if pushes { Some(hooks::start(tally.clone()).await?) } else { None };
    let retry = (!args.retry.is_zero()).then_some(args.retry);
    if args.reactors >= args.group_size {
        bail!("--reactors is less than the group size");
    }
    let timeline = Arc::new(Timeline::default());
    let resume = retry.map(|_| &timeline);
    let stage = setup::build(&apis, &args, &tally, hooks.as_deref(), resume).await?;
    let setup_memory = stage.memory;
    let run_tag = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| format!("lg{}", d.as_millis()))
        .unwrap_or_else(|_| "lg".into());
    let posting = Arc::new(Posting {
        apis,
        groups: stage.groups,
        tally,
        text_bytes: args.text_bytes,
        run_tag,
        pushes,
        retry,
        reactors: args.reactors,
        reactions: Arc::new(Reactions::default()),
        timeline: timeline.clone(),
    });
    // The timeline is also written every few seconds, so a run cut short leaves it.
    let flusher = args.timeline.clone().map(|path| {
        let timeline = timeline.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                if let Err(e) = timeline.write(&path) {
                    eprintln!("writing {}: {e}", path.display());
                }
            }
        })
    });
    let (mut lost, mut duplicated) = (0, 0);
    for (i, phase) in args.phases.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(BETWEEN_PHASES).await;
        }
        let mut attempts = 0;
        let result = loop {
            attempts += 1;
            let mut result = run_phase(&posting, &args, *phase, setup_memory).await;
            result.attempts = attempts;
            println!("{}", result.summary());
            let other = result.cpu.other_pct.unwrap_or(0.0);
            if other <= args.max_other_cpu || attempts > args.retries {
                break result;
            }
            eprintln!("{phase}: other processes used {other:.0}% of the machine; again in {BEFORE_RETRY:?}");
            tokio::time::sleep(BEFORE_RETRY).await;
        };
        lost += result.lost;
        duplicated += result.duplicated + result.misrouted;
        if let Some(path) = &args.results {
            result.append_to(path)?;
        }
    }
    stage.readers.iter().for_each(|r| r.abort());
    flusher.iter().for_each(|f| f.abort());
    if let Some(path) = &args.timeline {
        timeline.write(path).with_context(|| format!("writing {}", path.display()))?;
    }
    let refusals = timeline.refusals();
    if !refusals.is_empty() {
        println!("refused attempts: {}", serde_json::to_string(&refusals)?);
    }
    if args.verify {
        let mut verdict = verify::check(&posting.apis, &posting.groups, &posting.tally, &posting.reactions).await?;
        verdict.deliveries_lost = lost;
        verdict.deliveries_duplicated = duplicated;
        println!("verify: {}", serde_json::to_string(&verdict)?);
        if !verdict.holds() {
            bail!("the histories do not hold what was acknowledged");
        }
    }
    Ok(())
}

async fn run_phase(posting: &Arc<Posting>, args: &RunArgs, phase: Phase, setup_memory: SetupMemory) -> PhaseResult {
    let tally = &posting.tally;
    let load_avg_1m = sys::load_average();
    let before = Sample::take(&args.server_pids, &args.watch_pids);
    let rss_peak = Arc::new(AtomicU64::new(0));
    let rss_sampler = {
        let (pids, peak) = (args.server_pids.clone(), rss_peak.clone());
        tokio::spawn(async move {
            loop {
                if let Some(kib) = sys::rss_kib(&pids) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(RSS_EVERY).await;
            }
        })
    };
    let id = tally.begin_phase();
    let sent = match phase {
        Phase::Open { rate, .. } => drive::open_loop(posting, id, rate, phase.duration(), args).await,
        Phase::Closed { posters, .. } => {
            drive::closed_loop(posting, id, posters, phase.duration(), args.max_posts, args.drain).await
        }
    };
    if !sent.all_answered {
        eprintln!("{phase}: some posts were still unanswered after the drain time");
    }
    drive::await_deliveries(tally, id, args.drain).await;
    let cpu = before.until(&Sample::take(&args.server_pids, &args.watch_pids));
    rss_sampler.abort();
    let rss_end_kib = sys::rss_kib(&args.server_pids);
    let rss_peak_kib = Some(rss_peak.load(Ordering::Relaxed).max(rss_end_kib.unwrap_or(0))).filter(|&kib| kib > 0);
    let counts = tally.post_counts(id);
    let (foreign_signals, resyncs, streams_ended) = tally.stream_trouble();
    let nodes = args.bases.len();
    tally.with_phase(id, |p| {
        let secs_to = |t: Option<std::time::Instant>| t.map_or(0.0, |t| t.duration_since(p.started).as_secs_f64());
        let posting_secs = secs_to(p.last_answer);
        let delivering_secs = secs_to(p.last_delivery);
        let per_sec = |n: u64, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        PhaseResult {
            label: args.label.clone(),
            streams: args.streams,
            nodes,
            group_size: args.group_size,
            phase: phase.to_string(),
            offered_rate: match phase {
                Phase::Open { rate, .. } => Some(rate),
                Phase::Closed { .. } => None,
            },
            posters: match phase {
                Phase::Open { .. } => None,
                Phase::Closed { posters, .. } => Some(posters),
            },
            load_avg_1m,
            posts_created: counts.created,
            posts_failed: counts.failed,
            posts_skipped: sent.skipped,
            posts_unanswered: counts.in_flight,
            posting_secs,
            msgs_per_s: per_sec(counts.created, posting_secs),
            deliveries_expected: counts.expected,
            deliveries: p.deliveries,
            deliveries_per_s: per_sec(p.deliveries, delivering_secs),
            lost: counts.lost,
            duplicated: p.duplicates,
            misrouted: p.misrouted,
            delivery: Latency::of(&p.delivery),
            delivery_cross: (nodes > 1).then(|| Latency::of(&p.delivery_cross)),
            delivery_same: (nodes > 1).then(|| Latency::of(&p.delivery_same)),
            deliveries_expected_cross: (nodes > 1).then_some(counts.expected_cross),
            lost_cross: (nodes > 1).then_some(counts.lost_cross),
            answer: Latency::of(&p.answer),
            send_late: matches!(phase, Phase::Open { .. }).then(|| Latency::of(&p.late)),
            resyncs,
            streams_ended,
            foreign_signals,
            cpu,
            setup_memory,
            rss_peak_kib,
            rss_end_kib,
            attempts: 1,
        }
    })
}
