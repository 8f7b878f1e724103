//! The HTTP server loop: HTTP/1.1 connections served by hyper's `http1` builder, each in a
//! task of its own, with graceful shutdown.
//!
//! `axum::serve` goes through hyper-util's auto builder, which sniffs HTTP/1 against
//! HTTP/2 on every connection and keeps both codecs' state: about 20 KiB per connection,
//! most of the memory of an idle SSE stream, against 12 KiB here (bench/README.md, "Memory
//! per open stream"). Browsers speak HTTP/2 only over TLS, which a reverse proxy in front of
//! Petit chat terminates; cleartext HTTP/2 (h2c) is not offered.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::response::Response;
use futures::FutureExt;
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
            let answer = router.clone().oneshot(request);
            // Boxed: hyper keeps the box of its in-flight future for the connection's life,
            // so a boxed future leaves a pointer there and is freed once answered.
            Box::pin(async move {
                let mut response = answer.await?;
                compact_headers(response.headers_mut());
                Ok::<_, Infallible>(response)
            }) as Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(io), service));
        // A combinator, not an `async move` block: the block would hold the connection twice
        // (as its capture and as the future it awaits), 0.8 KiB more per connection.
        tokio::spawn(connection.map(move |result| {
            if let Err(error) = result {
                tracing::debug!(%error, %remote, "connection ended with an error");
            }
        }));
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
}

/// hyper keeps a response's header map for the connection's next request, for as long as
/// the connection lives: an event stream's lives as long as the stream. Sized to what it
/// holds (3 headers: 4 slots) instead of what the first insert reserved (0.3 KiB less per
/// open stream).
fn compact_headers(headers: &mut HeaderMap) {
    if headers.capacity() <= headers.len() {
        return;
    }
    let mut compact = HeaderMap::with_capacity(headers.len());
    let mut last = None;
    for (name, value) in std::mem::take(headers) {
        // `None` repeats the previous name (a header with several values).
        let Some(name) = name.or_else(|| last.take()) else { continue };
        compact.append(name.clone(), value);
        last = Some(name);
    }
    *headers = compact;
}

#[cfg(test)]
mod tests {
    use axum::http::header::{CONTENT_TYPE, SET_COOKIE};

    use super::*;

    #[test]
    fn compacted_headers_keep_every_value_in_order() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, "text/event-stream".parse().unwrap());
        headers.append(SET_COOKIE, "a=1".parse().unwrap());
        headers.append(SET_COOKIE, "b=2".parse().unwrap());
        let before = headers.clone();
        compact_headers(&mut headers);
        assert_eq!(headers, before);
        assert_eq!(headers.get_all(SET_COOKIE).iter().collect::<Vec<_>>(), ["a=1", "b=2"]);
        assert!(headers.capacity() < before.capacity(), "{} slots", headers.capacity());
    }
}
