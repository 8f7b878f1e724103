//! Live events over Server-Sent Events: the framing of a [`GatewaySession`], which owns
//! subscribing, replay, presence and delivery notes. Each durable event has an `id:`;
//! reconnecting with `Last-Event-ID` replays what was missed, or sends `resync` when that
//! is no longer possible. Ephemeral events (`typing`, `presence.changed`) have no `id:`
//! and are never replayed. Comments every few seconds keep proxies from closing idle
//! streams.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use domain::User;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use service::{GatewaySession, Outgoing};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, CurrentUser};
use crate::wire::{EventData, EventTicketOut};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events)).routes(routes!(ticket))
}

/// A short-lived, single-use ticket for opening the event stream without an
/// `Authorization` header (browsers' `EventSource` cannot send one):
/// `GET /api/v1/events?ticket=…` within `expires_in` seconds. A ticket opens one stream once.
#[utoipa::path(post, path = "/api/v1/events/ticket", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = EventTicketOut), (status = 401, body = Problem)))]
async fn ticket(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> ApiResult<Json<EventTicketOut>> {
    let lifetime = state.settings.event_ticket;
    let ticket = state.service.issue_event_ticket(&user, lifetime).await?;
    Ok(Json(EventTicketOut { ticket, expires_in: lifetime.as_secs() }))
}

/// The caller of the event stream: `?ticket=` (from `POST /api/v1/events/ticket`), or
/// else the `Authorization` header.
struct StreamUser {
    user: User,
    last_event_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// A ticket from `POST /api/v1/events/ticket`, instead of the `Authorization` header.
    ticket: Option<String>,
    /// Resume after this event, as the `Last-Event-ID` header does (which wins when both
    /// are sent): a browser opening a new `EventSource` with a fresh ticket cannot set
    /// that header.
    last_event_id: Option<String>,
}

impl FromRequestParts<AppState> for StreamUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ApiQuery(query) = ApiQuery::<EventsQuery>::from_request_parts(parts, state).await?;
        let user = match query.ticket {
            Some(ticket) => {
                let user = state.service.redeem_event_ticket(&ticket).await?;
                state.limits.charge_user(parts, user.id)?;
                user
            }
            None => CurrentUser::from_request_parts(parts, state).await?.0,
        };
        Ok(Self { user, last_event_id: query.last_event_id })
    }
}

/// The caller's live events (`text/event-stream`). First comes `ready` (no id); then
/// `chat.created`, `signal.created`, `reaction.changed`, `receipt.updated`,
/// `member.joined`, `member.left`, `member.role_changed`, each with an `id`. `resync` (no id) means events were
/// missed: reload by REST. Ephemeral events have no id and are not replayed after a
/// reconnection: `typing` (`chat_id`, `user_id`, `expires_in_ms`: show it that long unless
/// renewed) and `presence.changed` (`presence` of someone who shares a chat with the
/// caller, or the caller's own after `PUT /me/status`). While the stream is open the
/// caller is online.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", security(("bearer" = []), ()),
    params(EventsQuery, ("Last-Event-ID" = Option<String>, Header, description = "resume after this event")),
    responses((status = 200, content_type = "text/event-stream", body = EventData,
            description = "the event stream: each `data:` line is one `EventData` (JSON), by its `event:` name"),
        (status = 401, body = Problem),
        (status = 429, body = Problem, description = "too many event streams open (`too_many_streams`), or too many requests")))]
async fn events(
    State(state): State<AppState>,
    StreamUser { user, last_event_id }: StreamUser,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let header = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let last = header.or(last_event_id.as_deref()).filter(|v| !v.is_empty());
    let slot = state.limits.open_stream(user.id)?;
    let session = GatewaySession::open(&state.service, state.delivery.clone(), &user, last).await?;
    let metrics = state.metrics.clone();
    let stream = EventStream { _open: (StreamGauge::open(metrics.clone()), slot), session, metrics, viewer: user.id };
    let stream = stream.take_until(state.shutdown.clone().cancelled_owned());
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(state.settings.sse_heartbeat).text("heartbeat")))
}

/// The frames of one session, counted, with the open stream's gauge and limit slot kept
/// until it ends. A plain `Stream`: a generator would hold the session twice.
struct EventStream {
    session: GatewaySession,
    metrics: std::sync::Arc<crate::Metrics>,
    viewer: domain::Id,
    _open: (StreamGauge, crate::limits::StreamSlot),
}

impl Stream for EventStream {
    type Item = Result<SseEvent, Infallible>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let outgoing = std::task::ready!(this.session.poll_next_unpin(cx));
        std::task::Poll::Ready(outgoing.map(|outgoing| {
            if matches!(outgoing, Outgoing::Durable { .. } | Outgoing::Ephemeral { .. }) {
                this.metrics.events_sent.inc();
            }
            Ok(frame(outgoing, this.viewer))
        }))
    }
}

/// One SSE frame: `id:` for durable events only, so a reconnection's `Last-Event-ID` stays
/// on the last durable event.
fn frame(outgoing: Outgoing, viewer: domain::Id) -> SseEvent {
    match outgoing {
        Outgoing::Ready { user_id } => SseEvent::default().event("ready").data(EventData::Ready { user_id }.to_json()),
        Outgoing::Resync { reason } => {
            SseEvent::default().event("resync").data(EventData::Resync { reason: reason.into() }.to_json())
        }
        Outgoing::Durable { id, event } => {
            SseEvent::default().id(id).event(event.name()).data(EventData::for_viewer(event, viewer).to_json())
        }
        Outgoing::Ephemeral { event } => {
            SseEvent::default().event(event.name()).data(EventData::for_viewer(event, viewer).to_json())
        }
    }
}

/// Counts open streams for `/metrics`.
struct StreamGauge(std::sync::Arc<crate::Metrics>);

impl StreamGauge {
    fn open(metrics: std::sync::Arc<crate::Metrics>) -> Self {
        metrics.live_streams.inc();
        Self(metrics)
    }
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        self.0.live_streams.dec();
    }
}
