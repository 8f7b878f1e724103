//! The Bus port inside one process. Chat events go to a log of named consumer groups
//! (`chat_log.rs`) with the NATS adapter's semantics. Each user
//! has a bounded replay buffer and a broadcast channel for live streams; event ids are
//! `<process epoch>-<sequence>`, so an id from before a restart is recognised as a gap.
//! Ephemeral events go through the same broadcast channels without a sequence.
//!
//! Presence and statuses live in memory (`presence.rs`): the process is the whole
//! deployment, so nobody else needs them, but statuses are lost at restart.

mod chat_log;
mod presence;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use domain::{ChatEvent, Error, Event, Result, UserId, UserStatus};
use futures::StreamExt;
use ports::{Bus, ChatEventStream, PresenceExpiryStream, UserEventStream, UserSubscription};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Sizes of the in-process bus.
#[derive(Debug, Clone, Copy)]
pub struct LocalBusConfig {
    /// Events kept per user for `Last-Event-ID` replay.
    pub replay_per_user: usize,
    /// Events a live stream may fall behind before it is told to resync.
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

type Sequenced = (u64, Arc<Event>);
/// What a live stream receives: a sequenced event, or an ephemeral one (`None`).
type Live = (Option<u64>, Arc<Event>);

struct UserLog {
    buffer: VecDeque<Sequenced>,
    /// The highest sequence dropped from the buffer: a resume from below it has a gap.
    evicted_up_to: u64,
    live: broadcast::Sender<Live>,
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
    users: Mutex<HashMap<UserId, UserLog>>,
    presence: presence::Presence,
}

impl std::fmt::Debug for LocalBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBus").field("epoch", &self.inner.epoch).finish_non_exhaustive()
    }
}

impl LocalBus {
    pub fn new(config: LocalBusConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                epoch: format!("{:08x}", rand::random::<u32>()),
                sequence: AtomicU64::new(0),
                chat_log: Arc::new(chat_log::ChatLog::new(config.lanes, config.chat_queue, config.ack_wait)),
                users: Mutex::new(HashMap::new()),
                presence: presence::Presence::default(),
            }),
        }
    }

    fn event_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.inner.epoch)
    }

    /// The sequence of an event id of this process, if it is one.
    fn parse_event_id(&self, id: &str) -> Option<u64> {
        let (epoch, seq) = id.split_once('-')?;
        if epoch != self.inner.epoch {
            return None;
        }
        seq.parse().ok()
    }

    fn live_stream(&self, replay: Vec<Sequenced>, rx: broadcast::Receiver<Live>) -> UserEventStream {
        let bus = self.clone();
        let bus2 = self.clone();
        let replay = futures::stream::iter(replay).map(move |(seq, ev)| Ok((Some(bus.event_id(seq)), (*ev).clone())));
        let live = BroadcastStream::new(rx).map(move |item| match item {
            Ok((seq, ev)) => Ok((seq.map(|seq| bus2.event_id(seq)), (*ev).clone())),
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                Err(Error::unavailable(format!("the stream fell {n} events behind")))
            }
        });
        Box::pin(replay.chain(live))
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    async fn publish_chat_event(&self, event: &ChatEvent) -> Result<()> {
        self.inner.chat_log.publish(event).await;
        Ok(())
    }

    async fn declare_group(&self, group: &str) -> Result<()> {
        self.inner.chat_log.declare(group).map(|_| ())
    }

    async fn chat_events(&self, group: &str) -> Result<ChatEventStream> {
        self.inner.chat_log.stream(group)
    }

    async fn group_lag(&self, group: &str) -> Result<u64> {
        self.inner.chat_log.lag(group)
    }

    async fn publish_user_event(&self, users: &[UserId], event: &Event) -> Result<()> {
        let event = Arc::new(event.clone());
        let mut logs = self.inner.users.lock().unwrap_or_else(|e| e.into_inner());
        for user in users {
            let seq = self.inner.sequence.fetch_add(1, Ordering::Relaxed) + 1;
            let log = logs.entry(*user).or_insert_with(|| new_log(self.inner.config.live_lag));
            log.buffer.push_back((seq, event.clone()));
            while log.buffer.len() > self.inner.config.replay_per_user {
                if let Some((evicted, _)) = log.buffer.pop_front() {
                    log.evicted_up_to = evicted;
                }
            }
            // No receiver just means the user has no open stream.
            let _ = log.live.send((Some(seq), event.clone()));
        }
        Ok(())
    }

    async fn subscribe_user(&self, user: UserId, after: Option<&str>) -> Result<UserSubscription> {
        let position = after.map(|a| self.parse_event_id(a));
        let mut logs = self.inner.users.lock().unwrap_or_else(|e| e.into_inner());
        let log = logs.entry(user).or_insert_with(|| new_log(self.inner.config.live_lag));
        let rx = log.live.subscribe();
        Ok(match position {
            None => UserSubscription::Complete(self.live_stream(vec![], rx)),
            Some(None) => UserSubscription::Gap(self.live_stream(vec![], rx)),
            Some(Some(seq)) => {
                let replay: Vec<Sequenced> = log.buffer.iter().filter(|(s, _)| *s > seq).cloned().collect();
                if seq < log.evicted_up_to {
                    UserSubscription::Gap(self.live_stream(replay, rx))
                } else {
                    UserSubscription::Complete(self.live_stream(replay, rx))
                }
            }
        })
    }

    async fn publish_ephemeral(&self, users: &[UserId], event: &Event) -> Result<()> {
        let event = Arc::new(event.clone());
        let logs = self.inner.users.lock().unwrap_or_else(|e| e.into_inner());
        for user in users {
            // A user without a log has never had a stream open: nobody to tell.
            if let Some(log) = logs.get(user) {
                let _ = log.live.send((None, event.clone()));
            }
        }
        Ok(())
    }

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

    async fn set_status(&self, user: UserId, status: Option<&UserStatus>) -> Result<()> {
        self.inner.presence.set_status(user, status);
        Ok(())
    }

    async fn status(&self, user: UserId) -> Result<Option<UserStatus>> {
        Ok(self.inner.presence.status(user))
    }
}

fn new_log(live_lag: usize) -> UserLog {
    UserLog { buffer: VecDeque::new(), evicted_up_to: 0, live: broadcast::channel(live_lag.max(1)).0 }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    mod conformance {
        use super::*;
        bus_conformance::bus_conformance_tests!(Arc::new(LocalBus::new(LocalBusConfig {
            ack_wait: Duration::from_secs(1),
            ..LocalBusConfig::default()
        })));
    }

    #[tokio::test]
    async fn a_resume_from_before_the_replay_buffer_is_a_gap() {
        let bus = LocalBus::new(LocalBusConfig { replay_per_user: 3, ..Default::default() });
        let user = domain::Id(1);
        let ev = |n: i64| Event::ReceiptUpdated {
            chat_id: domain::Id(9),
            user_id: user,
            read_up_to: domain::Id::from_i64(n),
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

    #[tokio::test]
    async fn a_stream_that_lags_is_told_to_resync() {
        let bus = LocalBus::new(LocalBusConfig { live_lag: 2, ..Default::default() });
        let user = domain::Id(1);
        let UserSubscription::Complete(mut live) = bus.subscribe_user(user, None).await.unwrap() else { panic!() };
        for n in 0..5 {
            let e = Event::ReceiptUpdated { chat_id: domain::Id(9), user_id: user, read_up_to: domain::Id(n) };
            bus.publish_user_event(&[user], &e).await.unwrap();
        }
        assert!(live.next().await.unwrap().is_err());
    }
}
