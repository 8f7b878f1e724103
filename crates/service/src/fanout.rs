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

/// The `fanout` consumer group's handler: reads the chat's members once per batch of the
/// chat's events (again after an event that changes them), moves the chat's last activity
/// forward to its newest new signal (one write, whatever the number of members or events:
/// "my chats" is ordered by it), and publishes each event to each member's stream (plus
/// `also_notify`), one event after the other so every stream gets them in order. A
/// redelivered event does it again: activity moves never go back, and the bus drops the
/// per-user copies of a fan-out it already holds (`origin`).
pub(crate) struct Fanout {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
}

impl Fanout {
    pub(crate) fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>) -> Self {
        Self { store, bus }
    }

    /// Publishes `events` (of one chat, in order) to the members' streams.
    async fn publish(&self, chat: ChatId, events: &[(&ChatEvent, DeliveryInfo<'_>)]) -> Result<()> {
        let mut members: Option<Vec<UserId>> = None;
        for (event, info) in events {
            let mut users = match members.take() {
                Some(users) => users,
                None => self.store.member_ids(chat).await?,
            };
            let known = users.len();
            for u in &event.also_notify {
                if !users.contains(u) {
                    users.push(*u);
                }
            }
            match info.origin {
                Some(origin) => self.bus.publish_fanned_out(&users, &event.event, origin).await?,
                None => self.bus.publish_user_event(&users, &event.event).await?,
            }
            if !changes_members(&event.event) {
                users.truncate(known);
                members = Some(users);
            }
        }
        Ok(())
    }
}

/// Whether the chat's members after `event` may differ from those before.
fn changes_members(event: &Event) -> bool {
    match event {
        Event::ChatCreated { .. } | Event::MembersJoined { .. } | Event::MemberLeft { .. } => true,
        Event::SignalCreated { .. }
        | Event::SignalUpdated { .. }
        | Event::SignalDeleted { .. }
        | Event::ReactionChanged { .. }
        | Event::ReceiptUpdated { .. }
        | Event::MemberRoleChanged { .. }
        | Event::Typing { .. }
        | Event::PresenceChanged { .. }
        | Event::CallSignal { .. } => false,
    }
}

#[async_trait::async_trait]
impl GroupHandler for Fanout {
    async fn handle(&self, event: &ChatEvent, info: DeliveryInfo<'_>) -> Result<()> {
        self.handle_batch(&[(event, info)]).await
    }

    async fn handle_batch(&self, batch: &[(&ChatEvent, DeliveryInfo<'_>)]) -> Result<()> {
        let Some((first, _)) = batch.first() else { return Ok(()) };
        let chat = first.chat_id;
        // Side by side: both must be done before the events are acknowledged, in no order
        // (a retry redoes both; activity moves never go back, the bus drops repeated copies).
        let newest = batch
            .iter()
            .filter_map(|(event, _)| match &event.event {
                Event::SignalCreated { signal } => Some(signal.signal.id),
                _ => None,
            })
            .max();
        let activity = async {
            match newest {
                Some(id) => self.store.record_activity(chat, id).await,
                None => Ok(()),
            }
        };
        tokio::try_join!(activity, self.publish(chat, batch)).map(|_| ())
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
