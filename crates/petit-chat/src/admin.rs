//! The embedded server's admin socket: a Unix domain socket in its data directory
//! (`admin.sock`) answering a small HTTP API, for the `petit-chat admin` commands that need
//! what the running server holds. Today that is the search index: tantivy allows one
//! writer per process, so while `petit-chat serve` runs, `petit-chat admin reindex` asks it
//! to rebuild its index with its own handle (the one the `index` consumer group writes)
//! and shows the progress it streams back.
//!
//! Whoever may connect is the operator, as with Docker's socket: the file is its owner's
//! alone (mode 0600), and the server also checks the peer's uid (the owner's, or root's),
//! which covers the instant between the bind and the chmod. Details of a failure are sent
//! to that operator, unlike the public API's.
//!
//! `POST /reindex[?chat=ID]` answers `application/x-ndjson`: `{"progress":{…}}` lines, then
//! one last line, `{"done":{…}}` or `{"problem":{…}}` (an RFC 9457 problem document). A
//! reindex asked while another runs is refused at once: 409, `reindex_running`.

use std::convert::Infallible;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::IncomingStream;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use ports::{Store, TextIndex};
use serde::{Deserialize, Serialize};
use service::reindex::ReindexProgress;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Mutex, OwnedMutexGuard, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a client waits for the server to answer a request's head.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The admin socket of the server whose data directory is `data_dir`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// The server's reindexing: its store and index, one rebuild at a time.
#[derive(Clone)]
pub struct Reindexer {
    store: Arc<dyn Store>,
    index: Arc<dyn TextIndex>,
    running: Arc<Mutex<()>>,
}

impl Reindexer {
    pub fn new(store: Arc<dyn Store>, index: Arc<dyn TextIndex>) -> Self {
        Self { store, index, running: Arc::new(Mutex::new(())) }
    }
}

#[derive(Clone)]
struct Admin {
    reindexer: Reindexer,
    /// The uid owning the socket (this process's).
    owner: u32,
    shutdown: CancellationToken,
}

/// Serves the admin API on `path` until `shutdown`, then removes the socket unless another
/// has taken its place; the task ends when the connections have. A file already there is
/// replaced: call this only while holding what the socket serves (the index), so that no
/// other server of this data directory can be running and the file is one left by a
/// server that is gone.
pub fn listen(path: &Path, reindexer: Reindexer, shutdown: CancellationToken) -> anyhow::Result<JoinHandle<()>> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove the old socket {}", path.display()));
        }
        _ => {}
    }
    let listener = UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {} to its owner", path.display()))?;
    let socket = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let admin = Admin { reindexer, owner: socket.uid(), shutdown: shutdown.clone() };
    let router = Router::new().route("/reindex", post(reindex)).fallback(not_found).with_state(admin);
    let (path, ours) = (path.to_path_buf(), (socket.dev(), socket.ino()));
    let stop = async move {
        shutdown.cancelled().await;
        // A server started since on this data directory (a restart in the same process)
        // may have bound a socket of its own there: that one stays.
        if std::fs::metadata(&path).is_ok_and(|m| (m.dev(), m.ino()) == ours) {
            let _ = std::fs::remove_file(&path);
        }
    };
    Ok(tokio::spawn(async move {
        let serving = axum::serve(listener, router.into_make_service_with_connect_info::<Peer>());
        if let Err(error) = serving.with_graceful_shutdown(stop).await {
            tracing::warn!(%error, "the admin socket stopped");
        }
    }))
}

/// Who is connected: the peer's uid, from the socket.
#[derive(Debug, Clone, Copy)]
struct Peer {
    uid: Option<u32>,
}

impl Connected<IncomingStream<'_, UnixListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        Self { uid: stream.io().peer_cred().ok().map(|c| c.uid()) }
    }
}

#[derive(Debug, Deserialize)]
struct ReindexQuery {
    chat: Option<String>,
}

async fn reindex(
    State(admin): State<Admin>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    query: Result<Query<ReindexQuery>, QueryRejection>,
) -> Response {
    if !peer.uid.is_some_and(|uid| uid == admin.owner || uid == 0) {
        return Problem::new(StatusCode::FORBIDDEN, "forbidden", "only the socket's owner may use it").into_response();
    }
    let chat = match query.map(|Query(q)| q.chat.map(|c| c.parse::<domain::ChatId>()).transpose()) {
        Ok(Ok(chat)) => chat,
        _ => return Problem::new(StatusCode::BAD_REQUEST, "invalid_query", "chat must be a chat id").into_response(),
    };
    let Ok(running) = admin.reindexer.running.clone().try_lock_owned() else {
        let detail = "a reindex is already running on this server; wait for it to finish";
        return Problem::new(StatusCode::CONFLICT, "reindex_running", detail).into_response();
    };
    tracing::info!(chat = ?chat.map(|c| c.to_string()), "reindex asked on the admin socket");
    let (lines, mut received) = mpsc::channel(16);
    tokio::spawn(run_reindex(admin.reindexer, chat, lines, admin.shutdown, running));
    let body = futures::stream::poll_fn(move |cx| received.poll_recv(cx).map(|l| l.map(Ok::<_, Infallible>)));
    ([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(body)).into_response()
}

/// Runs one reindex, sending its progress and last line to `lines`; stops early when the
/// client goes away or the server shuts down.
async fn run_reindex(
    reindexer: Reindexer,
    chat: Option<domain::ChatId>,
    lines: mpsc::Sender<Bytes>,
    shutdown: CancellationToken,
    _running: OwnedMutexGuard<()>,
) {
    let work = service::reindex::reindex(reindexer.store, reindexer.index, chat, |p| {
        // A client slower than the progress misses lines (each has every count), never the last.
        let _ = lines.try_send(Line::Progress(p.into()).to_bytes());
    });
    let last = tokio::select! {
        done = work => match done {
            Ok(done) => {
                tracing::info!(chats = done.chats_done, messages = done.messages, "search index rebuilt");
                Line::Done(done.into())
            }
            Err(error) => {
                tracing::error!(%error, "rebuilding the search index failed");
                let status = match error.kind {
                    domain::ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                Line::Problem(Problem::new(status, error.code.as_str(), &error.detail))
            }
        },
        () = lines.closed() => {
            tracing::info!("reindex stopped: its client went away");
            return;
        }
        () = shutdown.cancelled() => {
            let detail = "the server is shutting down; run the reindex again once it is back";
            Line::Problem(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail))
        }
    };
    let _ = lines.send(last.to_bytes()).await;
}

async fn not_found() -> Response {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "the admin socket answers POST /reindex").into_response()
}

/// One line of a reindex's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Progress(Counts),
    Done(Counts),
    Problem(Problem),
}

impl Line {
    fn to_bytes(&self) -> Bytes {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line.into()
    }
}

/// [`ReindexProgress`] on the wire.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Counts {
    chats_total: u64,
    chats_done: u64,
    messages: u64,
}

impl From<ReindexProgress> for Counts {
    fn from(p: ReindexProgress) -> Self {
        Self { chats_total: p.chats_total, chats_done: p.chats_done, messages: p.messages }
    }
}

impl From<Counts> for ReindexProgress {
    fn from(c: Counts) -> Self {
        Self { chats_total: c.chats_total, chats_done: c.chats_done, messages: c.messages }
    }
}

/// An RFC 9457 problem document, as the public API's.
#[derive(Debug, Serialize, Deserialize)]
struct Problem {
    #[serde(rename = "type")]
    type_uri: String,
    title: String,
    status: u16,
    detail: String,
    code: String,
}

impl Problem {
    fn new(status: StatusCode, code: &str, detail: &str) -> Self {
        Self {
            type_uri: format!("urn:petit-chat:problem:{code}"),
            title: status.canonical_reason().unwrap_or_default().to_string(),
            status: status.as_u16(),
            detail: detail.to_string(),
            code: code.to_string(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, "application/problem+json")], body).into_response()
    }
}

/// Asks the server listening on `socket` to reindex `chat`, or every chat, calling
/// `progress` as it reports. `Ok(None)` when no server listens there (no socket, or one
/// left by a server that is gone).
pub async fn request_reindex(
    socket: &Path,
    chat: Option<domain::ChatId>,
    mut progress: impl FnMut(ReindexProgress),
) -> anyhow::Result<Option<ReindexProgress>> {
    let stream = match UnixStream::connect(socket).await {
        Ok(stream) => stream,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("cannot connect to {}", socket.display())),
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let uri = chat.map_or_else(|| "/reindex".to_string(), |chat| format!("/reindex?chat={chat}"));
    let request = hyper::Request::post(uri).header(header::HOST, "localhost").body(Empty::<Bytes>::new())?;
    let response = tokio::time::timeout(ANSWER_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| anyhow!("the server on {} did not answer within {ANSWER_TIMEOUT:?}", socket.display()))??;
    let status = response.status();
    let mut body = response.into_body();
    if !status.is_success() {
        let bytes = body.collect().await?.to_bytes();
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => bail!("the server refused: {} ({status}, {})", problem.detail, problem.code),
            Err(_) => bail!("the server refused: {status} {}", String::from_utf8_lossy(&bytes)),
        }
    }
    let mut pending = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            match serde_json::from_slice(&line).context("the server answered a line that is not one")? {
                Line::Progress(counts) => progress(counts.into()),
                Line::Done(counts) => return Ok(Some(counts.into())),
                Line::Problem(p) => bail!("the server's reindex failed: {} ({})", p.detail, p.code),
            }
        }
    }
    bail!("the server ended its answer before the reindex did")
}
