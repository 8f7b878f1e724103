//! The baseline: the same driver (`scylla` 1.9) with the same session settings as the
//! adapter (consistency, serial consistency, token-aware routing, timeout), running plain
//! prepared statements on tables of the same shape as `signals` and `signal_nonces`,
//! in the same keyspace. No adapter code runs here.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use domain::{ChatId, Id, SignalId};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::prepared::PreparedStatement;
use store_cql::CqlConfig;

use crate::adapter::check_page;
use crate::fixture::{Fixture, pick};
use crate::harness::{Gate, Tally};

/// The row the adapter reads back for a signal (its `SignalRow`).
type SignalRow = (i64, i64, i64, String, Option<String>, Option<i64>, Option<Vec<i64>>);
const COLUMNS: &str = "chat_id, signal_id, author_id, kind, text, reply_to, subjects";

/// The baseline's session and statements. Cheap to clone.
#[derive(Clone)]
pub struct Raw {
    pub session: Arc<Session>,
    insert: PreparedStatement,
    insert_if_not_exists: PreparedStatement,
    latest: PreparedStatement,
    before: PreparedStatement,
}

impl Raw {
    /// Opens a session configured as the adapter's and creates the baseline tables in the
    /// (already created) keyspace.
    pub async fn setup(config: &CqlConfig) -> anyhow::Result<Self> {
        let mut policy = DefaultPolicy::builder().token_aware(true);
        if let Some(dc) = &config.local_datacenter {
            policy = policy.prefer_datacenter(dc.clone()).permit_dc_failover(false);
        }
        let profile = ExecutionProfile::builder()
            .consistency(config.consistency()?)
            .serial_consistency(Some(config.serial_consistency()?))
            .request_timeout(Some(Duration::from_millis(config.request_timeout_ms)))
            .load_balancing_policy(policy.build())
            .build();
        let session = SessionBuilder::new()
            .known_nodes(&config.contact_points)
            .keyspaces_to_fetch([config.keyspace.as_str()])
            .connection_timeout(Duration::from_millis(config.connect_timeout_ms))
            .default_execution_profile_handle(profile.into_handle())
            .build()
            .await
            .context("raw session")?;
        let ks = &config.keyspace;
        for ddl in [
            format!(
                "CREATE TABLE IF NOT EXISTS {ks}.raw_signals (chat_id bigint, bucket bigint, signal_id bigint, \
                 author_id bigint, kind text, text text, reply_to bigint, subjects list<bigint>, \
                 PRIMARY KEY ((chat_id, bucket), signal_id)) WITH CLUSTERING ORDER BY (signal_id DESC)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {ks}.raw_nonces (chat_id bigint, author_id bigint, nonce text, \
                 signal_id bigint, PRIMARY KEY ((chat_id, author_id, nonce)))"
            ),
        ] {
            // The driver waits for schema agreement after each of these itself.
            session.query_unpaged(ddl.as_str(), &[]).await.with_context(|| ddl.clone())?;
        }
        let prepare = |cql: String, idempotent: bool| {
            let session = &session;
            async move {
                let mut st = session.prepare(cql.clone()).await.with_context(|| cql)?;
                st.set_is_idempotent(idempotent);
                anyhow::Ok(st)
            }
        };
        let insert =
            prepare(format!("INSERT INTO {ks}.raw_signals (bucket, {COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"), true)
                .await?;
        let insert_if_not_exists = prepare(
            format!(
                "INSERT INTO {ks}.raw_nonces (chat_id, author_id, nonce, signal_id) VALUES (?, ?, ?, ?) \
                 IF NOT EXISTS USING TTL 604800"
            ),
            false,
        )
        .await?;
        let latest =
            prepare(format!("SELECT {COLUMNS} FROM {ks}.raw_signals WHERE chat_id = ? AND bucket = ? LIMIT ?"), true)
                .await?;
        let before = prepare(
            format!(
                "SELECT {COLUMNS} FROM {ks}.raw_signals WHERE chat_id = ? AND bucket = ? AND signal_id < ? LIMIT ?"
            ),
            true,
        )
        .await?;
        Ok(Self { session: Arc::new(session), insert, insert_if_not_exists, latest, before })
    }

    async fn page(&self, chat: ChatId, bucket: i64, below: Option<SignalId>, n: usize) -> anyhow::Result<Vec<Id>> {
        let result = match below {
            None => self.session.execute_unpaged(&self.latest, (chat.as_i64(), bucket, n as i32)).await?,
            Some(id) => {
                self.session.execute_unpaged(&self.before, (chat.as_i64(), bucket, id.as_i64(), n as i32)).await?
            }
        };
        let rows = result.into_rows_result()?;
        // Deserialized into the adapter's row type, so the client does the same decoding.
        let mut ids = Vec::with_capacity(n);
        for row in rows.rows::<SignalRow>()? {
            ids.push(Id::from_i64(row?.1));
        }
        Ok(ids)
    }
}

/// One plain prepared INSERT of a signal row per operation.
pub async fn insert(raw: Raw, fx: Arc<Fixture>, chats: Arc<[ChatId]>, gate: Arc<Gate>) -> Tally {
    let mut tally = Tally::new();
    while let Some(i) = gate.claim() {
        let s = fx.signal(pick(&chats, i), i);
        let row = s.body.to_row();
        let (kind, text) = (row.kind.unwrap_or(domain::SignalKind::Msg), row.text);
        let values = (
            s.id.bucket(),
            s.chat_id.as_i64(),
            s.id.as_i64(),
            s.author_id.as_i64(),
            kind.as_str(),
            text,
            None::<i64>,
            None::<Vec<i64>>,
        );
        if tally.time(raw.session.execute_unpaged(&raw.insert, values)).await.is_some() {
            tally.rows += 1;
        }
    }
    tally
}

/// One `INSERT … IF NOT EXISTS` (a lightweight transaction, like the adapter's nonce claim)
/// per operation, with nothing else: the cost of the LWT alone.
pub async fn insert_lwt(raw: Raw, fx: Arc<Fixture>, chats: Arc<[ChatId]>, gate: Arc<Gate>) -> Tally {
    let mut tally = Tally::new();
    while let Some(i) = gate.claim() {
        let chat = pick(&chats, i);
        let values = (chat.as_i64(), fx.author(i).as_i64(), fx.nonce(chat, i), fx.ids.next_id().as_i64());
        let Some(result) = tally.time(raw.session.execute_unpaged(&raw.insert_if_not_exists, values)).await else {
            continue;
        };
        let applied = result.into_rows_result().ok().and_then(|r| r.single_row::<(bool,)>().ok());
        match applied {
            Some((true,)) => tally.rows += 1,
            other => tally.fail(format!("LWT not applied: {other:?}")),
        }
    }
    tally
}

/// The newest `page` rows of one partition per operation, rotating over the chats.
pub async fn read_latest(
    raw: Raw,
    fx: Arc<Fixture>,
    chats: Arc<[ChatId]>,
    bucket: i64,
    want: usize,
    gate: Arc<Gate>,
) -> Tally {
    let mut tally = Tally::new();
    while let Some(i) = gate.claim() {
        if let Some(ids) = tally.time(raw.page(pick(&chats, i), bucket, None, fx.page)).await {
            tally.rows += ids.len() as u64;
            check_page(&mut tally, ids.into_iter(), None, want);
        }
    }
    tally
}

/// The same walk as the adapter's: newest first, `signal_id < last` pages, restart at
/// the end.
pub async fn read_walk(
    raw: Raw,
    fx: Arc<Fixture>,
    chats: Arc<[ChatId]>,
    bucket: i64,
    task: usize,
    gate: Arc<Gate>,
) -> Tally {
    let mut tally = Tally::new();
    let chat = chats[task % chats.len()];
    let mut cursor: Option<SignalId> = None;
    while gate.claim().is_some() {
        let Some(ids) = tally.time(raw.page(chat, bucket, cursor, fx.page)).await else {
            cursor = None;
            continue;
        };
        tally.rows += ids.len() as u64;
        let next = if ids.len() < fx.page { None } else { ids.last().copied() };
        check_page(&mut tally, ids.into_iter(), cursor, usize::MAX);
        cursor = next;
    }
    tally
}
