//! Keyspace creation and numbered migrations. Migrations run under a lease taken with a
//! lightweight transaction, are recorded in `schema_migrations`, wait for schema agreement
//! after each change, and are idempotent: running `migrate` again, or from two nodes at
//! once, is safe.
//!
//! ScyllaDB: recent releases create keyspaces with tablets, and lightweight transactions
//! are not supported there in some of them; Petit chat needs them, so on
//! ScyllaDB the keyspace is created with `tablets = {'enabled': false}`. Cassandra has no
//! such option, so the server is detected first (`system.scylla_local` exists only on ScyllaDB).

use std::time::Duration;

use domain::{Error, Result};
use futures::TryStreamExt;
use scylla::client::session::Session;

use crate::config::CqlConfig;
use crate::{initial, lwt, unavailable};

/// (version, name, CQL), in order. Never edit a shipped migration; add a new one.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.cql")),
    (2, "event_tickets", include_str!("../migrations/0002_event_tickets.cql")),
    (3, "blind_watermarks", include_str!("../migrations/0003_blind_watermarks.cql")),
    (4, "user_statuses", include_str!("../migrations/0004_user_statuses.cql")),
    (5, "chat_activity", include_str!("../migrations/0005_chat_activity.cql")),
    (6, "group_nonces", include_str!("../migrations/0006_group_nonces.cql")),
    (7, "attachments", include_str!("../migrations/0007_attachments.cql")),
    (8, "thumbnails", include_str!("../migrations/0008_thumbnails.cql")),
    (9, "blob_collector", include_str!("../migrations/0009_blob_collector.cql")),
    (10, "notifications", include_str!("../migrations/0010_notifications.cql")),
    (11, "mentions", include_str!("../migrations/0011_mentions.cql")),
    (12, "signal_changes", include_str!("../migrations/0012_signal_changes.cql")),
    (13, "calls", include_str!("../migrations/0013_calls.cql")),
    (14, "status_clears", include_str!("../migrations/0014_status_clears.cql")),
    (15, "users_by_initial", include_str!("../migrations/0015_users_by_initial.cql")),
    (16, "reactions_by_bucket", include_str!("../migrations/0016_reactions_by_bucket.cql")),
    (17, "member_push_hint", include_str!("../migrations/0017_member_push_hint.cql")),
];

const LEASE_SECS: i32 = 120;

/// Creates the keyspace if needed and applies the pending migrations; returns their versions.
pub async fn migrate(session: &Session, config: &CqlConfig) -> Result<Vec<i32>> {
    let ks = &config.keyspace;
    let scylla = is_scylla(session).await;
    let tablets = if scylla { " AND tablets = {'enabled': false}" } else { "" };
    let replication = config.replication_cql()?;
    ddl(session, &format!("CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {replication}{tablets}")).await?;
    ddl(session, &format!("CREATE TABLE IF NOT EXISTS {ks}.schema_migrations (version int PRIMARY KEY, name text, applied_at timestamp)")).await?;
    ddl(session, &format!("CREATE TABLE IF NOT EXISTS {ks}.schema_lease (id int PRIMARY KEY, holder text)")).await?;

    let holder = format!("{:016x}", rand::random::<u64>());
    acquire_lease(session, ks, &holder).await?;
    let result = apply_pending(session, ks).await;
    let release = session
        .query_unpaged(format!("DELETE FROM {ks}.schema_lease WHERE id = 0 IF holder = ?"), (holder.as_str(),))
        .await;
    if let Err(e) = release {
        tracing::warn!(error = %e, "cql: could not release the migration lease; it expires by itself");
    }
    let applied = result?;
    tracing::info!(keyspace = %ks, scylla, ?applied, "cql schema is up to date");
    Ok(applied)
}

async fn is_scylla(session: &Session) -> bool {
    session.query_unpaged("SELECT key FROM system.scylla_local LIMIT 1", &[]).await.is_ok()
}

/// Drops a keyspace (see `CqlStore::drop_keyspace`).
pub async fn drop_keyspace(session: &Session, ks: &str) -> Result<()> {
    ddl(session, &format!("DROP KEYSPACE IF EXISTS {ks}")).await
}

/// Schema changes wait for every node to write the new schema: slower than queries, so
/// they get their own, longer timeout.
const DDL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs one schema statement. A statement that changes the schema returns once every node
/// agrees on it: the driver waits for that itself (its session's default
/// `schema_agreement_automatic_waiting`), and an agreement it cannot reach is this error.
async fn ddl(session: &Session, cql: &str) -> Result<()> {
    let mut statement = scylla::statement::unprepared::Statement::new(cql);
    statement.set_request_timeout(Some(DDL_TIMEOUT));
    session.query_unpaged(statement, &[]).await.map_err(|e| Error::unavailable(format!("cql: {cql}: {e}")))?;
    Ok(())
}

async fn acquire_lease(session: &Session, ks: &str, holder: &str) -> Result<()> {
    let cql = format!("INSERT INTO {ks}.schema_lease (id, holder) VALUES (0, ?) IF NOT EXISTS USING TTL {LEASE_SECS}");
    for attempt in 0..(LEASE_SECS * 2) {
        let (applied, row) = lwt(session.query_unpaged(cql.as_str(), (holder,)).await.map_err(unavailable)?)?;
        if applied {
            return Ok(());
        }
        if attempt % 10 == 0 {
            tracing::info!(holder = ?row.get("holder"), "cql: another process is migrating; waiting");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(Error::unavailable("cql: the migration lease stayed taken"))
}

async fn apply_pending(session: &Session, ks: &str) -> Result<Vec<i32>> {
    let mut applied = vec![];
    for (version, name, cql) in MIGRATIONS {
        let done = session
            .query_unpaged(format!("SELECT version FROM {ks}.schema_migrations WHERE version = ?"), (*version,))
            .await
            .map_err(unavailable)?
            .into_rows_result()
            .map_err(unavailable)?
            .rows_num()
            > 0;
        if done {
            continue;
        }
        for statement in statements(cql) {
            match ddl(session, &qualify(&statement, ks)).await {
                // An `ALTER TABLE … ADD` that a run stopped before recording its migration
                // already made (not every CQL server takes `ADD IF NOT EXISTS`).
                Err(e)
                    if statement.starts_with("ALTER TABLE ")
                        && e.detail.contains("conflicts with an existing column") =>
                {
                    tracing::info!(version, "cql: a column of this migration exists already");
                }
                result => result?,
            }
        }
        backfill(session, ks, *version).await?;
        session
            .query_unpaged(
                format!(
                    "INSERT INTO {ks}.schema_migrations (version, name, applied_at) VALUES (?, ?, toTimestamp(now()))"
                ),
                (*version, *name),
            )
            .await
            .map_err(unavailable)?;
        tracing::info!(version, name, "cql migration applied");
        applied.push(*version);
    }
    Ok(applied)
}

/// What a migration needs written that its statements cannot write: rows derived from the
/// rows already there. Runs after the migration's statements and before the migration is
/// recorded, so a run cut short does it again; every backfill is safe to repeat. (Nodes of
/// an older build still running meanwhile do not write the new rows: see each backfill.)
async fn backfill(session: &Session, ks: &str, version: i32) -> Result<()> {
    match version {
        15 => backfill_users_by_initial(session, ks).await,
        16 => backfill_reactions_by_bucket(session, ks).await,
        _ => Ok(()),
    }
}

/// Every user's `users_by_initial` row, from `users`. A user an older build creates or
/// renames after this is not found by prefix until the migration runs again: delete its
/// `schema_migrations` row (version 15), then run `petit-chat migrate`.
async fn backfill_users_by_initial(session: &Session, ks: &str) -> Result<()> {
    let written = copy_rows(
        session,
        format!("SELECT id, username FROM {ks}.users"),
        format!("INSERT INTO {ks}.users_by_initial (initial, username, user_id) VALUES (?, ?, ?)"),
        |(id, username): (i64, Option<String>)| {
            let username = username.filter(|u| !u.is_empty())?;
            Some((initial(&username).to_string(), username, id))
        },
    )
    .await?;
    tracing::info!(users = written, "cql: users_by_initial backfilled");
    Ok(())
}

/// Every reaction's `reactions_by_bucket` row, from `reactions`. A reaction an older build
/// adds after this is not seen until the migration runs again (delete its
/// `schema_migrations` row, version 16, then run `petit-chat migrate`); one it removes
/// after this stays: run the servers of one build when migrating.
async fn backfill_reactions_by_bucket(session: &Session, ks: &str) -> Result<()> {
    let written = copy_rows(
        session,
        format!("SELECT chat_id, signal_id, emoji, user_id FROM {ks}.reactions"),
        format!(
            "INSERT INTO {ks}.reactions_by_bucket (chat_id, bucket, signal_id, emoji, user_id) VALUES (?, ?, ?, ?, ?)"
        ),
        |(chat, signal, emoji, user): (i64, i64, String, i64)| {
            Some((chat, domain::Id::from_i64(signal).bucket(), signal, emoji, user))
        },
    )
    .await?;
    tracing::info!(reactions = written, "cql: reactions_by_bucket backfilled");
    Ok(())
}

/// Reads every row of `select` (in pages) and writes what `row` makes of it with the
/// idempotent `insert`, 32 at a time; a row it maps to `None` is skipped. Returns the rows
/// written.
async fn copy_rows<R, V>(
    session: &Session,
    select: String,
    insert: String,
    row: impl Fn(R) -> Option<V>,
) -> Result<usize>
where
    R: for<'frame, 'metadata> scylla::deserialize::row::DeserializeRow<'frame, 'metadata>,
    V: scylla::serialize::row::SerializeRow,
{
    let mut select = scylla::statement::unprepared::Statement::new(select);
    select.set_page_size(1000);
    let mut insert = session.prepare(insert).await.map_err(unavailable)?;
    insert.set_is_idempotent(true);
    let written = std::sync::atomic::AtomicUsize::new(0);
    session
        .query_iter(select, &[])
        .await
        .map_err(unavailable)?
        .rows_stream::<R>()
        .map_err(unavailable)?
        .map_err(unavailable)
        .try_for_each_concurrent(32, |r| {
            let (insert, written, values) = (&insert, &written, row(r));
            async move {
                let Some(values) = values else { return Ok(()) };
                session.execute_unpaged(insert, values).await.map_err(unavailable)?;
                written.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
        })
        .await?;
    Ok(written.into_inner())
}

/// The statements of a migration file: separated by lines holding only `;`, comments dropped.
fn statements(cql: &str) -> Vec<String> {
    let text: String = cql.lines().filter(|l| !l.trim_start().starts_with("--")).map(|l| format!("{l}\n")).collect();
    text.split("\n;\n").map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The statements a migration may hold, each naming its table or type right after.
const QUALIFIED: [&str; 3] = ["CREATE TABLE IF NOT EXISTS ", "CREATE TYPE IF NOT EXISTS ", "ALTER TABLE "];

/// Prefixes the table or type a migration statement names with the keyspace (the types a
/// table uses are then found in that keyspace).
fn qualify(statement: &str, ks: &str) -> String {
    for prefix in QUALIFIED {
        if let Some(rest) = statement.strip_prefix(prefix) {
            return format!("{prefix}{ks}.{rest}");
        }
    }
    statement.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_files_split_into_qualified_statements() {
        let all = statements(MIGRATIONS[0].2);
        assert!(all.len() >= 14, "{}", all.len());
        for s in &all {
            assert!(s.starts_with("CREATE TABLE IF NOT EXISTS "), "{s}");
            assert!(!s.contains(';'), "{s}");
            assert!(qualify(s, "ks").starts_with("CREATE TABLE IF NOT EXISTS ks."));
        }
        for (_, _, cql) in MIGRATIONS {
            for s in statements(cql) {
                assert!(QUALIFIED.iter().any(|p| s.starts_with(p)), "a statement qualify does not know: {s}");
            }
        }
        assert_eq!(qualify("CREATE TYPE IF NOT EXISTS t (a int)", "ks"), "CREATE TYPE IF NOT EXISTS ks.t (a int)");
        assert_eq!(qualify("ALTER TABLE signals ADD x int", "ks"), "ALTER TABLE ks.signals ADD x int");
    }
}
