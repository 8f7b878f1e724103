//! The Store port on SQLite: one file, WAL mode, one writer thread with group commit
//! (`writer.rs`) and a few reader connections. Reads run on the blocking pool, writes on
//! the writer thread, so the async executor never waits on disk. Schema changes are numbered migrations recorded in `schema_migrations`.

mod migrations;
mod rows;
mod store;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use domain::{Error, Result};
use rusqlite::{Connection, OpenFlags};

pub use migrations::MIGRATIONS;

/// How hard SQLite works to keep a commit through a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = FULL`: an acknowledged write survives a power cut (the default).
    #[default]
    Full,
    /// `synchronous = NORMAL`: survives a crash of the process, may lose the last commits
    /// on a power cut. Faster.
    Normal,
}

/// The SQLite store. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    writer: writer::Writer,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: Arc<AtomicUsize>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("readers", &self.readers.len()).finish()
    }
}

const READERS: usize = 4;

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path, durability: Durability) -> Result<Self> {
        let mut writer = open_connection(path, durability, false)?;
        migrations::apply(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| open_connection(path, durability, true).map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            writer: writer::Writer::start(writer)?,
            readers: Arc::new(readers),
            next_reader: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Applies pending migrations to the file without keeping it open; returns the versions applied.
    pub fn migrate(path: &Path) -> Result<Vec<i64>> {
        let mut conn = open_connection(path, Durability::Full, false)?;
        migrations::apply(&mut conn)
    }

    /// Runs `f` with the writer connection on the blocking pool.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer.write(f).await
    }

    /// A point read (one row by its key, or one chat's members: an index lookup on pages
    /// SQLite keeps cached) on the calling thread, when a reader connection is free: a few
    /// microseconds, much less than the hop to the blocking pool, whose wakeups, context
    /// switches and lock took about a tenth of the embedded node's CPU at 2,000 msgs/s
    /// (one membership check per send, one member list per fan-out and per notification).
    /// Reads that may scan (pages, lists, searches) go to the blocking pool ([`Self::read`]).
    async fn read_point<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        for i in 0..n {
            if let Ok(conn) = self.readers[(start + i) % n].try_lock() {
                return f(&conn).map_err(sql_error);
            }
        }
        self.read(f).await
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        run_blocking(move || {
            // Take the first idle reader, else wait for the one round-robin picked.
            let n = readers.len();
            for i in 0..n {
                if let Ok(conn) = readers[(start + i) % n].try_lock() {
                    return f(&conn);
                }
            }
            let conn = readers[start % n].lock().unwrap_or_else(|e| e.into_inner());
            f(&conn)
        })
        .await
    }
}

async fn run_blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> rusqlite::Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(sql_error),
        Err(join) => Err(Error::internal(format!("sqlite task failed: {join}"))),
    }
}

fn open_connection(path: &Path, durability: Durability, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(sql_error)?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql_error)?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql_error)?;
    }
    conn.pragma_update(None, "synchronous", synchronous).map_err(sql_error)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(sql_error)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn sql_error(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => Error::unavailable(format!("sqlite busy: {e}")),
        _ => Error::internal(format!("sqlite: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod conformance {
        use super::*;

        fn fixture() -> store_conformance::Fixture {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = SqliteStore::open(&dir.path().join("petit-chat.db"), Durability::Normal).expect("open");
            store_conformance::Fixture::keeping(Arc::new(store), dir)
        }

        store_conformance::store_conformance_tests!(fixture());
    }

    #[test]
    fn migrations_are_recorded_and_safe_to_rerun() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("m.db");
        let first = SqliteStore::migrate(&path).expect("first");
        assert_eq!(first, MIGRATIONS.iter().map(|m| m.0).collect::<Vec<_>>());
        assert_eq!(SqliteStore::migrate(&path).expect("second"), Vec::<i64>::new());
    }

    /// A database whose inbox was kept per member (migrations 1–3) keeps its order when
    /// migration 4 moves it to the chat.
    #[tokio::test]
    async fn the_per_member_inbox_order_survives_the_move_to_chat_activity() {
        use domain::Id;
        use ports::InboxStore;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("m.db");
        let conn = Connection::open(&path).expect("open");
        for (_, _, sql) in &MIGRATIONS[..3] {
            conn.execute_batch(sql).expect("old migration");
        }
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
             INSERT INTO schema_migrations VALUES (1, 'initial', 0), (2, 'event_tickets', 0), (3, 'user_statuses', 0);
             INSERT INTO users (id, username, display_name, issuer, subject, created_at) VALUES (7, 'u', 'u', 'i', 's', 0);
             INSERT INTO chats (id, kind, title, created_by, created_at) VALUES (10, 'group', 'a', 7, 0), (20, 'group', 'b', 7, 0);
             INSERT INTO chat_members (chat_id, user_id, role, joined_at, activity) VALUES (10, 7, 'owner', 0, 500), (20, 7, 'owner', 0, 20);",
        )
        .expect("old rows");
        drop(conn);
        let migrated = crate::migrations::apply(&mut Connection::open(&path).expect("reopen")).expect("migrate");
        assert_eq!(migrated.first(), Some(&4), "{migrated:?}");
        let store = SqliteStore::open(&path, Durability::Normal).expect("open");
        let order: Vec<(u64, u64)> =
            store.inbox(Id(7), None, 10).await.expect("inbox").iter().map(|e| (e.chat_id.0, e.activity.0)).collect();
        assert_eq!(order, vec![(10, 500), (20, 20)], "the older chat with the newer message stays first");
    }
}
