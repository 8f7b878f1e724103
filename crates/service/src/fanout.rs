//! The fan-out of chat events (the `fanout` consumer group's handler: the members' streams),
//! and the delivery tracker that turns "written to a stream" into batched `delivered_up_to`
//! moves.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use domain::{ChatEvent, ChatId, Event, Result, SignalId, UserId};
use ports::{Bus, Store};
use tokio::sync::mpsc;

use crate::ChatService;
use crate::membership_cache::{MembershipCache, read_through};
use crate::workers::{DeliveryInfo, GroupHandler};

/// The `fanout` consumer group's handler: takes the chat's members from the node's
/// [`MembershipCache`] or reads them once per batch of the chat's events (and again after
/// an event that changes them: the node forgets them then, as the news of the change may
/// not have come yet), and publishes each event to each member's stream (plus
/// `also_notify`), one event after the other so every stream gets them in order. A
/// redelivered event does it again: the bus drops the publication of a fan-out it already
/// holds (`origin`). The chat's last activity ("my chats" is ordered by it) moved with the
/// signal's insert.
pub(crate) struct Fanout {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    cache: Arc<MembershipCache>,
}

impl Fanout {
    pub(crate) fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, cache: Arc<MembershipCache>) -> Self {
        Self { store, bus, cache }
    }

    /// The chat's members: remembered, or read (and remembered).
    async fn members(&self, chat: ChatId) -> Result<Vec<UserId>> {
        read_through(self.cache.lookup_members(chat), self.store.member_ids(chat), |members, generation| {
            self.cache.remember_members(chat, members, generation)
        })
        .await
    }

    /// Publishes `events` (of one chat, in order) to the members' streams.
    async fn publish(&self, chat: ChatId, events: &[(&ChatEvent, DeliveryInfo<'_>)]) -> Result<()> {
        let mut members: Option<Vec<UserId>> = None;
        for (event, info) in events {
            let mut users = match members.take() {
                Some(users) => users,
                None => self.members(chat).await?,
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
            if changes_members(&event.event) {
                // What the node remembers may predate the change: forgotten here at once.
                self.cache.forget_chat(chat);
            } else {
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
        self.publish(first.chat_id, batch).await
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
        if let Event::SignalCreated { signal, .. } = event {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed unwrap is a failed check

    use std::time::Duration;

    use domain::{Id, Member, Role};
    use futures::StreamExt;
    use ports::{UserEventStream, UserSubscription};
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::membership_cache::Lookup;
    use crate::testing::{TestService, user};

    async fn stream(bus: &Arc<dyn Bus>, user: UserId) -> UserEventStream {
        match bus.subscribe_user(user, None).await.unwrap() {
            UserSubscription::Complete(s) => s,
            UserSubscription::Gap(_) => panic!("a fresh subscription has no gap"),
        }
    }

    /// Waits until `done`, at most 5 s.
    async fn until(what: &str, done: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "{what}: not within 5 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Receipts of `chat` the stream gets within a moment, by their `read_up_to`.
    async fn receipts(stream: &mut UserEventStream) -> Vec<u64> {
        let mut got = vec![];
        while let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
            if let (_, Event::ReceiptUpdated { read_up_to, .. }) = item.unwrap() {
                got.push(read_up_to.0);
            }
        }
        got
    }

    /// The fan-out reads a chat's members once, then uses what it remembers until the news
    /// of a change (sent by the node that made it, after its store writes) makes it read them
    /// again: the removed member gets nothing more, the added one everything after.
    #[tokio::test]
    async fn the_fanout_remembers_a_chats_members_until_news_of_a_change() {
        let TestService { service, store, bus, dir: _dir, .. } = crate::testing::service();
        let [alice, bob, carol] =
            [user(&service, "alice").await, user(&service, "bob").await, user(&service, "carol").await];
        let (chat, _) = service.create_group(&alice, "g", &[bob.id], None).await.unwrap();
        let cache = MembershipCache::followed(bus.clone(), CancellationToken::new());
        until("the cache is on", || cache.lookup_members(chat.id) != Lookup::Unknown(None)).await;
        let fanout = Fanout::new(store.clone(), bus.clone(), cache.clone());
        let (mut bobs, mut carols) = (stream(&bus, bob.id).await, stream(&bus, carol.id).await);
        let receipt = |n: u64| ChatEvent {
            chat_id: chat.id,
            event: Event::ReceiptUpdated { chat_id: chat.id, user_id: alice.id, read_up_to: Id(n), unread: None },
            also_notify: vec![],
        };
        let info = || DeliveryInfo { origin: None, redeliveries: 0 };
        fanout.handle(&receipt(1), info()).await.unwrap();
        // The store changes behind the node's back (no news yet): what it remembers is used.
        store.remove_member(chat.id, bob.id).await.unwrap();
        store
            .add_members(
                chat.id,
                &[Member {
                    chat_id: chat.id,
                    user_id: carol.id,
                    role: Role::Member,
                    joined_at: 1,
                    delivered_up_to: Id::ZERO,
                    read_up_to: Id::ZERO,
                }],
            )
            .await
            .unwrap();
        fanout.handle(&receipt(2), info()).await.unwrap();
        bus.membership_changed(chat.id).await.unwrap();
        until("the news is heard", || !matches!(cache.lookup_members(chat.id), Lookup::Known(_))).await;
        fanout.handle(&receipt(3), info()).await.unwrap();
        assert_eq!(receipts(&mut bobs).await, [1, 2]);
        assert_eq!(receipts(&mut carols).await, [3]);
    }
}
