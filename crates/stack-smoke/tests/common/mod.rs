//! Shared helpers: endpoints come from the variables `scripts/stack env` prints, with the
//! stack's own defaults, so `cargo test` works with or without `eval "$(scripts/stack env)"`.
//! A service that does not answer makes its test FAIL: these tests never skip.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `PETIT_CHAT_STACK_<name>` or the default the stack uses.
pub fn env(name: &str, default: &str) -> String {
    std::env::var(format!("PETIT_CHAT_STACK_{name}")).unwrap_or_else(|_| default.to_owned())
}

/// A name no earlier run used, so reruns against a long-lived stack never collide.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000_000)
}

/// Fails the test (with `what`) instead of hanging when a service accepts but never answers.
pub async fn within<T>(what: &str, secs: u64, fut: impl Future<Output = anyhow::Result<T>>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            panic!("{what}: {e:#}\n(is the stack up? scripts/stack up && scripts/stack status)")
        }
        Err(_) => {
            panic!("{what}: no answer within {secs}s (is the stack up? scripts/stack status)")
        }
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).no_proxy().build().expect("reqwest client")
}
