//! The test harness: a real server on 127.0.0.1:0, logged-in sessions, and an SSE reader.

#![allow(dead_code)]

use std::time::Duration;

use futures::StreamExt;
use petit_chat::config::{Config, Overrides};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub app: petit_chat::App,
    /// Whether this server's CQL keyspace and S3 objects go when it stops (not across a
    /// `restart`).
    owns_data: bool,
    config: Config,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl Drop for TestServer {
    /// Stops the server; drops its CQL keyspace (every table costs Cassandra heap, and a
    /// test run makes dozens).
    fn drop(&mut self) {
        self.app.shutdown.cancel();
        let owns = std::mem::take(&mut self.owns_data);
        let keyspace = (owns && self.config.store.kind == petit_chat::config::StoreKind::Cql)
            .then(|| self.config.store.cql.clone());
        let s3 = (owns && self.uses_s3()).then(|| self.config.blobs.s3.clone());
        let search = (owns && self.config.search.kind == petit_chat::config::SearchKind::OpenSearch)
            .then(|| self.config.search.opensearch.clone());
        if keyspace.is_none() && s3.is_none() && search.is_none() {
            return;
        }
        let cleaned = run_aside(async move {
            if let Some(config) = keyspace {
                store_cql::CqlStore::drop_keyspace(&config).await?;
            }
            if let Some(config) = s3 {
                blobs::S3Blobs::new(&config)?.delete_everything().await?;
            }
            if let Some(config) = search {
                search::OpenSearchIndex::delete_everything(&config).await?;
            }
            Ok::<(), domain::Error>(())
        });
        if !matches!(cleaned, Ok(Ok(()))) {
            eprintln!("could not clean up after the test server: {cleaned:?}");
        }
    }
}

/// Runs `work` on a runtime of its own, in a thread of its own: how a `Drop`, which may run
/// inside a test's runtime (where nothing may block), cleans up after a test.
pub fn run_aside<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> std::thread::Result<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(work)
    })
    .join()
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server on the embedded shape, or, when `PETIT_CHAT_TEST_CONFIG` names a config
    /// file (e.g. `deploy/local/cluster.toml`), on that file's store with a keyspace of its
    /// own. The bus and identity stay embedded until their cluster adapters land.
    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> Self {
        let file = std::env::var("PETIT_CHAT_TEST_CONFIG").ok().map(std::path::PathBuf::from);
        Self::start_on(file.as_deref(), tune).await
    }

    /// A server on the store of config file `file` (embedded when `None`).
    pub async fn start_on(file: Option<&std::path::Path>, tune: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let overrides = Overrides { data_dir: Some(dir.path().to_path_buf()), ..Overrides::default() };
        let mut config = Config::load(file, &overrides).expect("config");
        config.store.sqlite_durability = "normal".into();
        config.store.cql.keyspace = format!("http_test_{:x}", rand_u64() >> 16);
        config.bus.kind = petit_chat::config::BusKind::Local;
        config.identity.kind = petit_chat::config::IdentityKind::Dev;
        config.server.sse_heartbeat_secs = 1;
        // Every test user logs in from 127.0.0.1: the rate limits' tests turn them on.
        config.limits.rate.enabled = false;
        // A key prefix of its own in a shared bucket, so its objects can be counted.
        config.blobs.s3.prefix = Some(format!("http-test-{:x}", rand_u64() >> 16));
        // An index of its own (OpenSearch), deleted with the server.
        config.search.opensearch.index = format!("http_test_{:x}", rand_u64() >> 16);
        tune(&mut config);
        Self::serve(config, dir).await
    }

    async fn serve(config: Config, dir: tempfile::TempDir) -> Self {
        let app = petit_chat::build(&config).await.expect("build app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = app.router.clone();
        let shutdown = app.shutdown.clone();
        let header_timeout = Duration::from_secs(config.limits.header_timeout_secs);
        tokio::spawn(petit_chat::http::serve(
            listener,
            router,
            header_timeout,
            async move { shutdown.cancelled().await },
        ));
        // Idle connections are dropped well before the server closes them (after
        // `limits.header_timeout_secs`), so a request never races the server's close.
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(config.limits.header_timeout_secs / 3))
            .build()
            .expect("client");
        Self { base: format!("http://{addr}"), client, app, owns_data: true, config, _dir: dir }
    }

    /// Stops this server and starts another on the same data (its data dir, or its CQL
    /// keyspace), as after a restart: only what is durable is still there. Sessions must
    /// log in again (same users, same ids), the new server listens elsewhere.
    pub async fn restart(mut self) -> Self {
        // The keyspace and the objects outlive this server: the next one removes them.
        self.owns_data = false;
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("temp dir"));
        let config = self.config.clone();
        drop(self);
        Self::serve(config, dir).await
    }

    /// [`TestServer::restart`], running `between` (on a thread of its own) while no server
    /// runs on the data.
    pub async fn restart_with(mut self, between: impl FnOnce(Config) + Send + 'static) -> Self {
        self.owns_data = false;
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("temp dir"));
        let config = self.config.clone();
        drop(self);
        let copy = config.clone();
        std::thread::spawn(move || between(copy)).join().expect("the work between two servers");
        Self::serve(config, dir).await
    }

    /// Whether attachments are in an S3 bucket (downloads then redirect).
    pub fn uses_s3(&self) -> bool {
        self.config.blobs.kind == petit_chat::config::BlobsKind::S3
    }

    /// How many blobs this server's storage holds: the files of its blob directory, or the
    /// objects under its key prefix of the S3 bucket.
    pub async fn blob_count(&self) -> usize {
        match self.config.blobs.kind {
            petit_chat::config::BlobsKind::Local => {
                let root = self.config.blobs_dir();
                let mut n = 0;
                for shard in std::fs::read_dir(root.join("blobs")).unwrap() {
                    n += std::fs::read_dir(shard.unwrap().path()).unwrap().count();
                }
                n
            }
            petit_chat::config::BlobsKind::S3 => {
                blobs::S3Blobs::new(&self.config.blobs.s3).unwrap().keys().await.unwrap().len()
            }
        }
    }

    /// Logs in with the dev login (creating the user the first time).
    pub async fn login(&self, username: &str) -> Session {
        login_at(&self.client, &self.base, username).await
    }

    pub async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        call(&self.client, &self.base, token, method, path, body).await
    }
}

/// A dev login of `username` on the server at `base` (this process's or another's).
pub async fn login_at(client: &reqwest::Client, base: &str, username: &str) -> Session {
    let (status, body) =
        call(client, base, None, Method::POST, "/api/v1/dev/login", Some(json!({ "username": username }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Session {
        base: base.to_string(),
        client: client.clone(),
        token: body["token"].as_str().expect("token").to_string(),
        id: body["user"]["id"].as_str().expect("id").to_string(),
    }
}

pub async fn call(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = client.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let is_problem = resp.headers().get("content-type").is_some_and(|v| v == "application/problem+json");
    let text = resp.text().await.expect("body");
    let value: Value =
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    if status.is_client_error() || status.is_server_error() {
        assert!(is_problem, "an error must be a problem document: {status} {value}");
        assert_eq!(value["status"], status.as_u16(), "{value}");
        assert!(value["code"].is_string(), "{value}");
    }
    (status, value)
}

/// A logged-in user.
#[derive(Clone)]
pub struct Session {
    pub base: String,
    pub client: reqwest::Client,
    pub token: String,
    pub id: String,
}

impl Session {
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        call(&self.client, &self.base, Some(&self.token), Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        call(&self.client, &self.base, Some(&self.token), Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        call(&self.client, &self.base, Some(&self.token), Method::PATCH, path, Some(body)).await
    }
    pub async fn put(&self, path: &str) -> (StatusCode, Value) {
        call(&self.client, &self.base, Some(&self.token), Method::PUT, path, None).await
    }
    pub async fn put_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        call(&self.client, &self.base, Some(&self.token), Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        call(&self.client, &self.base, Some(&self.token), Method::DELETE, path, None).await
    }

    /// Creates a group with these members and returns its id.
    pub async fn group(&self, title: &str, members: &[&Session]) -> String {
        let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
        let (status, chat) =
            self.post("/api/v1/chats", json!({ "kind": "group", "title": title, "members": ids })).await;
        assert_eq!(status, StatusCode::CREATED, "{chat}");
        chat["id"].as_str().expect("chat id").to_string()
    }

    /// Posts a message with a fresh nonce; returns the signal.
    pub async fn say(&self, chat: &str, text: &str) -> Value {
        let nonce = format!("n-{:x}", rand_u64());
        let (status, signal) = self
            .post(&format!("/api/v1/chats/{chat}/signals"), json!({ "kind": "msg", "text": text, "nonce": nonce }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{signal}");
        signal
    }

    /// Opens the live event stream (optionally resuming) and waits for `ready`.
    pub async fn stream(&self, last_event_id: Option<&str>) -> EventStream {
        let mut req = self.client.get(format!("{}/api/v1/events", self.base)).bearer_auth(&self.token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        self.open_stream(req).await
    }

    /// Opens the live event stream as a browser does: with a fresh single-use ticket in the
    /// query and the position to resume from as `?last_event_id=` (a new `EventSource`
    /// cannot send headers).
    pub async fn stream_by_ticket(&self, last_event_id: Option<&str>) -> EventStream {
        let (status, ticket) = self.post("/api/v1/events/ticket", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{ticket}");
        let mut query = vec![("ticket", ticket["ticket"].as_str().unwrap().to_string())];
        if let Some(id) = last_event_id {
            query.push(("last_event_id", id.to_string()));
        }
        self.open_stream(self.client.get(format!("{}/api/v1/events", self.base)).query(&query)).await
    }

    async fn open_stream(&self, req: reqwest::RequestBuilder) -> EventStream {
        let resp = req.send().await.expect("events");
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        let mut stream = EventStream { body: Box::pin(resp.bytes_stream()), buffer: String::new(), heartbeats: 0 };
        let ready = stream.next().await;
        assert_eq!(ready.event, "ready");
        stream
    }
}

/// Runs `scripts/stack` with `args` (the fault tests stop and start the stack's servers).
pub fn stack(args: &[&str]) {
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/stack");
    let status = std::process::Command::new(script).args(args).status().expect("run scripts/stack");
    assert!(status.success(), "scripts/stack {args:?} failed");
}

fn rand_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    t ^ N.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// One parsed SSE event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

pub struct EventStream {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
    pub heartbeats: usize,
}

impl EventStream {
    /// The next event (heartbeat comments are counted and skipped); panics after 10 s.
    pub async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(Duration::from_secs(10), self.next_inner()).await.expect("no event within 10 s")
    }

    /// The next event if one comes within `wait`.
    pub async fn try_next(&mut self, wait: Duration) -> Option<SseEvent> {
        tokio::time::timeout(wait, self.next_inner()).await.ok()
    }

    /// The next event named `name`, skipping others.
    pub async fn next_named(&mut self, name: &str) -> SseEvent {
        loop {
            let e = self.next().await;
            if e.event == name {
                return e;
            }
        }
    }

    /// The next `signal.created` of a message, skipping membership lines (`joined` and
    /// `left`): the fan-out of a chat's `joined` line can reach a stream opened after it was
    /// written.
    pub async fn next_message(&mut self) -> SseEvent {
        loop {
            let e = self.next_named("signal.created").await;
            if e.data["signal"]["kind"] == "msg" {
                return e;
            }
        }
    }

    async fn next_inner(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
                let mut comment_only = true;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                        comment_only = false;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                        comment_only = false;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                        comment_only = false;
                    }
                }
                if comment_only {
                    self.heartbeats += 1;
                    continue;
                }
                let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                return SseEvent { id, event, data };
            }
            let chunk = self.body.next().await.expect("stream ended").expect("stream error");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}
