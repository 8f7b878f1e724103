//! How to log in: the login configuration and the embedded shape's dev login.

use domain::ErrorCode;
use std::net::SocketAddr;

use axum::Extension;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use ports::VerifiedIdentity;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::wire::{AuthConfigOut, DevLoginIn, DevLoginOut};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(auth_config)).routes(routes!(dev_login))
}

/// How clients log in to this server.
#[utoipa::path(get, path = "/api/v1/auth/config", tag = "auth",
    responses((status = 200, body = AuthConfigOut)))]
async fn auth_config(State(state): State<AppState>) -> Json<AuthConfigOut> {
    let c = &state.auth_config;
    Json(AuthConfigOut {
        mode: c.mode.clone(),
        issuer: c.issuer.clone(),
        client_id: c.client_id.clone(),
        scopes: c.scopes.clone(),
    })
}

/// Logs in as any username, creating the user on first login. Embedded shape only, and
/// only from the loopback address: 404 anywhere else.
#[utoipa::path(post, path = "/api/v1/dev/login", tag = "auth", request_body = DevLoginIn,
    responses((status = 200, body = DevLoginOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn dev_login(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ApiJson(body): ApiJson<DevLoginIn>,
) -> ApiResult<(StatusCode, Json<DevLoginOut>)> {
    let hidden = || ApiError::not_found(ErrorCode::NoSuchRoute, "no such route; see /docs");
    let issuer = state.dev_login.as_ref().ok_or_else(hidden)?;
    let from_loopback = peer.is_some_and(|Extension(ConnectInfo(addr))| addr.ip().is_loopback());
    if !from_loopback {
        return Err(hidden());
    }
    let token = issuer(&body.username)?;
    let identity = state.identity.verify(&token).await?;
    let identity = VerifiedIdentity { display_name: body.display_name.clone(), ..identity };
    let user = state.service.user_for_identity(&identity).await?;
    Ok((StatusCode::OK, Json(DevLoginOut { token, user: user.into() })))
}
