//! The Store's single-use event-stream tickets (`ports::TicketStore`).

use super::*;
use ports::TicketStore;

#[async_trait]
impl TicketStore for SqliteStore {
    async fn create_event_ticket(&self, digest: &str, user: UserId, expires_at: i64) -> Result<()> {
        let digest = digest.to_string();
        self.write(move |c| {
            let tx = c.savepoint()?;
            // Tickets live seconds: anything that expired an hour before this one is garbage.
            tx.execute("DELETE FROM event_tickets WHERE expires_at < ?1", [expires_at - 3_600_000])?;
            tx.execute(
                "INSERT INTO event_tickets (digest, user_id, expires_at) VALUES (?1, ?2, ?3)",
                params![digest, user.as_i64(), expires_at],
            )?;
            tx.commit()
        })
        .await
    }

    async fn redeem_event_ticket(&self, digest: &str, user: UserId, now: i64) -> Result<bool> {
        let digest = digest.to_string();
        self.write(move |c| {
            c.execute(
                "DELETE FROM event_tickets WHERE digest = ?1 AND user_id = ?2 AND expires_at > ?3",
                params![digest, user.as_i64(), now],
            )
            .map(|n| n == 1)
        })
        .await
    }
}
