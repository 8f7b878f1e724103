//! One worker of a consumer group: takes the group's chat events (or notification jobs)
//! from the bus and handles
//! up to `concurrency` of them at once (the bus hands out a chat's next event only after
//! the previous one is acknowledged, so chats run in parallel and each stays in order).
//! A handled event is acknowledged; a failed one is handed back after a pause, so it comes
//! again. On shutdown it stops taking events and waits for the ones in hand.

use std::sync::Arc;
use std::sync::atomic::Ordering;
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
pub(crate) trait GroupHandler<T = ChatEvent>: Send + Sync + 'static {
    async fn handle(&self, event: &T, info: DeliveryInfo<'_>) -> Result<()>;
}

/// How an event reached its handler.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DeliveryInfo<'a> {
    /// The bus's stable id of the event, when it has one (the same on every redelivery).
    pub origin: Option<&'a str>,
    /// How many times it was handed out before (0 the first time).
    pub redeliveries: u32,
}

/// How long a failed event is held before it is handed back (a store or bus that just
/// failed is given a moment).
const PAUSE_AFTER_FAILURE: Duration = Duration::from_millis(250);

/// Handles the deliveries of `events` (one worker's stream of the group `group`) until
/// shutdown.
pub(crate) async fn consume<T: std::fmt::Debug + Send + Sync + 'static>(
    mut events: impl Stream<Item = Result<Delivery<T>>> + Unpin,
    group: &'static str,
    handler: Arc<dyn GroupHandler<T>>,
    concurrency: usize,
    counts: Arc<GroupCounts>,
    shutdown: CancellationToken,
) -> Result<()> {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut in_hand = JoinSet::new();
    loop {
        while let Some(done) = in_hand.try_join_next() {
            if let Err(panic) = done {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(group, error = %panic, "a chat event's handler panicked; the event will come again");
            }
        }
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.map_err(|_| domain::Error::internal("permits closed"))?,
        };
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
        let (handler, counts) = (handler.clone(), counts.clone());
        in_hand.spawn(async move {
            let _permit = permit;
            match handler
                .handle(
                    &delivery.event,
                    DeliveryInfo { origin: delivery.origin.as_deref(), redeliveries: delivery.redeliveries },
                )
                .await
            {
                Ok(()) => match (delivery.ack)().await {
                    Ok(()) => {
                        counts.processed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        counts.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(group, %error, event = ?delivery.event, "ack failed; the event will come again");
                    }
                },
                Err(error) => {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(group, %error, event = ?delivery.event, "handling an event failed; it will come again");
                    tokio::time::sleep(PAUSE_AFTER_FAILURE).await;
                    drop(delivery);
                }
            }
        });
    }
    // Drain: what is in hand finishes (and is acknowledged) before the worker ends.
    while let Some(done) = in_hand.join_next().await {
        if let Err(panic) = done {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(group, error = %panic, "a chat event's handler panicked while draining");
        }
    }
    Ok(())
}
