//! Numbered schema migrations, applied in order inside one immediate transaction each and
//! recorded in `schema_migrations`, so re-running (or running from two processes) is safe.

use domain::Result;
use rusqlite::{Connection, TransactionBehavior};

use crate::sql_error;

/// (version, name, SQL), in order. Never edit a shipped migration; add a new one.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (2, "event_tickets", include_str!("../migrations/0002_event_tickets.sql")),
    (3, "user_statuses", include_str!("../migrations/0003_user_statuses.sql")),
    (4, "chat_activity", include_str!("../migrations/0004_chat_activity.sql")),
    (5, "group_nonces", include_str!("../migrations/0005_group_nonces.sql")),
    (6, "attachments", include_str!("../migrations/0006_attachments.sql")),
    (7, "thumbnails", include_str!("../migrations/0007_thumbnails.sql")),
    (8, "blob_collector", include_str!("../migrations/0008_blob_collector.sql")),
    (9, "notifications", include_str!("../migrations/0009_notifications.sql")),
    (10, "mentions", include_str!("../migrations/0010_mentions.sql")),
    (11, "signal_changes", include_str!("../migrations/0011_signal_changes.sql")),
    (12, "calls", include_str!("../migrations/0012_calls.sql")),
    (13, "status_clears", include_str!("../migrations/0013_status_clears.sql")),
];

/// Applies the migrations not yet recorded; returns their versions.
pub fn apply(conn: &mut Connection) -> Result<Vec<i64>> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .map_err(sql_error)?;
    let mut applied = vec![];
    for (version, name, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql_error)?;
        let done: bool = tx
            .query_row("SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)", [version], |r| r.get(0))
            .map_err(sql_error)?;
        if !done {
            tx.execute_batch(sql).map_err(sql_error)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, unixepoch())",
                rusqlite::params![version, name],
            )
            .map_err(sql_error)?;
            applied.push(*version);
            tracing::info!(version, name, "sqlite migration applied");
        }
        tx.commit().map_err(sql_error)?;
    }
    Ok(applied)
}
