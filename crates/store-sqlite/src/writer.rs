//! The one writer, with group commit: a dedicated thread owns the write connection and
//! runs the writes queued meanwhile in one transaction, each inside a savepoint of its own
//! (a failed write is rolled back alone), then commits once: one fsync for the whole
//! batch with `full` durability. Each caller hears its result only after that commit, so
//! an acknowledged write is as durable as before, and many writers share the disk's
//! latency instead of queueing behind it one by one.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use domain::{Error, Result};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::sql_error;

/// Writes one batch holds at most.
const MAX_BATCH: usize = 256;

/// Tells a queued write how its batch ended: `Ok` once committed, or why not.
type Finish = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;
/// A queued write: runs on the writer's connection, returns how to finish it.
type Job = Box<dyn FnOnce(&mut Connection) -> Finish + Send>;

/// The writer thread's queue. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`; it ends when every `Writer` is dropped.
    pub(crate) fn start(conn: Connection) -> Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, queue))
            .map_err(|e| Error::internal(format!("cannot start the sqlite writer: {e}")))?;
        Ok(Self { jobs })
    }

    /// Runs `f` in the next batch; its result comes once the batch is committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            let outcome = in_savepoint(conn, f);
            Box::new(move |commit| {
                let result = match commit {
                    Ok(()) => outcome,
                    Err(error) => Err(Error::unavailable(format!("sqlite: the commit failed: {error}"))),
                };
                let _ = tx.send(result);
            })
        });
        self.jobs.send(job).map_err(|_| Error::internal("the sqlite writer has stopped"))?;
        rx.await.map_err(|_| Error::internal("the sqlite writer has stopped"))?
    }
}

/// Runs one write in a savepoint: rolled back alone when it fails or panics.
fn in_savepoint<T>(conn: &mut Connection, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT write").map_err(sql_error)?;
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| f(conn)));
    let result = match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(sql_error(error)),
        Err(_) => Err(Error::internal("sqlite: a write panicked")),
    };
    if result.is_err() {
        conn.execute_batch("ROLLBACK TO write").map_err(sql_error)?;
    }
    conn.execute_batch("RELEASE write").map_err(sql_error)?;
    result
}

fn run(mut conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Without the batch's transaction, each write's savepoint is a transaction of its own.
        let batched = conn.execute_batch("BEGIN IMMEDIATE").is_ok();
        let finishers: Vec<Finish> = batch.into_iter().map(|job| job(&mut conn)).collect();
        let commit = if batched { conn.execute_batch("COMMIT").map_err(|e| e.to_string()) } else { Ok(()) };
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for finish in finishers {
            finish(commit.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_batches_and_a_failed_one_is_rolled_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)").unwrap();
        let writer = Writer::start(conn).unwrap();
        let writes = (0..200).map(|n: i64| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .write(move |c| {
                        c.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                        if n % 10 == 0 {
                            // Half done, then fails: nothing of it may stay.
                            c.execute("INSERT INTO t (n) VALUES (?1)", [n + 1_000])?;
                            c.execute("INSERT INTO missing_table VALUES (1)", [])?;
                        }
                        Ok(n)
                    })
                    .await
            })
        });
        let results: Vec<Result<i64>> =
            futures::future::join_all(writes).await.into_iter().map(|r| r.unwrap()).collect();
        for (n, result) in results.iter().enumerate() {
            assert_eq!(result.is_ok(), n % 10 != 0, "write {n}: {result:?}");
        }
        let reader = Connection::open(&path).unwrap();
        let stored: Vec<i64> = reader
            .prepare("SELECT n FROM t ORDER BY n")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let expected: Vec<i64> = (0..200).filter(|n| n % 10 != 0).collect();
        assert_eq!(stored, expected, "exactly the writes that succeeded");
    }
}
