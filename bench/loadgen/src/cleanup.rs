//! `loadgen cleanup`: what a cluster benchmark leaves in the stack, removed. Its Cassandra
//! keyspace (every table costs Cassandra heap, and leftovers add up) and its NATS streams
//! and KV buckets (`<PREFIX>_…` and `KV_<PREFIX>_…`: a run leaves millions of per-user
//! events on disk otherwise). Only names starting with `bench_` are touched.

use anyhow::{Context, bail};
use futures::TryStreamExt;
use store_cql::{CqlConfig, CqlStore};

use crate::cli::CleanupArgs;

/// The names this tool may remove: a run's own, never a deployment's.
const OWN_PREFIX: &str = "bench_";

fn check_name(what: &str, name: &str) -> anyhow::Result<()> {
    let plain = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !plain || !name.starts_with(OWN_PREFIX) || name.len() == OWN_PREFIX.len() {
        bail!("{what} {name:?}: only `{OWN_PREFIX}…` names (lowercase letters, digits, _) are removed");
    }
    Ok(())
}

pub async fn run(args: &CleanupArgs) -> anyhow::Result<()> {
    if let Some(ks) = &args.keyspace {
        check_name("keyspace", ks)?;
    }
    if let Some(prefix) = &args.nats_prefix {
        check_name("NATS prefix", prefix)?;
    }
    let mut failed = false;
    if let Some(ks) = &args.keyspace {
        let config = CqlConfig {
            contact_points: args.contact_points.clone(),
            keyspace: ks.clone(),
            local_datacenter: args.local_datacenter.clone(),
            connect_wait_secs: 20,
            ..CqlConfig::default()
        };
        match CqlStore::drop_keyspace(&config).await {
            Ok(()) => eprintln!("cleanup: keyspace {ks} dropped"),
            Err(e) => {
                eprintln!("cleanup: keyspace {ks}: {e}");
                failed = true;
            }
        }
    }
    if let Some(prefix) = &args.nats_prefix
        && let Err(e) = delete_streams(&args.nats_url, prefix).await
    {
        eprintln!("cleanup: NATS streams of {prefix}: {e:#}");
        failed = true;
    }
    if failed {
        bail!("cleanup incomplete");
    }
    Ok(())
}

async fn delete_streams(url: &str, prefix: &str) -> anyhow::Result<()> {
    let client = async_nats::connect(url).await.with_context(|| format!("connect to {url}"))?;
    let js = async_nats::jetstream::new(client);
    let upper = prefix.to_ascii_uppercase();
    let (own, kv) = (format!("{upper}_"), format!("KV_{upper}_"));
    let names: Vec<String> = js.stream_names().try_collect().await.context("list streams")?;
    let mut deleted = 0;
    for name in names.iter().filter(|n| n.starts_with(&own) || n.starts_with(&kv)) {
        js.delete_stream(name).await.with_context(|| format!("delete stream {name}"))?;
        deleted += 1;
    }
    eprintln!("cleanup: {deleted} NATS stream(s) of prefix {prefix} deleted");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_benchmark_names_are_removed() {
        assert!(check_name("keyspace", "bench_1a2b").is_ok());
        assert!(check_name("keyspace", "petit_chat").is_err());
        assert!(check_name("keyspace", "bench_").is_err());
        assert!(check_name("keyspace", "bench_x; DROP").is_err());
    }
}
