//! Search: messages in one chat, or in all the caller's chats.

use axum::Json;
use axum::extract::State;
use domain::{ErrorCode, Id};
use serde::Deserialize;
use service::search::SearchRequest;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery, CurrentUser};
use crate::wire::{Page, SearchHasWire, SearchHitOut, SearchOrderWire};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_chat)).routes(routes!(search_all))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// What to find, 1 to 256 characters, not blank: words (each must match; case and
    /// accents do not matter; one typo is forgiven in words of 5 letters or more),
    /// `"quoted phrases"`; the last word also matches as a prefix unless followed by a
    /// space. Nothing in it is read as query syntax.
    #[serde(default)]
    #[param(required = true, value_type = crate::wire::rules::SearchText, inline)]
    q: String,
    /// Only messages by this user.
    #[param(value_type = Option<crate::wire::rules::IdString>, inline)]
    from: Option<Id>,
    /// Only messages with an attachment, or with a link.
    #[param(inline)]
    has: Option<SearchHasWire>,
    /// Only messages sent before this time (RFC 3339, or a date: its midnight UTC).
    #[param(value_type = Option<crate::wire::rules::DateOrDateTime>, inline)]
    before: Option<String>,
    /// Only messages sent at or after this time (RFC 3339, or a date: its midnight UTC).
    #[param(value_type = Option<crate::wire::rules::DateOrDateTime>, inline)]
    after: Option<String>,
    /// `relevance` (default) or `recent`.
    #[param(inline)]
    sort: Option<SearchOrderWire>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 50 (default 20; a number out of range counts as the nearest).
    #[serde(default, deserialize_with = "crate::extract::page_size")]
    limit: Option<usize>,
}

/// A time parameter as Unix milliseconds (none before 1970): an RFC 3339 date-time
/// (`2026-12-01T09:30:00Z`, any offset) or a date (`2026-12-01`, its midnight UTC).
/// Anything else: 422 `invalid_query`.
fn parse_time(name: &str, value: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let at = crate::wire::time::parse_date(value).or_else(|| crate::wire::time::parse_date_time(value)).ok_or_else(
        || {
            ApiError::from(domain::Error::invalid(
                ErrorCode::InvalidQuery,
                format!("`{name}` is a date (2026-12-01) or an RFC 3339 time (2026-12-01T09:30:00Z)"),
            ))
        },
    )?;
    Ok(Some(u64::try_from(at).unwrap_or(0)))
}

impl SearchQuery {
    fn request(self, chat: Option<Id>) -> Result<SearchRequest, ApiError> {
        Ok(SearchRequest {
            before_ms: parse_time("before", self.before.as_deref())?,
            after_ms: parse_time("after", self.after.as_deref())?,
            text: self.q,
            chat,
            from: self.from,
            has: self.has.map(Into::into),
            order: self.sort.map(Into::into).unwrap_or_default(),
            cursor: self.cursor,
            limit: self.limit,
        })
    }
}

/// Searches one chat's messages (members only). Results come from an index updated a
/// moment after each message (about a second).
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/search", tag = "search", security(("bearer" = [])),
    params(("chat_id" = String, Path), SearchQuery),
    responses((status = 200, body = Page<SearchHitOut>), (status = 404, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem)))]
async fn search_chat(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Page<SearchHitOut>>> {
    let found = state.service.search(&user, q.request(Some(chat_id))?).await?;
    Ok(Json(Page::from_domain(found, SearchHitOut::from)))
}

/// Searches the messages of every chat the caller is a member of now.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 200, body = Page<SearchHitOut>), (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn search_all(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Page<SearchHitOut>>> {
    let found = state.service.search(&user, q.request(None)?).await?;
    Ok(Json(Page::from_domain(found, SearchHitOut::from)))
}
