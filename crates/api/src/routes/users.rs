//! The caller (`/me`, `/me/status`) and other users, with their presence.

use axum::Json;
use axum::extract::State;
use domain::{Error, ErrorCode, Id};
use serde::Deserialize;
use service::presence::StatusChange;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser};
use crate::wire::{Page, PatchMeIn, PresenceOut, SetStatusIn, UserOut, UserWithPresenceOut};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me, patch_me))
        .routes(routes!(set_status))
        .routes(routes!(find_users))
        .routes(routes!(user))
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserOut), (status = 401, body = Problem)))]
async fn me(CurrentUser(user): CurrentUser) -> Json<UserOut> {
    Json(user.into())
}

/// Changes the caller's display name.
#[utoipa::path(patch, path = "/api/v1/me", tag = "users", security(("bearer" = [])), request_body = PatchMeIn,
    responses((status = 200, body = UserOut), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn patch_me(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiJson(body): ApiJson<PatchMeIn>,
) -> ApiResult<Json<UserOut>> {
    Ok(Json(state.service.set_display_name(&user, &body.display_name).await?.into()))
}

/// Sets the caller's availability and status text. Everyone who shares a chat with the
/// caller gets a `presence.changed` event when what they see changes (turning `invisible`
/// looks like going offline); the caller's own streams get one in any case.
#[utoipa::path(put, path = "/api/v1/me/status", tag = "users", security(("bearer" = [])), request_body = SetStatusIn,
    responses((status = 200, body = PresenceOut, description = "the caller's presence as they see it"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn set_status(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiJson(body): ApiJson<SetStatusIn>,
) -> ApiResult<Json<PresenceOut>> {
    let change = StatusChange {
        availability: body.availability.into(),
        text: body.text,
        clear_after_secs: body.clear_after_secs,
    };
    Ok(Json(state.service.set_status(&user, change).await?.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FindUsers {
    /// An exact username.
    username: Option<String>,
    /// The start of the usernames to find, 1 to 64 characters once trimmed. Compared as
    /// it is (usernames are lowercase: lowercase what a person types); no character in it
    /// is a wildcard.
    #[param(value_type = Option<crate::wire::rules::UsernamePrefix>, inline)]
    prefix: Option<String>,
    /// With `prefix`: how many users at most, 1 to 20 (default 10; a number out of range
    /// counts as the nearest).
    #[serde(default, deserialize_with = "crate::extract::page_size")]
    limit: Option<usize>,
}

/// Finds users by exact username or by username prefix.
///
/// Takes exactly one of `username` (the user with that exact username; an empty page when
/// there is none) and `prefix` (the users whose username starts with it, by username, at
/// most `limit`: for "new chat" and "add member" pickers). Neither or both: 422
/// `one_of_username_or_prefix`; a prefix empty or over 64 characters: 422
/// `invalid_username_prefix`. The page is the only one (`next_cursor` is null).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), params(FindUsers),
    responses((status = 200, body = Page<UserOut>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn find_users(
    State(state): State<AppState>,
    _caller: CurrentUser,
    ApiQuery(q): ApiQuery<FindUsers>,
) -> ApiResult<Json<Page<UserOut>>> {
    let found = match (q.username, q.prefix) {
        (Some(username), None) => state.service.user_by_username(&username).await?.into_iter().collect(),
        (None, Some(prefix)) => state.service.users_by_prefix(&prefix, service::page_limit(q.limit, 10, 20)).await?,
        _ => {
            return Err(
                Error::invalid(ErrorCode::OneOfUsernameOrPrefix, "give exactly one of username and prefix").into()
            );
        }
    };
    Ok(Json(Page { items: found.into_iter().map(UserOut::from).collect(), next_cursor: None }))
}

/// One user, with their presence as the caller sees it.
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = UserWithPresenceOut), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    ApiPath(user_id): ApiPath<Id>,
) -> ApiResult<Json<UserWithPresenceOut>> {
    let user = state.service.user(user_id).await?;
    let presence = state.service.presence(&caller, user_id).await?;
    Ok(Json(UserWithPresenceOut { user: user.into(), presence: presence.into() }))
}
