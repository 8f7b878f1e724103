//! `storebench`: signal insert and page-read throughput and latency of the CQL Store
//! adapter (`CqlStore`, called only through the `ports::Store` trait), against a raw
//! baseline of plain prepared statements run by the same driver with the same session
//! settings, on the same node, in the same run. See `bench/STORE.md`.
//!
//! A run creates a fresh keyspace (the adapter's migrations plus two baseline tables),
//! runs an unreported warm-up round, then `--rounds` measured rounds of eight phases (nine
//! with `--nats`), each bounded by `--ops` and `--phase-secs` with `--concurrency`
//! requests in flight: adapter inserts with a nonce (claimed by LWT, and with `--nats`
//! behind the NATS nonce fence) and without one, raw inserts, raw lightweight transactions,
//! then adapter and raw page reads (the latest page, and walks down the timeline); even
//! rounds run the baseline first. Adapter sends that fail are sent again with the same
//! nonce, as a client retries, and what that finds is printed. It prints Markdown tables
//! and drops the keyspace.

mod adapter;
mod cli;
mod cpu;
mod fixture;
mod harness;
mod raw;
mod report;
mod round;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bus_nats::{NatsBus, NatsConfig};
use clap::Parser;
use store_cql::{CqlConfig, CqlStore};

use crate::cli::Args;
use crate::fixture::Fixture;
use crate::harness::Bounds;
use crate::raw::Raw;
use crate::report::{merge_rounds, ratios, table};
use crate::round::{Stores, round};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64;
    let config = CqlConfig {
        contact_points: args.contact_points(),
        keyspace: format!("storebench_{nanos:x}"),
        local_datacenter: args.local_datacenter.clone(),
        connect_wait_secs: 20,
        ..CqlConfig::default()
    };
    let store = CqlStore::connect(&config).await.context("CqlStore::connect")?;
    let nats = args.nats.as_ref().map(|url| NatsConfig {
        servers: vec![url.clone()],
        prefix: format!("storebench_{nanos:x}"),
        ..NatsConfig::default()
    });
    let fenced = match &nats {
        Some(nats) => {
            let bus = NatsBus::connect(nats).await.context("NatsBus::connect")?;
            Some(store.clone().with_nonce_fence(Arc::new(bus)))
        }
        None => None,
    };
    let stores = Stores { lwt: store, fenced };
    let raw = Raw::setup(&config).await?;
    println!("keyspace {} on {} ({})", config.keyspace, args.contact_points, server_info(&raw).await);
    println!(
        "ops/phase {}, concurrency {}, chats/phase {}, text {} B, page {}, phase limit {} s, client tokio workers {}",
        args.ops,
        args.concurrency,
        args.chats,
        args.text_bytes,
        args.page,
        args.phase_secs,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let fx = Arc::new(Fixture::new(args.text_bytes, args.chats, args.page, nanos));
    let bounds = |ops| Bounds {
        ops,
        concurrency: args.concurrency,
        limit: args.phase_limit(),
        server_pid: args.server_pid,
        nats_pid: args.nats_pid,
    };

    if args.warmup_ops > 0 {
        println!("warm-up round ({} ops/phase), load average {}", args.warmup_ops, cpu::load_average());
        let warm = round(&stores, &raw, &fx, &bounds(args.warmup_ops), false).await;
        let errors: u64 = warm.iter().map(|r| r.tally.errors).sum();
        println!("warm-up done, {errors} errors");
    }
    let mut rounds = vec![];
    for n in 1..=args.rounds {
        let load = cpu::load_average();
        // Even rounds run the baseline's phases first.
        let raw_first = n % 2 == 0;
        let results = round(&stores, &raw, &fx, &bounds(args.ops), raw_first).await;
        let order = if raw_first { "raw first" } else { "adapter first" };
        table(&format!("Round {n}, {order} (load average before: {load})"), &results);
        rounds.push(results);
    }
    let all = merge_rounds(&rounds);
    if args.rounds > 1 {
        table(&format!("All {} rounds merged", args.rounds), &all);
    }
    ratios(&all);
    println!("\nload average after: {}", cpu::load_average());

    if !args.keep_keyspace {
        let drop = format!("DROP KEYSPACE IF EXISTS {}", config.keyspace);
        raw.session.query_unpaged(drop.as_str(), &[]).await.context("drop keyspace")?;
    }
    if let Some(nats) = &nats {
        NatsBus::delete_streams(nats).await.context("delete the run's NATS streams")?;
    }
    Ok(())
}

/// The server's version and Paxos implementation, as it reports them.
async fn server_info(raw: &Raw) -> String {
    let one = |cql: &'static str| async move {
        let result = raw.session.query_unpaged(cql, &[]).await.ok()?;
        result.into_rows_result().ok()?.first_row::<(Option<String>,)>().ok()?.0
    };
    let version = one("SELECT release_version FROM system.local").await;
    let paxos = one("SELECT value FROM system_views.settings WHERE name = 'paxos_variant'").await;
    format!("release_version {}, paxos_variant {}", version.as_deref().unwrap_or("?"), paxos.as_deref().unwrap_or("?"))
}
