//! Chats, members, direct pairs and the inbox.

use std::sync::Arc;

use domain::{Chat, ChatKind, Id, Role};

use crate::signals::msg;
use crate::{Fixture, member};

pub async fn chat_and_members(f: &Fixture) {
    let (a, b, c) = (f.user().await.id, f.user().await.id, f.user().await.id);
    let chat = f.group(&[b, a, c]).await;
    assert_eq!(f.store.chat(chat.id).await.unwrap().as_ref(), Some(&chat));
    assert_eq!(f.store.chat(f.id()).await.unwrap(), None);
    let members = f.store.members(chat.id).await.unwrap();
    let ids: Vec<Id> = members.iter().map(|m| m.user_id).collect();
    let mut sorted = vec![a, b, c];
    sorted.sort();
    assert_eq!(ids, sorted, "members are ordered by user id");
    assert_eq!(f.store.member_ids(chat.id).await.unwrap(), sorted);
    assert!(f.store.member_ids(f.id()).await.unwrap().is_empty());
    assert_eq!(f.store.member(chat.id, b).await.unwrap().unwrap().role, Role::Owner);
    assert_eq!(f.store.member(chat.id, a).await.unwrap().unwrap().role, Role::Member);
    assert_eq!(f.store.member(chat.id, f.id()).await.unwrap(), None);
    assert_eq!(f.store.role(chat.id, b).await.unwrap(), Some(Role::Owner));
    assert_eq!(f.store.role(chat.id, a).await.unwrap(), Some(Role::Member));
    assert_eq!(f.store.role(chat.id, f.id()).await.unwrap(), None, "not a member");
    assert_eq!(f.store.role(f.id(), a).await.unwrap(), None, "no such chat");
    f.store.set_chat_title(chat.id, "renamed").await.unwrap();
    assert_eq!(f.store.chat(chat.id).await.unwrap().unwrap().title.as_deref(), Some("renamed"));
}

pub async fn every_chat_is_listed_once_by_pages(f: &Fixture) {
    let a = f.user().await.id;
    let mine = [f.group(&[a]).await.id, f.group(&[a]).await.id, f.group(&[a]).await.id];
    // The database may hold other checks' chats: walk them all, in pages of 2 at first
    // (so a store of three chats pages too), then of 500.
    let (mut seen, mut after) = (std::collections::HashSet::new(), None);
    for pages in 0.. {
        let size = if pages < 10 { 2 } else { 500 };
        let page = f.store.chat_ids(after, size).await.unwrap();
        assert!(page.len() <= size);
        for id in &page {
            assert!(seen.insert(*id), "{id} listed twice");
        }
        if page.len() < size {
            break;
        }
        after = page.last().copied();
    }
    assert!(mine.iter().all(|id| seen.contains(id)), "every chat is listed");
    assert!(f.store.chat_ids(None, 0).await.unwrap().is_empty());
}

pub async fn membership_changes(f: &Fixture) {
    let (a, b, c) = (f.user().await.id, f.user().await.id, f.user().await.id);
    let chat = f.group(&[a, b]).await;
    f.store.set_role(chat.id, b, Role::Admin).await.unwrap();
    // Adding an existing member leaves them as they are.
    f.store.add_members(chat.id, &[member(chat.id, b, Role::Member), member(chat.id, c, Role::Member)]).await.unwrap();
    assert_eq!(f.store.member(chat.id, b).await.unwrap().unwrap().role, Role::Admin);
    assert_eq!(f.store.role(chat.id, b).await.unwrap(), Some(Role::Admin));
    assert_eq!(f.store.members(chat.id).await.unwrap().len(), 3);
    f.store.remove_member(chat.id, a).await.unwrap();
    assert_eq!(f.store.member(chat.id, a).await.unwrap(), None);
    assert_eq!(f.store.role(chat.id, a).await.unwrap(), None, "a member who left has no role");
    assert_eq!(f.store.members(chat.id).await.unwrap().len(), 2);
    let inbox = f.store.inbox(a, None, 10).await.unwrap();
    assert!(inbox.iter().all(|e| e.chat_id != chat.id), "a chat I left is not in my inbox");
    // Back in: the chat is in the inbox again, and new activity moves it.
    f.store.add_members(chat.id, &[member(chat.id, a, Role::Member)]).await.unwrap();
    assert_eq!(f.store.member(chat.id, a).await.unwrap().unwrap().role, Role::Member);
    assert!(f.store.inbox(a, None, 10).await.unwrap().iter().any(|e| e.chat_id == chat.id), "re-added, not listed");
    let activity = f.id();
    f.store.insert_signal(&msg(chat.id, activity, a, "back"), None).await.unwrap();
    let top = f.store.inbox(a, None, 1).await.unwrap();
    assert_eq!((top[0].chat_id, top[0].activity), (chat.id, activity));
}

pub async fn one_direct_chat_per_pair(f: &Fixture) {
    let (a, b) = (f.user().await.id, f.user().await.id);
    let first = f.id();
    assert_eq!(f.store.claim_direct_chat(a, b, first).await.unwrap(), first);
    assert_eq!(f.store.claim_direct_chat(b, a, f.id()).await.unwrap(), first, "the pair is unordered");
    // Many concurrent claims of a fresh pair agree on one winner.
    let (c, d) = (f.user().await.id, f.user().await.id);
    let proposals: Vec<Id> = (0..8).map(|_| f.id()).collect();
    let winners = futures::future::join_all(proposals.iter().enumerate().map(|(i, p)| {
        let store = Arc::clone(&f.store);
        let p = *p;
        async move {
            if i % 2 == 0 { store.claim_direct_chat(c, d, p).await } else { store.claim_direct_chat(d, c, p).await }
        }
    }))
    .await;
    let winners: Vec<Id> = winners.into_iter().map(|w| w.unwrap()).collect();
    assert!(proposals.contains(&winners[0]));
    assert!(winners.iter().all(|w| *w == winners[0]), "claims disagree: {winners:?}");

    // Writing a direct chat twice is harmless.
    let chat = Chat { id: first, kind: ChatKind::Direct, title: None, created_by: a, created_at: 1 };
    let rows = [member(first, a, Role::Member), member(first, b, Role::Member)];
    f.store.create_chat(&chat, &rows).await.unwrap();
    f.store.create_chat(&chat, &rows).await.unwrap();
    assert_eq!(f.store.members(first).await.unwrap().len(), 2);
}

pub async fn a_group_nonce_names_one_chat_per_creator(f: &Fixture) {
    let (a, b) = (f.user().await.id, f.user().await.id);
    let first = f.id();
    assert_eq!(f.store.claim_group_nonce(a, "n-1", first).await.unwrap(), first);
    assert_eq!(f.store.claim_group_nonce(a, "n-1", f.id()).await.unwrap(), first, "a repeat names the first chat");
    // Another nonce, or another creator with the same nonce, is another group.
    let other = f.id();
    assert_eq!(f.store.claim_group_nonce(a, "n-2", other).await.unwrap(), other);
    let theirs = f.id();
    assert_eq!(f.store.claim_group_nonce(b, "n-1", theirs).await.unwrap(), theirs);
    // Concurrent claims of a fresh nonce agree on one winner.
    let proposals: Vec<Id> = (0..8).map(|_| f.id()).collect();
    let winners = futures::future::join_all(proposals.iter().map(|p| {
        let (store, p) = (Arc::clone(&f.store), *p);
        async move { store.claim_group_nonce(b, "n-race", p).await.unwrap() }
    }))
    .await;
    assert!(proposals.contains(&winners[0]));
    assert!(winners.iter().all(|w| *w == winners[0]), "claims disagree: {winners:?}");
}

pub async fn inbox_orders_by_activity_and_pages(f: &Fixture) {
    let (me, other) = (f.user().await.id, f.user().await.id);
    let mut chats: Vec<Chat> = vec![];
    for _ in 0..5 {
        chats.push(f.group(&[me, other]).await);
    }
    // New chats start at their own id: newest chat first.
    let entries = f.store.inbox(me, None, 10).await.unwrap();
    let ids: Vec<Id> = entries.iter().map(|e| e.chat_id).collect();
    let mut expected: Vec<Id> = chats.iter().map(|c| c.id).collect();
    expected.reverse();
    assert_eq!(ids, expected);
    assert_eq!(entries[0].activity, chats[4].id);

    // Activity in chat 1 moves it to the top, for both members and one added since.
    let activity = f.id();
    f.store.insert_signal(&msg(chats[1].id, activity, other, "news"), None).await.unwrap();
    let newcomer = f.user().await.id;
    f.store.add_members(chats[1].id, &[member(chats[1].id, newcomer, Role::Member)]).await.unwrap();
    for user in [me, other, newcomer] {
        let top = f.store.inbox(user, None, 1).await.unwrap();
        assert_eq!(top.len(), 1);
        assert_eq!((top[0].chat_id, top[0].activity), (chats[1].id, activity));
    }

    // Paging: pages of two, each after the last entry of the previous, cover everything once.
    let mut seen = vec![];
    let mut after = None;
    loop {
        let page = f.store.inbox(me, after, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = page.last().map(|e| (e.activity, e.chat_id));
        seen.extend(page.into_iter().map(|e| e.chat_id));
    }
    let expected = vec![chats[1].id, chats[4].id, chats[3].id, chats[2].id, chats[0].id];
    assert_eq!(seen, expected);
}

pub async fn watermarks_only_move_forward(f: &Fixture) {
    let (a, b) = (f.user().await.id, f.user().await.id);
    let chat = f.group(&[a, b]).await;
    let (s1, s2) = (f.id(), f.id());
    assert!(f.store.advance_read(chat.id, a, s2).await.unwrap());
    assert!(!f.store.advance_read(chat.id, a, s1).await.unwrap(), "read marker moved back");
    assert!(!f.store.advance_read(chat.id, a, s2).await.unwrap());
    f.store.advance_delivered(chat.id, a, s1).await.unwrap();
    f.store.advance_delivered(chat.id, a, s2).await.unwrap();
    f.store.advance_delivered(chat.id, a, s1).await.unwrap();
    let m = f.store.member(chat.id, a).await.unwrap().unwrap();
    assert_eq!((m.read_up_to, m.delivered_up_to), (s2, s2));
    let untouched = f.store.member(chat.id, b).await.unwrap().unwrap();
    assert_eq!((untouched.read_up_to, untouched.delivered_up_to), (Id::ZERO, Id::ZERO));
    let mut marks = vec![(a, s2), (b, Id::ZERO)];
    marks.sort();
    assert_eq!(f.store.read_marks(chat.id).await.unwrap(), marks, "every member's read marker, by user");
    assert!(f.store.read_marks(f.id()).await.unwrap().is_empty());
    // In a batch: forward only, and a non-member's mark writes nothing.
    let (s3, outsider) = (f.id(), f.id());
    let marks = [(chat.id, a, s1), (chat.id, b, s3), (chat.id, outsider, s3)];
    f.store.advance_delivered_many(&marks).await.unwrap();
    assert_eq!(f.store.member(chat.id, a).await.unwrap().unwrap().delivered_up_to, s2, "moved back");
    assert_eq!(f.store.member(chat.id, b).await.unwrap().unwrap().delivered_up_to, s3);
    assert!(f.store.member(chat.id, outsider).await.unwrap().is_none(), "a mark made a member");
    f.store.advance_delivered_many(&[]).await.unwrap();
}
