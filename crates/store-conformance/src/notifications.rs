//! Notification settings, push targets, sent records, dead letters and server keys.

use domain::{DeadLetter, NotifyLevel, NotifySettings, PushTarget, PushTargetSpec, Role};

use crate::{Fixture, member};

fn webhook(f: &Fixture, user: domain::UserId, created_at: i64) -> PushTarget {
    PushTarget {
        id: f.id(),
        user_id: user,
        created_at,
        spec: PushTargetSpec::Webhook { url: "https://hooks.example/p".into(), secret: f.unique("secret") },
    }
}

pub async fn settings_are_kept_per_member_and_chat(f: &Fixture) {
    let (a, b) = (f.user().await, f.user().await);
    let chat = f.group(&[a.id, b.id]).await;
    let other = f.group(&[a.id, b.id]).await;
    assert_eq!(f.store.notify_settings(chat.id, a.id).await.unwrap(), NotifySettings::default());
    assert!(f.store.chat_notify_settings(chat.id).await.unwrap().is_empty());
    let muted = NotifySettings { level: NotifyLevel::Mentions, muted_until: Some(1_900_000_000_000) };
    f.store.set_notify_settings(chat.id, a.id, &muted).await.unwrap();
    assert_eq!(f.store.notify_settings(chat.id, a.id).await.unwrap(), muted);
    assert_eq!(f.store.notify_settings(chat.id, b.id).await.unwrap(), NotifySettings::default());
    assert_eq!(f.store.notify_settings(other.id, a.id).await.unwrap(), NotifySettings::default());
    let none = NotifySettings { level: NotifyLevel::Nothing, muted_until: None };
    f.store.set_notify_settings(chat.id, b.id, &none).await.unwrap();
    // A change replaces the whole setting (the mute ends).
    let all = NotifySettings { level: NotifyLevel::All, muted_until: None };
    f.store.set_notify_settings(chat.id, a.id, &all).await.unwrap();
    let mut expected = vec![(a.id, all), (b.id, none)];
    expected.sort_by_key(|(u, _)| *u);
    assert_eq!(f.store.chat_notify_settings(chat.id).await.unwrap(), expected);
}

pub async fn push_targets_belong_to_their_user(f: &Fixture) {
    let (a, b) = (f.user().await, f.user().await);
    let first = webhook(f, a.id, 1_700_000_000_000);
    let second = PushTarget {
        id: f.id(),
        user_id: a.id,
        created_at: 1_700_000_000_001,
        spec: PushTargetSpec::Webpush {
            endpoint: "https://push.example/send/abc".into(),
            p256dh: "BLn9b-key".into(),
            auth: "auth-secret".into(),
        },
    };
    let theirs = webhook(f, b.id, 1_700_000_000_002);
    for t in [&first, &second, &theirs] {
        f.store.add_push_target(t).await.unwrap();
    }
    assert_eq!(f.store.push_targets(a.id).await.unwrap(), vec![first.clone(), second.clone()]);
    // Another user's target is not theirs to delete.
    assert!(!f.store.delete_push_target(a.id, theirs.id).await.unwrap());
    assert_eq!(f.store.push_targets(b.id).await.unwrap(), vec![theirs]);
    assert!(f.store.delete_push_target(a.id, first.id).await.unwrap());
    assert!(!f.store.delete_push_target(a.id, first.id).await.unwrap());
    assert_eq!(f.store.push_targets(a.id).await.unwrap(), vec![second]);
}

pub async fn members_with_push_targets_are_those_a_notification_can_reach(f: &Fixture) {
    let (a, b, c) = (f.user().await.id, f.user().await.id, f.user().await.id);
    let chat = f.group(&[a, b, c]).await.id;
    let (a1, a2, c1) = (webhook(f, a, 1), webhook(f, a, 2), webhook(f, c, 3));
    // Nobody can be reached before they add a target.
    assert_eq!(f.store.members_with_push_targets(chat, &[a, b, c]).await.unwrap(), vec![]);
    for t in [&a1, &a2, &c1] {
        f.store.add_push_target(t).await.unwrap();
    }
    // In the order given, once each, whatever the number of targets: a target added after
    // joining counts in the chats joined before it.
    assert_eq!(f.store.members_with_push_targets(chat, &[c, b, a]).await.unwrap(), vec![c, a]);
    assert_eq!(f.store.members_with_push_targets(chat, &[b]).await.unwrap(), vec![]);
    assert_eq!(f.store.members_with_push_targets(chat, &[]).await.unwrap(), vec![]);
    // And in the chats joined after it.
    let later = f.group(&[b, c]).await.id;
    let (d, e) = (f.user().await.id, f.user().await.id);
    f.store.add_push_target(&webhook(f, d, 4)).await.unwrap();
    f.store
        .add_members(
            later,
            &[member(later, a, Role::Member), member(later, d, Role::Member), member(later, e, Role::Member)],
        )
        .await
        .unwrap();
    assert_eq!(f.store.members_with_push_targets(later, &[a, b, c, d, e]).await.unwrap(), vec![a, c, d]);
    // A user who is not a member is answered as any other.
    let elsewhere = f.group(&[e]).await.id;
    assert_eq!(f.store.members_with_push_targets(elsewhere, &[d, b]).await.unwrap(), vec![d]);
    // Until their last target goes.
    f.store.delete_push_target(a, a1.id).await.unwrap();
    assert_eq!(f.store.members_with_push_targets(chat, &[a, b, c]).await.unwrap(), vec![a, c]);
    f.store.delete_push_target(a, a2.id).await.unwrap();
    assert_eq!(f.store.members_with_push_targets(chat, &[a, b, c]).await.unwrap(), vec![c]);
    assert_eq!(f.store.members_with_push_targets(later, &[a, c, d]).await.unwrap(), vec![c, d]);
    // A member who left and came back without a target is not reached; with one, is.
    f.store.remove_member(later, e).await.unwrap();
    f.store.add_members(later, &[member(later, e, Role::Member)]).await.unwrap();
    assert_eq!(f.store.members_with_push_targets(later, &[e]).await.unwrap(), vec![]);
    f.store.add_push_target(&webhook(f, e, 5)).await.unwrap();
    assert_eq!(f.store.members_with_push_targets(later, &[e]).await.unwrap(), vec![e]);
}

pub async fn a_sent_push_is_remembered_per_target_and_key(f: &Fixture) {
    let (t1, t2) = (f.id(), f.id());
    let key = f.unique("msg");
    assert!(!f.store.push_sent(t1, &key).await.unwrap());
    f.store.record_push_sent(t1, &key).await.unwrap();
    f.store.record_push_sent(t1, &key).await.unwrap();
    assert!(f.store.push_sent(t1, &key).await.unwrap());
    assert!(!f.store.push_sent(t2, &key).await.unwrap());
    assert!(!f.store.push_sent(t1, &f.unique("msg")).await.unwrap());
}

pub async fn dead_letters_list_newest_first(f: &Fixture) {
    let user = f.id();
    let now = domain::id::now_ms() as i64;
    let letter = |at: i64, attempts: u32| DeadLetter {
        at,
        user_id: user,
        target_id: f.id(),
        key: f.unique("msg"),
        attempts,
        error: format!("HTTP 500 after {attempts} attempts"),
    };
    let (old, new) = (letter(now - 1000, 5), letter(now, 6));
    f.store.add_dead_letter(&old).await.unwrap();
    f.store.add_dead_letter(&new).await.unwrap();
    let mine: Vec<DeadLetter> =
        f.store.dead_letters(10_000).await.unwrap().into_iter().filter(|l| l.user_id == user).collect();
    assert_eq!(mine, vec![new, old]);
}

pub async fn a_server_key_is_the_first_one_stored(f: &Fixture) {
    let name = f.unique("vapid");
    let first = f.store.server_key(&name, b"first candidate").await.unwrap();
    assert_eq!(first, b"first candidate");
    assert_eq!(f.store.server_key(&name, b"second candidate").await.unwrap(), b"first candidate");
    // Racing first claims agree.
    let other = f.unique("vapid");
    let (x, y) = tokio::join!(f.store.server_key(&other, b"x"), f.store.server_key(&other, b"y"));
    assert_eq!(x.unwrap(), y.unwrap());
}
