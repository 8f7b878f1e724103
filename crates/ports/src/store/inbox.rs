//! The inbox: a user's chats, most recently active first. A chat's last activity is its
//! newest signal's id, which [`crate::TimelineStore::insert_signal`] moves forward (never
//! back) with the signal: one write for the chat, whatever its number of members.

use async_trait::async_trait;
use domain::{ChatId, InboxEntry, Result, SignalId, UserId};

#[async_trait]
pub trait InboxStore: Send + Sync + 'static {
    /// A page of the user's chats by last activity (a chat with none recorded: its own id),
    /// newest first, strictly after `after` in that order (`(activity, chat_id)` of the last
    /// entry of the previous page). A chat the user was removed from while the page was read
    /// may be listed: callers check the membership of what they show.
    async fn inbox(&self, user: UserId, after: Option<(SignalId, ChatId)>, limit: usize) -> Result<Vec<InboxEntry>>;
}
