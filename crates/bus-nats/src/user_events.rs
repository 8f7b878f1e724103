//! Per-user events: publishing one message per user, and the subscription behind a live
//! stream.
//!
//! A subscription reads what the stream republishes once stored: the stream's republish
//! rule copies each event to the core subject `<prefix>.stored.<user id>`, with headers
//! naming its sequence (`Nats-Sequence`) and the user's previous one
//! (`Nats-Last-Sequence`, 0 if none or removed). The subscription subscribes there
//! before it reads the stream's last sequence, so nothing stored once `subscribe_user`
//! has returned is missed; it tracks the last sequence it handed out, and hands out an
//! event that follows on from it. No consumer, no pull, no server-side state per open
//! stream: one core message per event.
//!
//! Otherwise it catches up: an ephemeral pull consumer (memory, one replica, no acks)
//! filtered on the user's subject reads the stream from one past the last event handed
//! out, until a republished event follows on from what it handed out (or is the copy of
//! the last one); then the consumer goes. It catches up
//! - to replay from a `Last-Event-ID`;
//! - when a republished event names a previous one it did not hand out (the connection
//!   dropped republished events: a slow consumer, a reconnection);
//! - when the connection reconnected or the republish rule was restored
//!   (`Inner::misses`), or a periodic check found a stored event it did not hand out, in
//!   case no later event comes. (A subscription that drops messages because its reader
//!   stalled for its whole buffer, 65,536 messages, catches up at its user's next event
//!   or check: a slow-consumer report names no subscription this adapter could tell.)
//!
//! A consumer that is lost (NATS restarted, a sequence jumped) is made again from the
//! last sequence handed out — unless events from there may have been removed meanwhile
//! (the stream's first sequence moved past it, or the stream was recreated): then the
//! stream ends with an error and the client resyncs.
//!
//! Every quarter of the retention (at most an hour) a subscription checks that the
//! stream removed nothing it had not read yet (a consumer replaying events close to
//! their expiry may lose that race: the stream then ends with an error too), and moves an
//! idle subscription's position past other users' events, so that an old position is
//! not mistaken for a gap, nor an expired last event for a missed one.
//!
//! These checks watch the stream's first sequence: removing events other than by
//! retention or a whole-stream purge (deleting single messages, purging one subject)
//! would hide a gap from them, so operators must not.
//!
//! Ephemeral events are core NATS messages on the user's live subject: a subscription
//! subscribes to it before anything else (and waits for the server to have the interest),
//! and merges what comes there, without ids, into its stream, which ends when the durable
//! part ends.

use std::sync::Arc;
use std::time::Duration;

use async_nats::header::{NATS_LAST_SEQUENCE, NATS_SEQUENCE};
use async_nats::jetstream::consumer::{self, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream;
use bytes::Bytes;
use domain::{Error, Event, Result, UserId};
use futures::StreamExt;
use ports::bus::{event_id, parse_event_id};
use ports::{EventId, UserEventStream, UserSubscription};
use tokio::time::Instant;

use crate::{Backoff, Inner, unavailable};

/// Publishes in windows of this many messages, waiting for their acknowledgements between.
const PUBLISH_WINDOW: usize = 256;
const HEARTBEAT: Duration = Duration::from_secs(5);
const PULL_EXPIRES: Duration = Duration::from_secs(30);
const PULL_BATCH: usize = 64;
/// How soon a live stream checks after news that it may have missed events (a burst of
/// such news makes one check), plus up to `SPREAD`, so that the streams of a node that
/// reconnected do not all ask at once.
const SOON: Duration = Duration::from_millis(250);
const SPREAD: Duration = Duration::from_secs(2);
/// A subscription's consumer left without pulls (its node died) is removed by the server
/// after this long.
const INACTIVE_THRESHOLD: Duration = Duration::from_secs(60);

/// Publishes `event` to each user's subject. With `origin` (the chat event fanned out),
/// each message carries the id `<origin>-<user>`, so a redelivered chat event fanned out
/// again within the stream's duplicate window (two minutes) is not delivered twice.
pub(crate) async fn publish(inner: &Inner, users: &[UserId], event: &Event, origin: Option<&str>) -> Result<()> {
    let payload =
        Bytes::from(serde_json::to_vec(event).map_err(|e| Error::internal(format!("cannot encode an event: {e}")))?);
    for window in users.chunks(PUBLISH_WINDOW) {
        let mut acks = Vec::with_capacity(window.len());
        for user in window {
            let mut message = PublishMessage::build().payload(payload.clone());
            if let Some(origin) = origin {
                message = message.message_id(format!("{origin}-{}", user.0));
            }
            let ack = inner
                .js
                .send_publish(inner.config.user_subject(*user), message)
                .await
                .map_err(|e| unavailable("cannot publish a user event", e))?;
            acks.push(std::future::IntoFuture::into_future(ack));
        }
        futures::future::try_join_all(acks)
            .await
            .map_err(|e| unavailable("the user event stream did not acknowledge", e))?;
    }
    Ok(())
}

pub(crate) async fn publish_ephemeral(inner: &Inner, users: &[UserId], event: &Event) -> Result<()> {
    let payload =
        Bytes::from(serde_json::to_vec(event).map_err(|e| Error::internal(format!("cannot encode an event: {e}")))?);
    let client = inner.js.client();
    for user in users {
        client
            .publish(inner.config.live_subject(*user), payload.clone())
            .await
            .map_err(|e| unavailable("cannot publish an ephemeral event", e))?;
    }
    Ok(())
}

pub(crate) async fn subscribe(inner: Arc<Inner>, user: UserId, after: Option<&str>) -> Result<UserSubscription> {
    let client = inner.js.client();
    let subscribe = |subject: String| {
        let client = client.clone();
        async move { client.subscribe(subject).await.map_err(|e| unavailable("cannot subscribe to user events", e)) }
    };
    let ephemeral = subscribe(inner.config.live_subject(user)).await?;
    let stored = subscribe(inner.config.stored_subject(user)).await?;
    // A flush only writes the subscriptions out: the server has them once it has answered
    // a request sent after them on this connection (the stream's state, read below).
    client.flush().await.map_err(|e| unavailable("cannot subscribe to user events", e))?;
    Ok(match subscribe_durable(inner, user, after, stored).await? {
        UserSubscription::Complete(durable) => UserSubscription::Complete(with_ephemeral(durable, ephemeral)),
        UserSubscription::Gap(durable) => UserSubscription::Gap(with_ephemeral(durable, ephemeral)),
    })
}

/// Merges a user's ephemeral events into their durable stream; ends when that ends.
fn with_ephemeral(durable: UserEventStream, ephemeral: async_nats::Subscriber) -> UserEventStream {
    let durable = durable.map(Some).chain(futures::stream::iter([None]));
    let ephemeral = ephemeral.filter_map(|message| async move {
        match serde_json::from_slice::<Event>(&message.payload) {
            Ok(event) => Some(Some(Ok((None, event)))),
            Err(error) => {
                // An ephemeral event this node cannot read (a newer node wrote it) is just missed.
                tracing::debug!(%error, subject = %message.subject, "nats: skipping an undecodable ephemeral event");
                None
            }
        }
    });
    Box::pin(
        futures::stream::select(durable, ephemeral)
            .take_while(|item| std::future::ready(item.is_some()))
            .filter_map(std::future::ready),
    )
}

/// The durable part of a subscription; `stored` already has the server's interest, so
/// every event stored after the stream's state is read below reaches it.
async fn subscribe_durable(
    inner: Arc<Inner>,
    user: UserId,
    after: Option<&str>,
    stored: async_nats::Subscriber,
) -> Result<UserSubscription> {
    let subject = inner.config.user_subject(user);
    let before = inner.user_stream_state().await?;
    let mut feed = Feed::new(inner.clone(), subject, stored, &before);
    let Some(after) = after else {
        return Ok(UserSubscription::Complete(feed.into_stream()));
    };
    let start = match parse_event_id(after, &before.epoch) {
        Some(seq) if seq <= before.last && before.first <= seq + 1 => seq + 1,
        _ => return Ok(UserSubscription::Gap(feed.into_stream())),
    };
    if start > before.last {
        return Ok(UserSubscription::Complete(feed.into_stream()));
    }
    // Replay from `start`: a consumer reads the stream until the feed has caught up.
    feed.restart_at(&before, start);
    feed.mode = Mode::CatchUp(Some(feed.create_consumer().await?));
    // Everything after `after` was there when we looked; check it still was once the
    // consumer existed (later removals show at the subscription's next check).
    let now = inner.user_stream_state().await?;
    if now.epoch == before.epoch && now.first <= start {
        Ok(UserSubscription::Complete(feed.into_stream()))
    } else {
        feed.restart_at(&now, now.last + 1);
        Ok(UserSubscription::Gap(feed.into_stream()))
    }
}

/// What a subscription needs to know of the per-user event stream.
pub(crate) struct StreamState {
    /// Tells this stream from a deleted and recreated one of the same name.
    epoch: String,
    first: u64,
    last: u64,
}

impl StreamState {
    fn of(info: &stream::Info) -> Self {
        Self {
            epoch: format!("{:x}", info.created.unix_timestamp_nanos() / 1_000_000),
            first: info.state.first_sequence,
            last: info.state.last_sequence,
        }
    }
}

impl Inner {
    pub(crate) async fn user_stream_state(&self) -> Result<StreamState> {
        let stream = self
            .js
            .get_stream(&self.user_stream)
            .await
            .map_err(|e| unavailable(&format!("cannot read stream {}", self.user_stream), e))?;
        Ok(StreamState::of(stream.cached_info()))
    }
}

/// One live subscription: the user's events as the stream republishes them once stored,
/// and, only after it missed some, a consumer of the stream until it has caught up.
struct Feed {
    inner: Arc<Inner>,
    /// The user's subject in the stream.
    subject: String,
    epoch: String,
    /// What the stream republishes for the user (`<prefix>.stored.<user id>`).
    stored: async_nats::Subscriber,
    /// The stream sequence to deliver from: one past the last event handed out.
    next_seq: u64,
    /// The sequence of the last event handed out, until a check finds the user idle.
    last_seen: Option<u64>,
    /// Every event for this subscription before `next_seq` and from `verified_from` on
    /// was handed out unless the stream removed it before a consumer read it; the
    /// stream's first sequence still being at most `verified_from` rules that out.
    verified_from: u64,
    mode: Mode,
    /// Reconnections and slow-consumer drops of the connection (`Inner::misses`).
    misses: tokio::sync::watch::Receiver<u64>,
    ended: bool,
    /// When to run the next [`Feed::check`].
    check_at: Instant,
}

enum Mode {
    /// Every event reaches `stored`, naming the user's previous one: nothing is missed.
    Live,
    /// Something was missed: a consumer (`None`: one is to be created) reads the stream
    /// from `next_seq` until a republished event follows on from what was handed out.
    CatchUp(Option<Box<Replay>>),
}

/// The consumer of a subscription that catches up.
struct Replay {
    name: String,
    messages: pull::Stream,
    /// The consumer sequence of the last message received: the next must follow it.
    delivered: u64,
}

/// What a subscription waits for.
enum Input {
    Replayed(Box<Option<Result<async_nats::jetstream::Message, pull::MessagesError>>>),
    Stored(Option<async_nats::Message>),
    Missed,
    Check,
}

/// Why a subscription cannot go on as it is.
enum Trouble {
    /// Events may have been lost: the subscription ends.
    Gap(String),
    /// NATS failed: try again.
    Retry(Error),
}

impl Feed {
    /// A feed of what is stored after `state`.
    fn new(inner: Arc<Inner>, subject: String, stored: async_nats::Subscriber, state: &StreamState) -> Self {
        // A new receiver has seen the current count: only later misses wake it.
        let misses = inner.misses.subscribe();
        let mut feed = Feed {
            inner,
            subject,
            epoch: state.epoch.clone(),
            stored,
            next_seq: state.last + 1,
            last_seen: None,
            verified_from: state.last + 1,
            mode: Mode::Live,
            misses,
            ended: false,
            check_at: Instant::now(),
        };
        feed.schedule_check();
        feed
    }

    /// Starts over at `start` of the stream `state` describes, live.
    fn restart_at(&mut self, state: &StreamState, start: u64) {
        self.drop_consumer();
        self.mode = Mode::Live;
        self.epoch = state.epoch.clone();
        self.next_seq = start;
        self.verified_from = start;
        self.last_seen = None;
    }

    fn into_stream(self) -> UserEventStream {
        Box::pin(futures::stream::unfold(self, |mut feed| async move {
            let item = feed.next().await?.map(|(id, event)| (Some(id), event));
            Some((item, feed))
        }))
    }

    /// Checks run every quarter of the retention (between a second and an hour).
    fn schedule_check(&mut self) {
        let period = Duration::from_secs((self.inner.config.user_events_max_age_secs / 4).clamp(1, 3600));
        self.check_at = Instant::now() + period;
    }

    async fn create_consumer(&self) -> Result<Box<Replay>> {
        let name = format!("{}_sub_{:016x}", self.inner.config.prefix, rand::random::<u64>());
        let config = pull::Config {
            name: Some(name.clone()),
            description: Some(format!("Petit chat live stream of {}, catching up", self.subject)),
            filter_subject: self.subject.clone(),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: self.next_seq },
            ack_policy: consumer::AckPolicy::None,
            max_deliver: 1,
            inactive_threshold: INACTIVE_THRESHOLD,
            num_replicas: 1,
            memory_storage: true,
            ..Default::default()
        };
        let consumer = self
            .inner
            .js
            .create_consumer_on_stream(config, &self.inner.user_stream)
            .await
            .map_err(|e| unavailable("cannot create a live stream consumer", e))?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(PULL_BATCH)
            .heartbeat(HEARTBEAT)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|e| {
                self.delete_later(name.clone());
                unavailable("cannot pull user events", e)
            })?;
        Ok(Box::new(Replay { name, messages, delivered: 0 }))
    }

    /// Deletes a consumer in the background (the server would after `INACTIVE_THRESHOLD`).
    fn delete_later(&self, name: String) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let inner = self.inner.clone();
            runtime.spawn(async move {
                if let Err(error) = inner.js.delete_consumer_from_stream(&name, &inner.user_stream).await {
                    tracing::debug!(%error, consumer = %name, "nats: cannot delete a live stream consumer");
                }
            });
        }
    }

    /// Forgets the catching-up consumer, if any; the mode stays.
    fn drop_consumer(&mut self) {
        if let Mode::CatchUp(replay) = &mut self.mode
            && let Some(replay) = replay.take()
        {
            self.delete_later(replay.name);
        }
    }

    fn catch_up(&mut self) {
        if matches!(self.mode, Mode::Live) {
            tracing::debug!(subject = %self.subject, from = self.next_seq, "nats: live stream missed events; catching up");
            self.mode = Mode::CatchUp(None);
        }
    }

    /// Ends the subscription if the stream may have removed an event of it before a
    /// consumer read it; otherwise everything before `next_seq` is verified.
    fn verify(&mut self, state: &StreamState) -> Result<(), Trouble> {
        if state.epoch != self.epoch {
            return Err(Trouble::Gap("the per-user event stream was recreated".into()));
        }
        if state.first > self.verified_from {
            return Err(Trouble::Gap(format!(
                "events from sequence {} on may have expired before this stream delivered them",
                self.verified_from
            )));
        }
        self.verified_from = self.next_seq;
        Ok(())
    }

    /// A new consumer from `next_seq`, if nothing from there may have been removed.
    async fn resume(&mut self) -> Result<(), Trouble> {
        self.mode = Mode::CatchUp(Some(self.create_consumer().await.map_err(Trouble::Retry)?));
        // Checked once the consumer exists: later removals show at the next check.
        match self.inner.user_stream_state().await {
            Ok(state) => self.verify(&state),
            Err(error) => {
                self.drop_consumer();
                Err(Trouble::Retry(error))
            }
        }
    }

    /// Runs from time to time, and when the connection may have lost republished events:
    /// verifies what was handed out (a consumer replaying old events may lose the race
    /// against the retention), catches up if an event for this subscription is stored
    /// but was not handed out, and otherwise moves an idle subscription's position past
    /// the events of other users, so that an old position is no gap.
    async fn check(&mut self) -> Result<(), Trouble> {
        self.schedule_check();
        let stream = match self.inner.js.get_stream(&self.inner.user_stream).await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(%error, subject = %self.subject, "nats: cannot check a live stream");
                return Ok(());
            }
        };
        let state = StreamState::of(stream.cached_info());
        self.verify(&state)?;
        if state.last < self.next_seq {
            return Ok(());
        }
        let found = stream.raw_message_builder().sequence(self.next_seq).next_by_subject(&self.subject).send().await;
        match found {
            // An event not handed out yet: a consumer reads it if it is not on its way.
            Ok(message) if message.sequence <= state.last => {
                self.catch_up();
                return Ok(());
            }
            Ok(_) => {}
            Err(error) if matches!(error.kind(), stream::LastRawMessageErrorKind::NoMessageFound) => {}
            Err(error) => {
                tracing::debug!(%error, subject = %self.subject, "nats: cannot check a live stream");
                return Ok(());
            }
        }
        // No event for this subscription up to `state.last`, and none removed while we
        // looked (removal only moves the first sequence: the stream is never purged by
        // subject).
        if let Ok(after) = self.inner.user_stream_state().await
            && after.epoch == self.epoch
            && after.first <= self.next_seq
        {
            self.next_seq = state.last + 1;
            self.verified_from = self.next_seq;
            self.last_seen = None;
        }
        Ok(())
    }

    /// Waits for the next input: a replayed or a republished event, a check's time, or
    /// news that the connection may have lost events.
    async fn input(&mut self) -> Input {
        let replay = async {
            match &mut self.mode {
                Mode::CatchUp(Some(replay)) => replay.messages.next().await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            item = replay => Input::Replayed(Box::new(item)),
            message = self.stored.next() => Input::Stored(message),
            Ok(()) = self.misses.changed() => Input::Missed,
            () = tokio::time::sleep_until(self.check_at) => Input::Check,
        }
    }

    /// Hands out the event stored at `seq`.
    fn deliver(&mut self, seq: u64, payload: &[u8]) -> Result<(EventId, Event)> {
        self.next_seq = seq + 1;
        self.last_seen = Some(seq);
        match serde_json::from_slice::<Event>(payload) {
            Ok(event) => Ok((event_id(&self.epoch, seq), event)),
            Err(error) => {
                // An event this node cannot read (a newer node wrote it): the client
                // must resync rather than miss it silently.
                self.ended = true;
                self.drop_consumer();
                Err(Error::unavailable(format!("nats: undecodable user event at sequence {seq}: {error}")))
            }
        }
    }

    /// An event the stream republished: handed out if it follows on from what was, the
    /// end of catching up if the feed was; otherwise the feed catches up.
    fn on_stored(&mut self, message: &async_nats::Message) -> Option<Result<(EventId, Event)>> {
        let header = |name| message.headers.as_ref()?.get(name)?.as_str().parse::<u64>().ok();
        let (Some(seq), Some(previous)) = (header(NATS_SEQUENCE), header(NATS_LAST_SEQUENCE)) else {
            tracing::debug!(subject = %message.subject, "nats: a republished user event without its sequences");
            return None;
        };
        if seq < self.next_seq {
            match self.mode {
                // The republished copy of the last event the consumer handed out: what
                // comes after it here follows on, so the consumer is done.
                Mode::CatchUp(_) if Some(seq) == self.last_seen => {
                    self.drop_consumer();
                    self.mode = Mode::Live;
                }
                Mode::CatchUp(_) => {}
                // In flight since before the subscription, or from a recreated stream:
                // a check soon tells.
                Mode::Live => self.check_at = self.check_at.min(Instant::now() + SOON),
            }
            return None;
        }
        // `previous` is 0 when the user's previous event was removed: it was the last one
        // handed out only if none was (since the subscription or an idle check).
        let follows_on = previous < self.next_seq && (previous != 0 || self.last_seen.is_none());
        if !follows_on {
            self.catch_up();
            return None;
        }
        if matches!(self.mode, Mode::CatchUp(_)) {
            self.drop_consumer();
            self.mode = Mode::Live;
        }
        Some(self.deliver(seq, &message.payload))
    }

    /// An event the catching-up consumer read.
    fn on_replayed(&mut self, message: &async_nats::jetstream::Message) -> Option<Result<(EventId, Event)>> {
        let Mode::CatchUp(Some(replay)) = &mut self.mode else { return None };
        let Ok(info) = message.info() else {
            self.drop_consumer();
            return None;
        };
        if info.consumer_sequence != replay.delivered + 1 {
            tracing::debug!(subject = %self.subject, "nats: live stream skipped a message; resuming");
            self.drop_consumer();
            return None;
        }
        replay.delivered = info.consumer_sequence;
        let seq = info.stream_sequence;
        if seq < self.next_seq {
            return None;
        }
        Some(self.deliver(seq, &message.payload))
    }

    async fn next(&mut self) -> Option<Result<(EventId, Event)>> {
        let mut backoff = Backoff::default();
        loop {
            if self.ended {
                return None;
            }
            let trouble = if matches!(self.mode, Mode::CatchUp(None)) {
                self.resume().await.err()
            } else if Instant::now() >= self.check_at {
                self.check().await.err()
            } else {
                None
            };
            match trouble {
                Some(Trouble::Gap(detail)) => {
                    self.ended = true;
                    self.drop_consumer();
                    return Some(Err(Error::unavailable(format!("nats: {detail}"))));
                }
                Some(Trouble::Retry(error)) => {
                    tracing::debug!(%error, subject = %self.subject, "nats: live stream cannot resume yet");
                    backoff.wait().await;
                    continue;
                }
                None => backoff.reset(),
            }
            if matches!(self.mode, Mode::CatchUp(None)) {
                continue; // the check found a missed event
            }
            let item = match self.input().await {
                Input::Stored(Some(message)) => self.on_stored(&message),
                Input::Stored(None) => {
                    self.ended = true;
                    self.drop_consumer();
                    return Some(Err(Error::unavailable("nats: the user event subscription closed")));
                }
                Input::Replayed(item) => match *item {
                    Some(Ok(message)) => self.on_replayed(&message),
                    Some(Err(error)) => {
                        tracing::debug!(%error, subject = %self.subject, "nats: live stream consumer lost; resuming");
                        self.drop_consumer();
                        None
                    }
                    None => {
                        self.drop_consumer();
                        None
                    }
                },
                Input::Missed => {
                    let spread = SPREAD.mul_f64(rand::random::<f64>());
                    self.check_at = self.check_at.min(Instant::now() + SOON + spread);
                    None
                }
                Input::Check => None,
            };
            if item.is_some() {
                return item;
            }
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.drop_consumer();
    }
}
