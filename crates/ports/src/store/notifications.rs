//! Notifications: members' settings per chat, users' push targets, what was sent to which
//! target (so nothing is sent twice), the jobs that failed for good, and server keys.

use async_trait::async_trait;
use domain::{ChatId, DeadLetter, NotifySettings, PushTarget, PushTargetId, Result, UserId};

#[async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    /// The member's settings of a chat; the default (everything) when never set.
    async fn notify_settings(&self, chat: ChatId, user: UserId) -> Result<NotifySettings>;
    /// The settings of a chat's members who set some, ordered by user (one partition).
    async fn chat_notify_settings(&self, chat: ChatId) -> Result<Vec<(UserId, NotifySettings)>>;
    async fn set_notify_settings(&self, chat: ChatId, user: UserId, settings: &NotifySettings) -> Result<()>;

    async fn add_push_target(&self, target: &PushTarget) -> Result<()>;
    /// A user's push targets, oldest first.
    async fn push_targets(&self, user: UserId) -> Result<Vec<PushTarget>>;
    /// Those of `users` (members of `chat`) who have at least one push target, in the order
    /// given: whom a notification of a message in `chat` can reach at all. Called for every
    /// message, so an adapter may keep a per-member hint beside the chat's members to answer
    /// without reading each user's targets (the CQL store does); the answer is exact all the
    /// same. A user who is not a member of `chat` is answered as any other.
    async fn members_with_push_targets(&self, chat: ChatId, users: &[UserId]) -> Result<Vec<UserId>>;
    /// Deletes one of the user's targets; false if the user has none with that id.
    async fn delete_push_target(&self, user: UserId, target: PushTargetId) -> Result<bool>;

    /// Whether the job of idempotency key `key` reached `target` already.
    async fn push_sent(&self, target: PushTargetId, key: &str) -> Result<bool>;
    /// Notes that it did (remembered for at least a week).
    async fn record_push_sent(&self, target: PushTargetId, key: &str) -> Result<()>;

    async fn add_dead_letter(&self, letter: &DeadLetter) -> Result<()>;
    /// The latest dead letters, newest first (kept for 30 days).
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>>;

    /// The server key `name`: `candidate` is stored unless a key is stored under that name
    /// already; returns the stored one, the same on every node.
    async fn server_key(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>>;
}
