//! The Store's read and delivery markers (`ports::ReceiptStore`).

use super::*;
use ports::ReceiptStore;

#[async_trait]
impl ReceiptStore for CqlStore {
    async fn advance_read(&self, chat: ChatId, user: UserId, up_to: SignalId) -> Result<bool> {
        let v = up_to.as_i64();
        Ok(lwt(self.run(&self.st.advance_read, (v, chat.as_i64(), user.as_i64(), v)).await?)?.0)
    }

    async fn advance_delivered(&self, chat: ChatId, user: UserId, up_to: SignalId) -> Result<()> {
        self.advance_delivered_many(&[(chat, user, up_to)]).await
    }

    async fn advance_delivered_many(&self, marks: &[(ChatId, UserId, SignalId)]) -> Result<()> {
        let values: Vec<(i64, i64, i64, i64)> = marks
            .iter()
            .map(|(chat, user, up_to)| (activity_timestamp(*up_to), up_to.as_i64(), chat.as_i64(), user.as_i64()))
            .collect();
        self.run_batched(&self.st.set_delivered, values).await
    }
}
