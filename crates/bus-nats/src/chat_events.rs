//! The chat-event log: publishing to the interest-retention stream `<PREFIX>_CHAT_LOG`
//! (subject `<prefix>.events.<partition>.<chat id>.<topic>`), and the consumer groups that
//! read it, each filtered on the topics it wants (`ports::Interest`).
//! A group is one durable pull consumer per partition (`<group>_<partition>`), each with at
//! most one event unacknowledged: the workers of the group, on any node, pull from every
//! partition's consumer, so a partition (and so a chat) is handled in order, one event at a
//! time, while partitions go on in parallel. A group that takes events in any order
//! (`EventOrder::Any`) has [`ANY_ORDER_IN_FLIGHT`] per partition instead. A delivery is acknowledged (and confirmed by
//! the server) by its `ack`; one dropped without it is handed out again after
//! `redeliver_delay_ms`, and one whose worker died after `ack_wait_ms`. The stream keeps an
//! event until every group has acknowledged it. A pull broken by a NATS failure yields an
//! error and reconnects by itself, so a worker just keeps reading.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use domain::{ChatEvent, Error, Event, Result};
use futures::StreamExt;
use ports::{ChatEventStream, Delivery, EventOrder, GroupSpec};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

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

/// How many events of a partition a group of `order` may have unacknowledged.
pub(crate) fn in_flight(order: EventOrder) -> i64 {
    match order {
        EventOrder::PerChat => 1,
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

/// Publishes a chat event. A `signal.created` carries its signal id as the message id, so
/// publishing it again within the stream's duplicate window (two minutes), say after a
/// publish whose acknowledgement was lost, does not deliver it twice.
pub(crate) async fn publish(inner: &Inner, event: &ChatEvent) -> Result<()> {
    let payload = serde_json::to_vec(event).map_err(|e| Error::internal(format!("cannot encode a chat event: {e}")))?;
    let mut message = PublishMessage::build()
        .payload(payload.into())
        .header(EVENT_VERSION_HEADER, EVENT_VERSION.to_string().as_str());
    if let Event::SignalCreated { signal } = &event.event {
        message = message.message_id(format!("signal-{}", signal.signal.id.0));
    }
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
/// partitions. Dropping the stream stops the tasks and hands back what was not taken.
pub(crate) async fn stream(inner: Arc<Inner>, group: &str, spec: GroupSpec) -> Result<ChatEventStream> {
    inner.declare_group(group, spec).await?;
    let consumers = (0..inner.config.partitions).map(|p| config::group_consumer(group, p)).collect();
    let stream = inner.chat_stream.clone();
    Ok(merged(inner, stream, consumers, in_flight(spec.order), decode))
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
) -> Pin<Box<dyn futures::Stream<Item = Result<Delivery<T>>> + Send>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let waiting = Arc::new(Waiting::default());
    // An error is on its way to the worker.
    let failing = Arc::new(AtomicBool::new(false));
    let mut tasks: Vec<_> = consumers
        .into_iter()
        .map(|consumer| {
            let mut feed = Feed {
                inner: inner.clone(),
                stream: stream.clone(),
                decode,
                consumer,
                batch: PULL_BATCH.max(usize::try_from(in_flight).unwrap_or(1)),
                messages: None,
                backoff: Backoff::default(),
                failed: false,
                waiting: waiting.clone(),
            };
            let (tx, failing) = (tx.clone(), failing.clone());
            tokio::spawn(async move {
                loop {
                    let item = feed.next().await;
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
            })
            .abort_handle()
        })
        .collect();
    let ack_wait = inner.config.ack_wait();
    tasks.push(tokio::spawn(waiting.clone().keep_alive(ack_wait / 3)).abort_handle());
    let state = (rx, waiting, failing, StopOnDrop(tasks));
    Box::pin(futures::stream::unfold(state, move |(mut rx, waiting, failing, tasks)| async move {
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
        Some((item, (rx, waiting, failing, tasks)))
    }))
}

/// Reads a message of a log: its content, if this build can read its version.
pub(crate) type Decode<T> = fn(&jetstream::Message) -> std::result::Result<T, String>;

/// The events a worker's stream received that the worker has not taken yet.
#[derive(Default)]
struct Waiting {
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
    let infos = futures::future::try_join_all((0..inner.config.partitions).map(|partition| {
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
    messages: Option<pull::Stream>,
    backoff: Backoff,
    /// The last attempt failed: wait before the next.
    failed: bool,
    waiting: Arc<Waiting>,
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
        consumer
            .stream()
            .max_messages_per_batch(self.batch)
            .heartbeat(HEARTBEAT)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|e| unavailable("cannot pull chat events", e))
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
        let pending = Unacked {
            key,
            waiting: self.waiting.clone(),
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
    key: u64,
}

impl Drop for Unacked {
    fn drop(&mut self) {
        self.waiting.remove(self.key);
        let Some(message) = self.message.take() else { return };
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
