//! The fan-out of chat events (the `fanout` consumer group's handler: the members' streams
//! and the chat's last activity), and the delivery tracker that turns "written to a stream"
//! into batched `delivered_up_to` moves.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use domain::{ChatEvent, ChatId, Event, Result, SignalId, UserId};
use ports::{Bus, Store};
use tokio::sync::mpsc;

use crate::ChatService;
use crate::workers::{DeliveryInfo, GroupHandler};

/// The `fanout` consumer group's handler: reads the chat's members once per event, moves
/// the chat's last activity forward for a new signal (one write, whatever the number of
/// members: "my chats" is ordered by it), and publishes the event to each member's
/// stream (plus `also_notify`). A redelivered event does it again: activity moves never go
/// back, and the bus drops the per-user copies of a fan-out it already holds (`origin`).
pub(crate) struct Fanout {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
}

impl Fanout {
    pub(crate) fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>) -> Self {
        Self { store, bus }
    }
}

#[async_trait::async_trait]
impl GroupHandler for Fanout {
    async fn handle(&self, event: &ChatEvent, info: DeliveryInfo<'_>) -> Result<()> {
        let mut users = self.store.member_ids(event.chat_id).await?;
        for u in &event.also_notify {
            if !users.contains(u) {
                users.push(*u);
            }
        }
        // Side by side: both must be done before the event is acknowledged, in no order
        // (a retry redoes both; inbox moves never go back, the bus drops repeated copies).
        let inboxes = async {
            match &event.event {
                Event::SignalCreated { signal } => self.store.record_activity(event.chat_id, signal.signal.id).await,
                _ => Ok(()),
            }
        };
        let streams = async {
            match info.origin {
                Some(origin) => self.bus.publish_fanned_out(&users, &event.event, origin).await,
                None => self.bus.publish_user_event(&users, &event.event).await,
            }
        };
        tokio::try_join!(inboxes, streams).map(|_| ())
    }
}

/// Collects "signal written to a user's stream" notes and moves `delivered_up_to` in
/// batches, so a busy chat costs one store write per member per flush, not per signal.
#[derive(Debug, Clone)]
pub struct DeliveryTracker {
    tx: mpsc::Sender<(ChatId, UserId, SignalId)>,
}

impl DeliveryTracker {
    /// Starts the tracker's flushing task.
    pub fn start(service: ChatService, flush_every: Duration) -> Self {
        let (tx, mut rx) = mpsc::channel::<(ChatId, UserId, SignalId)>(65_536);
        tokio::spawn(async move {
            let mut pending: HashMap<(ChatId, UserId), SignalId> = HashMap::new();
            let mut tick = tokio::time::interval(flush_every);
            loop {
                tokio::select! {
                    note = rx.recv() => match note {
                        Some((chat, user, sid)) => {
                            let e = pending.entry((chat, user)).or_insert(sid);
                            *e = (*e).max(sid);
                        }
                        None => { flush(&service, &mut pending).await; break; }
                    },
                    _ = tick.tick() => flush(&service, &mut pending).await,
                }
            }
        });
        Self { tx }
    }

    /// Notes that `event` was written to one of `user`'s streams.
    pub fn written(&self, user: UserId, event: &Event) {
        if let Event::SignalCreated { signal } = event {
            // Dropping a note under extreme load only delays the watermark to the next signal.
            let _ = self.tx.try_send((signal.signal.chat_id, user, signal.signal.id));
        }
    }
}

async fn flush(service: &ChatService, pending: &mut HashMap<(ChatId, UserId), SignalId>) {
    if pending.is_empty() {
        return;
    }
    let marks: Vec<(ChatId, UserId, SignalId)> = pending.drain().map(|((chat, user), sid)| (chat, user, sid)).collect();
    if let Err(error) = service.mark_delivered(&marks).await {
        tracing::warn!(%error, marks = marks.len(), "cannot record deliveries");
    }
}
