//! Search: what is found and how it is shown, who may search what, and bad input. The
//! index is written by the `index` workers a moment after each message: tests wait for a
//! message to be searchable (as a person would search again), up to 15 s.

use std::time::{Duration, Instant};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use serde_json::Value;

use super::harness::{Session, TestServer};

fn encode(q: &str) -> String {
    utf8_percent_encode(q, NON_ALPHANUMERIC).to_string()
}

/// The ids of a search page's messages.
fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|h| h["signal"]["id"].as_str().unwrap().to_string()).collect()
}

async fn search(s: &Session, path: &str) -> (StatusCode, Value) {
    s.get(path).await
}

/// Searches until the page holds exactly `expected` (any order); returns it.
async fn eventually(s: &Session, path: &str, expected: &[&Value]) -> Value {
    let mut want: Vec<String> = expected.iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
    want.sort();
    let started = Instant::now();
    loop {
        let (status, page) = search(s, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        let mut got = ids(&page);
        got.sort();
        if got == want {
            return page;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{path} found {got:?}, expected {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn messages_are_found_by_folded_words_prefixes_typos_and_phrases_with_highlights() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let cafe = alice.say(&chat, "On se retrouve au Café <b>demain</b> & après").await;
    let meeting = bob.say(&chat, "The meeting moved to next friday").await;
    let other = bob.say(&chat, "friday next, maybe").await;
    let at = |q: &str| format!("/api/v1/chats/{chat}/search?q={}", encode(q));
    let page = eventually(&bob, &at("cafe"), &[&cafe]).await;
    let hit = &page["items"][0];
    assert_eq!(hit["chat_id"], chat.as_str());
    assert_eq!(hit["signal"]["text"], cafe["text"]);
    assert_eq!(hit["signal"]["author_id"], alice.id.as_str());
    assert_eq!(hit["highlight"], "On se retrouve au <mark>Café</mark> &lt;b&gt;demain&lt;/b&gt; &amp; après");
    assert_eq!(page["next_cursor"], Value::Null);
    eventually(&bob, &at("DEM"), &[&cafe]).await;
    eventually(&bob, &at("dem "), &[]).await;
    let page = eventually(&bob, &at("meetnig"), &[&meeting]).await;
    assert_eq!(page["items"][0]["highlight"], "The <mark>meeting</mark> moved to next friday");
    eventually(&bob, &at("friday"), &[&meeting, &other]).await;
    eventually(&bob, &at("\"next friday\""), &[&meeting]).await;
    // All my chats at once.
    let elsewhere = alice.group("h", &[&bob]).await;
    let far = alice.say(&elsewhere, "another friday").await;
    let page = eventually(&bob, &format!("/api/v1/search?q={}", encode("friday ")), &[&meeting, &other, &far]).await;
    let chats: Vec<&str> = page["items"].as_array().unwrap().iter().map(|h| h["chat_id"].as_str().unwrap()).collect();
    assert!(chats.contains(&elsewhere.as_str()) && chats.contains(&chat.as_str()), "{chats:?}");
}

#[tokio::test]
async fn only_members_search_a_chat_and_a_chat_left_is_never_searched() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.login("alice").await, server.login("bob").await, server.login("carol").await);
    let chat = alice.group("plans", &[&bob]).await;
    let secret = alice.say(&chat, "the secret launch date").await;
    let mine = carol.group("carol's", &[&alice]).await;
    let hers = carol.say(&mine, "no secret here").await;
    eventually(&bob, &format!("/api/v1/chats/{chat}/search?q=secret"), &[&secret]).await;
    eventually(&alice, "/api/v1/search?q=secret", &[&secret, &hers]).await;
    // Carol is not in the chat: a 404 as for a chat that does not exist, and nothing of it
    // in her own search.
    let (status, problem) = carol.get(&format!("/api/v1/chats/{chat}/search?q=secret")).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::NOT_FOUND, Some("chat_not_found")));
    eventually(&carol, "/api/v1/search?q=secret", &[&hers]).await;
    // Bob leaves: the chat is no longer his to search, its messages gone from his results.
    let (status, _) = bob.delete(&format!("/api/v1/chats/{chat}/members/{}", bob.id)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = bob.get(&format!("/api/v1/chats/{chat}/search?q=secret")).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::NOT_FOUND, Some("chat_not_found")));
    let (status, page) = bob.get("/api/v1/search?q=secret").await;
    assert_eq!((status, ids(&page)), (StatusCode::OK, vec![]));
    // A chat id written into the query is a word to find, not a filter.
    let (_, page) = carol.get(&format!("/api/v1/search?q={}", encode(&format!("chat_id:{chat} secret")))).await;
    assert_eq!(ids(&page), Vec::<String>::new());
}

#[tokio::test]
async fn query_syntax_of_the_engines_is_searched_as_text() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let a = alice.say(&chat, "first message").await;
    let b = alice.say(&chat, "second message").await;
    eventually(&bob, &format!("/api/v1/chats/{chat}/search?q=message"), &[&a, &b]).await;
    for attack in [
        "*:*",
        "*",
        "text:*",
        "first OR second",
        "/.*/",
        r#"{"match_all":{}}"#,
        "message AND NOT first",
        "chat_id:*",
        "message^10 OR x",
    ] {
        let (status, page) = bob.get(&format!("/api/v1/chats/{chat}/search?q={}", encode(attack))).await;
        assert_eq!((status, ids(&page)), (StatusCode::OK, vec![]), "{attack:?}: {page}");
    }
}

#[tokio::test]
async fn filters_sorting_and_pages() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let mut sent = vec![];
    for n in 0..7 {
        let who = if n % 2 == 0 { &alice } else { &bob };
        sent.push(who.say(&chat, &format!("report number {n}")).await);
    }
    let link = bob.say(&chat, "report at https://example.org/q3").await;
    let base = format!("/api/v1/chats/{chat}/search?q=report");
    let mut all: Vec<&Value> = sent.iter().collect();
    all.push(&link);
    eventually(&alice, &base, &all).await;
    let by_alice: Vec<&Value> = sent.iter().step_by(2).collect();
    eventually(&alice, &format!("{base}&from={}", alice.id), &by_alice).await;
    eventually(&alice, &format!("{base}&has=link"), &[&link]).await;
    eventually(&alice, &format!("{base}&has=attachment"), &[]).await;
    eventually(&alice, &format!("{base}&after=2000-01-01&before=2999-01-01T00:00:00Z"), &all).await;
    eventually(&alice, &format!("{base}&after=1999-12-31T23:00:00-05:00&before=2999-01-01t00:00:00.5%2B09:30"), &all)
        .await;
    eventually(&alice, &format!("{base}&before=2000-01-01"), &[]).await;
    // Newest first, in pages of 3 that neither skip nor repeat.
    let mut path = format!("{base}&sort=recent&limit=3");
    let mut seen = vec![];
    loop {
        let (status, page) = alice.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{base}&sort=recent&limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let mut newest_first: Vec<String> = all.iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
}

#[tokio::test]
async fn bad_queries_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let chat = alice.group("g", &[&server.login("bob").await]).await;
    let long = "a".repeat(257);
    for (query, code) in [
        ("", "invalid_query"),
        ("q=", "invalid_query"),
        ("q=%20%20%09", "invalid_query"),
        (&*format!("q={long}"), "invalid_query"),
        ("q=x&cursor=not-a-cursor", "invalid_cursor"),
        ("q=x&before=yesterday", "invalid_query"),
        ("q=x&after=2026-13-45", "invalid_query"),
        ("q=x&after=2026-12-01T09:30:00", "invalid_query"),
        ("q=x&after=2026-12-01%2009:30:00Z", "invalid_query"),
    ] {
        for path in [format!("/api/v1/chats/{chat}/search?{query}"), format!("/api/v1/search?{query}")] {
            let response =
                alice.client.get(format!("{}{path}", server.base)).bearer_auth(&alice.token).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
            assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["code"], code, "{path}: {problem}");
        }
    }
    let (status, problem) = alice.get(&format!("/api/v1/chats/{chat}/search?q=x&has=pictures")).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
    let (status, _) = alice.get(&format!("/api/v1/chats/{chat}/search?q={}", "é".repeat(256))).await;
    assert_eq!(status, StatusCode::OK, "256 characters are fine");
    // The index lag is measured.
    let said = alice.say(&chat, "measured").await;
    eventually(&alice, &format!("/api/v1/chats/{chat}/search?q=measured"), &[&said]).await;
    let metrics = server.client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    let count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("petit_chat_index_lag_seconds_count "))
        .unwrap_or_else(|| panic!("no index lag in {metrics}"));
    assert!(count.trim().parse::<u64>().unwrap() >= 1, "{count}");
}

/// Runs `petit-chat admin reindex`'s work on `config` and returns what it did. A server just
/// stopped in this process may hold the embedded index for a moment more: retried for 10 s.
fn reindex(config: &petit_chat::config::Config, chat: Option<&str>) -> service::reindex::ReindexProgress {
    let (config, chat) = (config.clone(), chat.map(|c| c.parse().unwrap()));
    super::harness::run_aside(async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match petit_chat::reindex(&config, chat, |_| {}).await {
                Ok(done) => return done,
                Err(e) if Instant::now() < deadline && format!("{e:#}").contains("open in another process") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("reindex: {e:#}"),
            }
        }
    })
    .unwrap()
}

#[tokio::test]
async fn a_rebuilt_index_finds_every_message_once() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let (first, second) = (alice.group("g", &[&bob]).await, alice.group("h", &[&bob]).await);
    let a = alice.say(&first, "rebuild me").await;
    let b = bob.say(&first, "rebuild me too").await;
    let c = alice.say(&second, "and rebuild me").await;
    let all = "/api/v1/search?q=rebuild";
    eventually(&bob, all, &[&a, &b, &c]).await;
    match server.config().search.kind {
        petit_chat::config::SearchKind::Tantivy => {
            // The embedded index is lost while the server is stopped; the command rebuilds it.
            let server = server
                .restart_with(|config| {
                    std::fs::remove_dir_all(config.search_dir()).unwrap();
                    let done = reindex(&config, None);
                    assert_eq!((done.chats_done, done.chats_total, done.messages), (2, 2, 3), "{done:?}");
                })
                .await;
            let bob = server.login("bob").await;
            eventually(&bob, all, &[&a, &b, &c]).await;
        }
        petit_chat::config::SearchKind::OpenSearch => {
            // The index lost behind the server's back (deleted, then made again, empty); the
            // command runs while it serves, for one chat, then for all, then again: each
            // message found once.
            let opensearch = &server.config().search.opensearch;
            search::OpenSearchIndex::delete_everything(opensearch).await.unwrap();
            search::OpenSearchIndex::connect(opensearch).await.unwrap();
            eventually(&bob, all, &[]).await;
            let done = reindex(server.config(), Some(&first));
            assert_eq!((done.chats_done, done.messages), (1, 2), "{done:?}");
            eventually(&bob, all, &[&a, &b]).await;
            for _ in 0..2 {
                let done = reindex(server.config(), None);
                assert_eq!((done.chats_done, done.messages), (2, 3), "{done:?}");
                eventually(&bob, all, &[&a, &b, &c]).await;
            }
        }
    }
}

#[tokio::test]
async fn an_edited_message_is_found_by_its_new_words_and_a_deleted_one_no_more() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let msg = alice.say(&chat, "see you at the train station").await;
    let other = alice.say(&chat, "the airport is far").await;
    let at = |q: &str| format!("/api/v1/chats/{chat}/search?q={}", encode(q));
    eventually(&bob, &at("station"), &[&msg]).await;
    let path = format!("/api/v1/chats/{chat}/signals/{}", msg["id"].as_str().unwrap());
    let (status, edited) = alice.patch(&path, serde_json::json!({ "text": "see you at the airport" })).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    eventually(&bob, &at("station"), &[]).await;
    let page = eventually(&bob, &at("airport"), &[&msg, &other]).await;
    let hit = page["items"].as_array().unwrap().iter().find(|h| h["signal"]["id"] == msg["id"]).unwrap();
    assert_eq!(hit["signal"]["text"], "see you at the airport");
    assert_eq!(alice.delete(&path).await.0, StatusCode::OK);
    eventually(&bob, &at("airport"), &[&other]).await;
    eventually(&bob, &format!("/api/v1/search?q={}", encode("airport")), &[&other]).await;
}
