//! Calls: starting one in a chat, joining, leaving, declining, ending, relaying WebRTC
//! messages between the people in it, and the STUN/TURN servers to connect through.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::{CallAction, Id};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, CurrentUser};
use crate::wire::{CallOut, CallSignalIn, IceServerOut, IceServersOut, StartCallIn};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_call))
        .routes(routes!(ice_servers))
        .routes(routes!(get_call))
        .routes(routes!(join_call))
        .routes(routes!(leave_call))
        .routes(routes!(decline_call))
        .routes(routes!(end_call))
        .routes(routes!(relay_signal))
}

/// Starts a call in a chat of at most 8 members: its `call` signal (same id) rings the
/// other members' streams; nobody answering within 45 s ends it as missed.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/calls", tag = "calls", security(("bearer" = [])),
    params(("chat_id" = String, Path)), request_body = StartCallIn,
    responses((status = 201, body = CallOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn start_call(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
    ApiJson(body): ApiJson<StartCallIn>,
) -> ApiResult<(StatusCode, Json<CallOut>)> {
    let call = state.service.start_call(&user, chat_id, body.media.into()).await?;
    Ok((StatusCode::CREATED, Json(call.into())))
}

/// A call of a chat the caller is in.
#[utoipa::path(get, path = "/api/v1/calls/{call_id}", tag = "calls", security(("bearer" = [])),
    params(("call_id" = String, Path)),
    responses((status = 200, body = CallOut), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn get_call(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<Json<CallOut>> {
    Ok(Json(state.service.call(&user, id).await?.into()))
}

async fn act(state: AppState, user: domain::User, id: Id, action: CallAction) -> ApiResult<Json<CallOut>> {
    Ok(Json(state.service.act_on_call(&user, id, action).await?.into()))
}

/// Joins the call (answering it if it rings). Joining twice changes nothing.
#[utoipa::path(post, path = "/api/v1/calls/{call_id}/join", tag = "calls", security(("bearer" = [])),
    params(("call_id" = String, Path)),
    responses((status = 200, body = CallOut), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn join_call(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<Json<CallOut>> {
    act(state, user, id, CallAction::Join).await
}

/// Leaves the call; it ends when its last participant leaves (in a 1:1 call, when either
/// does; a ringing call, when its caller does).
#[utoipa::path(post, path = "/api/v1/calls/{call_id}/leave", tag = "calls", security(("bearer" = [])),
    params(("call_id" = String, Path)),
    responses((status = 200, body = CallOut), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn leave_call(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<Json<CallOut>> {
    act(state, user, id, CallAction::Leave).await
}

/// Declines a ringing call; when everyone it rings declined, it ends.
#[utoipa::path(post, path = "/api/v1/calls/{call_id}/decline", tag = "calls", security(("bearer" = [])),
    params(("call_id" = String, Path)),
    responses((status = 200, body = CallOut), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn decline_call(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<Json<CallOut>> {
    act(state, user, id, CallAction::Decline).await
}

/// Ends the call for everyone (someone in it, or its caller).
#[utoipa::path(post, path = "/api/v1/calls/{call_id}/end", tag = "calls", security(("bearer" = [])),
    params(("call_id" = String, Path)),
    responses((status = 200, body = CallOut), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn end_call(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<Json<CallOut>> {
    act(state, user, id, CallAction::End).await
}

/// Relays a WebRTC message (`offer`, `answer`, `candidate`, `hangup`) to another person in
/// the call, as an ephemeral `call.signal` event on their open streams (any node). Both
/// must be in the call now.
#[utoipa::path(post, path = "/api/v1/calls/{call_id}/signal", tag = "calls", security(("bearer" = [])),
    params(("call_id" = String, Path)), request_body = CallSignalIn,
    responses((status = 204, description = "relayed"), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn relay_signal(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<Id>,
    ApiJson(body): ApiJson<CallSignalIn>,
) -> ApiResult<StatusCode> {
    let data = body.data.to_string();
    state.service.relay_call_signal(&user, id, body.to, body.kind.into(), data).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The STUN and TURN servers for calls, TURN with credentials of the caller's that expire
/// (TURN REST API: `username` is `<expiry>:<user id>`). Empty when the server has none
/// (peers on one network connect without).
#[utoipa::path(get, path = "/api/v1/calls/ice-servers", tag = "calls", security(("bearer" = [])),
    responses((status = 200, body = IceServersOut)))]
async fn ice_servers(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> ApiResult<Json<IceServersOut>> {
    let (servers, ttl) = state.service.ice_servers(&user, &state.settings.ice);
    let ice_servers = servers
        .into_iter()
        .map(|s| IceServerOut { urls: s.urls, username: s.username, credential: s.credential })
        .collect();
    Ok(Json(IceServersOut { ice_servers, ttl_secs: ttl.as_secs(), relay_only: state.settings.ice.relay_only }))
}
