//! The routes, one module per resource, each with its own router.

mod attachments;
mod auth;
mod calls;
mod chats;
mod events;
pub mod health;
mod notifications;
mod search;
mod signals;
mod users;

use domain::ErrorCode;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::error::ApiError;

/// Every documented route under `/api/v1`.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(chats::router())
        .merge(signals::router())
        .merge(attachments::router())
        .merge(events::router())
        .merge(notifications::router())
        .merge(search::router())
        .merge(calls::router())
}

/// Unknown paths get a problem document too.
pub async fn not_found() -> ApiError {
    ApiError::not_found(ErrorCode::NoSuchRoute, "no such route; see /docs")
}

/// A known path with a method it does not take: a problem document (axum's own answer has
/// an empty body).
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this path does not take this method; see /docs",
    )
}
