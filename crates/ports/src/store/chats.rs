//! Chats and their members.

use async_trait::async_trait;
use domain::{Chat, ChatId, Member, Result, Role, SignalId, UserId};

#[async_trait]
pub trait ChatStore: Send + Sync + 'static {
    /// Creates a chat with its first members, the chat itself last: a chat that reads back
    /// has all of them. Writing it again completes one that does not read back yet (a
    /// first attempt that stopped half-way). The chat's activity starts at its id.
    async fn create_chat(&self, chat: &Chat, members: &[Member]) -> Result<()>;
    /// Records `chat` as the direct chat of the pair unless the pair already has one;
    /// returns the pair's chat either way. `a` and `b` may come in any order.
    async fn claim_direct_chat(&self, a: UserId, b: UserId, chat: ChatId) -> Result<ChatId>;
    /// Records `chat` as the group `creator` creates with `nonce` unless one is recorded for
    /// that (creator, nonce); returns the recorded chat either way, on any node.
    async fn claim_group_nonce(&self, creator: UserId, nonce: &str, chat: ChatId) -> Result<ChatId>;
    async fn chat(&self, id: ChatId) -> Result<Option<Chat>>;
    /// A page of the ids of every chat, in an order of the store's own (for jobs that walk
    /// them all, such as a reindex): the `limit` after `after`, the last id of the previous
    /// page.
    async fn chat_ids(&self, after: Option<ChatId>, limit: usize) -> Result<Vec<ChatId>>;
    async fn set_chat_title(&self, id: ChatId, title: &str) -> Result<()>;
    async fn member(&self, chat: ChatId, user: UserId) -> Result<Option<Member>>;
    /// The member's role, or `None` for someone who is not a member: what a permission
    /// check needs (on the CQL store, one read where `member` takes two).
    async fn role(&self, chat: ChatId, user: UserId) -> Result<Option<Role>>;
    /// All members of a chat, ordered by user id.
    async fn members(&self, chat: ChatId) -> Result<Vec<Member>>;
    /// Each member's read marker (`read_up_to`), ordered by user id: what the notifier
    /// needs of a chat's members (`members` reads the delivery watermarks too).
    async fn read_marks(&self, chat: ChatId) -> Result<Vec<(UserId, SignalId)>>;
    /// The user ids of a chat's members, ordered (what the fan-out needs, and no more).
    async fn member_ids(&self, chat: ChatId) -> Result<Vec<UserId>>;
    /// Adds members (existing members are left as they are).
    async fn add_members(&self, chat: ChatId, members: &[Member]) -> Result<()>;
    async fn remove_member(&self, chat: ChatId, user: UserId) -> Result<()>;
    async fn set_role(&self, chat: ChatId, user: UserId, role: Role) -> Result<()>;
}
