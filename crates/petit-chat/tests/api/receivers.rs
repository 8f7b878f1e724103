//! Push gateways played by test receivers on loopback, each speaking the public protocol
//! of its kind: a webhook receiver that checks the signature the README documents
//! (HMAC-SHA256 over "<timestamp>.<body>"), and a Matrix push gateway
//! (`POST /_matrix/push/v1/notify`) that can answer `rejected`. Each can be told to fail
//! the next requests, or to hold its first answer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Value,
    /// What it answered.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Behaviour {
    /// Answer this status to the next `count` requests.
    fail: Option<(u16, u32)>,
    /// A `Retry-After` to send with failures.
    retry_after: Option<u64>,
    /// Answer this status to every request whose `body` is this text.
    fail_body: Option<(String, u16)>,
    /// Matrix: the pushkeys to answer as rejected.
    rejected: Vec<String>,
    /// Hold the answer to the first request this long.
    hold_first: Duration,
}

#[derive(Default)]
struct Inner {
    /// Requests that arrived (answered or not yet).
    arrived: std::sync::atomic::AtomicUsize,
    received: Mutex<Vec<Received>>,
    behaviour: Mutex<Behaviour>,
    /// The webhook secret (none: a Matrix gateway).
    secret: Option<String>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

impl Receiver {
    /// A webhook receiver checking signatures under `secret`.
    pub async fn webhook(secret: &str) -> Self {
        Self::start("/hook", Inner { secret: Some(secret.into()), ..Inner::default() }).await
    }

    /// A Matrix push gateway.
    pub async fn matrix() -> Self {
        Self::start("/_matrix/push/v1/notify", Inner::default()).await
    }

    async fn start(path: &str, inner: Inner) -> Self {
        let inner = Arc::new(inner);
        let app = Router::new().route(path, post(receive)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    /// Answers `status` to the next `count` requests (with `Retry-After` if given).
    pub fn fail_next(&self, status: u16, count: u32, retry_after: Option<u64>) {
        let mut b = self.inner.behaviour.lock().unwrap();
        b.fail = Some((status, count));
        b.retry_after = retry_after;
    }

    /// Answers `status` to every notification whose body is `text`.
    pub fn fail_body(&self, text: &str, status: u16) {
        self.inner.behaviour.lock().unwrap().fail_body = Some((text.into(), status));
    }

    /// Holds the answer to the first request for `delay` (its sender may die meanwhile).
    pub fn hold_first(&self, delay: Duration) {
        self.inner.behaviour.lock().unwrap().hold_first = delay;
    }

    /// How many requests arrived, answered or not.
    pub fn arrived(&self) -> usize {
        self.inner.arrived.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn reject(&self, pushkey: &str) {
        self.inner.behaviour.lock().unwrap().rejected.push(pushkey.into());
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// The requests it accepted (answered 200).
    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.status == 200).collect()
    }

    /// Waits until it has accepted `n` requests (within `within`); returns them.
    pub async fn wait_accepted(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let accepted = self.accepted();
            if accepted.len() >= n || tokio::time::Instant::now() > deadline {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let first = inner.arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (fail, retry_after, rejected, hold) = {
        let mut b = inner.behaviour.lock().unwrap();
        let fail = match &mut b.fail {
            Some((status, count)) if *count > 0 => {
                *count -= 1;
                Some(*status)
            }
            _ => b.fail_body.as_ref().filter(|(text, _)| value["body"] == text.as_str()).map(|(_, status)| *status),
        };
        (fail, b.retry_after, b.rejected.clone(), if first { b.hold_first } else { Duration::ZERO })
    };
    tokio::time::sleep(hold).await;
    let mut status = fail.unwrap_or(200);
    if let Some(secret) = &inner.secret
        && status == 200
        && !signature_holds(secret, &headers, &body)
    {
        status = 401;
    }
    inner.received.lock().unwrap().push(Received { headers, body: value.clone(), status });
    if status != 200 {
        let mut response = (StatusCode::from_u16(status).unwrap(), "failing as told").into_response();
        if let Some(after) = retry_after {
            response.headers_mut().insert("retry-after", after.to_string().parse().unwrap());
        }
        return response;
    }
    if inner.secret.is_some() {
        return StatusCode::OK.into_response();
    }
    // Matrix: the devices of ours it rejects.
    let devices = value["notification"]["devices"].as_array().cloned().unwrap_or_default();
    let refused: Vec<Value> = devices
        .iter()
        .filter_map(|d| d["pushkey"].as_str())
        .filter(|k| rejected.iter().any(|r| r == k))
        .map(|k| json!(k))
        .collect();
    axum::Json(json!({ "rejected": refused })).into_response()
}

/// The documented webhook signature: `Petit-Chat-Signature: v1=<hex HMAC-SHA256 of
/// "<Petit-Chat-Timestamp>.<body>">`, with a timestamp within five minutes.
fn signature_holds(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(timestamp), Some(signature)) = (get("petit-chat-timestamp"), get("petit-chat-signature")) else {
        return false;
    };
    let Ok(sent) = timestamp.parse::<u64>() else { return false };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    if now.abs_diff(sent) > 300 {
        return false;
    }
    let Some(hex) = signature.strip_prefix("v1=") else { return false };
    let Some(given) = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// A Web Push service: `scripts/lib/webpush_receiver.py`, in the venv of
/// `scripts/lib/pytools.sh`, which verifies VAPID and decrypts with `http_ece`.
pub struct WebPushService {
    base: String,
    client: reqwest::Client,
    _process: tokio::process::Child,
}

impl WebPushService {
    pub async fn start() -> Self {
        use tokio::io::AsyncBufReadExt;
        let python = std::env::var("PETIT_CHAT_PYTOOLS_PYTHON").expect(
            "PETIT_CHAT_PYTOOLS_PYTHON is unset: `export PETIT_CHAT_PYTOOLS_PYTHON=$(scripts/lib/pytools.sh)` (scripts/test does)",
        );
        let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/webpush_receiver.py");
        let mut process = tokio::process::Command::new(python)
            .arg(script)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the Web Push receiver");
        let stdout = process.stdout.take().unwrap();
        let mut line = String::new();
        tokio::io::BufReader::new(stdout).read_line(&mut line).await.unwrap();
        let port = line.trim().strip_prefix("port ").expect("the receiver's port").to_string();
        Self { base: format!("http://127.0.0.1:{port}"), client: reqwest::Client::new(), _process: process }
    }

    /// A new subscription (`{endpoint, keys}`) whose pushes are answered `answer`.
    pub async fn subscribe(&self, name: &str, answer: u16) -> Value {
        let url = format!("{}/subscribe/{name}?answer={answer}", self.base);
        let mut subscription: Value = self.client.get(url).send().await.unwrap().json().await.unwrap();
        // The receiver names itself as the request's Host said; keep the loopback address.
        let endpoint = format!("{}/push/{name}", self.base);
        subscription["endpoint"] = json!(endpoint);
        subscription
    }

    /// What each push to `name` carried.
    pub async fn received(&self, name: &str) -> Vec<Value> {
        let url = format!("{}/received/{name}", self.base);
        self.client.get(url).send().await.unwrap().json().await.unwrap()
    }

    pub async fn wait_received(&self, name: &str, n: usize, within: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received(name).await;
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
