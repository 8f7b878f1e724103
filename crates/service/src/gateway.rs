//! A gateway session: one live stream of one user, whatever carries it (SSE today; a
//! WebSocket for call signalling can reuse it). It subscribes from the client's position
//! (replay, then live, or a gap), keeps the user online while it lives (presence
//! heartbeats, a close when dropped) and notes each durable event handed to the transport
//! as delivered. The session is a [`Stream`] of [`Outgoing`]; the transport only frames
//! what it yields.
//!
//! It is a plain `Stream`, polled in place, rather than an `async` loop: an open stream
//! holds only the session itself (no generator holding it again, no presence renewal's
//! future inline), which matters at tens of thousands of idle streams per node
//! (bench/README.md, "Memory per open stream again").

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use domain::{Event, Result, User, UserId};
use futures::{Stream, StreamExt};
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
    /// What comes before the live events: `ready`, then `resync` after a gap.
    opening: Opening,
    /// A presence renewal under way: boxed, and only while it runs (every
    /// [`PRESENCE_HEARTBEAT`]), so an idle session does not carry its future.
    renewing: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// What a session still owes before its live events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    Ready { then_resync: bool },
    Resync,
    Done,
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
        let start = tokio::time::Instant::now() + PRESENCE_HEARTBEAT;
        Ok(Self {
            user: user.id,
            live,
            presence,
            delivery,
            heartbeat: tokio::time::interval_at(start, PRESENCE_HEARTBEAT),
            opening: Opening::Ready { then_resync: gap },
            renewing: None,
        })
    }

    fn outgoing(&self, item: Result<(Option<EventId>, Event)>) -> Outgoing {
        match item {
            Ok((Some(id), event)) => {
                self.delivery.written(self.user, &event);
                Outgoing::Durable { id, event }
            }
            Ok((None, event)) => Outgoing::Ephemeral { event },
            Err(error) => {
                tracing::info!(%error, user = %self.user, "live stream fell behind; asking the client to resync");
                Outgoing::Resync { reason: "this stream fell behind" }
            }
        }
    }
}

/// The next thing to send; `None` when the stream is over. Renews presence meanwhile. A
/// durable event yielded here counts as delivered to the user.
impl Stream for GatewaySession {
    type Item = Outgoing;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        let this = self.get_mut();
        match this.opening {
            Opening::Ready { then_resync } => {
                this.opening = if then_resync { Opening::Resync } else { Opening::Done };
                return Poll::Ready(Some(Outgoing::Ready { user_id: this.user }));
            }
            Opening::Resync => {
                this.opening = Opening::Done;
                let reason = "the events since Last-Event-ID are no longer available";
                return Poll::Ready(Some(Outgoing::Resync { reason }));
            }
            Opening::Done => {}
        }
        loop {
            if let Some(renewing) = &mut this.renewing {
                ready!(renewing.as_mut().poll(cx));
                this.renewing = None;
            }
            if let Poll::Ready(item) = this.live.poll_next_unpin(cx) {
                return Poll::Ready(item.map(|item| this.outgoing(item)));
            }
            ready!(this.heartbeat.poll_tick(cx));
            this.renewing = Some(Box::pin(this.presence.renewal()));
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
        guard.renewal().await;
        guard
    }

    /// A heartbeat for this connection, owning what it needs (it runs beside the session).
    fn renewal(&self) -> impl Future<Output = ()> + Send + 'static {
        let (service, user, connection) = (self.service.clone(), self.user, self.connection.clone());
        async move {
            if let Err(error) = service.stream_heartbeat(user, &connection).await {
                tracing::warn!(%error, %user, "cannot renew a stream's presence");
            }
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
