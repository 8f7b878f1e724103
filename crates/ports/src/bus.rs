//! The Bus port: how events travel. Chat events go to fan-out workers (any number share
//! the load); per-user events go to every live stream of that user, on any node, and stay
//! replayable for a while so a reconnecting client misses nothing.

use std::pin::Pin;

use async_trait::async_trait;
use domain::{ChatEvent, Event, Result, UserId};
use futures::Stream;

/// The id of a per-user event, opaque to clients (`id:` in SSE, `Last-Event-ID` back).
pub type EventId = String;

/// Acknowledges a chat event (see [`Delivery`]).
pub type Ack = Box<dyn FnOnce() -> AckFuture + Send>;
/// The future an [`Ack`] returns.
pub type AckFuture = Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>;

/// A chat event handed to a fan-out worker. The worker calls `ack` once it has published
/// the per-user events; an unacknowledged event is delivered again (to this worker or another).
pub struct Delivery {
    pub event: ChatEvent,
    pub ack: Ack,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("event", &self.event).finish_non_exhaustive()
    }
}

pub type ChatEventStream = Pin<Box<dyn Stream<Item = Result<Delivery>> + Send>>;
/// Live per-user events. An `Err` means the stream can no longer guarantee completeness
/// (the subscriber fell too far behind): the client must resync.
pub type UserEventStream = Pin<Box<dyn Stream<Item = Result<(EventId, Event)>> + Send>>;

/// What subscribing to a user's events gives.
pub enum UserSubscription {
    /// Everything after the requested position (replayed first, then live, with no gap and
    /// no duplicate).
    Complete(UserEventStream),
    /// The requested position is no longer covered: events may have been missed. The
    /// stream carries live events from now on; the client must resync the rest by REST.
    Gap(UserEventStream),
}

impl std::fmt::Debug for UserSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UserSubscription::Complete(_) => "Complete",
            UserSubscription::Gap(_) => "Gap",
        })
    }
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Checks the bus answers (for readiness probes).
    async fn ping(&self) -> Result<()>;
    /// Publishes a chat event for fan-out. Returns once the bus holds it.
    async fn publish_chat_event(&self, event: &ChatEvent) -> Result<()>;
    /// The chat events for this fan-out worker. Workers share the events between them.
    async fn chat_events(&self) -> Result<ChatEventStream>;
    /// Publishes one event to each user's stream.
    async fn publish_user_event(&self, users: &[UserId], event: &Event) -> Result<()>;
    /// Subscribes to a user's events from after `after` (`None`: only new events).
    async fn subscribe_user(&self, user: UserId, after: Option<&str>) -> Result<UserSubscription>;
}
