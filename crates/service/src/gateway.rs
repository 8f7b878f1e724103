//! A gateway session: one live stream of one user, whatever carries it (SSE today; a
//! WebSocket for call signalling can reuse it). It subscribes from the client's position
//! (replay, then live, or a gap), keeps the user online while it lives (presence
//! heartbeats, a close when dropped) and notes each durable event handed to the transport
//! as delivered. The transport only frames what [`GatewaySession::next`] returns.

use domain::{Event, Result, User, UserId};
use futures::StreamExt;
use ports::{EventId, UserEventStream, UserSubscription};

use crate::presence::{PRESENCE_HEARTBEAT, new_connection_id};
use crate::{ChatService, DeliveryTracker};

/// What a session hands its transport, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// First, once: the stream is open for `user_id`.
    Ready { user_id: UserId },
    /// Events may have been missed (the position is gone, or the stream fell behind): the
    /// client reloads by REST. No id.
    Resync { reason: &'static str },
    /// A durable event with its id (the client's next `Last-Event-ID`).
    Durable { id: EventId, event: Event },
    /// An ephemeral event (typing, presence): no id, never replayed.
    Ephemeral { event: Event },
}

/// One user's live stream. Dropping it closes it (and its presence).
pub struct GatewaySession {
    user: UserId,
    live: UserEventStream,
    presence: PresenceGuard,
    delivery: DeliveryTracker,
    heartbeat: tokio::time::Interval,
    /// What to hand out before the live events: ready, and resync after a gap.
    opening: Vec<Outgoing>,
}

impl std::fmt::Debug for GatewaySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewaySession").field("user", &self.user).finish_non_exhaustive()
    }
}

impl GatewaySession {
    /// Opens `user`'s stream after `last_event_id` (`None`: from now) and marks them online.
    pub async fn open(
        service: &ChatService,
        delivery: DeliveryTracker,
        user: &User,
        last_event_id: Option<&str>,
    ) -> Result<Self> {
        let (gap, live) = match service.bus().subscribe_user(user.id, last_event_id).await? {
            UserSubscription::Complete(stream) => (false, stream),
            UserSubscription::Gap(stream) => (true, stream),
        };
        let presence = PresenceGuard::open(service.clone(), user.id).await;
        let mut opening = vec![Outgoing::Ready { user_id: user.id }];
        if gap {
            opening.push(Outgoing::Resync { reason: "the events since Last-Event-ID are no longer available" });
        }
        opening.reverse();
        let start = tokio::time::Instant::now() + PRESENCE_HEARTBEAT;
        Ok(Self {
            user: user.id,
            live,
            presence,
            delivery,
            heartbeat: tokio::time::interval_at(start, PRESENCE_HEARTBEAT),
            opening,
        })
    }

    /// The next thing to send; `None` when the stream is over. Renews presence meanwhile.
    /// A durable event returned here counts as delivered to the user.
    pub async fn next(&mut self) -> Option<Outgoing> {
        if let Some(first) = self.opening.pop() {
            return Some(first);
        }
        loop {
            let item = tokio::select! {
                item = self.live.next() => item?,
                _ = self.heartbeat.tick() => {
                    self.presence.renew().await;
                    continue;
                }
            };
            return Some(match item {
                Ok((Some(id), event)) => {
                    self.delivery.written(self.user, &event);
                    Outgoing::Durable { id, event }
                }
                Ok((None, event)) => Outgoing::Ephemeral { event },
                Err(error) => {
                    tracing::info!(%error, user = %self.user, "live stream fell behind; asking the client to resync");
                    Outgoing::Resync { reason: "this stream fell behind" }
                }
            });
        }
    }
}

/// Keeps the session's user online while it lives: a heartbeat at open and on every
/// [`PresenceGuard::renew`], a close when dropped (in the background: drops cannot wait).
/// Presence failures are logged; the session goes on without them.
struct PresenceGuard {
    service: ChatService,
    user: UserId,
    connection: String,
}

impl PresenceGuard {
    async fn open(service: ChatService, user: UserId) -> Self {
        let guard = Self { service, user, connection: new_connection_id() };
        guard.renew().await;
        guard
    }

    async fn renew(&self) {
        if let Err(error) = self.service.stream_heartbeat(self.user, &self.connection).await {
            tracing::warn!(%error, user = %self.user, "cannot renew a stream's presence");
        }
    }
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let (service, user, connection) = (self.service.clone(), self.user, std::mem::take(&mut self.connection));
        // Without a runtime (shutting down) the connection expires by itself.
        if tokio::runtime::Handle::try_current().is_ok() {
            let closing = service.clone();
            closing.spawn_background(async move {
                if let Err(error) = service.stream_closed(user, &connection).await {
                    tracing::warn!(%error, %user, "cannot close a stream's presence; it expires by itself");
                }
            });
        }
    }
}
