//! Operations endpoints: liveness, readiness (the store and the bus answer), Prometheus
//! metrics, the OpenAPI document and its browsable UI.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use utoipa::openapi::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use std::sync::Arc;

use ports::Bus;

use crate::{AppState, Metrics};

pub fn router(openapi: OpenApi) -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
}

/// 200 `{store, bus, blobs, search}` when the store and the bus answer; otherwise a 503
/// problem document (`not_ready`) whose `checks` name what does not answer and why. The
/// blob storage and the search index are reported but do not make a node unready: without
/// them only attachments or searches fail (503), and chat goes on.
async fn readyz(State(state): State<AppState>) -> Response {
    let s = &state.service;
    let (store, bus, blobs, search) =
        tokio::join!(s.store().ping(), s.bus().ping(), s.blobs().ping(), s.index().ping());
    let status = |r: &domain::Result<()>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(format!("unavailable: {}", e.detail)),
    };
    let checks =
        json!({ "store": status(&store), "bus": status(&bus), "blobs": status(&blobs), "search": status(&search) });
    if store.is_ok() && bus.is_ok() {
        return Json(checks).into_response();
    }
    let problem = json!({
        "type": "urn:petit-chat:problem:not_ready",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "a dependency does not answer; see checks",
        "code": "not_ready",
        "checks": checks,
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(problem)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    response
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, OPENMETRICS)], state.metrics.encode_with_lag(&**state.service.bus()).await)
}

/// The operations endpoints of a `petit-chat worker` process (no API): `/healthz` and
/// `/metrics`.
pub fn worker_router(metrics: Arc<Metrics>, bus: Arc<dyn Bus>) -> Router {
    Router::new().route("/healthz", get(|| async { Json(json!({ "status": "ok" })) })).route(
        "/metrics",
        get(move || {
            let (metrics, bus) = (metrics.clone(), bus.clone());
            async move { ([(header::CONTENT_TYPE, OPENMETRICS)], metrics.encode_with_lag(&*bus).await) }
        }),
    )
}
