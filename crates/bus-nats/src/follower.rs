//! A node's follower of the per-user event stream: one task per node that reads every
//! event the stream stores, in order, into the node's window (`window.rs`), which hands
//! each to the live streams of the users it names and keeps the last ones for replays.
//!
//! It reads what the stream republishes once stored: the republish rule copies each event
//! to the core subject `<prefix>.stored.<token>`, with its sequence (`Nats-Sequence`).
//! The follower subscribes there before it reads the stream's state, so nothing stored
//! once it runs is missed; it hands out an event that follows on from the last one (the
//! sequence after it: it reads every subject of the stream). No consumer, no pull: one
//! core message per event and node, whatever the number of recipients or live streams.
//!
//! Otherwise it catches up: an ephemeral pull consumer (memory, one replica, no acks) reads
//! the stream from one past the last event handed out until a republished event follows
//! on from what it handed out (or is the copy of the last one); then the consumer goes. It
//! catches up
//! - when it starts, to fill the window with the last events stored before (replays);
//! - when a republished event skips one (the connection dropped some: a slow consumer, a
//!   reconnection);
//! - when the connection reconnected or the republish rule was restored
//!   (`Inner::misses`), or when a check finds that an event stored at the previous check
//!   was not handed out yet, in case no later event comes.
//!
//! A consumer that is lost (NATS restarted) is made again from the last sequence handed
//! out — unless events from there may have been removed meanwhile (the stream's first
//! sequence moved past it, or the stream was recreated): then every live stream of the
//! node ends with an error (its client resyncs) and the follower starts over, live.
//!
//! These checks watch the stream's first sequence: removing events other than by
//! retention or a whole-stream purge (deleting single messages, purging one subject)
//! would hide a gap from them, so operators must not.
//!
//! The follower starts with the node's first live stream and stops a minute after its
//! last one closed.

use std::sync::Arc;
use std::time::Duration;

use async_nats::header::NATS_SEQUENCE;
use async_nats::jetstream::consumer::{self, pull};
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use domain::Result;
use futures::StreamExt;
use tokio::time::Instant;

use crate::user_events::{StreamState, recipients};
use crate::window::Window;
use crate::{Backoff, Inner, unavailable};

const HEARTBEAT: Duration = Duration::from_secs(5);
const PULL_EXPIRES: Duration = Duration::from_secs(30);
const PULL_BATCH: usize = 256;
/// How soon the follower checks after news that it may have missed events, plus up to
/// `SPREAD`, so that the nodes that reconnected do not all ask at once.
const SOON: Duration = Duration::from_millis(250);
const SPREAD: Duration = Duration::from_secs(2);
/// A consumer left without pulls (its node died) is removed by the server after this long.
const INACTIVE_THRESHOLD: Duration = Duration::from_secs(60);
/// How long the follower runs on after the node's last live stream closed.
const IDLE_STOP: Duration = Duration::from_secs(60);

/// The node's window, and whether a follower feeds it.
pub(crate) struct Follower {
    state: std::sync::Mutex<FollowerState>,
    starting: tokio::sync::Mutex<()>,
}

pub(crate) struct FollowerState {
    pub(crate) window: Window,
    pub(crate) running: bool,
}

impl Follower {
    pub(crate) fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            state: std::sync::Mutex::new(FollowerState { window: Window::new(capacity, max_age), running: false }),
            starting: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, FollowerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts the node's follower unless it runs.
pub(crate) async fn ensure_running(inner: &Arc<Inner>) -> Result<()> {
    if inner.follower.lock().running {
        return Ok(());
    }
    let _starting = inner.follower.starting.lock().await;
    if inner.follower.lock().running {
        return Ok(());
    }
    let stored = inner
        .js
        .client()
        .subscribe(inner.config.stored_subjects())
        .await
        .map_err(|e| unavailable("cannot subscribe to user events", e))?;
    // The server has the subscription once it has answered a request sent after it on
    // this connection (a flush only writes it out): the stream's state, read next.
    let state = inner.user_stream_state().await?;
    // The window starts with the last events stored before, read by catching up.
    let capacity = inner.config.replay_window_events;
    let start = state.first.max((state.last + 1).saturating_sub(capacity)).max(1);
    let mut driver = Driver::new(inner.clone(), stored, &state, start);
    {
        let mut follower = inner.follower.lock();
        follower.window.reset(&state.epoch, start, state.last);
        follower.running = true;
    }
    if start <= state.last {
        driver.mode = Mode::CatchUp(None);
    }
    tokio::spawn(driver.run());
    Ok(())
}

/// The follower's task.
struct Driver {
    inner: Arc<Inner>,
    epoch: String,
    /// What the stream republishes (`<prefix>.stored.*`).
    stored: async_nats::Subscriber,
    /// The stream sequence to hand out next: one past the last event handed out.
    next_seq: u64,
    /// The sequence of the last event handed out.
    last_seen: Option<u64>,
    /// Every event before `next_seq` and from `verified_from` on was handed out unless the
    /// stream removed it before a consumer read it; the stream's first sequence still
    /// being at most `verified_from` rules that out.
    verified_from: u64,
    /// The stream's last sequence at the previous check, if it was not handed out then.
    pending_at_check: Option<u64>,
    mode: Mode,
    /// Reconnections and slow-consumer drops of the connection (`Inner::misses`).
    misses: tokio::sync::watch::Receiver<u64>,
    /// When to run the next [`Driver::check`].
    check_at: Instant,
    /// News that the connection may have lost events came since the last check.
    missed: bool,
    /// Since when the node has had no live stream.
    idle_since: Option<Instant>,
}

enum Mode {
    /// Every event reaches `stored`: nothing is missed.
    Live,
    /// Something was missed: a consumer (`None`: one is to be created) reads the stream
    /// from `next_seq` until a republished event follows on from what was handed out.
    CatchUp(Option<Box<Replay>>),
}

/// The consumer of a follower that catches up.
struct Replay {
    name: String,
    messages: pull::Stream,
    /// The consumer sequence of the last message received: the next must follow it.
    delivered: u64,
}

/// What the follower waits for.
enum Input {
    Replayed(Box<Option<Result<async_nats::jetstream::Message, pull::MessagesError>>>),
    Stored(Option<async_nats::Message>),
    Missed,
    Check,
}

/// Why the follower cannot go on as it is.
enum Trouble {
    /// Events may have been lost: the node's live streams end, and the follower starts over.
    Gap(String),
    /// NATS failed: try again.
    Retry(domain::Error),
}

impl Driver {
    fn new(inner: Arc<Inner>, stored: async_nats::Subscriber, state: &StreamState, start: u64) -> Self {
        // A new receiver has seen the current count: only later misses wake it.
        let misses = inner.misses.subscribe();
        let mut driver = Driver {
            inner,
            epoch: state.epoch.clone(),
            stored,
            next_seq: start,
            last_seen: None,
            verified_from: start,
            pending_at_check: None,
            mode: Mode::Live,
            misses,
            check_at: Instant::now(),
            missed: false,
            idle_since: None,
        };
        driver.schedule_check();
        driver
    }

    /// Checks run every quarter of the retention, between a second and five.
    fn schedule_check(&mut self) {
        let period = Duration::from_secs((self.inner.config.user_events_max_age_secs / 4).clamp(1, 5));
        self.check_at = Instant::now() + period;
    }

    async fn create_consumer(&self) -> Result<Box<Replay>> {
        let name = format!("{}_node_{:016x}", self.inner.config.prefix, rand::random::<u64>());
        let config = pull::Config {
            name: Some(name.clone()),
            description: Some("Petit chat node following the per-user events, catching up".into()),
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
            .map_err(|e| unavailable("cannot create a consumer of user events", e))?;
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
                    tracing::debug!(%error, consumer = %name, "nats: cannot delete a consumer of user events");
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
            tracing::debug!(from = self.next_seq, "nats: the node missed user events; catching up");
            self.mode = Mode::CatchUp(None);
        }
    }

    fn go_live(&mut self) {
        self.drop_consumer();
        self.mode = Mode::Live;
    }

    /// A gap if the stream may have removed an event before the follower read it;
    /// otherwise everything before `next_seq` is verified.
    fn verify(&mut self, state: &StreamState) -> Result<(), Trouble> {
        if state.epoch != self.epoch {
            return Err(Trouble::Gap("the per-user event stream was recreated".into()));
        }
        if state.first > self.verified_from {
            return Err(Trouble::Gap(format!(
                "events from sequence {} on may have expired before this node read them",
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
    /// verifies what was handed out, catches up if an event stored at the previous check
    /// (or, after news of a miss, now) is not handed out yet, and forgets the window's
    /// expired events.
    async fn check(&mut self) -> Result<(), Trouble> {
        self.schedule_check();
        let missed = std::mem::take(&mut self.missed);
        self.inner.follower.lock().window.evict(Instant::now());
        let state = match self.inner.user_stream_state().await {
            Ok(state) => state,
            Err(error) => {
                tracing::debug!(%error, "nats: the node cannot check the per-user event stream");
                self.missed = missed;
                return Ok(());
            }
        };
        self.verify(&state)?;
        let behind = self.pending_at_check.is_some_and(|last| last >= self.next_seq);
        if behind || (missed && state.last >= self.next_seq) {
            self.catch_up();
        }
        self.pending_at_check = (state.last >= self.next_seq).then_some(state.last);
        Ok(())
    }

    /// Starts over live at the end of the stream, after a gap: every live stream of the
    /// node ends with an error.
    async fn start_over(&mut self, detail: &str) -> Result<(), domain::Error> {
        let state = self.inner.user_stream_state().await?;
        tracing::warn!(detail, "nats: the node lost user events; its live streams must resync");
        self.go_live();
        self.epoch = state.epoch.clone();
        self.next_seq = state.last + 1;
        self.verified_from = self.next_seq;
        self.last_seen = None;
        self.pending_at_check = None;
        self.inner.follower.lock().window.reset(&state.epoch, self.next_seq, state.last);
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

    /// Hands the event stored at `seq` to the window.
    fn hand_out(&mut self, seq: u64, subject: &Subject, headers: Option<&HeaderMap>, payload: Bytes) {
        self.next_seq = seq + 1;
        self.last_seen = Some(seq);
        let recipients = recipients(subject, headers);
        // A copy: the message's bytes share the connection's read buffer, which the window
        // would otherwise keep whole for as long as it keeps the event.
        let payload = Bytes::copy_from_slice(&payload);
        self.inner.follower.lock().window.hand_out(seq, recipients, payload, Instant::now());
    }

    /// An event the stream republished: handed out if it follows on from the last one,
    /// the end of catching up if the follower was; otherwise the follower catches up.
    fn on_stored(&mut self, message: async_nats::Message) {
        let seq = message.headers.as_ref().and_then(|h| h.get(NATS_SEQUENCE)?.as_str().parse::<u64>().ok());
        let Some(seq) = seq else {
            tracing::debug!(subject = %message.subject, "nats: a republished user event without its sequence");
            return;
        };
        if seq < self.next_seq {
            // The republished copy of the last event the consumer handed out: what comes
            // after it here follows on, so the consumer is done.
            if matches!(self.mode, Mode::CatchUp(_)) && Some(seq) == self.last_seen {
                self.go_live();
            }
            return;
        }
        if seq > self.next_seq {
            self.catch_up();
            return;
        }
        if matches!(self.mode, Mode::CatchUp(_)) {
            self.go_live();
        }
        self.hand_out(seq, &message.subject, message.headers.as_ref(), message.payload);
    }

    /// An event the catching-up consumer read.
    fn on_replayed(&mut self, message: async_nats::jetstream::Message) {
        let Mode::CatchUp(Some(replay)) = &mut self.mode else { return };
        let Ok(info) = message.info() else {
            self.drop_consumer();
            return;
        };
        if info.consumer_sequence != replay.delivered + 1 {
            tracing::debug!("nats: the node's consumer of user events skipped a message; resuming");
            self.drop_consumer();
            return;
        }
        replay.delivered = info.consumer_sequence;
        let seq = info.stream_sequence;
        if seq < self.next_seq {
            return;
        }
        let message = message.split().0;
        self.hand_out(seq, &message.subject, message.headers.as_ref(), message.payload);
    }

    /// Whether the node has had no live stream for [`IDLE_STOP`]: then the follower stops
    /// (under the lock, so no stream joins a window nobody feeds).
    fn stops_idle(&mut self) -> bool {
        let mut follower = self.inner.follower.lock();
        if follower.window.sessions() > 0 {
            self.idle_since = None;
            return false;
        }
        let since = *self.idle_since.get_or_insert_with(Instant::now);
        if since.elapsed() < IDLE_STOP {
            return false;
        }
        follower.running = false;
        true
    }

    async fn run(mut self) {
        let mut backoff = Backoff::default();
        loop {
            let trouble = if matches!(self.mode, Mode::CatchUp(None)) { self.resume().await.err() } else { None };
            match trouble {
                Some(Trouble::Gap(detail)) => {
                    if let Err(error) = self.start_over(&detail).await {
                        tracing::debug!(%error, "nats: the node cannot start over on the per-user stream yet");
                        self.mode = Mode::CatchUp(None);
                        backoff.wait().await;
                    }
                    continue;
                }
                Some(Trouble::Retry(error)) => {
                    tracing::debug!(%error, "nats: the node cannot catch up on user events yet");
                    if self.stops_idle() {
                        break;
                    }
                    backoff.wait().await;
                    continue;
                }
                None => backoff.reset(),
            }
            let checked = match self.input().await {
                Input::Stored(Some(message)) => {
                    self.on_stored(message);
                    Ok(())
                }
                Input::Stored(None) => {
                    // The client closed (the bus was dropped): the streams end.
                    let mut follower = self.inner.follower.lock();
                    follower.running = false;
                    follower.window.let_go_all();
                    break;
                }
                Input::Replayed(item) => {
                    match *item {
                        Some(Ok(message)) => self.on_replayed(message),
                        Some(Err(error)) => {
                            tracing::debug!(%error, "nats: the node's consumer of user events was lost; resuming");
                            self.drop_consumer();
                        }
                        None => self.drop_consumer(),
                    }
                    Ok(())
                }
                Input::Missed => {
                    self.missed = true;
                    let spread = SPREAD.mul_f64(rand::random::<f64>());
                    self.check_at = self.check_at.min(Instant::now() + SOON + spread);
                    Ok(())
                }
                Input::Check => {
                    if self.stops_idle() {
                        break;
                    }
                    self.check().await
                }
            };
            if let Err(Trouble::Gap(detail)) = checked
                && let Err(error) = self.start_over(&detail).await
            {
                tracing::debug!(%error, "nats: the node cannot start over on the per-user stream yet");
                self.mode = Mode::CatchUp(None);
            }
        }
        self.drop_consumer();
    }
}
