//! The HTTP server loop: HTTP/1.1 connections served by hyper's `http1` builder, each in a
//! task of its own, with graceful shutdown.
//!
//! `axum::serve` goes through hyper-util's auto builder, which sniffs HTTP/1 against
//! HTTP/2 on every connection and keeps both codecs' state: about 20 KiB per connection,
//! most of the memory of an idle SSE stream, against 12 KiB here (bench/README.md, "Memory
//! per open stream"). Browsers speak HTTP/2 only over TLS, which a reverse proxy in front of
//! Petit chat terminates; cleartext HTTP/2 (h2c) is not offered.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long a client may take to send a request's headers (slow clients cannot hold a
/// connection open by dribbling them), unless configured otherwise.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in flight once `shutdown` has resolved.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits
/// (at most [`DRAIN_TIMEOUT`]) for the open connections to finish their requests. Requests
/// carry [`ConnectInfo`] of their peer's `SocketAddr`, as `into_make_service_with_connect_info`
/// gives. A connection whose request headers take longer than `header_timeout` is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    tokio::pin!(shutdown);
    loop {
        let (io, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if let Err(error) = io.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            router.clone().oneshot(request)
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(io), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
}
