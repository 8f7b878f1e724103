//! Users: accounts, usernames, identities and statuses.

use async_trait::async_trait;
use domain::{Result, User, UserId, UserStatus};

/// The result of [`UserStore::create_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateUserOutcome {
    Created,
    /// Another user already has this username; nothing was written.
    UsernameTaken,
    /// A user already exists for this (issuer, subject); nothing was written.
    SubjectTaken(User),
}

/// The result of [`UserStore::rename_user`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameOutcome {
    Renamed,
    /// Another user holds the new username; nothing changed.
    UsernameTaken,
}

#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Creates a user if neither the username nor the (issuer, subject) is taken.
    async fn create_user(&self, user: &User) -> Result<CreateUserOutcome>;
    async fn user(&self, id: UserId) -> Result<Option<User>>;
    async fn user_by_username(&self, username: &str) -> Result<Option<User>>;
    async fn user_by_subject(&self, issuer: &str, subject: &str) -> Result<Option<User>>;
    /// Up to `limit` users whose username starts with `prefix`, by username (in the order
    /// of their bytes). The prefix is compared as it is, character for character: nothing
    /// in it is a pattern, and an empty prefix finds nobody. A renamed user is found by
    /// their new username only.
    async fn find_users_by_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<User>>;
    /// Changes a user's display name.
    async fn set_display_name(&self, id: UserId, display_name: &str) -> Result<()>;
    /// Changes a user's username from `old` (their current one) to `new`, unless another
    /// user holds `new`; `old` is then free. Safe to repeat after a failure.
    async fn rename_user(&self, id: UserId, old: &str, new: &str) -> Result<RenameOutcome>;
    /// Sets a user's status (`None`: back to the default), kept as given; readers apply
    /// `clears_at`. A status with a `clears_at` is also listed among the clears due then
    /// (a listing a later status made stale stays: [`UserStore::due_status_clears`]'s
    /// callers compare it with the status).
    async fn set_status(&self, user: UserId, status: Option<&UserStatus>) -> Result<()>;
    /// Up to `limit` listed clears due at or before `now_ms`, as (user, clears_at), oldest
    /// first.
    async fn due_status_clears(&self, now_ms: i64, limit: usize) -> Result<Vec<(UserId, i64)>>;
    /// Removes a listed clear: true for exactly one caller, on any node (who then tells the
    /// user's contacts), false if it was taken already.
    async fn take_status_clear(&self, user: UserId, clears_at: i64) -> Result<bool>;
    /// A user's status as last set (`None`: never set, or reset).
    async fn status(&self, user: UserId) -> Result<Option<UserStatus>>;
}
