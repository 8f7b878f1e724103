//! The Store's read and delivery markers (`ports::ReceiptStore`).

use super::*;
use ports::ReceiptStore;

#[async_trait]
impl ReceiptStore for SqliteStore {
    async fn advance_read(&self, chat: ChatId, user: UserId, up_to: SignalId) -> Result<bool> {
        self.write(move |c| {
            c.execute(
                "UPDATE chat_members SET read_up_to = ?1 WHERE chat_id = ?2 AND user_id = ?3 AND read_up_to < ?1",
                [up_to.as_i64(), chat.as_i64(), user.as_i64()],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn advance_delivered(&self, chat: ChatId, user: UserId, up_to: SignalId) -> Result<()> {
        self.advance_delivered_many(&[(chat, user, up_to)]).await
    }

    async fn advance_delivered_many(&self, marks: &[(ChatId, UserId, SignalId)]) -> Result<()> {
        let marks = marks.to_vec();
        self.write(move |c| {
            let tx = c.savepoint()?;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE chat_members SET delivered_up_to = ?1 WHERE chat_id = ?2 AND user_id = ?3 AND delivered_up_to < ?1",
                )?;
                for (chat, user, up_to) in &marks {
                    update.execute([up_to.as_i64(), chat.as_i64(), user.as_i64()])?;
                }
            }
            tx.commit()
        })
        .await
    }
}
