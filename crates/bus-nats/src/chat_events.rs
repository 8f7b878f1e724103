//! The chat-event log: publishing to the interest-retention stream `<PREFIX>_CHAT_LOG`
//! (subject `<prefix>.events.<partition>.<chat id>.<topic>`), and the consumer groups that
//! read it, each filtered on the topics it wants (`ports::Interest`).
//! A group is one durable pull consumer per partition (`<group>_<partition>`). An in-order
//! group's consumers are pinned-client consumers with up to [`PER_CHAT_IN_FLIGHT`] events
//! unacknowledged: each partition is pulled by the one worker that owns it (`owners.rs`),
//! which gets a busy chat's waiting events together and keeps their order, while
//! partitions go on in parallel on every worker. A group that takes events in any order
//! (`EventOrder::Any`) has [`ANY_ORDER_IN_FLIGHT`] per partition, shared by every worker.
//! A delivery is acknowledged (and confirmed by the server) by its `ack`; one dropped
//! without it is handed out again after `redeliver_delay_ms`, and one whose worker died
//! after `ack_wait_ms`. The stream keeps an event until every group has acknowledged it. A
//! pull broken by a NATS failure yields an error and reconnects by itself, so a worker
//! just keeps reading.

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use domain::{ChatEvent, Error, Result};
use futures::StreamExt;
use ports::{ChatEventStream, Delivery, EventOrder, GroupSpec};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::owners::{self, Registration};
use crate::{Backoff, Inner, config, unavailable};

/// How often the server tells an idle pull that the consumer is alive; two missed ones
/// and the stream is rebuilt.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long one pull request waits on the server.
const PULL_EXPIRES: Duration = Duration::from_secs(30);
/// How many events one pull request asks for, at least (and at least what its consumer may
/// have in flight).
const PULL_BATCH: usize = 16;
/// Events of a partition a group that takes them in any order may have unacknowledged.
pub(crate) const ANY_ORDER_IN_FLIGHT: i64 = 128;
/// Events of a partition an in-order group's worker (the one it is pinned to) may have
/// unacknowledged: a busy chat's waiting events reach it together.
pub(crate) const PER_CHAT_IN_FLIGHT: i64 = 32;

/// How many events of a partition a group of `order` may have unacknowledged.
pub(crate) fn in_flight(order: EventOrder) -> i64 {
    match order {
        EventOrder::PerChat => PER_CHAT_IN_FLIGHT,
        EventOrder::Any => ANY_ORDER_IN_FLIGHT,
    }
}

/// The header naming the version of a chat event's encoding, and the version this build
/// writes and reads. A build reads the versions up to its own. Version 2: signals carry
/// only the fields of their kind (version 1 also had empty `text` / `subjects`); version 1
/// events still read.
pub const EVENT_VERSION_HEADER: &str = "Petit-Chat-Event-Version";
pub const EVENT_VERSION: u32 = 2;
/// How long an event this build cannot read waits before it is offered again (to a worker
/// of a newer build, during a rolling upgrade).
const UNREADABLE_RETRY: Duration = Duration::from_secs(5);

/// Publishes a chat event with `key` as its message id, so publishing it again within the
/// stream's duplicate window (two minutes) does not deliver it twice: a retry after a
/// publish whose acknowledgement was lost, or the publishes the client buffered while
/// disconnected and sends all at once on reconnecting.
pub(crate) async fn publish(inner: &Inner, event: &ChatEvent, key: &str) -> Result<()> {
    let payload = serde_json::to_vec(event).map_err(|e| Error::internal(format!("cannot encode a chat event: {e}")))?;
    let message = PublishMessage::build()
        .payload(payload.into())
        .header(EVENT_VERSION_HEADER, EVENT_VERSION.to_string().as_str())
        .message_id(key);
    let ack = inner
        .js
        .send_publish(inner.config.chat_log_subject(event), message)
        .await
        .map_err(|e| unavailable("cannot publish a chat event", e))?;
    ack.await.map_err(|e| unavailable("the chat event stream did not acknowledge", e))?;
    Ok(())
}

/// The events of `group` for one worker: the partitions' pulls, merged. Each partition is
/// read by a task of its own as soon as the server delivers, and an event received but not
/// taken by the worker yet is kept alive (see [`Waiting`]): `ack_wait` counts from when the
/// worker takes an event, never from when it started to wait behind the worker's other
/// partitions. An in-order group's worker pulls only the partitions it owns (`owners.rs`).
/// Dropping the stream stops the tasks and hands back what was not taken.
pub(crate) async fn stream(inner: Arc<Inner>, group: &str, spec: GroupSpec) -> Result<ChatEventStream> {
    inner.declare_group(group, spec).await?;
    let consumers = (0..inner.config.partition_count()).map(|p| config::group_consumer(group, p)).collect();
    let stream = inner.chat_stream.clone();
    let partitions = match spec.order {
        EventOrder::PerChat => Partitions::Owned(Registration::new(group)),
        EventOrder::Any => Partitions::All,
    };
    Ok(merged(inner, stream, consumers, in_flight(spec.order), decode, partitions))
}

/// Which of its consumers a merged stream pulls.
pub(crate) enum Partitions {
    /// Every one, shared with the other workers.
    All,
    /// The ones this worker owns among the live workers of the group (pinned consumers).
    Owned(Registration),
}

/// The merged pulls of `consumers` (durable, of `stream`, each with at most `in_flight`
/// events unacknowledged), each message decoded by `decode`: the chat log's partitions for
/// one worker of a group, or the notification queue's. See [`stream`].
pub(crate) fn merged<T: Send + 'static>(
    inner: Arc<Inner>,
    stream: String,
    consumers: Vec<String>,
    in_flight: i64,
    decode: Decode<T>,
    partitions: Partitions,
) -> Pin<Box<dyn futures::Stream<Item = Result<Delivery<T>>> + Send>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let waiting = Arc::new(Waiting::default());
    let ack_wait = inner.config.ack_wait();
    let feeds = Feeds {
        inner,
        stream,
        consumers,
        batch: PULL_BATCH.max(usize::try_from(in_flight).unwrap_or(1)),
        decode,
        pinned: matches!(partitions, Partitions::Owned(_)),
        tx,
        waiting: waiting.clone(),
        failing: Arc::new(AtomicBool::new(false)),
    };
    let failing = feeds.failing.clone();
    let pinned = feeds.pinned;
    let mut tasks = vec![tokio::spawn(waiting.clone().keep_alive(ack_wait / 3)).abort_handle()];
    match partitions {
        Partitions::All => tasks.extend((0..feeds.consumers.len()).map(|i| feeds.spawn(i).task)),
        Partitions::Owned(registration) => tasks.push(tokio::spawn(own(feeds, registration)).abort_handle()),
    }
    // Dropped first: a pinned partition stays with this stream until its pin is released or
    // times out, so what was handed out and not acknowledged is left to come back after
    // `ack_wait`, oldest first, rather than handed back now and ahead of older events.
    let closing = Closing(pinned.then(|| waiting.clone()));
    let state = (closing, rx, waiting, failing, StopOnDrop(tasks));
    Box::pin(futures::stream::unfold(state, move |(closing, mut rx, waiting, failing, tasks)| async move {
        let (received, item) = rx.recv().await?;
        let item = match item {
            Ok((key, delivery)) => {
                // It waited: its `ack_wait` starts again now.
                if let Some(message) = waiting.remove(key).filter(|_| received.elapsed() > ack_wait / 10)
                    && let Err(error) = message.ack_with(AckKind::Progress).await
                {
                    tracing::debug!(%error, "nats: cannot restart a chat event's ack wait");
                }
                Ok(delivery)
            }
            Err(error) => {
                failing.store(false, Ordering::SeqCst);
                Err(error)
            }
        };
        Some((item, (closing, rx, waiting, failing, tasks)))
    }))
}

/// Marks a merged stream's unacknowledged events as left to come back by themselves.
struct Closing(Option<Arc<Waiting>>);

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(waiting) = &self.0 {
            waiting.closing.store(true, Ordering::SeqCst);
        }
    }
}

/// A feed's delivery (or failure) and when it came: what the worker has not taken yet.
type Received<T> = (Instant, Result<(u64, Delivery<T>)>);

/// What a merged stream's partition tasks share.
struct Feeds<T> {
    inner: Arc<Inner>,
    stream: String,
    consumers: Vec<String>,
    batch: usize,
    decode: Decode<T>,
    /// Pull in the owners' priority group (`owners.rs`).
    pinned: bool,
    tx: tokio::sync::mpsc::UnboundedSender<Received<T>>,
    waiting: Arc<Waiting>,
    /// An error is on its way to the worker.
    failing: Arc<AtomicBool>,
}

impl<T: Send + 'static> Feeds<T> {
    /// Starts pulling consumer `index`.
    fn spawn(&self, index: usize) -> Running {
        let in_hand = Arc::new(AtomicUsize::new(0));
        let mut feed = Feed {
            inner: self.inner.clone(),
            stream: self.stream.clone(),
            decode: self.decode,
            consumer: self.consumers[index].clone(),
            batch: self.batch,
            pinned: self.pinned,
            messages: None,
            backoff: Backoff::default(),
            failed: false,
            waiting: self.waiting.clone(),
            in_hand: in_hand.clone(),
        };
        let (tx, failing) = (self.tx.clone(), self.failing.clone());
        let stop = Arc::new(tokio::sync::Notify::new());
        let (stopped_tx, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                loop {
                    let item = tokio::select! {
                        biased;
                        () = stop.notified() => break,
                        item = feed.next() => item,
                    };
                    // One NATS failure breaks every partition's pull at once: the worker
                    // hears of it once (the feeds retry by themselves), not once per
                    // partition ahead of the events that follow.
                    if let Err(error) = &item
                        && failing.swap(true, Ordering::SeqCst)
                    {
                        tracing::debug!(%error, "nats: a partition's pull failed too");
                        continue;
                    }
                    if tx.send((Instant::now(), item)).is_err() {
                        break;
                    }
                }
                // Unsubscribes: the server sends this pull nothing more.
                drop(feed);
                let _ = stopped_tx.send(());
            }
        });
        Running { task: task.abort_handle(), stop, stopped, in_hand }
    }
}

/// A partition being pulled.
struct Running {
    task: tokio::task::AbortHandle,
    /// Ends the pull.
    stop: Arc<tokio::sync::Notify>,
    /// Answers once the pull has ended.
    stopped: tokio::sync::oneshot::Receiver<()>,
    /// Deliveries of the partition in the worker's hands (taken or waiting, not
    /// acknowledged or given back yet).
    in_hand: Arc<AtomicUsize>,
}

/// Pulls the partitions this worker owns, following the group's live workers (see
/// `owners.rs`) until the stream is dropped.
async fn own<T: Send + 'static>(feeds: Feeds<T>, registration: Registration) {
    let mut owned = Owned { feeds, registration: Arc::new(registration), running: BTreeMap::new() };
    let partitions = u32::try_from(owned.feeds.consumers.len()).unwrap_or(u32::MAX);
    // Registered, then a moment for workers starting together to see each other, so they
    // split the partitions from the start instead of handing them over.
    if let Err(error) = owned.registration.refresh(&owned.feeds.inner, partitions).await {
        tracing::debug!(%error, "nats: cannot register a worker yet");
    }
    tokio::time::sleep(owners::SETTLE).await;
    loop {
        match owned.registration.refresh(&owned.feeds.inner, partitions).await {
            Ok(mine) => owned.follow(&mine),
            Err(error) => tracing::debug!(%error, "nats: cannot refresh a worker's partitions; keeping them"),
        }
        tokio::time::sleep(owners::REFRESH).await;
    }
}

/// The partitions a worker pulls now. Dropping it stops them and gives them up.
struct Owned<T> {
    feeds: Feeds<T>,
    registration: Arc<Registration>,
    running: BTreeMap<u32, Running>,
}

impl<T: Send + 'static> Owned<T> {
    /// Pulls `mine` and stops pulling the others.
    fn follow(&mut self, mine: &BTreeSet<u32>) {
        let lost: Vec<u32> = self.running.keys().filter(|p| !mine.contains(p)).copied().collect();
        for partition in lost {
            if let Some(running) = self.running.remove(&partition) {
                tracing::info!(consumer = %self.feeds.consumers[partition as usize], "nats: another worker owns this partition now");
                self.hand_over(&tokio::runtime::Handle::current(), partition, running);
            }
        }
        for &partition in mine {
            self.running.entry(partition).or_insert_with(|| self.feeds.spawn(partition as usize));
        }
    }
}

impl<T> Owned<T> {
    /// Stops pulling `partition` and unpins it on `runtime`, see [`hand_over`].
    fn hand_over(&self, runtime: &tokio::runtime::Handle, partition: u32, running: Running) {
        running.stop.notify_one();
        let consumer = self.feeds.consumers[partition as usize].clone();
        runtime.spawn(hand_over(self.feeds.inner.clone(), self.feeds.stream.clone(), consumer, running));
    }
}

/// Unpins `consumer`, whose pull `running` was told to stop, once the pull has ended and
/// what this worker held of it is done, so the next owner gets the partition's events in
/// order: at once if the server has nothing of it unacknowledged; else (events sent to the
/// ended pull, which this worker never saw) after `ack_wait`, when those are due again and
/// so come first. A worker still holding some when the pin times out by itself leaves it be.
async fn hand_over(inner: Arc<Inner>, stream: String, consumer: String, running: Running) {
    let ended = running.stopped.await.is_ok();
    let timeout = Instant::now() + inner.config.pin_ttl();
    while running.in_hand.load(Ordering::SeqCst) > 0 {
        if Instant::now() >= timeout {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stream = match inner.js.get_stream_no_info(&stream).await {
        Ok(stream) => stream,
        Err(error) => return tracing::debug!(%error, %consumer, "nats: cannot unpin a partition; its pin times out"),
    };
    let unseen = match stream.get_consumer::<pull::Config>(&consumer).await {
        Ok(mut handle) => handle.info().await.map(|info| info.num_ack_pending).unwrap_or(1),
        Err(_) => 1,
    };
    if !ended || unseen > 0 {
        tokio::time::sleep(inner.config.ack_wait()).await;
    }
    if let Err(error) = stream.unpin_consumer(&consumer, owners::PIN_GROUP).await {
        tracing::debug!(%error, %consumer, "nats: cannot unpin a partition; its pin times out");
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // The others take the partitions at their next refresh; the pins are released here
        // if this process lives on long enough (a worker stopped in a running server), else
        // they time out.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            for running in self.running.values() {
                running.stop.notify_one();
            }
            return;
        };
        for (partition, running) in std::mem::take(&mut self.running) {
            self.hand_over(&runtime, partition, running);
        }
        let (inner, registration) = (self.feeds.inner.clone(), self.registration.clone());
        runtime.spawn(async move { registration.leave(&inner).await });
    }
}

/// Reads a message of a log: its content, if this build can read its version.
pub(crate) type Decode<T> = fn(&jetstream::Message) -> std::result::Result<T, String>;

/// The events a worker's stream received that the worker has not taken yet.
#[derive(Default)]
struct Waiting {
    /// The stream was dropped: events are not handed back (see [`Closing`]).
    closing: AtomicBool,
    next_key: AtomicU64,
    messages: std::sync::Mutex<std::collections::HashMap<u64, jetstream::Message>>,
}

impl Waiting {
    fn insert(&self, message: jetstream::Message) -> u64 {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        self.messages.lock().unwrap_or_else(|e| e.into_inner()).insert(key, message);
        key
    }

    fn remove(&self, key: u64) -> Option<jetstream::Message> {
        self.messages.lock().unwrap_or_else(|e| e.into_inner()).remove(&key)
    }

    /// Tells the server, every `every`, that each waiting event is in progress.
    async fn keep_alive(self: Arc<Self>, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            let waiting: Vec<_> = self.messages.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
            for message in waiting {
                if let Err(error) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(%error, "nats: cannot keep a waiting chat event alive");
                }
            }
        }
    }
}

/// Stops the partition tasks and the keep-alive ticker of a dropped stream.
struct StopOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The events of a group not acknowledged yet, over its partitions. Does not declare the
/// group (its consumers would keep every event for nobody): an undeclared group is an error.
pub(crate) async fn lag(inner: &Inner, group: &str) -> Result<u64> {
    let stream = inner
        .js
        .get_stream_no_info(&inner.chat_stream)
        .await
        .map_err(|e| unavailable("cannot open the chat log", e))?;
    let infos = futures::future::try_join_all((0..inner.config.partition_count()).map(|partition| {
        let stream = &stream;
        async move {
            let name = config::group_consumer(group, partition);
            let mut consumer: jetstream::consumer::PullConsumer =
                stream.get_consumer(&name).await.map_err(|e| unavailable("cannot open a group's consumer", e))?;
            let info = consumer.info().await.map_err(|e| unavailable("cannot read a group's consumer", e))?;
            Ok::<u64, Error>(info.num_pending + info.num_ack_pending as u64)
        }
    }))
    .await?;
    Ok(infos.into_iter().sum())
}

/// The chat event of a message, if this build can read its version and its content.
fn decode(message: &jetstream::Message) -> std::result::Result<ChatEvent, String> {
    decode_version(message, EVENT_VERSION)
}

/// The content of a message whose version header says at most `readable`.
pub(crate) fn decode_version<T: DeserializeOwned>(
    message: &jetstream::Message,
    readable: u32,
) -> std::result::Result<T, String> {
    let version = message
        .headers
        .as_ref()
        .and_then(|h| h.get(EVENT_VERSION_HEADER))
        .map_or(Ok(1), |v| v.as_str().parse::<u32>())
        .map_err(|e| format!("bad {EVENT_VERSION_HEADER}: {e}"))?;
    if version > readable {
        return Err(format!("version {version}, this build reads up to {readable}"));
    }
    serde_json::from_slice(&message.payload).map_err(|e| e.to_string())
}

struct Feed<T> {
    inner: Arc<Inner>,
    /// The stream of the consumer.
    stream: String,
    decode: Decode<T>,
    /// The durable consumer of one partition of the group.
    consumer: String,
    /// How many events a pull request asks for.
    batch: usize,
    /// Pull in the owners' priority group (`owners.rs`).
    pinned: bool,
    messages: Option<pull::Stream>,
    backoff: Backoff,
    /// The last attempt failed: wait before the next.
    failed: bool,
    waiting: Arc<Waiting>,
    /// Deliveries of this partition in the worker's hands.
    in_hand: Arc<AtomicUsize>,
}

impl<T> Feed<T> {
    async fn open(&self) -> Result<pull::Stream> {
        let consumer: jetstream::consumer::PullConsumer = self
            .inner
            .js
            .get_consumer_from_stream(&self.consumer, &self.stream)
            .await
            .map_err(|e| unavailable("cannot open a group's consumer", e))?;
        // The consumer hands out at most `max_ack_pending` events at a time whatever the
        // batch; a pull request with room for more stays open on the server, so the next
        // event comes as soon as one is acknowledged, without a new request (with a batch
        // of one, every event waited for a pull round trip too).
        let pull = consumer.stream().max_messages_per_batch(self.batch);
        let pull = if self.pinned {
            // A pinned stream pulls again well within the pin's timeout, or loses the pin.
            let expires = PULL_EXPIRES.min(self.inner.config.pin_ttl() / 4);
            pull.group(owners::PIN_GROUP).expires(expires).heartbeat(HEARTBEAT.min(expires / 3))
        } else {
            pull.expires(PULL_EXPIRES).heartbeat(HEARTBEAT)
        };
        pull.messages().await.map_err(|e| unavailable("cannot pull chat events", e))
    }

    async fn next(&mut self) -> Result<(u64, Delivery<T>)> {
        loop {
            if self.failed {
                self.backoff.wait().await;
                self.failed = false;
            }
            let messages = match &mut self.messages {
                Some(messages) => messages,
                None => match self.open().await {
                    Ok(messages) => self.messages.insert(messages),
                    Err(error) => {
                        self.failed = true;
                        return Err(error);
                    }
                },
            };
            match messages.next().await {
                Some(Ok(message)) => {
                    self.backoff.reset();
                    match (self.decode)(&message) {
                        Ok(event) => return Ok(self.delivery(event, message)),
                        Err(error) => {
                            // Written by a newer build (a rolling upgrade under way): never
                            // dropped, handed back to be offered again, to a newer worker.
                            tracing::warn!(%error, subject = %message.subject, "nats: a chat event this build cannot read; handing it back for a newer worker");
                            if let Err(error) = message.ack_with(AckKind::Nak(Some(UNREADABLE_RETRY))).await {
                                tracing::warn!(%error, "nats: cannot hand back an unreadable chat event; it comes back after ack_wait");
                            }
                        }
                    }
                }
                Some(Err(error)) => {
                    // Unacknowledged events of the dropped pull come back after `ack_wait`.
                    self.messages = None;
                    self.failed = true;
                    return Err(unavailable("the chat event pull failed", error));
                }
                None => {
                    self.messages = None;
                    self.failed = true;
                }
            }
        }
    }

    /// The delivery of `message`, and its key among the [`Waiting`] events.
    fn delivery(&self, event: T, message: jetstream::Message) -> (u64, Delivery<T>) {
        // The chat event's stream sequence: the same on every redelivery.
        let info = message.info().ok();
        let origin = info.as_ref().map(|info| format!("ce-{}", info.stream_sequence));
        let redeliveries = info.map_or(0, |info| u32::try_from(info.delivered.saturating_sub(1)).unwrap_or(u32::MAX));
        let key = self.waiting.insert(message.clone());
        self.in_hand.fetch_add(1, Ordering::SeqCst);
        let pending = Unacked {
            key,
            waiting: self.waiting.clone(),
            in_hand: self.in_hand.clone(),
            message: Some(message),
            redeliver_delay: Duration::from_millis(self.inner.config.redeliver_delay_ms),
        };
        let delivery = Delivery {
            event,
            origin,
            redeliveries,
            ack: Box::new(move || {
                Box::pin(async move {
                    let mut pending = pending;
                    pending.waiting.remove(pending.key);
                    match pending.message.take() {
                        // A double ack: `Ok` means the server recorded it, so the event
                        // will not come again.
                        Some(message) => {
                            message.double_ack().await.map_err(|e| unavailable("cannot acknowledge a chat event", e))
                        }
                        None => Ok(()),
                    }
                })
            }),
        };
        (key, delivery)
    }
}

/// A delivered chat event not acknowledged yet. Dropping it asks the server to hand it out
/// again after `redeliver_delay` (instead of waiting for `ack_wait`).
struct Unacked {
    message: Option<jetstream::Message>,
    redeliver_delay: Duration,
    waiting: Arc<Waiting>,
    in_hand: Arc<AtomicUsize>,
    key: u64,
}

impl Drop for Unacked {
    fn drop(&mut self) {
        self.waiting.remove(self.key);
        self.in_hand.fetch_sub(1, Ordering::SeqCst);
        let Some(message) = self.message.take() else { return };
        if self.waiting.closing.load(Ordering::SeqCst) {
            return;
        }
        let delay = (!self.redeliver_delay.is_zero()).then_some(self.redeliver_delay);
        // Without a runtime (shutting down), `ack_wait` brings it back.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = message.ack_with(AckKind::Nak(delay)).await {
                    tracing::debug!(%error, "nats: cannot hand a chat event back; it comes back after ack_wait");
                }
            });
        }
    }
}
