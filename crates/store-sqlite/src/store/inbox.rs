//! The Store's inbox: a user's chats, most recently active first (`ports::InboxStore`).

use super::*;
use ports::InboxStore;

#[async_trait]
impl InboxStore for SqliteStore {
    async fn inbox(&self, user: UserId, after: Option<(SignalId, ChatId)>, limit: usize) -> Result<Vec<InboxEntry>> {
        let (activity, chat) = after.unwrap_or((Id(i64::MAX as u64), Id(i64::MAX as u64)));
        self.read(move |c| {
            c.prepare_cached(
                "SELECT c.id, c.activity FROM chat_members m JOIN chats c ON c.id = m.chat_id
                 WHERE m.user_id = ?1 AND (c.activity, c.id) < (?2, ?3)
                 ORDER BY c.activity DESC, c.id DESC LIMIT ?4",
            )?
            .query_map(params![user.as_i64(), activity.as_i64(), chat.as_i64(), limit as i64], |r| {
                Ok(InboxEntry { chat_id: Id::from_i64(r.get(0)?), activity: Id::from_i64(r.get(1)?) })
            })?
            .collect()
        })
        .await
    }
}
