//! `--deliver webhook`: the users are offline and each has a webhook push target that this
//! run receives on loopback (`/hook/<group>/<member>`), so a delivery is a notification
//! reaching its gateway. The signature is not checked here (the HTTP tests do); the
//! notification's body is the message's text, whose sequence number names the post.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;

use crate::stream::parse_seq;
use crate::tally::Tally;

/// The secret of every target of a run.
pub const SECRET: &str = "loadgen-webhook-secret";

/// Starts the receiver; returns its base URL (`http://127.0.0.1:<port>`).
pub async fn start(tally: Arc<Tally>) -> anyhow::Result<String> {
    let app = Router::new().route("/hook/{group}/{member}", post(receive)).with_state(tally);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

async fn receive(
    State(tally): State<Arc<Tally>>,
    Path((group, member)): Path<(u32, usize)>,
    body: axum::body::Bytes,
) -> StatusCode {
    let at = Instant::now();
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else { return StatusCode::BAD_REQUEST };
    if value["type"] != "message" {
        return StatusCode::OK; // a clear
    }
    match value["body"].as_str().and_then(parse_seq) {
        Some(seq) => tally.delivered(seq, group, member, at),
        None => tally.foreign(),
    }
    StatusCode::OK
}
