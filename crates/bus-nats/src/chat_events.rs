//! Chat events: publishing to the work-queue stream, and the fan-out workers' shared pull
//! consumer. A delivery is acknowledged (and confirmed by the server) by its `ack`; one
//! dropped without it is handed out again after `redeliver_delay_ms`, and one whose worker
//! died after `ack_wait_ms`. A stream broken by a NATS failure yields an error and
//! reconnects by itself, so a worker just keeps reading.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use domain::{ChatEvent, Error, Event, Result};
use futures::StreamExt;
use ports::{ChatEventStream, Delivery};

use crate::{Backoff, Inner, unavailable};

/// How often the server tells an idle pull that the consumer is alive; two missed ones
/// and the stream is rebuilt.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long one pull request waits on the server.
const PULL_EXPIRES: Duration = Duration::from_secs(30);

/// Publishes a chat event. A `signal.created` carries its signal id as the message id, so
/// publishing it again within the stream's duplicate window (two minutes), say after a
/// publish whose acknowledgement was lost, does not deliver it twice.
pub(crate) async fn publish(inner: &Inner, event: &ChatEvent) -> Result<()> {
    let payload = serde_json::to_vec(event).map_err(|e| Error::internal(format!("cannot encode a chat event: {e}")))?;
    let mut message = PublishMessage::build().payload(payload.into());
    if let Event::SignalCreated { signal } = &event.event {
        message = message.message_id(format!("signal-{}", signal.signal.id.0));
    }
    let ack = inner
        .js
        .send_publish(inner.config.chat_subject(event.chat_id), message)
        .await
        .map_err(|e| unavailable("cannot publish a chat event", e))?;
    ack.await.map_err(|e| unavailable("the chat event stream did not acknowledge", e))?;
    Ok(())
}

pub(crate) fn stream(inner: Arc<Inner>) -> ChatEventStream {
    let feed = Feed { inner, messages: None, backoff: Backoff::default(), failed: false };
    Box::pin(futures::stream::unfold(feed, |mut feed| async move {
        let item = feed.next().await;
        Some((item, feed))
    }))
}

struct Feed {
    inner: Arc<Inner>,
    messages: Option<pull::Stream>,
    backoff: Backoff,
    /// The last attempt failed: wait before the next.
    failed: bool,
}

impl Feed {
    async fn open(&self) -> Result<pull::Stream> {
        let consumer = self.inner.ensure_fanout_consumer().await?;
        consumer
            .stream()
            .max_messages_per_batch(self.inner.config.fanout_batch)
            .heartbeat(HEARTBEAT)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|e| unavailable("cannot pull chat events", e))
    }

    async fn next(&mut self) -> Result<Delivery> {
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
                    match serde_json::from_slice::<ChatEvent>(&message.payload) {
                        Ok(event) => return Ok(self.delivery(event, message)),
                        Err(error) => {
                            // No worker will ever read it: stop its redelivery.
                            tracing::error!(%error, subject = %message.subject, "nats: dropping an undecodable chat event");
                            if let Err(error) = message.ack_with(AckKind::Term).await {
                                tracing::warn!(%error, "nats: cannot terminate an undecodable chat event");
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

    fn delivery(&self, event: ChatEvent, message: jetstream::Message) -> Delivery {
        // The chat event's stream sequence: the same on every redelivery.
        let origin = message.info().ok().map(|info| format!("ce-{}", info.stream_sequence));
        let pending = Unacked {
            message: Some(message),
            redeliver_delay: Duration::from_millis(self.inner.config.redeliver_delay_ms),
        };
        Delivery {
            event,
            origin,
            ack: Box::new(move || {
                Box::pin(async move {
                    let mut pending = pending;
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
        }
    }
}

/// A delivered chat event not acknowledged yet: dropping it asks the server to hand it
/// out again after `redeliver_delay` (instead of waiting for `ack_wait`).
struct Unacked {
    message: Option<jetstream::Message>,
    redeliver_delay: Duration,
}

impl Drop for Unacked {
    fn drop(&mut self) {
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
