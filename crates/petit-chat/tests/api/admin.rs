//! The embedded server's admin socket: `petit-chat admin reindex` (the real binary) while
//! an embedded server serves on the same data directory, which holds the search index and
//! does the rebuild; one reindex at a time; and the clear refusal when the index is held
//! and no server answers.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::harness::{Session, TestServer};
use async_trait::async_trait;
use domain::{ChatId, IdGenerator, Signal, SignalBody, SignalId};
use ports::{IndexedSignal, RemovedSignal, TextHit, TextIndex, TextQuery, TimelineStore};
use reqwest::StatusCode;
use serde_json::Value;
use service::reindex::ReindexProgress;
use store_sqlite::{Durability, SqliteStore};

/// Runs `petit-chat admin reindex --data-dir <data_dir> <args>`; its success, stdout and stderr.
async fn cli_reindex(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_petit-chat"))
        .args(["admin", "reindex", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .await
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// Searches all of `s`'s chats for `q` until exactly the messages `expected` are found.
async fn found_eventually(s: &Session, q: &str, expected: &[&str]) {
    let mut want: Vec<&str> = expected.to_vec();
    want.sort();
    let started = Instant::now();
    loop {
        let (status, page) = s.get(&format!("/api/v1/search?q={q}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let mut got: Vec<&str> =
            page["items"].as_array().unwrap().iter().map(|h| h["signal"]["id"].as_str().unwrap()).collect();
        got.sort();
        if got == want {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{q}: found {got:?}, expected {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn id(message: &Value) -> &str {
    message["id"].as_str().unwrap()
}

/// A message written to the database and never announced: no `index` worker sees it.
async fn write_behind_the_bus(store: &SqliteStore, chat: ChatId, author: &str, text: &str) -> SignalId {
    let signal = Signal {
        id: IdGenerator::with_random_node().next_id(),
        chat_id: chat,
        author_id: author.parse().unwrap(),
        body: SignalBody::Msg {
            text: text.into(),
            reply_to: None,
            attachments: vec![],
            mentions: vec![],
            everyone: false,
        },
        edited_at: None,
    };
    store.insert_signal(&signal, None).await.unwrap();
    signal.id
}

#[tokio::test]
async fn the_cli_reindexes_through_the_embedded_server_that_holds_the_index() {
    let server = TestServer::start_on(None, |_| {}).await;
    let data_dir = server.config().server.data_dir.clone();
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let (first, second) = (alice.group("g", &[&bob]).await, alice.group("h", &[&bob]).await);
    let a = alice.say(&first, "rebuild me").await;
    let b = bob.say(&first, "rebuild me too").await;
    let c = alice.say(&second, "and rebuild me").await;
    found_eventually(&bob, "rebuild", &[id(&a), id(&b), id(&c)]).await;
    let socket = petit_chat::admin::socket_path(&data_dir);
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600, "the owner's alone");

    // A message the index missed: only a rebuild finds it.
    let store = SqliteStore::open(&data_dir.join("petit-chat.db"), Durability::Normal).unwrap();
    let missed = write_behind_the_bus(&store, first.parse().unwrap(), &alice.id, "rebuild me at last").await;
    let missed = missed.to_string();
    found_eventually(&bob, "rebuild", &[id(&a), id(&b), id(&c)]).await;

    let (ok, out, err) = cli_reindex(&data_dir, &[]).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("reindexed 4 messages of 2 chats"), "{out}\n{err}");
    assert!(err.contains("asking the server"), "it went through the server: {err}");
    found_eventually(&bob, "rebuild", &[id(&a), id(&b), id(&c), &missed]).await;
    let (ok, out, err) = cli_reindex(&data_dir, &["--chat", &second]).await;
    assert!(ok && out.contains("reindexed 1 messages of 1 chats"), "{out}\n{err}");

    // After a restart on the same data directory the new server's socket answers: the old
    // one's cleanup leaves it alone.
    let server = server.restart().await;
    let (ok, out, err) = cli_reindex(&data_dir, &[]).await;
    assert!(ok && out.contains("reindexed 4 messages of 2 chats"), "{out}\n{err}");
    found_eventually(&server.login("bob").await, "rebuild", &[id(&a), id(&b), id(&c), &missed]).await;
}

#[tokio::test]
async fn with_the_index_held_and_no_server_answering_the_cli_refuses_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _held = search::TantivyIndex::open(&dir.path().join("search")).unwrap();
    // No socket at all, then one left behind by a server that is gone.
    for stale in [false, true] {
        let socket = petit_chat::admin::socket_path(dir.path());
        if stale {
            drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
            assert!(socket.exists());
        }
        let (ok, out, err) = cli_reindex(dir.path(), &[]).await;
        assert!(!ok, "stale socket {stale}: {out}");
        assert!(err.contains("no server answers on") && err.contains("open in another process"), "{err}");
    }
}

/// A real index whose writes wait until the test lets them through.
struct Gated {
    inner: search::TantivyIndex,
    open: tokio::sync::watch::Receiver<bool>,
}

#[async_trait]
impl TextIndex for Gated {
    async fn index(&self, signals: &[IndexedSignal]) -> domain::Result<()> {
        self.open.clone().wait_for(|open| *open).await.unwrap();
        self.inner.index(signals).await
    }
    async fn remove(&self, signals: &[RemovedSignal]) -> domain::Result<()> {
        self.inner.remove(signals).await
    }
    async fn search(&self, query: &TextQuery) -> domain::Result<Vec<TextHit>> {
        self.inner.search(query).await
    }
    async fn ping(&self) -> domain::Result<()> {
        self.inner.ping().await
    }
}

#[tokio::test]
async fn a_second_reindex_is_refused_while_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("petit-chat.db"), Durability::Normal).unwrap());
    let chat: ChatId = IdGenerator::with_random_node().next_id();
    for text in ["one", "two"] {
        write_behind_the_bus(&store, chat, "7", text).await;
    }
    let (gate, open) = tokio::sync::watch::channel(false);
    let index = Arc::new(Gated { inner: search::TantivyIndex::open(&dir.path().join("search")).unwrap(), open });
    let reindexer = || petit_chat::admin::Reindexer::new(store.clone(), index.clone());
    let socket = petit_chat::admin::socket_path(dir.path());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let serving = petit_chat::admin::listen(&socket, reindexer(), shutdown.clone()).unwrap();

    let (started, mut progress) = tokio::sync::mpsc::unbounded_channel();
    let socket_of_first = socket.clone();
    let first = tokio::spawn(async move {
        petit_chat::admin::request_reindex(&socket_of_first, Some(chat), |p| started.send(p).unwrap()).await
    });
    let at_start = progress.recv().await.unwrap();
    assert_eq!(at_start, ReindexProgress { chats_total: 1, chats_done: 0, messages: 0 });

    let refused = petit_chat::admin::request_reindex(&socket, None, |_| {}).await.unwrap_err();
    let refused = format!("{refused:#}");
    assert!(refused.contains("a reindex is already running") && refused.contains("409"), "{refused}");

    gate.send(true).unwrap();
    let done = ReindexProgress { chats_total: 1, chats_done: 1, messages: 2 };
    assert_eq!(first.await.unwrap().unwrap(), Some(done));
    // Once it is over, the next one runs.
    let again = petit_chat::admin::request_reindex(&socket, Some(chat), |_| {}).await.unwrap();
    assert_eq!(again, Some(done));

    // A server started meanwhile on the data directory (a restart in this process) replaces
    // the socket; the old one's shutdown leaves the new socket alone; its own removes it.
    let later = tokio_util::sync::CancellationToken::new();
    let serving_later = petit_chat::admin::listen(&socket, reindexer(), later.clone()).unwrap();
    shutdown.cancel();
    serving.await.unwrap();
    let again = petit_chat::admin::request_reindex(&socket, Some(chat), |_| {}).await.unwrap();
    assert_eq!(again, Some(done), "the later server answers");
    later.cancel();
    serving_later.await.unwrap();
    assert!(!socket.exists(), "the socket is removed at shutdown");
}
