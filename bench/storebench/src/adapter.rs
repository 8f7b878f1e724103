//! Phases through the adapter: `CqlStore` used only through the `ports::Store` trait, as
//! the service uses it.

use std::sync::{Arc, Mutex};

use domain::{ChatId, Signal, SignalId};
use ports::{InsertSignalOutcome, SignalRange, TimelineStore};
use store_cql::CqlStore;

use crate::fixture::{Fixture, pick};
use crate::harness::{Gate, Tally};

/// Sends that returned an error, with their nonce, for [`resend`].
pub type Failed = Arc<Mutex<Vec<(Signal, Option<String>)>>>;

/// `insert_signal` with a fresh nonce (`nonce`, as `send_message` does) or without one
/// (as the service writes `joined`/`left` signals).
pub async fn insert(
    store: CqlStore,
    fx: Arc<Fixture>,
    chats: Arc<[ChatId]>,
    nonce: bool,
    failed: Failed,
    gate: Arc<Gate>,
) -> Tally {
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
            None => failed.lock().unwrap_or_else(|e| e.into_inner()).push((signal, nonce)),
        }
    }
    tally
}

/// What resending the failed sends found.
#[derive(Debug, Default)]
pub struct Resent {
    pub inserted: u64,
    /// `Duplicate(first)` and `first` is readable: the first attempt was stored after all.
    pub duplicate_readable: u64,
    /// `Duplicate(first)` but no signal `first` exists: the nonce is held by a signal that
    /// was never written.
    pub duplicate_missing: u64,
    pub failed_again: u64,
}

/// Sends every failed signal again as a client retry through the service does: same
/// chat, author, text and nonce, a new id; on `Duplicate(first)` reads `first` back, as
/// `send_message` does.
pub async fn resend(store: &CqlStore, fx: &Fixture, failed: &Failed) -> Resent {
    let failed = std::mem::take(&mut *failed.lock().unwrap_or_else(|e| e.into_inner()));
    let mut r = Resent::default();
    for (mut signal, nonce) in failed {
        signal.id = fx.ids.next_id();
        match store.insert_signal(&signal, nonce.as_deref()).await {
            Ok(InsertSignalOutcome::Inserted) => r.inserted += 1,
            Ok(InsertSignalOutcome::Duplicate(first)) => match store.signal(signal.chat_id, first).await {
                Ok(Some(_)) => r.duplicate_readable += 1,
                Ok(None) => r.duplicate_missing += 1,
                Err(_) => r.failed_again += 1,
            },
            Err(_) => r.failed_again += 1,
        }
    }
    r
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
