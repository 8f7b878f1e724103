//! The Bus port inside one process. Chat events go to a log of named consumer groups
//! (`chat_log.rs`) with the NATS adapter's semantics. Each user has a bounded replay
//! buffer, and each open live stream a queue of what is pending for it
//! (`user_events.rs`); event ids are `<process epoch>-<sequence>`, so an id from before a
//! restart is recognised as a gap. Ephemeral events go through the same queues without a
//! sequence.
//!
//! Notification jobs go to a log of their own with one group (`push`), in lanes by user;
//! a delayed job waits on a timer (lost at restart, as everything here).
//!
//! Presence lives in memory (`presence.rs`), and so does the nonce fence (`fence.rs`):
//! the process is the whole deployment, so nobody else needs them.

mod chat_log;
mod delayed;
mod fence;
mod presence;
mod user_events;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use domain::{ChatEvent, ChatId, Event, NotifyJob, Result, SignalId, UserId};
use ports::{
    Bus, ChatEventBus, ChatEventStream, GroupSpec, Interest, MembershipNews, MembershipNewsStream, MembershipWord,
    NonceClaim, NonceFence, NotifyJobStream, NotifyQueue, PresenceBus, PresenceExpiryStream, UserEventBus,
    UserEventStream, UserSubscription,
};

use crate::user_events::{LiveStream, Sequenced, Subscriber, UserLog};

/// Sizes of the in-process bus.
#[derive(Debug, Clone, Copy)]
pub struct LocalBusConfig {
    /// Events kept per user for `Last-Event-ID` replay.
    pub replay_per_user: usize,
    /// Events a live stream may fall behind before it is told to resync. Only what is
    /// pending takes memory.
    pub live_lag: usize,
    /// Chat events a consumer group may hold unacknowledged before publishers wait.
    pub chat_queue: usize,
    /// Lanes of each consumer group: chats in different lanes are handled in parallel.
    pub lanes: u32,
    /// How long a worker may hold a chat event before it is handed to another.
    pub ack_wait: Duration,
}

impl Default for LocalBusConfig {
    fn default() -> Self {
        Self { replay_per_user: 1024, live_lag: 1024, chat_queue: 65_536, lanes: 64, ack_wait: Duration::from_secs(30) }
    }
}

/// The in-process bus. Cheap to clone.
#[derive(Clone)]
pub struct LocalBus {
    inner: Arc<Inner>,
}

struct Inner {
    config: LocalBusConfig,
    epoch: String,
    sequence: AtomicU64,
    chat_log: Arc<chat_log::ChatLog>,
    /// Notification jobs, in one group.
    notify_log: Arc<chat_log::ChatLog<NotifyJob>>,
    /// Delayed notification jobs waiting for their time.
    notify_delayed: Arc<delayed::Delayed>,
    users: Mutex<HashMap<UserId, UserLog>>,
    presence: presence::Presence,
    fence: fence::Fence,
    /// Membership news, to every subscriber.
    membership: tokio::sync::broadcast::Sender<ChatId>,
}

impl std::fmt::Debug for LocalBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBus").field("epoch", &self.inner.epoch).finish_non_exhaustive()
    }
}

impl LocalBus {
    pub fn new(config: LocalBusConfig) -> Self {
        let notify_log = Arc::new(chat_log::ChatLog::new(config.lanes, config.chat_queue, config.ack_wait));
        // Declared at once, so jobs queued before a worker asks are kept for it (a valid
        // group name: this cannot fail).
        let _ = notify_log.declare(NOTIFY_JOBS, Interest::Every);
        Self {
            inner: Arc::new(Inner {
                config,
                epoch: format!("{:08x}", rand::random::<u32>()),
                sequence: AtomicU64::new(0),
                chat_log: Arc::new(chat_log::ChatLog::new(config.lanes, config.chat_queue, config.ack_wait)),
                notify_delayed: Arc::new(delayed::Delayed::new(&notify_log)),
                notify_log,
                users: Mutex::new(HashMap::new()),
                presence: presence::Presence::default(),
                fence: fence::Fence::default(),
                membership: tokio::sync::broadcast::Sender::new(MEMBERSHIP_BACKLOG),
            }),
        }
    }

    fn event_id(&self, seq: u64) -> String {
        ports::bus::event_id(&self.inner.epoch, seq)
    }

    /// The sequence of an event id of this process, if it is one.
    fn parse_event_id(&self, id: &str) -> Option<u64> {
        ports::bus::parse_event_id(id, &self.inner.epoch)
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, UserLog>> {
        self.inner.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn live_stream(&self, user: UserId, replay: Vec<Sequenced>, subscriber: Arc<Subscriber>) -> UserEventStream {
        Box::pin(LiveStream { bus: self.clone(), user, replay: replay.into_iter(), subscriber })
    }

    /// Forgets a live stream that was dropped.
    fn close_stream(&self, user: UserId, subscriber: &Arc<Subscriber>) {
        if let Some(log) = self.users().get_mut(&user) {
            log.close_stream(subscriber);
        }
    }
}

#[async_trait]
impl NonceFence for LocalBus {
    async fn claim_nonce(&self, chat: ChatId, author: UserId, nonce: &str, id: SignalId) -> Result<NonceClaim> {
        Ok(self.inner.fence.claim(chat, author, nonce, id))
    }
}

/// Membership changes a subscriber may fall behind by before it is told it missed some.
const MEMBERSHIP_BACKLOG: usize = 1024;

#[async_trait]
impl MembershipNews for LocalBus {
    async fn membership_changed(&self, chat: ChatId) -> Result<()> {
        // No subscriber is no error: nobody remembers anything.
        let _ = self.inner.membership.send(chat);
        Ok(())
    }

    async fn membership_news(&self) -> Result<MembershipNewsStream> {
        use tokio::sync::broadcast::error::RecvError;
        let news = self.inner.membership.subscribe();
        Ok(Box::pin(futures::stream::unfold(news, |mut news| async move {
            let word = match news.recv().await {
                Ok(chat) => MembershipWord::Changed(chat),
                Err(RecvError::Lagged(_)) => MembershipWord::Missed,
                Err(RecvError::Closed) => return None,
            };
            Some((word, news))
        })))
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

/// The one group of the notification log.
const NOTIFY_JOBS: &str = "push";

#[async_trait]
impl NotifyQueue for LocalBus {
    async fn queue_notification(&self, job: &NotifyJob, delay: Option<Duration>) -> Result<()> {
        let Some(delay) = delay else {
            self.inner.notify_log.publish(job).await;
            return Ok(());
        };
        let at = tokio::time::Instant::now() + delay;
        self.inner.notify_delayed.queue(job, at);
        Ok(())
    }

    async fn notification_jobs(&self) -> Result<NotifyJobStream> {
        self.inner.notify_log.stream(NOTIFY_JOBS, Interest::Every)
    }
}

#[async_trait]
impl ChatEventBus for LocalBus {
    /// In one process a publish answers whether it landed: there are no repeats to drop,
    /// and the key goes unused.
    async fn publish_chat_event(&self, event: &ChatEvent, _key: &str) -> Result<()> {
        self.inner.chat_log.publish(event).await;
        Ok(())
    }

    // Every group, `EventOrder::Any` too, takes a chat's events in order: one lane of the
    // log at a time is all one process needs.
    async fn declare_group(&self, group: &str, spec: GroupSpec) -> Result<()> {
        self.inner.chat_log.declare(group, spec.interest).map(|_| ())
    }

    async fn chat_events(&self, group: &str, spec: GroupSpec) -> Result<ChatEventStream> {
        self.inner.chat_log.stream(group, spec.interest)
    }

    async fn group_lag(&self, group: &str) -> Result<u64> {
        self.inner.chat_log.lag(group)
    }
}

#[async_trait]
impl UserEventBus for LocalBus {
    async fn publish_user_event(&self, users: &[UserId], event: &Event) -> Result<()> {
        let event = Arc::new(event.clone());
        let LocalBusConfig { replay_per_user, live_lag, .. } = self.inner.config;
        let mut logs = self.users();
        for user in users {
            let seq = self.inner.sequence.fetch_add(1, Ordering::Relaxed) + 1;
            logs.entry(*user).or_default().publish(seq, &event, replay_per_user, live_lag);
        }
        Ok(())
    }

    async fn subscribe_user(&self, user: UserId, after: Option<&str>) -> Result<UserSubscription> {
        let position = after.map(|a| self.parse_event_id(a));
        // Under the lock: what is replayed and what comes live meet with no gap or duplicate.
        let mut logs = self.users();
        let log = logs.entry(user).or_default();
        let subscriber = log.open_stream();
        Ok(match position {
            None => UserSubscription::Complete(self.live_stream(user, vec![], subscriber)),
            Some(None) => UserSubscription::Gap(self.live_stream(user, vec![], subscriber)),
            Some(Some(seq)) => {
                let (replay, gap) = log.replay_after(seq);
                let stream = self.live_stream(user, replay, subscriber);
                if gap { UserSubscription::Gap(stream) } else { UserSubscription::Complete(stream) }
            }
        })
    }

    async fn publish_ephemeral(&self, users: &[UserId], event: &Event) -> Result<()> {
        let event = Arc::new(event.clone());
        let logs = self.users();
        for user in users {
            // A user without a log has never had a stream open: nobody to tell.
            if let Some(log) = logs.get(user) {
                log.deliver(None, &event, self.inner.config.live_lag);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl PresenceBus for LocalBus {
    async fn heartbeat(&self, user: UserId, connection: &str, ttl: Duration) -> Result<bool> {
        Ok(self.inner.presence.heartbeat(user, connection, ttl))
    }

    async fn connection_closed(&self, user: UserId, connection: &str) -> Result<bool> {
        Ok(self.inner.presence.connection_closed(user, connection))
    }

    async fn online(&self, users: &[UserId]) -> Result<Vec<UserId>> {
        Ok(self.inner.presence.online(users))
    }

    async fn presence_expiries(&self) -> Result<PresenceExpiryStream> {
        Ok(self.inner.presence.expiries())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use futures::StreamExt;

    use super::*;

    mod conformance {
        use super::*;
        bus_conformance::bus_conformance_tests!(Arc::new(LocalBus::new(LocalBusConfig {
            ack_wait: Duration::from_secs(1),
            ..LocalBusConfig::default()
        })));
    }

    #[tokio::test]
    async fn a_delayed_job_due_sooner_is_not_held_back_by_one_due_later() {
        let bus = LocalBus::new(LocalBusConfig::default());
        let mut jobs = bus.notification_jobs().await.unwrap();
        let job = |user: u64| NotifyJob {
            user_id: domain::Id(user),
            chat_id: domain::Id(9),
            signal_id: domain::Id(1),
            action: domain::NotifyAction::Message,
            mentioned: false,
            retry: None,
        };
        let queued = tokio::time::Instant::now();
        bus.queue_notification(&job(1), Some(Duration::from_secs(3))).await.unwrap();
        // The timer is asleep until job 1's time when job 2 comes.
        tokio::time::sleep(Duration::from_millis(50)).await;
        bus.queue_notification(&job(2), Some(Duration::from_millis(300))).await.unwrap();
        let first = jobs.next().await.unwrap().unwrap();
        let waited = queued.elapsed();
        assert_eq!(first.event.user_id, domain::Id(2));
        assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(2), "after {waited:?}");
        (first.ack)().await.unwrap();
        let second = jobs.next().await.unwrap().unwrap();
        assert_eq!(second.event.user_id, domain::Id(1));
        assert!(queued.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test]
    async fn a_resume_from_before_the_replay_buffer_is_a_gap() {
        let bus = LocalBus::new(LocalBusConfig { replay_per_user: 3, ..Default::default() });
        let user = domain::Id(1);
        let ev = |n: i64| Event::ReceiptUpdated {
            chat_id: domain::Id(9),
            user_id: user,
            read_up_to: domain::Id::from_i64(n),
            unread: None,
        };
        let UserSubscription::Complete(mut live) = bus.subscribe_user(user, None).await.unwrap() else { panic!() };
        bus.publish_user_event(&[user], &ev(1)).await.unwrap();
        let (first_id, _) = live.next().await.unwrap().unwrap();
        let first_id = first_id.unwrap();
        for n in 2..=5 {
            bus.publish_user_event(&[user], &ev(n)).await.unwrap();
        }
        // Events 2..=5 were published; the buffer keeps 3..=5, so resuming after 1 misses 2.
        match bus.subscribe_user(user, Some(&first_id)).await.unwrap() {
            UserSubscription::Gap(mut s) => {
                let (_, e) = s.next().await.unwrap().unwrap();
                assert_eq!(e, ev(3), "a gap still replays what the buffer has");
            }
            UserSubscription::Complete(_) => panic!("missed events must be reported"),
        }
    }

    #[tokio::test]
    async fn an_id_from_another_process_is_a_gap() {
        let bus = LocalBus::new(LocalBusConfig::default());
        let other = LocalBus::new(LocalBusConfig::default());
        assert!(matches!(
            bus.subscribe_user(domain::Id(1), Some(&other.event_id(3))).await.unwrap(),
            UserSubscription::Gap(_)
        ));
    }

    fn receipt(user: UserId, n: u64) -> Event {
        Event::ReceiptUpdated { chat_id: domain::Id(9), user_id: user, read_up_to: domain::Id(n), unread: None }
    }

    #[tokio::test]
    async fn a_stream_that_lags_is_told_to_resync_then_gets_the_newest() {
        let bus = LocalBus::new(LocalBusConfig { live_lag: 2, ..Default::default() });
        let user = domain::Id(1);
        let UserSubscription::Complete(mut live) = bus.subscribe_user(user, None).await.unwrap() else { panic!() };
        for n in 0..5 {
            bus.publish_user_event(&[user], &receipt(user, n)).await.unwrap();
        }
        assert!(live.next().await.unwrap().is_err());
        // As a lagging broadcast receiver: the error once, then the newest `live_lag`.
        assert_eq!(live.next().await.unwrap().unwrap().1, receipt(user, 3));
        assert_eq!(live.next().await.unwrap().unwrap().1, receipt(user, 4));
        bus.publish_user_event(&[user], &receipt(user, 5)).await.unwrap();
        assert_eq!(live.next().await.unwrap().unwrap().1, receipt(user, 5));
    }

    #[tokio::test]
    async fn ephemeral_and_durable_events_keep_their_order() {
        let bus = LocalBus::new(LocalBusConfig::default());
        let user = domain::Id(1);
        let UserSubscription::Complete(mut live) = bus.subscribe_user(user, None).await.unwrap() else { panic!() };
        bus.publish_user_event(&[user], &receipt(user, 1)).await.unwrap();
        bus.publish_ephemeral(&[user], &receipt(user, 2)).await.unwrap();
        bus.publish_user_event(&[user], &receipt(user, 3)).await.unwrap();
        let items: Vec<(bool, Event)> =
            (&mut live).take(3).map(|item| item.map(|(id, e)| (id.is_some(), e)).unwrap()).collect().await;
        assert_eq!(items, [(true, receipt(user, 1)), (false, receipt(user, 2)), (true, receipt(user, 3))]);
    }

    #[tokio::test]
    async fn streams_hold_memory_only_for_what_is_pending() {
        let bus = LocalBus::new(LocalBusConfig { replay_per_user: 64, ..Default::default() });
        let user = domain::Id(1);
        let UserSubscription::Complete(mut live) = bus.subscribe_user(user, None).await.unwrap() else { panic!() };
        let subscriber = bus.users().get(&user).map(|log| log.streams().to_vec()).unwrap();
        let [subscriber] = &subscriber[..] else { panic!("one open stream") };
        for n in 0..200 {
            bus.publish_user_event(&[user], &receipt(user, n)).await.unwrap();
        }
        let capacity = |bus: &LocalBus| bus.users().get(&user).map(UserLog::buffer_capacity).unwrap();
        assert_eq!(capacity(&bus), 64, "the replay buffer never outgrows replay_per_user");
        for _ in 0..200 {
            live.next().await.unwrap().unwrap();
        }
        assert!(subscriber.queue_capacity() <= 16, "a drained queue gives its memory back");
        drop(live);
        assert_eq!(bus.users().get(&user).map(|log| log.streams().len()).unwrap(), 0, "a dropped stream is forgotten");
    }
}
