//! Workers: the fan-out of chat events to the members' streams, and the delivery tracker
//! that turns "written to a stream" into batched `delivered_up_to` moves.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use domain::{ChatId, Event, Result, SignalId, UserId};
use futures::StreamExt;
use ports::{Bus, Store};
use tokio::sync::mpsc;

use crate::ChatService;

/// Consumes chat events and publishes each to the per-user streams of the chat's members
/// (plus `also_notify`). Runs until the bus's chat event stream ends. An event that fails
/// is left unacknowledged, so the bus hands it out again. Runs the presence worker
/// ([`crate::presence::run_presence_expiries`]) beside it, for as long.
pub async fn run_fanout(store: Arc<dyn Store>, bus: Arc<dyn Bus>) -> Result<()> {
    let _presence = AbortOnDrop(tokio::spawn(crate::presence::run_presence_expiries(store.clone(), bus.clone())));
    let mut events = bus.chat_events().await?;
    while let Some(delivery) = events.next().await {
        let delivery = match delivery {
            Ok(d) => d,
            Err(error) => {
                tracing::warn!(%error, "fan-out: cannot read chat events");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let chat_id = delivery.event.chat_id;
        match fan_out_one(&*store, &*bus, &delivery.event, delivery.origin.as_deref()).await {
            Ok(()) => {
                if let Err(error) = (delivery.ack)().await {
                    tracing::warn!(%error, %chat_id, "fan-out: ack failed; the event will come again");
                }
            }
            Err(error) => {
                tracing::warn!(%error, %chat_id, "fan-out failed; the event will come again")
            }
        }
    }
    Ok(())
}

/// Stops a background task when its owner ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn fan_out_one(store: &dyn Store, bus: &dyn Bus, event: &domain::ChatEvent, origin: Option<&str>) -> Result<()> {
    let mut users: Vec<UserId> = store.members(event.chat_id).await?.into_iter().map(|m| m.user_id).collect();
    for u in &event.also_notify {
        if !users.contains(u) {
            users.push(*u);
        }
    }
    match origin {
        Some(origin) => bus.publish_fanned_out(&users, &event.event, origin).await,
        None => bus.publish_user_event(&users, &event.event).await,
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
    for ((chat, user), sid) in pending.drain() {
        if let Err(error) = service.mark_delivered(user, chat, sid).await {
            tracing::warn!(%error, %chat, %user, "cannot record delivery");
        }
    }
}
