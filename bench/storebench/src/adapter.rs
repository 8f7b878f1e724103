//! Phases through the adapter: `CqlStore` used only through the `ports::Store` trait, as
//! the service uses it.

use std::sync::Arc;

use domain::{ChatId, SignalId};
use ports::{InsertSignalOutcome, SignalRange, Store};
use store_cql::CqlStore;

use crate::fixture::{Fixture, pick};
use crate::harness::{Gate, Tally};

/// `insert_signal` with a fresh nonce (`nonce`, as `send_message` does) or without one
/// (as the service writes `joined`/`left` signals).
pub async fn insert(store: CqlStore, fx: Arc<Fixture>, chats: Arc<[ChatId]>, nonce: bool, gate: Arc<Gate>) -> Tally {
    let mut tally = Tally::new();
    while let Some(i) = gate.claim() {
        let chat = pick(&chats, i);
        let signal = fx.signal(chat, i);
        let nonce = nonce.then(|| fx.nonce(chat, i));
        match tally.time(store.insert_signal(&signal, nonce.as_deref())).await {
            Some(InsertSignalOutcome::Inserted) => tally.rows += 1,
            Some(InsertSignalOutcome::Duplicate(first)) => {
                tally.fail(format!("fresh nonce reported duplicate of {first}"))
            }
            None => {}
        }
    }
    tally
}

/// `signals(chat, Latest, page)`, rotating over the chats; every page must hold `want`
/// signals.
pub async fn read_latest(
    store: CqlStore,
    fx: Arc<Fixture>,
    chats: Arc<[ChatId]>,
    want: usize,
    gate: Arc<Gate>,
) -> Tally {
    let mut tally = Tally::new();
    while let Some(i) = gate.claim() {
        let chat = pick(&chats, i);
        if let Some(page) = tally.time(store.signals(chat, SignalRange::Latest, fx.page)).await {
            tally.rows += page.len() as u64;
            check_page(&mut tally, page.iter().map(|s| s.id), None, want);
        }
    }
    tally
}

/// Walks one chat's timeline from the newest signal down, one `Before(last id)` page per
/// operation, and starts again at `Latest` after the last (short) page.
pub async fn read_walk(store: CqlStore, fx: Arc<Fixture>, chats: Arc<[ChatId]>, task: usize, gate: Arc<Gate>) -> Tally {
    let mut tally = Tally::new();
    let chat = chats[task % chats.len()];
    let mut cursor: Option<SignalId> = None;
    while gate.claim().is_some() {
        let range = cursor.map_or(SignalRange::Latest, SignalRange::Before);
        let Some(page) = tally.time(store.signals(chat, range, fx.page)).await else {
            cursor = None;
            continue;
        };
        tally.rows += page.len() as u64;
        check_page(&mut tally, page.iter().map(|s| s.id), cursor, usize::MAX);
        cursor = if page.len() < fx.page { None } else { page.last().map(|s| s.id) };
    }
    tally
}

/// Pages are newest first, below the cursor, and (for `Latest` of a chat holding more
/// than a page) full.
pub fn check_page(tally: &mut Tally, ids: impl Iterator<Item = SignalId>, below: Option<SignalId>, want: usize) {
    let mut last = below;
    let mut n = 0;
    for id in ids {
        if last.is_some_and(|l| id >= l) {
            tally.fail(format!("page out of order: {id} after {last:?}"));
            return;
        }
        last = Some(id);
        n += 1;
    }
    if want != usize::MAX && n != want {
        tally.fail(format!("page of {n} signals, expected {want}"));
    }
}
