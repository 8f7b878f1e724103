//! The `index` consumer group: new and edited messages go to the text index, off the
//! request path, in bulk; deleted ones leave it. Each event's handler hands its message to
//! one batcher per worker and waits for the batch's write; the event is acknowledged only
//! after it, so an indexer that dies leaves its events to the next one (indexing again the
//! same message replaces it: nothing is doubled). What "written" means is the index's
//! (`TextIndex::index`): durable in OpenSearch; in tantivy, added to the writer, committed
//! within a quarter of a second, and indexed again from the store at the next start if the
//! process dies first (the embedded shape's chat-event log is in memory too, so only the
//! store can bring those messages back). Index lag (sent → written) is observed for the
//! metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use domain::{ChatEvent, Error, Event, EventTopic, Result, id::now_ms};
use ports::{EventOrder, GroupSpec, IndexedSignal, Interest, RemovedSignal, TextHit, TextIndex, TextQuery};
use tokio::sync::{mpsc, oneshot};

use crate::workers::{DeliveryInfo, GroupHandler};

/// The consumer group of the chat-event log that feeds the text index.
pub const INDEX_GROUP: &str = "index";
/// It reads new messages, and signals changed or deleted, in any order: each write carries
/// its message's revision, and the index keeps the highest (`TextIndex::index`), so the
/// bus may hand out many events of a chat at once and fill the bulk writes.
pub const INDEX_SPEC: GroupSpec = GroupSpec {
    interest: Interest::Only(&[EventTopic::Message, EventTopic::ImageMessage, EventTopic::Change]),
    order: EventOrder::Any,
};
/// Most messages one bulk write takes.
const MAX_BATCH: usize = 1000;
/// Events one worker holds at once: a batch being written and the next filling.
pub(crate) const EVENTS_IN_HAND: usize = 2 * MAX_BATCH;
/// How long a batch waits for more messages after its first. Each bulk write costs the
/// index a request, and OpenSearch a translog sync, whatever its size: at 600 msgs/s, 50 ms
/// instead of 5 makes half as many bulk writes or fewer and takes a quarter off OpenSearch's
/// CPU (bench/README.md); a message is searchable only after the index's next refresh
/// (500 ms) or commit (250 ms) anyway.
const LINGER: Duration = Duration::from_millis(50);

/// Upper bounds (seconds) of the index-lag histogram's buckets.
pub const INDEX_LAG_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];

/// The indexer's counts in this process: messages written and how long after they were sent.
#[derive(Debug, Default)]
pub struct IndexStats {
    /// Messages written to the index.
    pub indexed: AtomicU64,
    /// Sum of the lags, in milliseconds.
    pub lag_ms_sum: AtomicU64,
    /// Messages whose lag was at most each bound of [`INDEX_LAG_BUCKETS`] (not cumulative).
    pub lag_buckets: [AtomicU64; INDEX_LAG_BUCKETS.len()],
}

impl IndexStats {
    fn observe(&self, lag_ms: u64) {
        self.indexed.fetch_add(1, Ordering::Relaxed);
        self.lag_ms_sum.fetch_add(lag_ms, Ordering::Relaxed);
        let secs = lag_ms as f64 / 1000.0;
        if let Some(i) = INDEX_LAG_BUCKETS.iter().position(|b| secs <= *b) {
            self.lag_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

type Pending = (IndexedSignal, oneshot::Sender<Result<()>>);

/// The `index` group's handler.
pub(crate) struct Indexer {
    batches: mpsc::Sender<Pending>,
    /// For removals, which are rare and go at once.
    index: Arc<dyn TextIndex>,
}

impl Indexer {
    /// Starts the batcher; it ends when the handler is dropped.
    pub(crate) fn new(index: Arc<dyn TextIndex>, stats: Arc<IndexStats>) -> Self {
        let (batches, rx) = mpsc::channel(MAX_BATCH);
        tokio::spawn(write_batches(index.clone(), stats, rx));
        Self { batches, index }
    }
}

async fn write_batches(index: Arc<dyn TextIndex>, stats: Arc<IndexStats>, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(next)) => batch.push(next),
                Ok(None) | Err(_) => break,
            }
        }
        let (signals, waiting): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let written = index.index(&signals).await;
        if written.is_ok() {
            let now = now_ms();
            for s in &signals {
                stats.observe(now.saturating_sub(s.signal_id.unix_ms()));
            }
        }
        for waiter in waiting {
            let _ = waiter.send(written.clone());
        }
    }
}

#[async_trait]
impl GroupHandler for Indexer {
    async fn handle(&self, event: &ChatEvent, _info: DeliveryInfo<'_>) -> Result<()> {
        let signal = match &event.event {
            Event::SignalCreated { signal, .. } => &signal.signal,
            // An edit replaces the message's entry (same id).
            Event::SignalUpdated { signal } => signal,
            Event::SignalDeleted { signal, .. } => {
                return self.index.remove(RemovedSignal::of(signal).as_slice()).await;
            }
            _ => return Ok(()),
        };
        let Some(indexed) = IndexedSignal::of(signal) else { return Ok(()) };
        let (done, written) = oneshot::channel();
        self.batches.send((indexed, done)).await.map_err(|_| Error::unavailable("the index batcher stopped"))?;
        written.await.map_err(|_| Error::unavailable("the index batcher stopped"))?
    }
}

/// An index for processes that search nothing (tools, tests of other things): writes are
/// dropped, searches answer 503.
#[derive(Debug)]
pub struct NoTextIndex;

#[async_trait]
impl TextIndex for NoTextIndex {
    async fn index(&self, _signals: &[IndexedSignal]) -> Result<()> {
        Ok(())
    }

    async fn remove(&self, _signals: &[RemovedSignal]) -> Result<()> {
        Ok(())
    }

    async fn search(&self, _query: &TextQuery) -> Result<Vec<TextHit>> {
        Err(Error::unavailable("this server has no search index"))
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
