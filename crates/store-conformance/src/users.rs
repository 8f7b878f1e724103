//! Users: creation with unique usernames and subjects, lookups, display names.

use domain::{Availability, User, UserStatus};
use ports::{CreateUserOutcome, RenameOutcome};

use crate::Fixture;

pub async fn create_and_find(f: &Fixture) {
    let user = f.user().await;
    let s = &f.store;
    assert_eq!(s.user(user.id).await.unwrap().as_ref(), Some(&user));
    assert_eq!(s.user_by_username(&user.username).await.unwrap().as_ref(), Some(&user));
    assert_eq!(s.user_by_subject(&user.issuer, &user.subject).await.unwrap().as_ref(), Some(&user));
    assert_eq!(s.user(f.id()).await.unwrap(), None);
    assert_eq!(s.user_by_username(&f.unique("nobody")).await.unwrap(), None);
    assert_eq!(s.user_by_subject("another-issuer", &user.subject).await.unwrap(), None);
}

pub async fn usernames_and_subjects_are_unique(f: &Fixture) {
    let first = f.user().await;
    let same_username = User { id: f.id(), subject: f.unique("sub"), ..first.clone() };
    assert_eq!(f.store.create_user(&same_username).await.unwrap(), CreateUserOutcome::UsernameTaken);
    assert_eq!(f.store.user(same_username.id).await.unwrap(), None, "a refused user must not be stored");

    let same_subject = User { id: f.id(), username: f.unique("user"), ..first.clone() };
    assert_eq!(f.store.create_user(&same_subject).await.unwrap(), CreateUserOutcome::SubjectTaken(first.clone()));
    assert_eq!(f.store.user_by_username(&same_subject.username).await.unwrap(), None);

    // The same subject at another issuer is another person.
    let other_issuer = User { id: f.id(), username: f.unique("user"), issuer: "elsewhere".into(), ..first };
    assert_eq!(f.store.create_user(&other_issuer).await.unwrap(), CreateUserOutcome::Created);
}

pub async fn display_name_changes(f: &Fixture) {
    let user = f.user().await;
    f.store.set_display_name(user.id, "Alice Liddell").await.unwrap();
    assert_eq!(f.store.user(user.id).await.unwrap().unwrap().display_name, "Alice Liddell");
    assert_eq!(f.store.user_by_username(&user.username).await.unwrap().unwrap().display_name, "Alice Liddell");
}

pub async fn renames_move_the_username(f: &Fixture) {
    let (user, other) = (f.user().await, f.user().await);
    let s = &f.store;
    let new = f.unique("renamed");
    assert_eq!(s.rename_user(user.id, &user.username, &new).await.unwrap(), RenameOutcome::Renamed);
    let renamed = User { username: new.clone(), ..user.clone() };
    assert_eq!(s.user(user.id).await.unwrap().as_ref(), Some(&renamed));
    assert_eq!(s.user_by_username(&new).await.unwrap().as_ref(), Some(&renamed));
    assert_eq!(s.user_by_subject(&user.issuer, &user.subject).await.unwrap().as_ref(), Some(&renamed));
    assert_eq!(s.user_by_username(&user.username).await.unwrap(), None, "the old username is free");
    // Repeating the rename is harmless.
    assert_eq!(s.rename_user(user.id, &user.username, &new).await.unwrap(), RenameOutcome::Renamed);
    assert_eq!(s.user(user.id).await.unwrap().as_ref(), Some(&renamed));

    // Someone else's username cannot be taken; nothing changes.
    assert_eq!(s.rename_user(user.id, &new, &other.username).await.unwrap(), RenameOutcome::UsernameTaken);
    assert_eq!(s.user(user.id).await.unwrap().as_ref(), Some(&renamed));
    assert_eq!(s.user_by_username(&other.username).await.unwrap().as_ref(), Some(&other));

    // The freed username can be used by a new user.
    let newcomer = User { id: f.id(), username: user.username.clone(), subject: f.unique("sub"), ..user.clone() };
    assert_eq!(s.create_user(&newcomer).await.unwrap(), CreateUserOutcome::Created);
    assert_eq!(s.user_by_username(&user.username).await.unwrap().as_ref(), Some(&newcomer));
}

/// Prefix search: usernames that start with the prefix, by username, at most `limit`; the
/// prefix is text, never a pattern; a renamed user is found by the new name only.
pub async fn users_are_found_by_username_prefix(f: &Fixture) {
    let s = &f.store;
    // Names of this run only (the store may be shared), under initials of their own.
    let tag = |initial: char| format!("{initial}{:x}-", rand::random::<u64>());
    let (p, q) = (tag('p'), tag('q'));
    let named = |name: &str| {
        let user = User {
            id: f.id(),
            username: format!("{p}{name}"),
            display_name: name.into(),
            issuer: "conformance".into(),
            subject: f.unique("sub"),
            created_at: 1_700_000_000_000,
        };
        async move {
            assert_eq!(s.create_user(&user).await.unwrap(), CreateUserOutcome::Created);
            user
        }
    };
    // Created out of order: the answer is by username.
    let alice = named("alice").await;
    let alan = named("alan").await;
    let bob = named("bob").await;
    let albert = named("albert").await;
    let a_b = named("a_b").await;
    let al_dot = named("al.x").await;
    let found = |prefix: String, limit: usize| async move {
        let users = s.find_users_by_prefix(&prefix, limit).await.unwrap();
        assert!(users.windows(2).all(|w| w[0].username < w[1].username), "{prefix}: by username");
        users.into_iter().map(|u| u.username).collect::<Vec<_>>()
    };
    let names = |users: &[&User]| users.iter().map(|u| u.username.clone()).collect::<Vec<_>>();

    let cases: Vec<(String, usize, Vec<String>)> = vec![
        (format!("{p}al"), 10, names(&[&al_dot, &alan, &albert, &alice])),
        (format!("{p}al"), 2, names(&[&al_dot, &alan])),
        (format!("{p}al"), 0, vec![]),
        (p.clone(), 10, names(&[&a_b, &al_dot, &alan, &albert, &alice, &bob])),
        (format!("{p}alice"), 10, names(&[&alice])),
        (format!("{p}alicex"), 10, vec![]),
        (format!("{p}b"), 10, names(&[&bob])),
        (format!("{p}c"), 10, vec![]),
        (format!("{p}zz"), 10, vec![]),
        // Pattern characters mean themselves: `_` is one of a username's characters.
        (format!("{p}a_"), 10, names(&[&a_b])),
        (format!("{p}al%"), 10, vec![]),
        (format!("{p}%"), 10, vec![]),
        (format!("{p}a%"), 10, vec![]),
        (format!("{p}_"), 10, vec![]),
        (format!("{p}*"), 10, vec![]),
        (format!("{p}al*"), 10, vec![]),
        (format!("{p}.*"), 10, vec![]),
        (format!("{p}[a]"), 10, vec![]),
        ("%".into(), 10, vec![]),
        ("*".into(), 10, vec![]),
        (String::new(), 10, vec![]),
    ];
    for (prefix, limit, expected) in cases {
        assert_eq!(found(prefix.clone(), limit).await, expected, "prefix {prefix:?}, limit {limit}");
    }
    let full = s.find_users_by_prefix(&format!("{p}alic"), 10).await.unwrap();
    assert_eq!(full, vec![alice.clone()], "whole users");

    // A rename, to another initial: found by the new username, not by the old.
    let renamed = format!("{q}alfred");
    assert_eq!(s.rename_user(alan.id, &alan.username, &renamed).await.unwrap(), RenameOutcome::Renamed);
    assert_eq!(found(format!("{p}al"), 10).await, names(&[&al_dot, &albert, &alice]));
    assert_eq!(found(alan.username.clone(), 10).await, Vec::<String>::new());
    assert_eq!(found(format!("{q}al"), 10).await, vec![renamed.clone()]);
    let found_renamed = s.find_users_by_prefix(&q, 10).await.unwrap();
    assert_eq!(found_renamed, vec![User { username: renamed.clone(), ..alan.clone() }]);
    // Renamed again, within its initial.
    let again = format!("{q}alf");
    assert_eq!(s.rename_user(alan.id, &renamed, &again).await.unwrap(), RenameOutcome::Renamed);
    assert_eq!(found(format!("{q}al"), 10).await, vec![again.clone()]);
    assert_eq!(found(renamed.clone(), 10).await, Vec::<String>::new());
    assert_eq!(found(format!("{p}al"), 1).await, names(&[&al_dot]));

    // The old username, taken by someone new, finds them, even after a late repeat of
    // the rename away from it.
    let newcomer = User { id: f.id(), subject: f.unique("sub"), ..alan.clone() };
    assert_eq!(s.create_user(&newcomer).await.unwrap(), CreateUserOutcome::Created);
    assert_eq!(s.find_users_by_prefix(&alan.username, 10).await.unwrap(), vec![newcomer.clone()]);
    assert_eq!(s.rename_user(alan.id, &alan.username, &again).await.unwrap(), RenameOutcome::Renamed);
    assert_eq!(s.find_users_by_prefix(&alan.username, 10).await.unwrap(), vec![newcomer]);
    assert_eq!(found(format!("{q}al"), 10).await, vec![again]);
}

pub async fn event_tickets_are_single_use_and_expire(f: &Fixture) {
    let (user, other) = (f.user().await, f.user().await);
    let s = &f.store;
    let now = 1_800_000_000_000_i64;
    let ticket = f.unique("digest");
    s.create_event_ticket(&ticket, user.id, now + 30_000).await.unwrap();
    assert!(!s.redeem_event_ticket(&ticket, other.id, now).await.unwrap(), "another user's ticket");
    assert!(!s.redeem_event_ticket(&f.unique("digest"), user.id, now).await.unwrap(), "an unknown ticket");
    assert!(s.redeem_event_ticket(&ticket, user.id, now).await.unwrap(), "the first use");
    assert!(!s.redeem_event_ticket(&ticket, user.id, now).await.unwrap(), "the second use");

    let expired = f.unique("digest");
    s.create_event_ticket(&expired, user.id, now + 30_000).await.unwrap();
    assert!(!s.redeem_event_ticket(&expired, user.id, now + 30_000).await.unwrap(), "at its expiry");

    // Concurrent redemptions of one ticket: never more than one wins. (On CQL contended
    // lightweight transactions may time out, an unknown outcome reported as unavailable;
    // then nobody may have won, and the client asks for a new ticket.)
    let raced = f.unique("digest");
    s.create_event_ticket(&raced, user.id, now + 30_000).await.unwrap();
    let tries = futures::future::join_all((0..4).map(|_| s.redeem_event_ticket(&raced, user.id, now))).await;
    let wins = tries.iter().filter(|t| matches!(t, Ok(true))).count();
    let unknown = tries.iter().filter(|t| t.as_ref().is_err_and(|e| e.kind == domain::ErrorKind::Unavailable)).count();
    assert!(wins == 1 || (wins == 0 && unknown > 0), "{tries:?}");
    assert_eq!(tries.iter().filter(|t| matches!(t, Ok(false))).count() + wins + unknown, tries.len(), "{tries:?}");
    if wins == 1 {
        let again = s.redeem_event_ticket(&raced, user.id, now).await;
        assert!(matches!(again, Ok(false)), "a won ticket is used up: {again:?}");
    }
}

pub async fn statuses_are_kept_per_user_until_reset(f: &Fixture) {
    let (u, v) = (f.user().await.id, f.user().await.id);
    let s = &f.store;
    assert_eq!(s.status(u).await.unwrap(), None);
    let away = UserStatus { availability: Availability::Away, text: Some("lunch 🍜".into()), clears_at: Some(42) };
    s.set_status(u, Some(&away)).await.unwrap();
    let dnd = UserStatus { availability: Availability::Dnd, text: None, clears_at: None };
    s.set_status(v, Some(&dnd)).await.unwrap();
    assert_eq!(s.status(u).await.unwrap(), Some(away));
    assert_eq!(s.status(v).await.unwrap(), Some(dnd.clone()));
    let invisible = UserStatus { availability: Availability::Invisible, text: None, clears_at: Some(7) };
    s.set_status(u, Some(&invisible)).await.unwrap();
    assert_eq!(s.status(u).await.unwrap(), Some(invisible), "a new status replaces the old, text included");
    s.set_status(u, None).await.unwrap();
    assert_eq!(s.status(u).await.unwrap(), None);
    assert_eq!(s.status(v).await.unwrap(), Some(dnd));
}

pub async fn a_status_that_clears_is_listed_until_one_caller_takes_it(f: &Fixture) {
    let (u, v) = (f.user().await.id, f.user().await.id);
    let s = &f.store;
    // Some moment of 1971, to the millisecond: its own place in the list.
    let at: i64 = 31_536_000_000 + rand::random_range(0..31_536_000_000);
    let away = UserStatus { availability: Availability::Away, text: None, clears_at: Some(at) };
    s.set_status(u, Some(&away)).await.unwrap();
    s.set_status(v, Some(&UserStatus { clears_at: None, ..away.clone() })).await.unwrap();
    assert!(!s.due_status_clears(at - 1, 100_000).await.unwrap().contains(&(u, at)), "not due before its time");
    let due = s.due_status_clears(at, 100_000).await.unwrap();
    assert!(due.contains(&(u, at)), "due at its time");
    assert!(due.iter().all(|(who, _)| *who != v), "a status that does not clear is not listed");
    assert!(due.windows(2).all(|w| w[0].1 <= w[1].1), "oldest first");

    let takes = futures::future::join_all((0..4).map(|_| {
        let store = std::sync::Arc::clone(&f.store);
        async move { store.take_status_clear(u, at).await.unwrap() }
    }))
    .await;
    assert_eq!(takes.iter().filter(|t| **t).count(), 1, "one caller takes it: {takes:?}");
    assert!(!s.due_status_clears(at, 100_000).await.unwrap().contains(&(u, at)));
    assert_eq!(s.status(u).await.unwrap(), Some(away), "taking the clear leaves the status as set");
}
