//! The Store conformance suite and the migration rules against a real CQL server: the
//! Cassandra node `scripts/stack up cassandra` runs (contact points from
//! `PETIT_CHAT_STACK_CQL_CONTACT_POINTS`, default 127.0.0.1:9042). Without it these tests
//! fail; they never pass silently.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

use std::sync::Arc;

use store_cql::{CqlConfig, CqlStore, MIGRATIONS};

fn config(keyspace: &str) -> CqlConfig {
    let points = std::env::var("PETIT_CHAT_STACK_CQL_CONTACT_POINTS").unwrap_or_else(|_| "127.0.0.1:9042".into());
    CqlConfig {
        contact_points: points.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect(),
        keyspace: keyspace.into(),
        local_datacenter: std::env::var("PETIT_CHAT_STACK_CQL_LOCAL_DATACENTER").ok(),
        connect_wait_secs: 20,
        ..CqlConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cql_store_passes_the_store_conformance_suite_on_cassandra() {
    let store = CqlStore::connect(&config("petit_chat_conformance")).await.expect("the stack's Cassandra must answer");
    store_conformance::run_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_recorded_and_safe_to_run_again_and_concurrently() {
    let keyspace = format!("petit_chat_migrate_{:x}", rand_suffix());
    let cfg = config(&keyspace);
    // Two nodes migrating at once: one applies, the other waits for the lease and finds
    // nothing left to do.
    let (a, b) = tokio::join!(CqlStore::migrate(&cfg), CqlStore::migrate(&cfg));
    let (mut a, mut b) = (a.unwrap(), b.unwrap());
    a.append(&mut b);
    assert_eq!(a, MIGRATIONS.iter().map(|m| m.0).collect::<Vec<_>>());
    assert_eq!(CqlStore::migrate(&cfg).await.unwrap(), Vec::<i32>::new());
    // The schema works after it.
    let store = CqlStore::connect(&cfg).await.unwrap();
    ports::Store::ping(&store).await.unwrap();
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
}
