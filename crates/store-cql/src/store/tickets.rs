//! The Store's single-use event-stream tickets (`ports::TicketStore`).

use super::*;
use ports::TicketStore;

#[async_trait]
impl TicketStore for CqlStore {
    async fn create_event_ticket(&self, digest: &str, user: UserId, expires_at: i64) -> Result<()> {
        self.run(&self.st.insert_ticket, (digest, user.as_i64(), expires_at)).await.map(drop)
    }

    async fn redeem_event_ticket(&self, digest: &str, user: UserId, now: i64) -> Result<bool> {
        Ok(lwt(self.run(&self.st.redeem_ticket, (digest, user.as_i64(), now)).await?)?.0)
    }
}
