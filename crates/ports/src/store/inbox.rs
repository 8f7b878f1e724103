//! The inbox: a user's chats, most recently active first.

use async_trait::async_trait;
use domain::{ChatId, InboxEntry, Result, SignalId, UserId};

#[async_trait]
pub trait InboxStore: Send + Sync + 'static {
    /// Moves the chat's activity forward to `activity` for the given members (never back).
    async fn record_activity(&self, chat: ChatId, activity: SignalId, members: &[UserId]) -> Result<()>;
    /// A page of the user's chats by activity, newest first, strictly after `after` in that
    /// order (`(activity, chat_id)` of the last entry of the previous page). A chat the user
    /// was removed from while its activity was being recorded may be listed: callers check
    /// the membership of what they show.
    async fn inbox(&self, user: UserId, after: Option<(SignalId, ChatId)>, limit: usize) -> Result<Vec<InboxEntry>>;
}
