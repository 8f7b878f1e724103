//! Read and delivery markers.

use async_trait::async_trait;
use domain::{ChatId, Result, SignalId, UserId};

#[async_trait]
pub trait ReceiptStore: Send + Sync + 'static {
    /// Moves the member's read marker forward to `up_to` (never back); returns whether it moved.
    async fn advance_read(&self, chat: ChatId, user: UserId, up_to: SignalId) -> Result<bool>;
    /// Moves the member's delivery marker forward to `up_to` (never back). A non-member's
    /// mark changes nothing visible.
    async fn advance_delivered(&self, chat: ChatId, user: UserId, up_to: SignalId) -> Result<()>;
    /// [`ReceiptStore::advance_delivered`] for many (chat, member, up to) at once, in one batch.
    /// Marks of users who are not (or no longer) members change nothing.
    async fn advance_delivered_many(&self, marks: &[(ChatId, UserId, SignalId)]) -> Result<()>;
}
