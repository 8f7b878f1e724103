//! The Store's the inbox: a user's chats, most recently active first (`ports::InboxStore`).

use super::*;
use ports::InboxStore;

#[async_trait]
impl InboxStore for SqliteStore {
    async fn record_activity(&self, chat: ChatId, activity: SignalId, members: &[UserId]) -> Result<()> {
        let members = members.to_vec();
        self.write(move |c| {
            let tx = c.savepoint()?;
            {
                let mut stmt = tx.prepare_cached(
                    "UPDATE chat_members SET activity = ?1 WHERE chat_id = ?2 AND user_id = ?3 AND activity < ?1",
                )?;
                for user in members {
                    stmt.execute([activity.as_i64(), chat.as_i64(), user.as_i64()])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn inbox(&self, user: UserId, after: Option<(SignalId, ChatId)>, limit: usize) -> Result<Vec<InboxEntry>> {
        let (activity, chat) = after.unwrap_or((Id(i64::MAX as u64), Id(i64::MAX as u64)));
        self.read(move |c| {
            c.prepare_cached(
                "SELECT chat_id, activity FROM chat_members WHERE user_id = ?1 AND (activity, chat_id) < (?2, ?3)
                 ORDER BY activity DESC, chat_id DESC LIMIT ?4",
            )?
            .query_map(params![user.as_i64(), activity.as_i64(), chat.as_i64(), limit as i64], |r| {
                Ok(InboxEntry { chat_id: Id::from_i64(r.get(0)?), activity: Id::from_i64(r.get(1)?) })
            })?
            .collect()
        })
        .await
    }
}
