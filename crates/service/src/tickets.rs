//! Event-stream tickets: browsers' `EventSource` cannot send an `Authorization` header, so
//! an authenticated client trades its token for a short-lived, single-use ticket and opens
//! `GET /api/v1/events?ticket=…`. The ticket is `<user id>.<256 random bits>`; the store
//! keeps only its SHA-256, so a copy of the database holds no usable ticket. Redeeming is
//! one conditional delete: two nodes redeeming the same ticket cannot both succeed.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{Error, Result, User, UserId, id::now_ms};
use sha2::{Digest, Sha256};

use crate::ChatService;

fn refused() -> Error {
    Error::unauthenticated("the ticket is unknown, already used or expired; ask for a new one")
}

/// The hex SHA-256 of a ticket, as the store keeps it.
fn digest(ticket: &str) -> String {
    Sha256::digest(ticket.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl ChatService {
    /// A new ticket for `user`, valid for `lifetime`, usable once.
    pub async fn issue_event_ticket(&self, user: &User, lifetime: Duration) -> Result<String> {
        let secret: [u8; 32] = rand::random();
        let ticket = format!("{}.{}", user.id, URL_SAFE_NO_PAD.encode(secret));
        let expires_at = (now_ms() + lifetime.as_millis() as u64) as i64;
        self.store.create_event_ticket(&digest(&ticket), user.id, expires_at).await?;
        Ok(ticket)
    }

    /// The user a ticket was issued to; the ticket is used up. Unknown, used, expired or
    /// malformed tickets are all the same `Unauthenticated` error.
    pub async fn redeem_event_ticket(&self, ticket: &str) -> Result<User> {
        let (user, secret) = ticket.split_once('.').ok_or_else(refused)?;
        let user: UserId = user.parse().map_err(|_| refused())?;
        if secret.len() != 43 {
            return Err(refused());
        }
        if !self.store.redeem_event_ticket(&digest(ticket), user, now_ms() as i64).await? {
            return Err(refused());
        }
        self.store.user(user).await?.ok_or_else(refused)
    }
}
