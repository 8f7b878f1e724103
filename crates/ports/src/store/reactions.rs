//! Reactions to signals.

use async_trait::async_trait;
use domain::{ChatId, Result, SignalId, UserId};

#[async_trait]
pub trait ReactionStore: Send + Sync + 'static {
    /// Adds `user`'s `emoji` to the signal; returns whether it was new (only then does the
    /// count move, by exactly one).
    async fn add_reaction(&self, chat: ChatId, signal: SignalId, emoji: &str, user: UserId) -> Result<bool>;
    /// Removes it; returns whether it was there.
    async fn remove_reaction(&self, chat: ChatId, signal: SignalId, emoji: &str, user: UserId) -> Result<bool>;
    /// The per-emoji counts of these signals (all from one chat), zero counts omitted.
    async fn reaction_counts(&self, chat: ChatId, signals: &[SignalId]) -> Result<Vec<(SignalId, String, i64)>>;
    /// Which of these signals `user` reacted to, and with what.
    async fn reactions_by_user(
        &self,
        chat: ChatId,
        user: UserId,
        signals: &[SignalId],
    ) -> Result<Vec<(SignalId, String)>>;
    /// Who reacted to a signal with an emoji, ordered by user id, after `after`.
    async fn reactors(
        &self,
        chat: ChatId,
        signal: SignalId,
        emoji: &str,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>>;
}
