//! Markdown tables of the phases and of adapter ÷ baseline ratios.

use std::time::Duration;

use crate::harness::PhaseResult;

pub const ADAPTER_INSERT_NONCE: &str = "adapter insert_signal + nonce";
pub const ADAPTER_INSERT_FENCED: &str = "adapter insert_signal + nonce, NATS fence";
pub const ADAPTER_INSERT_PLAIN: &str = "adapter insert_signal, no nonce";
pub const RAW_INSERT: &str = "raw INSERT";
pub const RAW_LWT: &str = "raw INSERT IF NOT EXISTS";
pub const ADAPTER_LATEST: &str = "adapter signals Latest";
pub const ADAPTER_WALK: &str = "adapter signals Before walk";
pub const RAW_LATEST: &str = "raw SELECT latest page";
pub const RAW_WALK: &str = "raw SELECT signal_id < walk";

/// Every phase, in the order tables list them.
pub const PHASES: &[&str] = &[
    ADAPTER_INSERT_NONCE,
    ADAPTER_INSERT_FENCED,
    ADAPTER_INSERT_PLAIN,
    RAW_INSERT,
    RAW_LWT,
    ADAPTER_LATEST,
    ADAPTER_WALK,
    RAW_LATEST,
    RAW_WALK,
];

/// (measured, compared with): the ratios worth reading.
const PAIRS: &[(&str, &str)] = &[
    (ADAPTER_INSERT_NONCE, RAW_INSERT),
    (ADAPTER_INSERT_PLAIN, RAW_INSERT),
    (RAW_LWT, RAW_INSERT),
    (ADAPTER_INSERT_NONCE, ADAPTER_INSERT_PLAIN),
    (ADAPTER_INSERT_FENCED, ADAPTER_INSERT_PLAIN),
    (ADAPTER_INSERT_FENCED, ADAPTER_INSERT_NONCE),
    (ADAPTER_LATEST, RAW_LATEST),
    (ADAPTER_WALK, RAW_WALK),
];

fn per_op_ms(cpu: Option<Duration>, ops: u64) -> String {
    match cpu {
        Some(cpu) if ops > 0 => format!("{:.3}", cpu.as_secs_f64() * 1000.0 / ops as f64),
        _ => "–".into(),
    }
}

/// One row per phase.
pub fn table(title: &str, results: &[PhaseResult]) {
    println!("\n### {title}\n");
    println!(
        "| phase | ok ops | errors | time s | ops/s | p50 ms | p99 ms | max ms | rows/op | server CPU ms/op | NATS CPU ms/op | client CPU ms/op |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in results {
        let ops = r.ok_ops();
        let stop = if r.timed_out { " (time limit)" } else { "" };
        println!(
            "| {}{stop} | {ops} | {} | {:.1} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {} | {} | {} |",
            r.name,
            r.tally.errors,
            r.elapsed.as_secs_f64(),
            r.ops_per_sec(),
            r.ms(0.5),
            r.ms(0.99),
            r.max_ms(),
            r.tally.rows as f64 / ops.max(1) as f64,
            per_op_ms(r.server_cpu, ops),
            per_op_ms(r.nats_cpu, ops),
            per_op_ms(r.client_cpu, ops),
        );
    }
    for r in results.iter().filter(|r| r.tally.errors > 0) {
        println!("\n{}: first error: {}", r.name, r.tally.first_error.as_deref().unwrap_or("?"));
    }
}

/// Throughput and latency of each measured phase relative to its comparison phase.
pub fn ratios(results: &[PhaseResult]) {
    let find = |name: &str| results.iter().find(|r| r.name == name);
    println!("\n### Ratios\n");
    println!("| phase | compared with | ops/s ratio | p50 ratio | p99 ratio |");
    println!("|---|---|--:|--:|--:|");
    for (a, b) in PAIRS {
        let (Some(a), Some(b)) = (find(a), find(b)) else { continue };
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} |",
            a.name,
            b.name,
            a.ops_per_sec() / b.ops_per_sec().max(1e-9),
            a.ms(0.5) / b.ms(0.5).max(1e-9),
            a.ms(0.99) / b.ms(0.99).max(1e-9),
        );
    }
}

/// All rounds as one: each phase's rounds merged.
pub fn merge_rounds(rounds: &[Vec<PhaseResult>]) -> Vec<PhaseResult> {
    let mut merged: Vec<PhaseResult> = vec![];
    for round in rounds {
        for r in round {
            match merged.iter_mut().find(|m| m.name == r.name) {
                Some(m) => m.merge(r),
                None => merged.push(r.clone()),
            }
        }
    }
    merged
}
