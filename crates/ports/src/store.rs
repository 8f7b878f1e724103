//! The Store port: durable state. Every method is a query a CQL table can answer without
//! secondary indexes, materialized views or `ALLOW FILTERING` (see DESIGN.md's data model),
//! so the SQLite and CQL adapters can offer the same contract.
//!
//! Methods are grouped by aggregate: users, chats and members, the inbox, signals,
//! reactions, receipts.

use async_trait::async_trait;
use domain::{Chat, ChatId, InboxEntry, Member, Result, Role, Signal, SignalId, User, UserId, UserStatus};

/// The result of [`Store::create_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateUserOutcome {
    Created,
    /// Another user already has this username; nothing was written.
    UsernameTaken,
    /// A user already exists for this (issuer, subject); nothing was written.
    SubjectTaken(User),
}

/// The result of [`Store::rename_user`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameOutcome {
    Renamed,
    /// Another user holds the new username; nothing changed.
    UsernameTaken,
}

/// The result of [`Store::insert_signal`].
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
pub trait Store: Send + Sync + 'static {
    /// Checks the store answers (for readiness probes).
    async fn ping(&self) -> Result<()>;

    // --- users ---

    /// Creates a user if neither the username nor the (issuer, subject) is taken.
    async fn create_user(&self, user: &User) -> Result<CreateUserOutcome>;
    async fn user(&self, id: UserId) -> Result<Option<User>>;
    async fn user_by_username(&self, username: &str) -> Result<Option<User>>;
    async fn user_by_subject(&self, issuer: &str, subject: &str) -> Result<Option<User>>;
    /// Changes a user's display name.
    async fn set_display_name(&self, id: UserId, display_name: &str) -> Result<()>;
    /// Changes a user's username from `old` (their current one) to `new`, unless another
    /// user holds `new`; `old` is then free. Safe to repeat after a failure.
    async fn rename_user(&self, id: UserId, old: &str, new: &str) -> Result<RenameOutcome>;
    /// Sets a user's status (`None`: back to the default), kept as given; readers apply
    /// `clears_at`.
    async fn set_status(&self, user: UserId, status: Option<&UserStatus>) -> Result<()>;
    /// A user's status as last set (`None`: never set, or reset).
    async fn status(&self, user: UserId) -> Result<Option<UserStatus>>;

    // --- event-stream tickets ---

    /// Records a single-use ticket (the hex SHA-256 `digest` of it) for `user`, valid
    /// until `expires_at` (ms since the Unix epoch).
    async fn create_event_ticket(&self, digest: &str, user: UserId, expires_at: i64) -> Result<()>;
    /// Uses up the ticket: true once, when it exists, belongs to `user` and has not expired
    /// at `now` (ms); false for every other call, on any node.
    async fn redeem_event_ticket(&self, digest: &str, user: UserId, now: i64) -> Result<bool>;

    // --- chats and members ---

    /// Creates a chat with its first members. The chat's inbox activity starts at its id.
    async fn create_chat(&self, chat: &Chat, members: &[Member]) -> Result<()>;
    /// Records `chat` as the direct chat of the pair unless the pair already has one;
    /// returns the pair's chat either way. `a` and `b` may come in any order.
    async fn claim_direct_chat(&self, a: UserId, b: UserId, chat: ChatId) -> Result<ChatId>;
    async fn chat(&self, id: ChatId) -> Result<Option<Chat>>;
    async fn set_chat_title(&self, id: ChatId, title: &str) -> Result<()>;
    async fn member(&self, chat: ChatId, user: UserId) -> Result<Option<Member>>;
    /// All members of a chat, ordered by user id.
    async fn members(&self, chat: ChatId) -> Result<Vec<Member>>;
    /// The user ids of a chat's members, ordered (what the fan-out needs, and no more).
    async fn member_ids(&self, chat: ChatId) -> Result<Vec<UserId>>;
    /// Adds members (existing members are left as they are).
    async fn add_members(&self, chat: ChatId, members: &[Member]) -> Result<()>;
    async fn remove_member(&self, chat: ChatId, user: UserId) -> Result<()>;
    async fn set_role(&self, chat: ChatId, user: UserId, role: Role) -> Result<()>;

    // --- the inbox: my chats, most recently active first ---

    /// Moves the chat's activity forward to `activity` for the given members (never back).
    async fn record_activity(&self, chat: ChatId, activity: SignalId, members: &[UserId]) -> Result<()>;
    /// A page of the user's chats by activity, newest first, strictly after `after` in that
    /// order (`(activity, chat_id)` of the last entry of the previous page). A chat the user
    /// was removed from while its activity was being recorded may be listed: callers check
    /// the membership of what they show.
    async fn inbox(&self, user: UserId, after: Option<(SignalId, ChatId)>, limit: usize) -> Result<Vec<InboxEntry>>;

    // --- signals ---

    /// Inserts a signal. With a nonce, a second insert by the same author in the same chat
    /// with the same nonce writes nothing and returns the first signal's id.
    async fn insert_signal(&self, signal: &Signal, nonce: Option<&str>) -> Result<InsertSignalOutcome>;
    async fn signal(&self, chat: ChatId, id: SignalId) -> Result<Option<Signal>>;
    /// Up to `limit` signals of `range`, newest first.
    async fn signals(&self, chat: ChatId, range: SignalRange, limit: usize) -> Result<Vec<Signal>>;

    // --- reactions ---

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

    // --- receipts ---

    /// Moves the member's read marker forward to `up_to` (never back); returns whether it moved.
    async fn advance_read(&self, chat: ChatId, user: UserId, up_to: SignalId) -> Result<bool>;
    /// Moves the member's delivery marker forward to `up_to` (never back). A non-member's
    /// mark changes nothing visible.
    async fn advance_delivered(&self, chat: ChatId, user: UserId, up_to: SignalId) -> Result<()>;
    /// [`Store::advance_delivered`] for many (chat, member, up to) at once, in one batch.
    /// Marks of users who are not (or no longer) members change nothing.
    async fn advance_delivered_many(&self, marks: &[(ChatId, UserId, SignalId)]) -> Result<()>;
}
