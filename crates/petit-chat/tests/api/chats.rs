//! Direct chats, groups, membership and "my chats".

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::harness::{Session, TestServer};

fn ids(v: &Value, field: &str) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x[field].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn one_direct_chat_per_pair_whoever_creates_it() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.login("alice").await, server.login("bob").await, server.login("carol").await);
    let (status, chat) = alice.post("/api/v1/chats", json!({ "kind": "direct", "members": [bob.id] })).await;
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    assert_eq!(chat["kind"], "direct");
    let mut members = ids(&chat["members"], "user_id");
    members.sort();
    let mut expected = vec![alice.id.clone(), bob.id.clone()];
    expected.sort();
    assert_eq!(members, expected);

    let (status, again) = bob.post("/api/v1/chats", json!({ "kind": "direct", "members": [alice.id] })).await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &chat["id"]));
    let (status, same) = alice.post("/api/v1/chats", json!({ "kind": "direct", "members": [bob.id, alice.id] })).await;
    assert_eq!((status, &same["id"]), (StatusCode::OK, &chat["id"]));

    let path = format!("/api/v1/chats/{}", chat["id"].as_str().unwrap());
    let (status, problem) = carol.get(&path).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::NOT_FOUND, Some("chat_not_found")));

    let cases: [(Value, StatusCode, &str); 5] = [
        (
            json!({ "kind": "direct", "members": [alice.id] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "direct_needs_one_other",
        ),
        (
            json!({ "kind": "direct", "members": [bob.id, carol.id] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "direct_needs_one_other",
        ),
        (json!({ "kind": "direct", "members": ["12345"] }), StatusCode::NOT_FOUND, "user_not_found"),
        (
            json!({ "kind": "direct", "members": [bob.id], "title": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "direct_has_no_title",
        ),
        (json!({ "kind": "channel", "members": [bob.id] }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let (got, problem) = alice.post("/api/v1/chats", body.clone()).await;
        assert_eq!((got, problem["code"].as_str()), (status, Some(code)), "{body}");
    }
    let (_, mine) = alice.get("/api/v1/chats").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "refused creations stored nothing");
}

async fn timeline_kinds(session: &Session, chat: &str) -> Vec<(String, Vec<String>)> {
    let (_, page) = session.get(&format!("/api/v1/chats/{chat}/signals")).await;
    let mut v: Vec<(String, Vec<String>)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let users = s["user_ids"].as_array().map(|a| a.iter().map(|u| u.as_str().unwrap().to_string()).collect());
            (s["kind"].as_str().unwrap().to_string(), users.unwrap_or_default())
        })
        .collect();
    v.reverse();
    v
}

#[tokio::test]
async fn groups_have_roles_and_every_membership_change_is_in_the_timeline() {
    let server = TestServer::start().await;
    let (owner, bob, carol, dave) = (
        server.login("owner").await,
        server.login("bob").await,
        server.login("carol").await,
        server.login("dave").await,
    );
    let chat = owner.group("Team", &[&bob]).await;
    let base = format!("/api/v1/chats/{chat}");
    let (_, c) = owner.get(&base).await;
    assert_eq!(c["title"], "Team");
    assert_eq!(c["me"]["role"], "owner");

    // A member may not add people.
    let (status, p) = bob.post(&format!("{base}/members"), json!({ "user_ids": [carol.id] })).await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_an_admin")));
    // The owner may; adding someone twice adds them once.
    let (status, members) = owner.post(&format!("{base}/members"), json!({ "user_ids": [carol.id, carol.id] })).await;
    assert_eq!((status, members["items"].as_array().unwrap().len()), (StatusCode::OK, 3));
    let (status, _) = owner.post(&format!("{base}/members"), json!({ "user_ids": [carol.id] })).await;
    assert_eq!(status, StatusCode::OK);
    // Carol can now read the chat; dave cannot.
    assert_eq!(carol.get(&base).await.0, StatusCode::OK);
    assert_eq!(dave.get(&format!("{base}/signals")).await.0, StatusCode::NOT_FOUND);

    // A member cannot remove another member, nor the owner.
    let (status, _) = bob.delete(&format!("{base}/members/{}", carol.id)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = bob.delete(&format!("{base}/members/{}", owner.id)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Anyone may leave.
    let (status, _) = carol.delete(&format!("{base}/members/{}", carol.id)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(carol.get(&base).await.0, StatusCode::NOT_FOUND, "after leaving, the chat is gone for carol");
    // The owner removes bob.
    let (status, _) = owner.delete(&format!("{base}/members/{}", bob.id)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = owner.delete(&format!("{base}/members/{}", bob.id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "removing twice");

    let mut initial = vec![owner.id.clone(), bob.id.clone()];
    initial.sort();
    assert_eq!(
        timeline_kinds(&owner, &chat).await,
        vec![
            ("joined".to_string(), initial),
            ("joined".to_string(), vec![carol.id.clone()]),
            ("left".to_string(), vec![carol.id.clone()]),
            ("left".to_string(), vec![bob.id.clone()]),
        ]
    );

    // Renaming is for the owner or an admin; a bad title is refused.
    let (status, c) = owner.patch(&base, json!({ "title": "Core team" })).await;
    assert_eq!((status, c["title"].as_str()), (StatusCode::OK, Some("Core team")));
    let (status, p) = owner.patch(&base, json!({ "title": "  " })).await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("empty_title")));
}

#[tokio::test]
async fn when_the_owner_leaves_someone_else_owns_the_group() {
    let server = TestServer::start().await;
    let (owner, bob, carol) = (server.login("owner").await, server.login("bob").await, server.login("carol").await);
    let chat = owner.group("Team", &[&bob, &carol]).await;
    let (status, _) = owner.delete(&format!("/api/v1/chats/{chat}/members/{}", owner.id)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, members) = bob.get(&format!("/api/v1/chats/{chat}/members")).await;
    let owners: Vec<&Value> = members["items"].as_array().unwrap().iter().filter(|m| m["role"] == "owner").collect();
    assert_eq!(owners.len(), 1);
}

/// Posts a message with a fresh nonce, optionally calling everyone's attention.
async fn post_message(by: &Session, chat: &str, everyone: bool) -> (StatusCode, Value) {
    let nonce = format!("n-{:x}", rand::random::<u64>());
    let body = json!({ "kind": "msg", "text": "hi", "nonce": nonce, "mention_everyone": everyone });
    by.post(&format!("/api/v1/chats/{chat}/signals"), body).await
}

#[tokio::test]
async fn a_demoted_or_removed_member_is_refused_from_the_moment_the_change_is_answered() {
    let server = TestServer::start().await;
    let (owner, bob) = (server.login("owner").await, server.login("bob").await);
    let chat = owner.group("Team", &[&bob]).await;
    assert_eq!(set_role(&owner, &chat, &bob, "admin").await.0, StatusCode::OK);
    // Bob sends as an admin, twice: the second send finds his role remembered.
    for _ in 0..2 {
        let (status, signal) = post_message(&bob, &chat, true).await;
        assert_eq!(status, StatusCode::CREATED, "{signal}");
    }
    assert_eq!(set_role(&owner, &chat, &bob, "member").await.0, StatusCode::OK);
    let (status, problem) = post_message(&bob, &chat, true).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_an_admin")));
    assert_eq!(post_message(&bob, &chat, false).await.0, StatusCode::CREATED);
    let (status, _) = owner.delete(&format!("/api/v1/chats/{chat}/members/{}", bob.id)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = post_message(&bob, &chat, false).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::NOT_FOUND, Some("chat_not_found")));
    // Added back, he sends again at once (an outsider is never remembered).
    let (status, _) = owner.post(&format!("/api/v1/chats/{chat}/members"), json!({ "user_ids": [bob.id] })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(post_message(&bob, &chat, false).await.0, StatusCode::CREATED);
}

async fn set_role(by: &Session, chat: &str, who: &Session, role: &str) -> (StatusCode, Value) {
    by.patch(&format!("/api/v1/chats/{chat}/members/{}", who.id), json!({ "role": role })).await
}

#[tokio::test]
async fn the_owner_changes_roles_and_hands_ownership_over_and_members_are_told() {
    let server = TestServer::start().await;
    let (owner, bob, carol, eve) = (
        server.login("owner").await,
        server.login("bob").await,
        server.login("carol").await,
        server.login("eve").await,
    );
    let chat = owner.group("Team", &[&bob, &carol]).await;
    let role_of = |members: &Value, id: &str| {
        members["items"].as_array().unwrap().iter().find(|m| m["user_id"] == id).unwrap()["role"].clone()
    };
    let mut carols = carol.stream(None).await;

    // Bob becomes an admin: he may now add people; carol's stream is told.
    let (status, member) = set_role(&owner, &chat, &bob, "admin").await;
    assert_eq!((status, member["role"].as_str()), (StatusCode::OK, Some("admin")), "{member}");
    let e = carols.next_named("member.role_changed").await;
    assert_eq!(
        (e.data["user_id"].as_str(), e.data["role"].as_str(), e.data["by"].as_str()),
        (Some(&*bob.id), Some("admin"), Some(&*owner.id))
    );
    let (status, _) = bob.post(&format!("/api/v1/chats/{chat}/members"), json!({ "user_ids": [eve.id] })).await;
    assert_eq!(status, StatusCode::OK);

    // Nobody but the owner changes roles; the owner not their own; outsiders see nothing.
    for (by, who, role, expected) in [
        (&bob, &carol, "admin", (StatusCode::FORBIDDEN, "not_allowed")),
        (&carol, &carol, "admin", (StatusCode::FORBIDDEN, "not_allowed")),
        (&owner, &owner, "member", (StatusCode::FORBIDDEN, "not_allowed")),
    ] {
        let (status, p) = set_role(by, &chat, who, role).await;
        assert_eq!((status, p["code"].as_str().unwrap()), expected, "{p}");
    }
    let stranger = server.login("stranger").await;
    let (status, p) = set_role(&stranger, &chat, &bob, "member").await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("chat_not_found")));
    let (status, p) =
        owner.patch(&format!("/api/v1/chats/{chat}/members/{}", stranger.id), json!({ "role": "admin" })).await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("member_not_found")));
    let (status, p) = owner.patch(&format!("/api/v1/chats/{chat}/members/{}", bob.id), json!({ "role": "boss" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (_, members) = owner.get(&format!("/api/v1/chats/{chat}/members")).await;
    assert_eq!((role_of(&members, &bob.id), role_of(&members, &carol.id)), (json!("admin"), json!("member")));

    // Handing ownership over: carol owns the group, the old owner is an admin.
    let (status, _) = set_role(&owner, &chat, &carol, "owner").await;
    assert_eq!(status, StatusCode::OK);
    let (_, members) = bob.get(&format!("/api/v1/chats/{chat}/members")).await;
    assert_eq!((role_of(&members, &carol.id), role_of(&members, &owner.id)), (json!("owner"), json!("admin")));
    let (status, p) = set_role(&owner, &chat, &bob, "member").await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_allowed")), "no longer the owner");

    // A direct chat has no roles to change.
    let (_, direct) = owner.post("/api/v1/chats", json!({ "kind": "direct", "members": [bob.id] })).await;
    let (status, p) = owner
        .patch(
            &format!("/api/v1/chats/{}/members/{}", direct["id"].as_str().unwrap(), bob.id),
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("direct_chat_is_fixed")));
}

#[tokio::test]
async fn group_rules_are_enforced() {
    let server = TestServer::start_with(|c| c.limits.max_group_members = 3).await;
    let (a, b, c, d) =
        (server.login("a").await, server.login("b").await, server.login("c").await, server.login("d").await);
    let cases: [(Value, &str); 5] = [
        (json!({ "kind": "group", "members": [b.id] }), "empty_title"),
        (json!({ "kind": "group", "title": "solo", "members": [] }), "too_few_members"),
        (json!({ "kind": "group", "title": "solo", "members": [a.id] }), "too_few_members"),
        (json!({ "kind": "group", "title": "big", "members": [b.id, c.id, d.id] }), "too_many_members"),
        (json!({ "kind": "group", "title": "x".repeat(201), "members": [b.id] }), "title_too_long"),
    ];
    for (body, code) in cases {
        let (status, p) = a.post("/api/v1/chats", body.clone()).await;
        assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(code)), "{body}");
    }
    let chat = a.group("three", &[&b, &c]).await;
    let (status, p) = a.post(&format!("/api/v1/chats/{chat}/members"), json!({ "user_ids": [d.id] })).await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("too_many_members")));
    let (_, mine) = a.get("/api/v1/chats").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn my_chats_are_ordered_by_recent_activity_and_paged() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let mut chats = vec![];
    for i in 0..5 {
        chats.push(alice.group(&format!("g{i}"), &[&bob]).await);
    }
    // Activity in the oldest chat brings it to the top: the send moves the chat's activity
    // with the message, so the list shows it as soon as the send is answered.
    bob.say(&chats[0], "wake up").await;
    let expected = vec![chats[0].clone(), chats[4].clone(), chats[3].clone(), chats[2].clone(), chats[1].clone()];
    let (_, all) = alice.get("/api/v1/chats").await;
    assert_eq!(ids(&all["items"], "id"), expected);
    assert_eq!(all["next_cursor"], Value::Null);

    let mut seen = vec![];
    let mut path = "/api/v1/chats?limit=2".to_string();
    loop {
        let (status, page) = alice.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page["items"].as_array().unwrap().len() <= 2);
        seen.extend(ids(&page["items"], "id"));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/chats?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    let (status, p) = alice.get("/api/v1/chats?cursor=bogus").await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_cursor")));
}
