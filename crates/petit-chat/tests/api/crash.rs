//! An embedded server killed without warning (SIGKILL, as a power cut or the OOM killer
//! would) loses nothing it acknowledged: after a restart on the same data directory every
//! message is there and can be found, though its process died before the search index
//! committed it (or before the `index` group even had its event, which lives in memory).
//! These tests run the real binary, since a test server in this process cannot be killed.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::harness::{Session, login_at};

/// `petit-chat serve` on a loopback port of its own over `data_dir`, and its address.
async fn serve(data_dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_petit-chat"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("PETIT_CHAT__STORE__SQLITE_DURABILITY", "full")
        .env("PETIT_CHAT__LIMITS__RATE__ENABLED", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start petit-chat serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("stdout") {
            if let Some(rest) = line.strip_prefix("Petit chat is up: ") {
                return rest.split_whitespace().next().expect("address").to_string();
            }
        }
        panic!("petit-chat serve ended before it was up");
    })
    .await
    .expect("petit-chat serve up within 30 s");
    // Keep reading its output, so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

async fn login(base: &str, username: &str) -> Session {
    login_at(&reqwest::Client::new(), base, username).await
}

#[tokio::test]
async fn messages_acknowledged_before_a_kill_are_found_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(dir.path()).await;
    let (alice, bob) = (login(&base, "alice").await, login(&base, "bob").await);
    let chat = alice.group("before the crash", &[&bob]).await;
    let mut sent = vec![];
    for n in 0..20 {
        sent.push(alice.say(&chat, &format!("zanzibar{n} was said just before the lights went out")).await);
    }
    // At once after the last answer: its event is still on its way to the index.
    server.start_kill().unwrap();
    server.wait().await.unwrap();

    let (_server, base) = serve(dir.path()).await;
    let bob = login(&base, "bob").await;
    let mut want: Vec<&str> = sent.iter().map(|m| m["id"].as_str().unwrap()).collect();
    want.sort();
    let started = Instant::now();
    loop {
        let (status, page) = bob.get(&format!("/api/v1/chats/{chat}/search?q=lights%20went&limit=50")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let mut found: Vec<&str> =
            page["items"].as_array().unwrap().iter().filter_map(|h| h["signal"]["id"].as_str()).collect();
        found.sort();
        if found == want {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "not all found after the restart: {found:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
