//! Per-user events: publishing one message per event (its recipients in a header), and
//! the live streams, which a node's follower feeds (`follower.rs`, `window.rs`).
//!
//! A fanned-out event is one message on `<prefix>.user.fanout`, whatever the number of its
//! recipients (up to [`RECIPIENTS_PER_MESSAGE`] a message), whose `Petit-Recipients`
//! header lists them. A message on `<prefix>.user.<user id>` (what releases before this
//! one published, one per recipient) is for that user. Every node follows the whole
//! stream once, so NATS stores each event once and sends it once to each node with live
//! streams, instead of storing and sending one copy per recipient.
//!
//! An event id is `<stream epoch>-<stream sequence>`. A live stream opened after an id
//! replays from its node's window what it missed (the window covers the last
//! `replay_window_events` events of the stream, within its retention); a position before
//! the window, or one the stream no longer holds, is a gap: the client resyncs.
//!
//! Ephemeral events are core NATS messages on the user's live subject: a subscription
//! subscribes to it before anything else (and waits for the server to have the interest),
//! and merges what comes there, without ids, into its stream, which ends when the durable
//! part ends.

use std::sync::Arc;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream;
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use domain::{Error, Event, Id, Result, UserId};
use futures::StreamExt;
use ports::bus::parse_event_id;
use ports::{UserEventStream, UserSubscription};

use crate::follower;
use crate::window::{Joined, Live};
use crate::{Inner, unavailable};

/// The header of a fanned-out event that lists its recipients (decimal ids, by commas).
pub(crate) const RECIPIENTS_HEADER: &str = "Petit-Recipients";
/// Recipients named by one message at most; more make more messages of the same event
/// (a header stays well within NATS's default 1 MB payload limit).
pub(crate) const RECIPIENTS_PER_MESSAGE: usize = 2_000;

/// Publishes `event` for `users`: one message per [`RECIPIENTS_PER_MESSAGE`] of them. With
/// `origin` (the chat event fanned out), message `k` carries the id `<origin>-<k>`, so a
/// redelivered chat event fanned out again within the stream's duplicate window (two
/// minutes) is not delivered twice.
pub(crate) async fn publish(inner: &Inner, users: &[UserId], event: &Event, origin: Option<&str>) -> Result<()> {
    let payload =
        Bytes::from(serde_json::to_vec(event).map_err(|e| Error::internal(format!("cannot encode an event: {e}")))?);
    let mut acks = vec![];
    for (k, chunk) in users.chunks(RECIPIENTS_PER_MESSAGE).enumerate() {
        let names: Vec<String> = chunk.iter().map(|u| u.0.to_string()).collect();
        let mut message =
            PublishMessage::build().payload(payload.clone()).header(RECIPIENTS_HEADER, names.join(",").as_str());
        if let Some(origin) = origin {
            message = message.message_id(format!("{origin}-{k}"));
        }
        let ack = inner
            .js
            .send_publish(inner.config.fanout_subject(), message)
            .await
            .map_err(|e| unavailable("cannot publish a user event", e))?;
        acks.push(std::future::IntoFuture::into_future(ack));
    }
    futures::future::try_join_all(acks)
        .await
        .map_err(|e| unavailable("the user event stream did not acknowledge", e))?;
    Ok(())
}

/// The recipients of a stored event: its header's, or the user its subject names.
pub(crate) fn recipients(subject: &Subject, headers: Option<&HeaderMap>) -> Box<[UserId]> {
    if let Some(list) = headers.and_then(|h| h.get(RECIPIENTS_HEADER)) {
        return list.as_str().split(',').filter_map(|id| id.parse().ok().map(Id)).collect();
    }
    match subject.rsplit('.').next().and_then(|id| id.parse().ok()) {
        Some(id) => Box::new([Id(id)]),
        None => Box::new([]),
    }
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

/// A live stream of `user`'s events from after `after` (`None`: from now).
pub(crate) async fn subscribe(inner: Arc<Inner>, user: UserId, after: Option<&str>) -> Result<UserSubscription> {
    let ephemeral = inner
        .js
        .client()
        .subscribe(inner.config.live_subject(user))
        .await
        .map_err(|e| unavailable("cannot subscribe to user events", e))?;
    // The server has the ephemeral subscription once it has answered a request sent after
    // it on this connection (a flush only writes it out): the stream's state, which also
    // tells whether the stream still holds what follows a position to resume from.
    let state = inner.user_stream_state().await?;
    let resume = after.and_then(|after| {
        parse_event_id(after, &state.epoch)
            .filter(|&seq| seq <= state.last && state.first <= seq + 1)
            .map(|seq| (state.epoch, seq))
    });
    let joined = loop {
        follower::ensure_running(&inner).await?;
        let mut follower = inner.follower.lock();
        if !follower.running {
            continue; // it stopped, idle, meanwhile
        }
        break match (after, resume) {
            (None, _) => follower.window.join(user, None),
            (Some(_), Some((epoch, seq))) if epoch == follower.window.epoch() => follower.window.join(user, Some(seq)),
            (Some(_), _) => follower.window.join_lost(user),
        };
    };
    Ok(match joined {
        Joined::Complete(replay, live, id) => {
            let replay = replay.into_iter().map(|(id, event)| Ok((Some(id), event)));
            let durable = futures::stream::iter(replay).chain(live_stream(inner, user, live, id));
            UserSubscription::Complete(with_ephemeral(Box::pin(durable), ephemeral))
        }
        Joined::Gap(live, id) => UserSubscription::Gap(with_ephemeral(live_stream(inner, user, live, id), ephemeral)),
        Joined::Unreadable(replay, error) => {
            let replay = replay.into_iter().map(|(id, event)| Ok((Some(id), event)));
            let durable = futures::stream::iter(replay.chain([Err(error)]));
            UserSubscription::Complete(with_ephemeral(Box::pin(durable), ephemeral))
        }
    })
}

/// What the window hands a live stream, with ids; when the window lets it go (it fell
/// behind, an event could not be read, the node lost events), one error, then the end.
fn live_stream(inner: Arc<Inner>, user: UserId, live: Live, id: u64) -> UserEventStream {
    let session = Session { inner, user, id, live };
    Box::pin(futures::stream::unfold(Some(session), |session| async move {
        let mut session = session?;
        match session.live.recv().await {
            Some((id, event)) => Some((Ok((Some(id), event)), Some(session))),
            None => Some((Err(Error::unavailable("nats: this live stream missed events: resync")), None)),
        }
    }))
}

/// A live stream's place in its node's window, left when the stream is dropped.
struct Session {
    inner: Arc<Inner>,
    user: UserId,
    id: u64,
    live: Live,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.inner.follower.lock().window.leave(self.user, self.id);
    }
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

/// What a subscription needs to know of the per-user event stream.
pub(crate) struct StreamState {
    /// Tells this stream from a deleted and recreated one of the same name.
    pub(crate) epoch: String,
    pub(crate) first: u64,
    pub(crate) last: u64,
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
