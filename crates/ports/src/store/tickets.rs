//! Single-use event-stream tickets.

use async_trait::async_trait;
use domain::{Result, UserId};

#[async_trait]
pub trait TicketStore: Send + Sync + 'static {
    /// Records a single-use ticket (the hex SHA-256 `digest` of it) for `user`, valid
    /// until `expires_at` (ms since the Unix epoch).
    async fn create_event_ticket(&self, digest: &str, user: UserId, expires_at: i64) -> Result<()>;
    /// Uses up the ticket: true once, when it exists, belongs to `user` and has not expired
    /// at `now` (ms); false for every other call, on any node.
    async fn redeem_event_ticket(&self, digest: &str, user: UserId, now: i64) -> Result<bool>;
}
