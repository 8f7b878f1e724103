//! The Store's inbox: a user's chats, most recently active first (`ports::InboxStore`).

use super::*;
use ports::InboxStore;

#[async_trait]
impl InboxStore for SqliteStore {
    /// `insert_signal` already moved the activity, in the signal's own transaction: the
    /// fan-out's call finds it done with a point read and writes nothing (a write would
    /// wait for a group commit and its fsync, once per event of a chat, one event of a
    /// chat at a time: the limit of a busy chat's fan-out).
    async fn record_activity(&self, chat: ChatId, activity: SignalId) -> Result<()> {
        let done = self
            .read_point(move |c| {
                c.prepare_cached("SELECT activity >= ?1 FROM chats WHERE id = ?2")?
                    .query_row([activity.as_i64(), chat.as_i64()], |r| r.get::<_, bool>(0))
                    .optional()
            })
            .await?;
        if done != Some(false) {
            // Already there, or no such chat (nothing to move).
            return Ok(());
        }
        self.write(move |c| {
            c.prepare_cached("UPDATE chats SET activity = ?1 WHERE id = ?2 AND activity < ?1")?
                .execute([activity.as_i64(), chat.as_i64()])?;
            Ok(())
        })
        .await
    }

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
