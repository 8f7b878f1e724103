//! Chats, their members, and typing indicators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::Id;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser};
use crate::wire::{AddMembersIn, ChatOut, CreateChatIn, MemberOut, Page, PatchChatIn, SetRoleIn};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_chat, my_chats))
        .routes(routes!(chat, patch_chat))
        .routes(routes!(members, add_members))
        .routes(routes!(remove_member, set_role))
        .routes(routes!(typing))
}

/// Creates a chat. A direct chat is one per pair: asking again returns the same chat
/// (200 instead of 201). A group is one per `nonce` of its creator: repeating the request
/// with the same nonce (a retry) returns the group the first one created (200), finishing
/// what a failed first attempt left undone.
#[utoipa::path(post, path = "/api/v1/chats", tag = "chats", security(("bearer" = [])), request_body = CreateChatIn,
    responses((status = 201, body = ChatOut), (status = 200, body = ChatOut, description = "the existing direct chat, or the group this nonce created"),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn create_chat(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiJson(body): ApiJson<CreateChatIn>,
) -> ApiResult<(StatusCode, Json<ChatOut>)> {
    let svc = &state.service;
    let (chat, created) =
        svc.create_chat(&user, body.kind.into(), body.title.as_deref(), &body.members, body.nonce.as_deref()).await?;
    let members = svc.members_of(&user, chat.id).await?;
    let me = members.iter().find(|m| m.user_id == user.id).cloned();
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(ChatOut::new(chat, me, Some(members)))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 100 (default 50; a number out of range counts as the nearest).
    #[serde(default, deserialize_with = "crate::extract::page_size")]
    limit: Option<usize>,
}

/// The caller's chats, most recently active first.
#[utoipa::path(get, path = "/api/v1/chats", tag = "chats", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<ChatOut>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn my_chats(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ChatOut>>> {
    let limit = service::page_limit(q.limit, 50, 100);
    let page = state.service.my_chats(&user, q.cursor.as_deref(), limit).await?;
    Ok(Json(Page::from_domain(page, ChatOut::from)))
}

/// One chat, with its members.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = String, Path)),
    responses((status = 200, body = ChatOut), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn chat(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
) -> ApiResult<Json<ChatOut>> {
    let (chat, me) = state.service.chat_for(&user, chat_id).await?;
    let members = state.service.members_of(&user, chat_id).await?;
    let notifications = state.service.notify_settings(&user, chat_id).await?;
    Ok(Json(ChatOut { notifications: Some(notifications.into()), ..ChatOut::new(chat, Some(me), Some(members)) }))
}

/// Renames a group (owner or admin).
#[utoipa::path(patch, path = "/api/v1/chats/{chat_id}", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = String, Path)), request_body = PatchChatIn,
    responses((status = 200, body = ChatOut), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_chat(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
    ApiJson(body): ApiJson<PatchChatIn>,
) -> ApiResult<Json<ChatOut>> {
    let chat = state.service.rename_group(&user, chat_id, &body.title).await?;
    let members = state.service.members_of(&user, chat_id).await?;
    let me = members.iter().find(|m| m.user_id == user.id).cloned();
    Ok(Json(ChatOut::new(chat, me, Some(members))))
}

/// The members of a chat, with their roles and receipt markers.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/members", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = String, Path)),
    responses((status = 200, body = Page<MemberOut>), (status = 404, body = Problem)))]
async fn members(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
) -> ApiResult<Json<Page<MemberOut>>> {
    let members = state.service.members_of(&user, chat_id).await?;
    Ok(Json(Page { items: members.into_iter().map(MemberOut::from).collect(), next_cursor: None }))
}

/// Adds people to a group (owner or admin); a `joined` signal records it.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/members", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = String, Path)), request_body = AddMembersIn,
    responses((status = 200, body = Page<MemberOut>), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn add_members(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
    ApiJson(body): ApiJson<AddMembersIn>,
) -> ApiResult<Json<Page<MemberOut>>> {
    let members = state.service.add_members(&user, chat_id, &body.user_ids).await?;
    Ok(Json(Page { items: members.into_iter().map(MemberOut::from).collect(), next_cursor: None }))
}

/// Removes a member from a group, or leaves it (your own id); a `left` signal records it.
#[utoipa::path(delete, path = "/api/v1/chats/{chat_id}/members/{user_id}", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn remove_member(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((chat_id, user_id)): ApiPath<(Id, Id)>,
) -> ApiResult<StatusCode> {
    state.service.remove_member(&user, chat_id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes a member's role in a group: the owner makes a member an admin or an admin a
/// member, or hands ownership over (`owner`: the caller becomes an admin). Members get
/// `member.role_changed`.
#[utoipa::path(patch, path = "/api/v1/chats/{chat_id}/members/{user_id}", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = String, Path), ("user_id" = String, Path)), request_body = SetRoleIn,
    responses((status = 200, body = MemberOut), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn set_role(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((chat_id, user_id)): ApiPath<(Id, Id)>,
    ApiJson(body): ApiJson<SetRoleIn>,
) -> ApiResult<Json<MemberOut>> {
    let member = state.service.set_role(&user, chat_id, user_id, body.role.into()).await?;
    Ok(Json(MemberOut::from(member)))
}

/// Tells the chat's other members that the caller is typing: they get an ephemeral
/// `typing` event (no id, never replayed) and show it for its `expires_in_ms` (5 s) unless
/// another renews it; a message from the caller ends it sooner. Call it every few seconds
/// while typing; more than one call per 2 s per chat is accepted and ignored.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/typing", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn typing(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
) -> ApiResult<StatusCode> {
    state.service.typing(&user, chat_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
