//! Petit chat's HTTP API. Only this crate knows HTTP and JSON: it turns requests into
//! service calls and service results into wire types, problem documents and SSE. It holds
//! no business rule. Routes live in one module per resource, each with its own router,
//! merged in [`router`].

pub mod error;
pub mod extract;
mod metrics;
mod openapi;
mod routes;
mod web;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use domain::Result;
use ports::Identity;
use service::{ChatService, DeliveryTracker};
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use metrics::Metrics;
pub use routes::health::worker_router;
pub use web::{WebSettings, content_security_policy};
pub use wire::AuthConfigOut as AuthConfig;

/// Issues a dev-login token for a username (embedded shape only).
pub type DevTokenIssuer = Arc<dyn Fn(&str) -> Result<String> + Send + Sync>;

/// Everything a handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub service: ChatService,
    pub identity: Arc<dyn Identity>,
    /// Present only in the embedded shape; the route answers 404 otherwise.
    pub dev_login: Option<DevTokenIssuer>,
    pub auth_config: Arc<AuthConfig>,
    pub delivery: DeliveryTracker,
    pub metrics: Arc<Metrics>,
    pub settings: ApiSettings,
    /// Cancelled at shutdown: live streams end so the server can drain.
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// HTTP-level settings.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest JSON request body, in bytes.
    pub max_body_bytes: usize,
    /// Interval of SSE heartbeat comments.
    pub sse_heartbeat: Duration,
    /// Lifetime of event-stream tickets.
    pub event_ticket: Duration,
    /// The STUN/TURN servers `GET /calls/ice-servers` hands out.
    pub ice: service::calls::IceSettings,
    /// The web client served at `/`, if any.
    pub web: Option<WebSettings>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            sse_heartbeat: Duration::from_secs(15),
            event_ticket: Duration::from_secs(30),
            ice: service::calls::IceSettings::default(),
            web: None,
        }
    }
}

/// The OpenAPI document, as `GET /openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(routes::api_router().split_for_parts().1)
}

/// The whole HTTP application: the API, the operations endpoints, and the web client (if
/// configured) for the other paths.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = routes::api_router().split_for_parts();
    let openapi = openapi::finish(openapi);
    let metrics = state.metrics.clone();
    let app = api.merge(routes::health::router(openapi));
    let app = match &state.settings.web {
        Some(settings) => {
            let web = Arc::new(web::WebClient::new(settings));
            app.fallback(move |request: Request| {
                let web = web.clone();
                async move { web.serve(request).await }
            })
        }
        None => app.fallback(routes::not_found),
    };
    app.layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::track))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}
