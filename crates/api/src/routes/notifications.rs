//! Notifications: a chat's level and mute (`/chats/{id}/notifications`), the caller's push
//! targets (`/me/push-targets`) and the server's VAPID key.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::{Error, ErrorCode, Id};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, CurrentUser};
use crate::wire::{NotificationsOut, PushTargetIn, PushTargetOut, SetNotificationsIn, VapidKeyOut};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(notifications, set_notifications))
        .routes(routes!(push_targets, add_push_target))
        .routes(routes!(delete_push_target))
        .routes(routes!(vapid_public_key))
}

/// The caller's notification settings of a chat.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/notifications", tag = "notifications", security(("bearer" = [])),
    params(("chat_id" = String, Path)),
    responses((status = 200, body = NotificationsOut), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn notifications(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
) -> ApiResult<Json<NotificationsOut>> {
    Ok(Json(state.service.notify_settings(&user, chat_id).await?.into()))
}

/// Sets how much the caller hears of a chat (`all`, `mentions`, `none`), and mutes it until
/// a time if given.
#[utoipa::path(put, path = "/api/v1/chats/{chat_id}/notifications", tag = "notifications", security(("bearer" = [])),
    params(("chat_id" = String, Path)), request_body = SetNotificationsIn,
    responses((status = 200, body = NotificationsOut), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn set_notifications(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
    ApiJson(body): ApiJson<SetNotificationsIn>,
) -> ApiResult<Json<NotificationsOut>> {
    let muted_until = body
        .muted_until
        .as_deref()
        .map(|t| {
            crate::wire::time::parse_date_time(t)
                .ok_or_else(|| Error::invalid(ErrorCode::InvalidMutedUntil, "muted_until is an RFC 3339 time"))
        })
        .transpose()?;
    let settings = state.service.set_notify_settings(&user, chat_id, body.level.into(), muted_until).await?;
    Ok(Json(settings.into()))
}

/// The caller's push targets, oldest first (secrets are never returned).
#[utoipa::path(get, path = "/api/v1/me/push-targets", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = Vec<PushTargetOut>), (status = 401, body = Problem)))]
async fn push_targets(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> ApiResult<Json<Vec<PushTargetOut>>> {
    Ok(Json(state.service.push_targets(&user).await?.into_iter().map(PushTargetOut::from).collect()))
}

/// Adds a push target: a browser's Web Push subscription, a signed webhook, or a Matrix
/// push gateway. The same address again replaces the target (same id).
#[utoipa::path(post, path = "/api/v1/me/push-targets", tag = "notifications", security(("bearer" = [])),
    request_body = PushTargetIn,
    responses((status = 201, body = PushTargetOut), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn add_push_target(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiJson(body): ApiJson<PushTargetIn>,
) -> ApiResult<(StatusCode, Json<PushTargetOut>)> {
    let target = state.service.add_push_target(&user, body.into()).await?;
    Ok((StatusCode::CREATED, Json(target.into())))
}

/// Deletes one of the caller's push targets.
#[utoipa::path(delete, path = "/api/v1/me/push-targets/{target_id}", tag = "notifications", security(("bearer" = [])),
    params(("target_id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn delete_push_target(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(target_id): ApiPath<Id>,
) -> ApiResult<StatusCode> {
    state.service.delete_push_target(&user, target_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The server's VAPID public key, for a browser's `pushManager.subscribe`.
#[utoipa::path(get, path = "/api/v1/push/vapid-public-key", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = VapidKeyOut), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn vapid_public_key(
    State(state): State<AppState>,
    CurrentUser(_user): CurrentUser,
) -> ApiResult<Json<VapidKeyOut>> {
    Ok(Json(VapidKeyOut { public_key: state.service.vapid_public_key()? }))
}
