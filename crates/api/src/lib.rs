//! Petit chat's HTTP API. Only this crate knows HTTP and JSON: it turns requests into
//! service calls and service results into wire types, problem documents and SSE. It holds
//! no business rule. Routes live in one module per resource, each with its own router,
//! merged in [`router`].

pub mod error;
pub mod extract;
pub mod limits;
mod metrics;
mod openapi;
mod routes;
mod web;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use domain::Result;
use ports::Identity;
use service::{ChatService, DeliveryTracker};
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutBody;
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
    /// Request rates and open streams.
    pub limits: Arc<limits::Limits>,
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
    /// How long a request body may pause between two chunks (slow senders cannot hold a
    /// connection and a handler).
    pub body_idle_timeout: Duration,
    /// Origins whose pages may call the API from a browser (CORS); empty: none but the
    /// server's own.
    pub cors_origins: Vec<HeaderValue>,
    /// `Strict-Transport-Security: max-age=…` on every answer, when set.
    pub hsts_max_age: Option<Duration>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            sse_heartbeat: Duration::from_secs(15),
            event_ticket: Duration::from_secs(30),
            ice: service::calls::IceSettings::default(),
            web: None,
            body_idle_timeout: Duration::from_secs(30),
            cors_origins: Vec::new(),
            hsts_max_age: None,
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
    let body_idle_timeout = state.settings.body_idle_timeout;
    let cors = cors(&state.settings.cors_origins);
    let hsts = state.settings.hsts_max_age.map(|max_age| {
        let value = HeaderValue::from_str(&format!("max-age={}; includeSubDomains", max_age.as_secs()))
            .unwrap_or_else(|_| HeaderValue::from_static("max-age=31536000"));
        SetResponseHeaderLayer::overriding(header::STRICT_TRANSPORT_SECURITY, value)
    });
    app.method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(axum::middleware::map_request(move |request: Request| async move {
            request.map(|body| axum::body::Body::new(TimeoutBody::new(body_idle_timeout, body)))
        }))
        .layer(axum::middleware::from_fn_with_state(state.limits.clone(), limits::enforce))
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::track))
        // Preflights are answered here, before any limit is charged.
        .layer(tower::util::option_layer(cors))
        .layer(tower::util::option_layer(hsts))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// The CORS policy for `origins`; `None` (no CORS headers: browsers allow only same-origin
/// calls) when there are none. Bearer tokens, not cookies: no credentials mode.
fn cors(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("last-event-id")])
            .expose_headers([header::RETRY_AFTER, header::LOCATION, HeaderName::from_static("x-request-id")])
            .max_age(Duration::from_secs(3600)),
    )
}
