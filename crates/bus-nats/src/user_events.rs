//! Per-user events: publishing one message per user, and the subscription behind a live
//! stream.
//!
//! A subscription is an ephemeral pull consumer (memory, one replica, no acks) filtered on
//! the user's subject and started at a stream sequence: after the `Last-Event-ID`, or
//! after the stream's last sequence for "only new" (so nothing published once
//! `subscribe_user` has returned is missed). This adapter tracks the last sequence it
//! handed out and, when the consumer is lost (NATS restarted, the connection was down
//! longer than the consumer's inactivity threshold, a sequence jumped), creates a new one
//! from there — unless events from there may have been removed meanwhile (the stream's
//! first sequence moved past it, or the stream was recreated): then the stream ends with
//! an error and the client resyncs.
//!
//! Every quarter of the retention (at most an hour) a subscription checks that the
//! stream removed nothing it had not read yet (a consumer replaying events close to
//! their expiry may lose that race: the stream then ends with an error too), and moves an
//! idle subscription's position past other users' events, so that losing the consumer of
//! a user who got no event for longer than the retention is not mistaken for a gap.
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
    let ephemeral = client
        .subscribe(inner.config.live_subject(user))
        .await
        .map_err(|e| unavailable("cannot subscribe to ephemeral events", e))?;
    // The server has the interest once it answered the flush's ping.
    client.flush().await.map_err(|e| unavailable("cannot subscribe to ephemeral events", e))?;
    Ok(match subscribe_durable(inner, user, after).await? {
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

async fn subscribe_durable(inner: Arc<Inner>, user: UserId, after: Option<&str>) -> Result<UserSubscription> {
    let subject = inner.config.user_subject(user);
    let before = inner.user_stream_state().await?;
    let live = |inner: Arc<Inner>, state: StreamState| Feed::open(inner, subject.clone(), state.epoch, state.last + 1);
    let Some(after) = after else {
        return Ok(UserSubscription::Complete(live(inner, before).await?.into_stream()));
    };
    let start = match parse_event_id(after, &before.epoch) {
        Some(seq) if seq <= before.last && before.first <= seq + 1 => seq + 1,
        _ => return Ok(UserSubscription::Gap(live(inner, before).await?.into_stream())),
    };
    let feed = Feed::open(inner.clone(), subject.clone(), before.epoch.clone(), start).await?;
    // Everything after `after` was there when we looked; check it still was once the
    // consumer existed (later removals show at the subscription's next check).
    let now = inner.user_stream_state().await?;
    if now.epoch == before.epoch && now.first <= start {
        Ok(UserSubscription::Complete(feed.into_stream()))
    } else {
        drop(feed);
        Ok(UserSubscription::Gap(live(inner, now).await?.into_stream()))
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

/// One live subscription.
struct Feed {
    inner: Arc<Inner>,
    subject: String,
    epoch: String,
    /// The stream sequence to deliver from: one past the last event handed out.
    next_seq: u64,
    /// Every event for this subscription before `next_seq` and from `verified_from` on
    /// was handed out unless the stream removed it before a consumer read it; the
    /// stream's first sequence still being at most `verified_from` rules that out.
    verified_from: u64,
    consumer: Option<Live>,
    ended: bool,
    /// When to run the next [`Feed::check`].
    check_at: Instant,
}

/// The current consumer of a subscription.
struct Live {
    name: String,
    messages: pull::Stream,
    /// The consumer sequence of the last message received: the next must follow it.
    delivered: u64,
}

/// Why a subscription cannot go on as it is.
enum Trouble {
    /// Events may have been lost: the subscription ends.
    Gap(String),
    /// NATS failed: try again.
    Retry(Error),
}

impl Feed {
    async fn open(inner: Arc<Inner>, subject: String, epoch: String, start: u64) -> Result<Self> {
        let mut feed = Feed {
            inner,
            subject,
            epoch,
            next_seq: start,
            verified_from: start,
            consumer: None,
            ended: false,
            check_at: Instant::now(),
        };
        feed.schedule_check();
        feed.consumer = Some(feed.create_consumer().await?);
        Ok(feed)
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

    async fn create_consumer(&self) -> Result<Live> {
        let name = format!("{}_sub_{:016x}", self.inner.config.prefix, rand::random::<u64>());
        let config = pull::Config {
            name: Some(name.clone()),
            description: Some(format!("Petit chat live stream of {}", self.subject)),
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
        Ok(Live { name, messages, delivered: 0 })
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

    fn drop_consumer(&mut self) {
        if let Some(live) = self.consumer.take() {
            self.delete_later(live.name);
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
        self.consumer = Some(self.create_consumer().await.map_err(Trouble::Retry)?);
        // Checked once the consumer exists: later removals show at the next check.
        match self.inner.user_stream_state().await {
            Ok(state) => self.verify(&state),
            Err(error) => {
                self.drop_consumer();
                Err(Trouble::Retry(error))
            }
        }
    }

    /// Runs from time to time: verifies what was handed out (a consumer replaying old
    /// events may lose the race against the retention), then moves an idle
    /// subscription's position past the events of other users, so that losing the
    /// consumer of a user who got no event for longer than the retention is no gap.
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
            // An event on its way to this subscription.
            Ok(message) if message.sequence <= state.last => return Ok(()),
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
        }
        Ok(())
    }

    async fn next(&mut self) -> Option<Result<(EventId, Event)>> {
        if self.ended {
            return None;
        }
        let mut backoff = Backoff::default();
        loop {
            let trouble = if self.consumer.is_none() {
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
            let live = self.consumer.as_mut()?;
            let item = tokio::select! {
                item = live.messages.next() => item,
                () = tokio::time::sleep_until(self.check_at) => continue,
            };
            let message = match item {
                Some(Ok(message)) => message,
                Some(Err(error)) => {
                    tracing::debug!(%error, subject = %self.subject, "nats: live stream consumer lost; resuming");
                    self.drop_consumer();
                    continue;
                }
                None => {
                    self.drop_consumer();
                    continue;
                }
            };
            let Ok(info) = message.info() else {
                self.drop_consumer();
                continue;
            };
            if info.consumer_sequence != live.delivered + 1 {
                tracing::debug!(subject = %self.subject, "nats: live stream skipped a message; resuming");
                self.drop_consumer();
                continue;
            }
            live.delivered = info.consumer_sequence;
            let seq = info.stream_sequence;
            if seq < self.next_seq {
                continue;
            }
            self.next_seq = seq + 1;
            return Some(match serde_json::from_slice::<Event>(&message.payload) {
                Ok(event) => Ok((event_id(&self.epoch, seq), event)),
                Err(error) => {
                    // An event this node cannot read (a newer node wrote it): the client
                    // must resync rather than miss it silently.
                    self.ended = true;
                    self.drop_consumer();
                    Err(Error::unavailable(format!("nats: undecodable user event at sequence {seq}: {error}")))
                }
            });
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.drop_consumer();
    }
}
