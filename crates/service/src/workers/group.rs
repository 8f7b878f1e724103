//! One worker of a consumer group: takes the group's chat events (or notification jobs)
//! from the bus and handles them, chats in parallel (up to `concurrency` at once) and each
//! chat in order. The bus may hand over several events of a chat before the first is
//! acknowledged (`EventOrder::PerChat`): they queue in the chat's lane, and the lane hands
//! what waits in it to the handler as one batch, so a busy chat's events are handled
//! together. A handled batch is acknowledged; a failed one is tried again in place after a
//! pause (so the chat's later events never overtake it). On shutdown it stops taking
//! events and finishes the lanes it has; a batch still failing is handed back.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use domain::{ChatEvent, Result};
use futures::{Stream, StreamExt};
use ports::Delivery;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::GroupCounts;

/// What a consumer group does with one chat event (or job).
#[async_trait]
pub(crate) trait GroupHandler<T: Send + Sync = ChatEvent>: Send + Sync + 'static {
    async fn handle(&self, event: &T, info: DeliveryInfo<'_>) -> Result<()>;

    /// Handles consecutive events of one chat (or jobs of one user), in order; by default
    /// one at a time. A failure fails the batch, which is handled again from its start (a
    /// handler takes an event again anyway, when it is redelivered).
    async fn handle_batch(&self, batch: &[(&T, DeliveryInfo<'_>)]) -> Result<()> {
        for (event, info) in batch {
            self.handle(event, *info).await?;
        }
        Ok(())
    }
}

/// How an event reached its handler.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DeliveryInfo<'a> {
    /// The bus's stable id of the event, when it has one (the same on every redelivery).
    pub origin: Option<&'a str>,
    /// How many times it was handed out before (0 the first time).
    pub redeliveries: u32,
}

/// How long a failed batch is held before it is tried again (a store or bus that just
/// failed is given a moment), at first; it doubles up to [`MAX_PAUSE`].
const PAUSE_AFTER_FAILURE: Duration = Duration::from_millis(250);
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// The most events of one lane handled as one batch.
const MAX_BATCH: usize = 64;

/// Which lane an event is handled in: events of one lane one batch at a time, in the order
/// received (a chat's events, a user's jobs); `None` for a group that takes events in any
/// order, each handled on its own.
pub(crate) type LaneOf<T> = Option<fn(&T) -> u64>;

/// The deliveries waiting in each busy lane.
type Lanes<T> = Arc<Mutex<HashMap<u64, VecDeque<Delivery<T>>>>>;

/// Handles the deliveries of `events` (one worker's stream of the group `group`) until
/// shutdown.
pub(crate) async fn consume<T: std::fmt::Debug + Send + Sync + 'static>(
    mut events: impl Stream<Item = Result<Delivery<T>>> + Unpin,
    group: &'static str,
    handler: Arc<dyn GroupHandler<T>>,
    lane_of: LaneOf<T>,
    concurrency: usize,
    counts: Arc<GroupCounts>,
    shutdown: CancellationToken,
) -> Result<()> {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let lanes: Lanes<T> = Arc::default();
    let mut in_hand = JoinSet::new();
    loop {
        while let Some(done) = in_hand.try_join_next() {
            if let Err(panic) = done {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(group, error = %panic, "a chat event's handler panicked; the event will come again");
            }
        }
        let delivery = tokio::select! {
            () = shutdown.cancelled() => break,
            delivery = events.next() => delivery,
        };
        let delivery = match delivery {
            Some(Ok(delivery)) => delivery,
            Some(Err(error)) => {
                tracing::warn!(group, %error, "cannot read chat events; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            None => return Err(domain::Error::unavailable(format!("the chat events of group {group} ended"))),
        };
        if delivery.redeliveries > 0 {
            counts.redelivered.fetch_add(1, Ordering::Relaxed);
        }
        let lane = lane_of.map(|lane_of| lane_of(&delivery.event));
        if let Some(key) = lane {
            let mut busy = lanes.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(waiting) = busy.get_mut(&key) {
                waiting.push_back(delivery);
                continue;
            }
            busy.insert(key, VecDeque::new());
        }
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.map_err(|_| domain::Error::internal("permits closed"))?,
        };
        let lane = Lane { key: lane, lanes: lanes.clone(), group, handler: handler.clone(), counts: counts.clone() };
        let shutdown = shutdown.clone();
        in_hand.spawn(async move {
            let _permit = permit;
            lane.run(delivery, shutdown).await;
        });
    }
    // Drain: the lanes in hand finish (and acknowledge) before the worker ends.
    while let Some(done) = in_hand.join_next().await {
        if let Err(panic) = done {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(group, error = %panic, "a chat event's handler panicked while draining");
        }
    }
    Ok(())
}

/// A busy lane: handles its first delivery, then whatever queued behind it meanwhile, until
/// none waits. Dropped before that (its task panicked, or it gave up at shutdown), it leaves
/// the lanes, and what still waits in it is handed back to the bus.
struct Lane<T> {
    key: Option<u64>,
    lanes: Lanes<T>,
    group: &'static str,
    handler: Arc<dyn GroupHandler<T>>,
    counts: Arc<GroupCounts>,
}

impl<T: std::fmt::Debug + Send + Sync + 'static> Lane<T> {
    async fn run(mut self, first: Delivery<T>, shutdown: CancellationToken) {
        let mut batch = vec![first];
        loop {
            if let Some(key) = self.key {
                let mut busy = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
                let waiting = busy.entry(key).or_default();
                if batch.is_empty() && waiting.is_empty() {
                    // Done: leaves the lanes under the same lock the worker queues under.
                    busy.remove(&key);
                    self.key = None;
                    return;
                }
                let more = waiting.len().min(MAX_BATCH.saturating_sub(batch.len()));
                batch.extend(waiting.drain(..more));
            } else if batch.is_empty() {
                return;
            }
            let items: Vec<(&T, DeliveryInfo<'_>)> = batch
                .iter()
                .map(|d| (&d.event, DeliveryInfo { origin: d.origin.as_deref(), redeliveries: d.redeliveries }))
                .collect();
            if !self.handle(&items, &shutdown).await {
                // Shutting down with a batch that keeps failing: handed back (dropped).
                return;
            }
            drop(items);
            let acks = futures::future::join_all(batch.drain(..).map(|delivery| (delivery.ack)())).await;
            for ack in acks {
                match ack {
                    Ok(()) => self.counts.processed.fetch_add(1, Ordering::Relaxed),
                    Err(error) => {
                        tracing::warn!(group = self.group, %error, "ack failed; the event will come again");
                        self.counts.failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }
    }

    /// Handles `batch`, again after a pause while it fails; false if it still fails when
    /// the worker shuts down.
    async fn handle(&self, items: &[(&T, DeliveryInfo<'_>)], shutdown: &CancellationToken) -> bool {
        let mut pause = PAUSE_AFTER_FAILURE;
        loop {
            match self.handler.handle_batch(items).await {
                Ok(()) => return true,
                Err(error) => {
                    self.counts.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(group = self.group, %error, events = items.len(), first = ?items.first().map(|i| i.0), "handling events failed; trying again");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

impl<T> Drop for Lane<T> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.lanes.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// An event of lane `.0`, number `.1`.
    type Item = (u64, u64);

    /// Records the batches it is handed; fails the first time it meets `fail_on`, and holds
    /// its first batch until `release` is notified.
    struct Recorder {
        batches: Mutex<Vec<Vec<Item>>>,
        fail_on: Item,
        failed: AtomicUsize,
        release: tokio::sync::Notify,
    }

    #[async_trait]
    impl GroupHandler<Item> for Recorder {
        async fn handle(&self, _event: &Item, _info: DeliveryInfo<'_>) -> Result<()> {
            unreachable!("the lane hands batches")
        }

        async fn handle_batch(&self, batch: &[(&Item, DeliveryInfo<'_>)]) -> Result<()> {
            let items: Vec<Item> = batch.iter().map(|(item, _)| **item).collect();
            let first = self.batches.lock().unwrap().is_empty();
            self.batches.lock().unwrap().push(items.clone());
            if first {
                self.release.notified().await;
            }
            if items.contains(&self.fail_on) && self.failed.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(domain::Error::unavailable("the store is down"));
            }
            Ok(())
        }
    }

    fn delivery(item: Item, acked: &Arc<Mutex<Vec<Item>>>) -> Result<Delivery<Item>> {
        let acked = acked.clone();
        Ok(Delivery {
            event: item,
            ack: Box::new(move || {
                Box::pin(async move {
                    acked.lock().unwrap().push(item);
                    Ok(())
                })
            }),
            redeliveries: 0,
            origin: None,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_chats_waiting_events_come_as_one_batch_in_order_and_a_failed_batch_is_tried_again_in_place() {
        let handler = Arc::new(Recorder {
            batches: Mutex::default(),
            fail_on: (1, 3),
            failed: AtomicUsize::new(0),
            release: tokio::sync::Notify::new(),
        });
        let acked: Arc<Mutex<Vec<Item>>> = Arc::default();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let events = Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|d| (d, rx)) }));
        let shutdown = CancellationToken::new();
        let counts = Arc::new(GroupCounts::default());
        let lane_of: LaneOf<Item> = Some(|item| item.0);
        let worker =
            tokio::spawn(consume(events, "test", handler.clone(), lane_of, 8, counts.clone(), shutdown.clone()));
        // Lane 1's first event is held by the handler while 2..=5 of lane 1 and 1 of lane 2 come.
        tx.send(delivery((1, 1), &acked)).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        for n in 2..=5 {
            tx.send(delivery((1, n), &acked)).unwrap();
        }
        tx.send(delivery((2, 1), &acked)).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Another lane is not held up by the busy one.
        assert_eq!(acked.lock().unwrap().as_slice(), [(2, 1)]);
        handler.release.notify_one();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let batches = handler.batches.lock().unwrap().clone();
        let lane1: Vec<&Vec<Item>> = batches.iter().filter(|b| b[0].0 == 1).collect();
        // The first alone, then what waited as one batch: failed once, tried again whole.
        assert_eq!(
            lane1,
            [&vec![(1, 1)], &vec![(1, 2), (1, 3), (1, 4), (1, 5)], &vec![(1, 2), (1, 3), (1, 4), (1, 5)]]
        );
        let acked_lane1: Vec<Item> = acked.lock().unwrap().iter().filter(|i| i.0 == 1).copied().collect();
        assert_eq!(acked_lane1, (1..=5).map(|n| (1, n)).collect::<Vec<_>>(), "each acknowledged once, in order");
        assert_eq!(counts.processed.load(Ordering::SeqCst), 6);
        assert_eq!(counts.failed.load(Ordering::SeqCst), 1);
        shutdown.cancel();
        worker.await.unwrap().unwrap();
    }
}
