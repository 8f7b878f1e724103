//! The timeline: signals, reactions, receipts and the read marker.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::{Error, ErrorCode, Id};
use serde::Deserialize;
use service::SignalQuery;
use service::edits::{NewLocation, SignalEdit};
use service::signals::NewMessage;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser};
use crate::wire::{
    Page, PatchSignalIn, ReactionCountOut, ReactorsOut, ReadIn, ReadOut, ReceiptsOut, SendSignalIn, SendableKind,
    SignalOut,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_signal, list_signals))
        .routes(routes!(get_signal, edit_signal, delete_signal))
        .routes(routes!(add_reaction, remove_reaction, reactors))
        .routes(routes!(receipts))
        .routes(routes!(mark_read))
}

/// Posts a message (`kind: msg`) or shares a location (`kind: location`, with `location`
/// and perhaps `live_until`). Retrying with the same `nonce` returns the first signal (200)
/// and posts nothing.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/signals", tag = "signals", security(("bearer" = [])),
    params(("chat_id" = String, Path)), request_body = SendSignalIn,
    responses((status = 201, body = SignalOut), (status = 200, body = SignalOut, description = "a retry of an earlier send"),
        (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn send_signal(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
    ApiJson(body): ApiJson<SendSignalIn>,
) -> ApiResult<(StatusCode, Json<SignalOut>)> {
    let (signal, created) = match body.kind {
        SendableKind::Msg => {
            if body.location.is_some() || body.live_until.is_some() {
                return Err(invalid_body("`location` and `live_until` are for kind `location`"));
            }
            let msg = NewMessage {
                text: body.text,
                nonce: body.nonce,
                reply_to: body.reply_to,
                attachments: body.attachments,
                mentions: body.mentions,
                everyone: body.mention_everyone,
            };
            state.service.send_message(&user, chat_id, msg).await?
        }
        SendableKind::Location => {
            let extra = !body.text.is_empty()
                || !body.attachments.is_empty()
                || !body.mentions.is_empty()
                || body.mention_everyone
                || body.reply_to.is_some();
            if extra {
                return Err(invalid_body("a location takes `location`, `live_until` and `nonce` only"));
            }
            let location = body
                .location
                .ok_or_else(|| Error::invalid(ErrorCode::InvalidLocation, "kind `location` needs a `location`"))?;
            let live_until = body.live_until.as_deref().map(parse_time).transpose()?;
            let new = NewLocation { location: location.into(), live_until, nonce: body.nonce };
            state.service.send_location(&user, chat_id, new).await?
        }
    };
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(signal.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TimelineQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Signals older than this id.
    #[param(value_type = Option<crate::wire::rules::IdString>, inline)]
    before: Option<Id>,
    /// The signals just newer than this id (still returned newest first).
    #[param(value_type = Option<crate::wire::rules::IdString>, inline)]
    after: Option<Id>,
    /// The signals around this id, itself included.
    #[param(value_type = Option<crate::wire::rules::IdString>, inline)]
    around: Option<Id>,
    /// Page size, 1 to 100 (default 50; a number out of range counts as the nearest).
    #[serde(default, deserialize_with = "crate::extract::page_size")]
    limit: Option<usize>,
}

/// A page of the timeline, newest first. At most one of `cursor`, `before`, `after`,
/// `around`.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/signals", tag = "signals", security(("bearer" = [])),
    params(("chat_id" = String, Path), TimelineQuery),
    responses((status = 200, body = Page<SignalOut>), (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn list_signals(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> ApiResult<Json<Page<SignalOut>>> {
    let query = SignalQuery { cursor: q.cursor, before: q.before, after: q.after, around: q.around, limit: q.limit };
    let page = state.service.signals(&user, chat_id, &query).await?;
    Ok(Json(Page::from_domain(page, SignalOut::from)))
}

/// One signal.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/signals/{signal_id}", tag = "signals", security(("bearer" = [])),
    params(("chat_id" = String, Path), ("signal_id" = String, Path)),
    responses((status = 200, body = SignalOut), (status = 404, body = Problem)))]
async fn get_signal(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((chat_id, signal_id)): ApiPath<(Id, Id)>,
) -> ApiResult<Json<SignalOut>> {
    Ok(Json(state.service.signal(&user, chat_id, signal_id).await?.into()))
}

/// Changes a signal of the caller's (a message's text and mentions; a live location's
/// point, or `live: false` to stop it). It keeps its id and gets `edited_at`; members get
/// `signal.updated`.
#[utoipa::path(patch, path = "/api/v1/chats/{chat_id}/signals/{signal_id}", tag = "signals", security(("bearer" = [])),
    params(("chat_id" = String, Path), ("signal_id" = String, Path)), request_body = PatchSignalIn,
    responses((status = 200, body = SignalOut), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn edit_signal(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((chat_id, signal_id)): ApiPath<(Id, Id)>,
    ApiJson(body): ApiJson<PatchSignalIn>,
) -> ApiResult<Json<SignalOut>> {
    let edit = match body {
        PatchSignalIn { text: Some(text), mentions, mention_everyone, location: None, live: None } => {
            SignalEdit::Text {
                text,
                mentions: mentions.unwrap_or_default(),
                everyone: mention_everyone.unwrap_or(false),
            }
        }
        PatchSignalIn { text: None, mentions: None, mention_everyone: None, location: Some(location), live: None } => {
            SignalEdit::Move(location.into())
        }
        PatchSignalIn { text: None, mentions: None, mention_everyone: None, location: None, live: Some(false) } => {
            SignalEdit::StopLive
        }
        _ => {
            return Err(invalid_body("give exactly one of `text` (with its `mentions`), `location` or `live: false`"));
        }
    };
    Ok(Json(state.service.edit_signal(&user, chat_id, signal_id, edit).await?.into()))
}

/// Deletes a message or location: by its author, or by an owner or admin of the chat. It
/// stays in the timeline as a tombstone (`deleted: true`, nothing of what it said, no
/// reactions); its files are released. Deleting it again answers the tombstone again.
#[utoipa::path(delete, path = "/api/v1/chats/{chat_id}/signals/{signal_id}", tag = "signals", security(("bearer" = [])),
    params(("chat_id" = String, Path), ("signal_id" = String, Path)),
    responses((status = 200, body = SignalOut), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn delete_signal(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((chat_id, signal_id)): ApiPath<(Id, Id)>,
) -> ApiResult<Json<SignalOut>> {
    Ok(Json(state.service.delete_signal(&user, chat_id, signal_id).await?.into()))
}

fn invalid_body(detail: &'static str) -> ApiError {
    Error::invalid(ErrorCode::InvalidBody, detail).into()
}

/// An RFC 3339 time as Unix milliseconds.
fn parse_time(text: &str) -> Result<i64, Error> {
    crate::wire::time::parse_date_time(text)
        .ok_or_else(|| Error::invalid(ErrorCode::InvalidLocation, "live_until is an RFC 3339 time"))
}

/// Adds the caller's reaction (the emoji URL-encoded in the path). Adding twice counts once.
#[utoipa::path(put, path = "/api/v1/chats/{chat_id}/signals/{signal_id}/reactions/{emoji}", tag = "signals",
    security(("bearer" = [])), params(("chat_id" = String, Path), ("signal_id" = String, Path), ("emoji" = String, Path)),
    responses((status = 200, body = ReactionCountOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn add_reaction(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((chat_id, signal_id, emoji)): ApiPath<(Id, Id, String)>,
) -> ApiResult<Json<ReactionCountOut>> {
    let count = state.service.react(&user, chat_id, signal_id, &emoji, true).await?;
    Ok(Json(ReactionCountOut { emoji, count }))
}

/// Removes the caller's reaction. Removing twice changes nothing.
#[utoipa::path(delete, path = "/api/v1/chats/{chat_id}/signals/{signal_id}/reactions/{emoji}", tag = "signals",
    security(("bearer" = [])), params(("chat_id" = String, Path), ("signal_id" = String, Path), ("emoji" = String, Path)),
    responses((status = 200, body = ReactionCountOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn remove_reaction(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((chat_id, signal_id, emoji)): ApiPath<(Id, Id, String)>,
) -> ApiResult<Json<ReactionCountOut>> {
    let count = state.service.react(&user, chat_id, signal_id, &emoji, false).await?;
    Ok(Json(ReactionCountOut { emoji, count }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReactorsQuery {
    cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100; a number out of range counts as the nearest).
    #[serde(default, deserialize_with = "crate::extract::page_size")]
    limit: Option<usize>,
}

/// Who reacted with this emoji, by user id.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/signals/{signal_id}/reactions/{emoji}", tag = "signals",
    security(("bearer" = [])),
    params(("chat_id" = String, Path), ("signal_id" = String, Path), ("emoji" = String, Path), ReactorsQuery),
    responses((status = 200, body = ReactorsOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn reactors(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((chat_id, signal_id, emoji)): ApiPath<(Id, Id, String)>,
    ApiQuery(q): ApiQuery<ReactorsQuery>,
) -> ApiResult<Json<ReactorsOut>> {
    let page = state.service.reactors(&user, chat_id, signal_id, &emoji, q.cursor.as_deref(), q.limit).await?;
    Ok(Json(ReactorsOut { items: page.items, next_cursor: page.next_cursor }))
}

/// Who the signal reached and who saw it (the author excluded).
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/signals/{signal_id}/receipts", tag = "signals",
    security(("bearer" = [])), params(("chat_id" = String, Path), ("signal_id" = String, Path)),
    responses((status = 200, body = ReceiptsOut), (status = 404, body = Problem)))]
async fn receipts(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((chat_id, signal_id)): ApiPath<(Id, Id)>,
) -> ApiResult<Json<ReceiptsOut>> {
    Ok(Json(state.service.receipts(&user, chat_id, signal_id).await?.into()))
}

/// Moves the caller's read marker forward (never back); answers the caller's membership
/// and what is left to read.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/read", tag = "signals", security(("bearer" = [])),
    params(("chat_id" = String, Path)), request_body = ReadIn,
    responses((status = 200, body = ReadOut), (status = 404, body = Problem)))]
async fn mark_read(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
    ApiJson(body): ApiJson<ReadIn>,
) -> ApiResult<Json<ReadOut>> {
    let (member, unread) = state.service.mark_read(&user, chat_id, body.up_to).await?;
    Ok(Json(ReadOut { member: member.into(), unread: unread.signals, unread_mentions: unread.mentions }))
}
