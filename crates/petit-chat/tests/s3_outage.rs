//! Fault test: the S3 service goes away during an upload and comes back. The upload gets a
//! clear 503 problem document and leaves no attachment (nothing to send, nothing listed),
//! chat goes on meanwhile (`/readyz` stays ready and names the blob storage), and uploads
//! work again once S3 answers, without a restart. It stops and restarts the stack's
//! SeaweedFS, so it is not part of the default `cargo test` run (`test = false`):
//! `scripts/test` runs it alone, with `cargo test --workspace --test s3_outage`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

#[path = "api/harness.rs"]
mod harness;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn upload(s: &harness::Session, chat: &str, body: reqwest::Body) -> (StatusCode, Value) {
    let part = reqwest::multipart::Part::stream(body).file_name("big.bin");
    let resp = s
        .client
        .post(format!("{}/api/v1/chats/{chat}/attachments", s.base))
        .bearer_auth(&s.token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_going_away_mid_upload_is_a_503_that_leaves_nothing_and_uploads_recover() {
    harness::stack(&["up", "s3"]);
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local/cluster.toml");
    // The upload below pauses while S3 stops (18–32 s here): longer than the default
    // 30 s a body may pause, which would refuse it before S3 is ever missed.
    let server = harness::TestServer::start_on(Some(&config), |c| c.limits.body_idle_timeout_secs = 300).await;
    assert!(server.uses_s3());
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let before = server.blob_count().await;

    // A 20 MB upload whose second half comes only after S3 is stopped: the first 5 MiB
    // part is in flight to S3 when it goes away.
    let (half_sent, half_sent_rx) = tokio::sync::oneshot::channel::<()>();
    let (resume, resume_rx) = tokio::sync::oneshot::channel::<()>();
    let body = async_stream(half_sent, resume_rx);
    // On a client of its own: the server answers 503 before the body ends and then closes
    // the connection, without `Connection: close` on the answer (hyper's way), so a pooled
    // client could send the next request on it and lose it (IncompleteMessage, once in CI).
    // A client seeing such an answer opens a new connection; so does this test.
    let uploading = tokio::spawn({
        let alone = harness::Session { client: reqwest::Client::new(), ..alice.clone() };
        let chat = chat.clone();
        async move { upload(&alone, &chat, body).await }
    });
    half_sent_rx.await.unwrap();
    harness::stack(&["down", "s3"]);
    resume.send(()).unwrap();
    let (status, problem) = uploading.await.unwrap();
    assert_eq!((status, problem["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")), "{problem}");

    // Chat goes on; readiness names the blob storage but stays ready.
    alice.say(&chat, "still chatting").await;
    let (status, ready) = server.call(None, Method::GET, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert!(ready["blobs"].as_str().unwrap().starts_with("unavailable"), "{ready}");

    harness::stack(&["up", "s3"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let attachment = loop {
        let (status, body) = upload(&alice, &chat, reqwest::Body::from(vec![7u8; 1000])).await;
        if status == StatusCode::CREATED {
            break body;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(Instant::now() < deadline, "uploads did not recover within 120 s");
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    // Only the upload after the outage is stored: the interrupted one left no object (its
    // multipart upload is under staging/, not a blob) and no attachment.
    assert_eq!(server.blob_count().await, before + 1);
    let path = format!("/api/v1/chats/{chat}/signals");
    let body = json!({ "kind": "msg", "attachments": [attachment["id"]], "nonce": "after" });
    let (status, sent) = alice.post(&path, body).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let (_, files) = bob.get(&format!("/api/v1/chats/{chat}/attachments")).await;
    let ids: Vec<&Value> = files["items"].as_array().unwrap().iter().map(|f| &f["id"]).collect();
    assert_eq!(ids, [&attachment["id"]]);
}

/// 20 chunks of 1 MB: tells `half_sent` after 10, waits for `resume`, then sends the rest.
fn async_stream(
    half_sent: tokio::sync::oneshot::Sender<()>,
    resume: tokio::sync::oneshot::Receiver<()>,
) -> reqwest::Body {
    let chunk = || Ok::<_, std::io::Error>(bytes::Bytes::from(vec![42u8; 1_000_000]));
    let first = futures::stream::iter((0..10).map(move |_| chunk()));
    let pause = futures::stream::once(async move {
        // Long enough for the server to have taken the first 10 MB.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = half_sent.send(());
        let _ = resume.await;
        chunk()
    });
    let rest = futures::stream::iter((0..9).map(move |_| chunk()));
    reqwest::Body::wrap_stream(futures::StreamExt::chain(futures::StreamExt::chain(first, pause), rest))
}
