//! Signals (insert, nonce idempotency, pages across time buckets) and reactions.

use std::sync::Arc;

use domain::{Id, Location, Signal, SignalBody, SignalKind, id::BUCKET_MS, id::now_ms};
use ports::{InsertSignalOutcome, SignalRange};

use crate::Fixture;

pub(crate) fn msg(chat: Id, id: Id, author: Id, text: &str) -> Signal {
    Signal {
        id,
        chat_id: chat,
        author_id: author,
        body: SignalBody::Msg {
            text: text.into(),
            reply_to: None,
            attachments: vec![],
            mentions: vec![],
            everyone: false,
        },
        edited_at: None,
    }
}

/// Inserting a signal moves its chat's activity to it, for every member; a signal inserted
/// after a newer one (two sends that raced) never moves it back.
pub async fn a_new_signal_moves_its_chat_to_the_top_of_the_inbox(f: &Fixture) {
    let (a, b) = (f.user().await.id, f.user().await.id);
    let (quiet, busy) = (f.group(&[a, b]).await, f.group(&[a, b]).await);
    let _newer_chat = f.group(&[a, b]).await;
    let first = msg(busy.id, f.id(), a, "first");
    let second = msg(busy.id, f.id(), b, "second");
    for signal in [&second, &first] {
        assert_eq!(
            f.store.insert_signal(signal, Some(&signal.id.to_string())).await.unwrap(),
            InsertSignalOutcome::Inserted
        );
    }
    for user in [a, b] {
        let inbox = f.store.inbox(user, None, 10).await.unwrap();
        assert_eq!((inbox[0].chat_id, inbox[0].activity), (busy.id, second.id), "{inbox:?}");
        assert!(inbox.iter().any(|e| e.chat_id == quiet.id && e.activity == quiet.id), "{inbox:?}");
    }
}

pub async fn insert_and_read(f: &Fixture) {
    let (a, b) = (f.user().await.id, f.user().await.id);
    let chat = f.group(&[a, b]).await;
    let first = msg(chat.id, f.id(), a, "hello 👋, «world»");
    let reply = Signal {
        body: SignalBody::Msg {
            text: "hi".into(),
            reply_to: Some(first.id),
            attachments: vec![],
            mentions: vec![],
            everyone: false,
        },
        ..msg(chat.id, f.id(), b, "")
    };
    let joined = Signal {
        id: f.id(),
        chat_id: chat.id,
        author_id: a,
        body: SignalBody::Joined { users: vec![a, b] },
        edited_at: None,
    };
    for s in [&first, &reply, &joined] {
        assert_eq!(f.store.insert_signal(s, None).await.unwrap(), InsertSignalOutcome::Inserted);
        assert_eq!(f.store.signal(chat.id, s.id).await.unwrap().as_ref(), Some(s));
    }
    assert_eq!(f.store.signal(chat.id, f.id()).await.unwrap(), None);
    let other = f.group(&[a, b]).await;
    assert_eq!(f.store.signal(other.id, first.id).await.unwrap(), None, "a signal belongs to its chat");
    let page = f.store.signals(chat.id, SignalRange::Latest, 10).await.unwrap();
    assert_eq!(page, vec![joined, reply, first]);
    assert!(f.store.signals(other.id, SignalRange::Latest, 10).await.unwrap().is_empty());
}

pub async fn edits_rewrite_a_signal_and_a_tombstone_stays_one(f: &Fixture) {
    let (a, b) = (f.user().await.id, f.user().await.id);
    let chat = f.group(&[a, b]).await;
    let first = msg(chat.id, f.id(), a, "helo");
    let second = msg(chat.id, f.id(), b, "after");
    for s in [&first, &second] {
        f.store.insert_signal(s, None).await.unwrap();
    }
    let edited = Signal {
        body: SignalBody::Msg {
            text: "hello @b".into(),
            reply_to: None,
            attachments: vec![],
            mentions: vec![b],
            everyone: true,
        },
        edited_at: Some(1_750_000_000_123),
        ..first.clone()
    };
    assert!(f.store.update_signal(&edited).await.unwrap());
    assert_eq!(f.store.signal(chat.id, first.id).await.unwrap().as_ref(), Some(&edited));

    let tombstone = Signal {
        body: SignalBody::Deleted { was: SignalKind::Msg, deleted_at: 1_750_000_000_456 },
        edited_at: None,
        ..first.clone()
    };
    assert!(f.store.update_signal(&tombstone).await.unwrap());
    assert_eq!(f.store.signal(chat.id, first.id).await.unwrap().as_ref(), Some(&tombstone));
    assert!(!f.store.update_signal(&edited).await.unwrap(), "a tombstone is never edited");
    assert!(!f.store.update_signal(&tombstone).await.unwrap(), "nor deleted twice");
    assert_eq!(f.store.signal(chat.id, first.id).await.unwrap().as_ref(), Some(&tombstone));
    let page = f.store.signals(chat.id, SignalRange::Latest, 10).await.unwrap();
    assert_eq!(page, vec![second.clone(), tombstone], "a tombstone keeps its place in the timeline");

    let absent = msg(chat.id, f.id(), a, "never sent");
    assert!(!f.store.update_signal(&absent).await.unwrap(), "an update writes no signal that was not there");
    assert_eq!(f.store.signal(chat.id, absent.id).await.unwrap(), None);
    assert_eq!(f.store.signals(chat.id, SignalRange::Latest, 10).await.unwrap().len(), 2);

    // A shared location, live, then moved, then stopped.
    let point = |lat: f64, lon: f64, label: Option<&str>| Location {
        lat,
        lon,
        accuracy_m: Some(12.5),
        label: label.map(str::to_string),
    };
    let live = Signal {
        id: f.id(),
        chat_id: chat.id,
        author_id: a,
        body: SignalBody::Location {
            location: point(48.858_37, 2.294_481, Some("Tour Eiffel")),
            live_until: Some(now_ms() as i64 + 60_000),
        },
        edited_at: None,
    };
    f.store.insert_signal(&live, None).await.unwrap();
    assert_eq!(f.store.signal(chat.id, live.id).await.unwrap().as_ref(), Some(&live));
    let moved = Signal {
        body: SignalBody::Location {
            location: point(-33.856_784, 151.215_297, None),
            live_until: Some(now_ms() as i64),
        },
        edited_at: Some(now_ms() as i64),
        ..live.clone()
    };
    assert!(f.store.update_signal(&moved).await.unwrap());
    assert_eq!(f.store.signal(chat.id, live.id).await.unwrap().as_ref(), Some(&moved));
}

pub async fn nonces_make_sends_idempotent(f: &Fixture) {
    let (a, b) = (f.user().await.id, f.user().await.id);
    let chat = f.group(&[a, b]).await;
    let first = msg(chat.id, f.id(), a, "once");
    assert_eq!(f.store.insert_signal(&first, Some("n-1")).await.unwrap(), InsertSignalOutcome::Inserted);
    let retry = msg(chat.id, f.id(), a, "once");
    assert_eq!(f.store.insert_signal(&retry, Some("n-1")).await.unwrap(), InsertSignalOutcome::Duplicate(first.id));
    assert_eq!(f.store.signal(chat.id, retry.id).await.unwrap(), None, "a duplicate must store nothing");
    // The nonce is scoped to (chat, author).
    let by_b = msg(chat.id, f.id(), b, "same nonce, other author");
    assert_eq!(f.store.insert_signal(&by_b, Some("n-1")).await.unwrap(), InsertSignalOutcome::Inserted);
    let other = f.group(&[a, b]).await;
    let elsewhere = msg(other.id, f.id(), a, "same nonce, other chat");
    assert_eq!(f.store.insert_signal(&elsewhere, Some("n-1")).await.unwrap(), InsertSignalOutcome::Inserted);
    assert_eq!(f.store.signals(chat.id, SignalRange::Latest, 10).await.unwrap().len(), 2);

    // Concurrent retries of one send store exactly one signal.
    let attempts: Vec<Signal> = (0..8).map(|_| msg(chat.id, f.id(), a, "racing")).collect();
    let outcomes = futures::future::join_all(attempts.iter().map(|s| {
        let store = Arc::clone(&f.store);
        let s = s.clone();
        async move { store.insert_signal(&s, Some("n-race")).await.unwrap() }
    }))
    .await;
    let inserted: Vec<&Signal> =
        attempts.iter().zip(&outcomes).filter(|(_, o)| **o == InsertSignalOutcome::Inserted).map(|(s, _)| s).collect();
    assert_eq!(inserted.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| *o == InsertSignalOutcome::Inserted || *o == InsertSignalOutcome::Duplicate(inserted[0].id))
    );
    assert_eq!(f.store.signals(chat.id, SignalRange::Latest, 10).await.unwrap().len(), 3);
}

pub async fn pages_walk_buckets_newest_first(f: &Fixture) {
    let (a, b) = (f.user().await.id, f.user().await.id);
    let chat = f.group(&[a, b]).await;
    // Signals spread over several time buckets with empty buckets between them, as a chat
    // that was quiet for a month would have. Ids are built from times in the past.
    let now = now_ms();
    let times =
        [now - 95 * BUCKET_MS / 10, now - 9 * BUCKET_MS, now - 5 * BUCKET_MS, now - 5 * BUCKET_MS + 1, now - 1000];
    let mut ids = vec![];
    for (i, t) in times.iter().enumerate() {
        let id = Id(Id::first_at(*t).0 + (u64::from(f.ids.node()) << 12) + i as u64);
        ids.push(id);
        f.store.insert_signal(&msg(chat.id, id, a, &format!("m{i}")), None).await.unwrap();
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert!(ids[4].bucket() - ids[0].bucket() >= 9);
    let newest_first: Vec<Id> = ids.iter().rev().copied().collect();

    let ids_of = |v: Vec<Signal>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids_of(f.store.signals(chat.id, SignalRange::Latest, 10).await.unwrap()), newest_first);
    assert_eq!(ids_of(f.store.signals(chat.id, SignalRange::Latest, 2).await.unwrap()), newest_first[..2]);
    assert_eq!(ids_of(f.store.signals(chat.id, SignalRange::Before(ids[3]), 2).await.unwrap()), vec![ids[2], ids[1]]);
    assert_eq!(ids_of(f.store.signals(chat.id, SignalRange::Before(ids[1]), 5).await.unwrap()), vec![ids[0]]);
    assert!(f.store.signals(chat.id, SignalRange::Before(ids[0]), 5).await.unwrap().is_empty());
    // After: the closest newer signals, returned newest first.
    assert_eq!(ids_of(f.store.signals(chat.id, SignalRange::After(ids[0]), 2).await.unwrap()), vec![ids[2], ids[1]]);
    assert_eq!(ids_of(f.store.signals(chat.id, SignalRange::After(ids[2]), 10).await.unwrap()), vec![ids[4], ids[3]]);
    assert!(f.store.signals(chat.id, SignalRange::After(ids[4]), 10).await.unwrap().is_empty());
    // Walking pages of one covers each signal once.
    let mut walked = vec![];
    let mut range = SignalRange::Latest;
    while let Some(s) = f.store.signals(chat.id, range, 1).await.unwrap().pop() {
        range = SignalRange::Before(s.id);
        walked.push(s.id);
    }
    assert_eq!(walked, newest_first);
    // And pages of one walked the other way, from before the first signal.
    let mut walked = vec![];
    let mut range = SignalRange::After(Id::ZERO);
    while let Some(s) = f.store.signals(chat.id, range, 1).await.unwrap().pop() {
        range = SignalRange::After(s.id);
        walked.push(s.id);
    }
    assert_eq!(walked, ids);
    // Cursors need not name a signal: the page is around the position.
    assert_eq!(ids_of(f.store.signals(chat.id, SignalRange::Before(Id(ids[4].0 + 1)), 1).await.unwrap()), vec![ids[4]]);
    assert_eq!(ids_of(f.store.signals(chat.id, SignalRange::After(Id(ids[0].0 - 1)), 1).await.unwrap()), vec![ids[0]]);
}

/// A limit of 0 is an empty page, not an error (the service asks for 0 newer signals for
/// a page of 1 around a signal); a limit beyond any page size returns everything.
pub async fn empty_and_oversized_limits(f: &Fixture) {
    let a = f.user().await.id;
    let chat = f.group(&[a]).await;
    let now = now_ms();
    let older = Id(Id::first_at(now - 2 * BUCKET_MS).0 + (u64::from(f.ids.node()) << 12));
    let newer = f.id();
    for id in [older, newer] {
        f.store.insert_signal(&msg(chat.id, id, a, "here"), None).await.unwrap();
    }
    let middle = Id(older.0 + 1);
    let ranges =
        [SignalRange::Latest, SignalRange::Before(newer), SignalRange::After(older), SignalRange::After(Id::ZERO)];
    for range in ranges {
        assert_eq!(f.store.signals(chat.id, range, 0).await.unwrap(), vec![], "{range:?} with limit 0");
    }
    let cases = [
        (SignalRange::Latest, vec![newer, older]),
        (SignalRange::Before(newer), vec![older]),
        (SignalRange::After(older), vec![newer]),
        (SignalRange::After(Id::ZERO), vec![newer, older]),
        (SignalRange::Before(middle), vec![older]),
    ];
    for (range, expected) in cases {
        let page = f.store.signals(chat.id, range, usize::MAX).await.unwrap();
        assert_eq!(page.into_iter().map(|s| s.id).collect::<Vec<_>>(), expected, "{range:?} with limit usize::MAX");
    }
}

pub async fn reactions_count_exactly_once(f: &Fixture) {
    let (a, b, c) = (f.user().await.id, f.user().await.id, f.user().await.id);
    let chat = f.group(&[a, b, c]).await;
    let (s1, s2) = (msg(chat.id, f.id(), a, "one"), msg(chat.id, f.id(), a, "two"));
    f.store.insert_signal(&s1, None).await.unwrap();
    f.store.insert_signal(&s2, None).await.unwrap();
    let s = &f.store;
    assert!(s.add_reaction(chat.id, s1.id, "👍", b).await.unwrap());
    assert!(!s.add_reaction(chat.id, s1.id, "👍", b).await.unwrap(), "adding twice must not count twice");
    assert!(s.add_reaction(chat.id, s1.id, "👍", c).await.unwrap());
    assert!(s.add_reaction(chat.id, s1.id, "🎉", b).await.unwrap());
    assert!(s.add_reaction(chat.id, s2.id, "👍", a).await.unwrap());

    let mut counts = s.reaction_counts(chat.id, &[s1.id, s2.id]).await.unwrap();
    counts.sort();
    let mut expected = vec![(s1.id, "👍".to_string(), 2), (s1.id, "🎉".to_string(), 1), (s2.id, "👍".to_string(), 1)];
    expected.sort();
    assert_eq!(counts, expected);

    let mut mine = s.reactions_by_user(chat.id, b, &[s1.id, s2.id]).await.unwrap();
    mine.sort();
    let mut expected_mine = vec![(s1.id, "👍".to_string()), (s1.id, "🎉".to_string())];
    expected_mine.sort();
    assert_eq!(mine, expected_mine);

    let mut reactors = vec![b, c];
    reactors.sort();
    assert_eq!(s.reactors(chat.id, s1.id, "👍", None, 10).await.unwrap(), reactors);
    assert_eq!(s.reactors(chat.id, s1.id, "👍", None, 1).await.unwrap(), reactors[..1]);
    assert_eq!(s.reactors(chat.id, s1.id, "👍", Some(reactors[0]), 10).await.unwrap(), reactors[1..]);

    assert!(s.remove_reaction(chat.id, s1.id, "🎉", b).await.unwrap());
    assert!(!s.remove_reaction(chat.id, s1.id, "🎉", b).await.unwrap(), "removing twice must not count twice");
    assert!(!s.remove_reaction(chat.id, s1.id, "👍", a).await.unwrap(), "removing what is not there changes nothing");
    let counts = s.reaction_counts(chat.id, &[s1.id]).await.unwrap();
    assert_eq!(counts, vec![(s1.id, "👍".to_string(), 2)], "zero counts are omitted");
    assert!(s.reactors(chat.id, s1.id, "🎉", None, 10).await.unwrap().is_empty());
    assert!(s.reaction_counts(chat.id, &[]).await.unwrap().is_empty());
}

pub async fn concurrent_reactions_keep_exact_counts(f: &Fixture) {
    let mut users = vec![];
    for _ in 0..12 {
        users.push(f.user().await.id);
    }
    let chat = f.group(&users).await;
    let s1 = msg(chat.id, f.id(), users[0], "popular");
    f.store.insert_signal(&s1, None).await.unwrap();
    // Every user adds twice and half of them then remove twice, all at once.
    let ops = users.iter().enumerate().flat_map(|(i, u)| {
        let mut v = vec![(*u, true), (*u, true)];
        if i % 2 == 0 {
            v.extend([(*u, false), (*u, false)]);
        }
        v
    });
    let tasks: Vec<_> = users
        .iter()
        .map(|u| {
            let store = Arc::clone(&f.store);
            let mine: Vec<(Id, bool)> = ops.clone().filter(|(x, _)| x == u).collect();
            let (chat, sid) = (chat.id, s1.id);
            tokio::spawn(async move {
                for (user, add) in mine {
                    if add {
                        store.add_reaction(chat, sid, "🔥", user).await.unwrap();
                    } else {
                        store.remove_reaction(chat, sid, "🔥", user).await.unwrap();
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let counts = f.store.reaction_counts(chat.id, &[s1.id]).await.unwrap();
    assert_eq!(counts, vec![(s1.id, "🔥".to_string(), 6)]);
    assert_eq!(f.store.reactors(chat.id, s1.id, "🔥", None, 100).await.unwrap().len(), 6);
}
