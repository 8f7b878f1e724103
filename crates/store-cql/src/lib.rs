//! The Store port over CQL with the `scylla` driver (ScyllaDB's official Rust driver), for
//! ScyllaDB and Apache Cassandra alike. Tables follow DESIGN.md's data model: one table
//! per query, time-bucketed signal partitions, lightweight transactions where a rule must
//! hold across nodes (unique usernames, one direct chat per pair, exact reaction counts;
//! idempotent sends too, unless the bus's nonce fence orders them). Every statement is
//! prepared.

mod config;
mod retry;
mod schema;
mod statements;
mod store;
mod timeline;
mod tls;
mod udt;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use domain::{Error, Result};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::response::query_result::QueryResult;
use scylla::value::{CqlValue, Row};

pub use config::{CqlConfig, Replication};
pub use schema::MIGRATIONS;

use statements::Statements;

/// The CQL store. Cheap to clone.
#[derive(Clone)]
pub struct CqlStore {
    session: Arc<Session>,
    st: Arc<Statements>,
    /// `chat_buckets` rows this process wrote: see [`CqlStore::write_bucket_row`].
    buckets: Arc<timeline::WrittenBuckets>,
    /// Where the attempts of a send meet, if the deployment has one: nonces are then
    /// claimed there instead of by lightweight transactions (see
    /// [`CqlStore::with_nonce_fence`]).
    fence: Option<Arc<dyn ports::NonceFence>>,
}

impl std::fmt::Debug for CqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CqlStore").finish_non_exhaustive()
    }
}

impl CqlStore {
    /// Connects (retrying for `config.connect_wait_secs` while the cluster does not answer),
    /// applies pending migrations and prepares every statement.
    pub async fn connect(config: &CqlConfig) -> Result<Self> {
        let session = Arc::new(open_session(config).await?);
        schema::migrate(&session, config).await?;
        session
            .use_keyspace(&config.keyspace, false)
            .await
            .map_err(|e| Error::unavailable(format!("cql: use keyspace: {e}")))?;
        let st = Arc::new(Statements::prepare(&session).await?);
        Ok(Self { session, st, buckets: Arc::default(), fence: None })
    }

    /// This store, claiming send nonces at `fence`, which remembers them for its window
    /// (see [`CqlStore::insert_fenced`]), and writing nothing of them to Cassandra. Without
    /// a fence, a nonce is claimed by a lightweight transaction (a Paxos round that costs
    /// Cassandra about 8 plain writes) and kept a week. Every node of a deployment must do
    /// the same: a fenced and an unfenced attempt of one send do not see each other's claim.
    pub fn with_nonce_fence(self, fence: Arc<dyn ports::NonceFence>) -> Self {
        Self { fence: Some(fence), ..self }
    }

    /// Applies pending migrations and returns the versions applied.
    pub async fn migrate(config: &CqlConfig) -> Result<Vec<i32>> {
        let session = open_session(config).await?;
        schema::migrate(&session, config).await
    }

    /// Drops the configured keyspace and everything in it. For tests and benchmarks, which
    /// make a keyspace each: every table costs the server heap, and leftovers add up.
    pub async fn drop_keyspace(config: &CqlConfig) -> Result<()> {
        let session = open_session(config).await?;
        schema::drop_keyspace(&session, &config.keyspace).await
    }
}

/// A session with the configured consistency, timeouts and token-aware, DC-aware routing
/// (shard-aware on ScyllaDB).
async fn open_session(config: &CqlConfig) -> Result<Session> {
    config.validate()?;
    let mut policy = DefaultPolicy::builder().token_aware(true);
    if let Some(dc) = &config.local_datacenter {
        policy = policy.prefer_datacenter(dc.clone()).permit_dc_failover(false);
    }
    let profile = ExecutionProfile::builder()
        .consistency(config.consistency()?)
        .serial_consistency(Some(config.serial_consistency()?))
        .request_timeout(Some(Duration::from_millis(config.request_timeout_ms)))
        .load_balancing_policy(policy.build())
        .retry_policy(Arc::new(retry::IdempotentTimeoutRetry))
        .build();
    // Only this keyspace's metadata: routing needs its replication, and the driver reads
    // the metadata again after every schema change, so a server beside many others (the
    // test suites make a keyspace per test) would read theirs too.
    let mut builder = SessionBuilder::new()
        .known_nodes(&config.contact_points)
        .keyspaces_to_fetch([config.keyspace.as_str()])
        .connection_timeout(Duration::from_millis(config.connect_timeout_ms))
        .default_execution_profile_handle(profile.into_handle());
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder = builder.user(user, password);
    }
    if config.tls {
        builder = builder.tls_context(Some(tls::client_config(config)?));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(config.connect_wait_secs);
    loop {
        match builder.build().await {
            Ok(session) => return Ok(session),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, points = ?config.contact_points, "cql: cannot connect yet; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => {
                return Err(Error::unavailable(format!("cql: cannot connect to {:?}: {e}", config.contact_points)));
            }
        }
    }
}

/// Driver errors: the cluster (or the network to it) failed; a retry may succeed.
pub(crate) fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("cql: {e}"))
}

/// Rows of a result by column name, untyped (for LWT results, whose columns vary).
pub(crate) fn named_rows(result: QueryResult) -> Result<Vec<HashMap<String, CqlValue>>> {
    let rows = result.into_rows_result().map_err(unavailable)?;
    let names: Vec<String> = rows.column_specs().iter().map(|c| c.name().to_string()).collect();
    let mut out = vec![];
    for row in rows.rows::<Row>().map_err(unavailable)? {
        let row = row.map_err(unavailable)?;
        let map = names.iter().cloned().zip(row.columns).filter_map(|(n, v)| v.map(|v| (n, v))).collect();
        out.push(map);
    }
    Ok(out)
}

/// Whether a lightweight transaction applied, and the current row when it did not.
pub(crate) fn lwt(result: QueryResult) -> Result<(bool, HashMap<String, CqlValue>)> {
    let mut rows = named_rows(result)?;
    let row = if rows.is_empty() { HashMap::new() } else { rows.remove(0) };
    let applied = matches!(row.get("[applied]"), Some(CqlValue::Boolean(true)));
    Ok((applied, row))
}

/// Who holds a claim (`INSERT … IF NOT EXISTS` of a value fresh to this attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// This attempt: the claim applied, or it did not but the row holds this attempt's
    /// value. That is a repeat of a claim that had landed: the driver repeats a claim
    /// whose answer was lost (claims are idempotent statements, see `retry.rs`).
    Ours,
    /// Another attempt, whose value the row holds.
    Theirs(i64),
}

/// The outcome of a claim whose `column` this attempt set to `mine`.
pub(crate) fn claim(result: QueryResult, column: &str, mine: i64) -> Result<Claim> {
    let (applied, row) = lwt(result)?;
    if applied {
        return Ok(Claim::Ours);
    }
    match bigint(&row, column) {
        Some(held) if held == mine => Ok(Claim::Ours),
        Some(held) => Ok(Claim::Theirs(held)),
        None => Err(Error::unavailable(format!("cql: a claim that did not apply returned no {column}"))),
    }
}

/// The partition of a username in `users_by_initial`: its first character.
pub(crate) fn initial(username: &str) -> &str {
    username.chars().next().map_or("", |c| &username[..c.len_utf8()])
}

pub(crate) fn bigint(row: &HashMap<String, CqlValue>, column: &str) -> Option<i64> {
    match row.get(column) {
        Some(CqlValue::BigInt(v)) => Some(*v),
        _ => None,
    }
}
