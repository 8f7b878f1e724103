//! Operations endpoints: liveness, readiness (the store and the bus answer), Prometheus
//! metrics, the OpenAPI document and its browsable UI.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use utoipa::openapi::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;

pub fn router(openapi: OpenApi) -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
}

/// 200 when the store and the bus answer; 503 naming what does not.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.service.store().ping().await;
    let bus = state.service.bus().ping().await;
    let status = |r: &domain::Result<()>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(format!("unavailable: {}", e.detail)),
    };
    let body = json!({ "store": status(&store), "bus": status(&bus) });
    let code = if store.is_ok() && bus.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.encode())
}
