//! A chat's timeline of signals.

use async_trait::async_trait;
use domain::{ChatId, Result, Signal, SignalId};

/// The result of [`TimelineStore::insert_signal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertSignalOutcome {
    Inserted,
    /// The author already sent a signal with this nonce in this chat: its id. Nothing was written.
    Duplicate(SignalId),
}

/// Which part of a timeline to read. Pages are always returned newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalRange {
    /// The newest signals.
    Latest,
    /// Signals with an id strictly below this one, newest first.
    Before(SignalId),
    /// The signals with an id strictly above this one that are closest to it (the oldest
    /// of them), returned newest first.
    After(SignalId),
}

#[async_trait]
pub trait TimelineStore: Send + Sync + 'static {
    /// Inserts a signal, and moves its chat's last activity forward to it (never back: a
    /// signal inserted after a newer one leaves the newer's). With a nonce, a second insert
    /// by the same author in the same chat with the same nonce writes nothing but what the
    /// first may have left unwritten, and returns the first signal's id: for good, or for
    /// the window of the nonce fence the store was given (`ports::NONCE_FENCE_WINDOW`).
    async fn insert_signal(&self, signal: &Signal, nonce: Option<&str>) -> Result<InsertSignalOutcome>;
    /// Rewrites a stored signal's body and edit time (an edit, a moved live location, a
    /// tombstone), unless it is deleted: a tombstone never changes again. Returns whether it
    /// wrote: false when the stored signal is deleted, or absent. Two updates of one signal
    /// at once: the one written last wins, whole.
    async fn update_signal(&self, signal: &Signal) -> Result<bool>;
    async fn signal(&self, chat: ChatId, id: SignalId) -> Result<Option<Signal>>;
    /// Up to `limit` signals of `range`, newest first.
    async fn signals(&self, chat: ChatId, range: SignalRange, limit: usize) -> Result<Vec<Signal>>;
}
