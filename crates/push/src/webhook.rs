//! Signed webhooks: the notification as JSON, POSTed to the target's URL with
//! `Petit-Chat-Timestamp` (Unix seconds), `Petit-Chat-Signature: v1=<hex HMAC-SHA256 of
//! "<timestamp>.<body>" under the target's secret>` and `Idempotency-Key`. A receiver checks
//! the signature and refuses a timestamp more than five minutes off (replays).

use std::time::{SystemTime, UNIX_EPOCH};

use domain::{Error, ErrorCode, PushTarget, PushTargetSpec, Result};
use hmac::{Hmac, Mac};
use ports::{PushMessage, PushOutcome};
use sha2::Sha256;

use crate::{outcome_of_status, payload};

pub const TIMESTAMP_HEADER: &str = "Petit-Chat-Timestamp";
pub const SIGNATURE_HEADER: &str = "Petit-Chat-Signature";

/// `v1=<hex>`: the signature of `body` sent at `timestamp` under `secret`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

pub struct Webhook {
    pub(crate) client: reqwest::Client,
    pub(crate) allow_private: bool,
}

impl Webhook {
    pub fn check(&self, url: &str, secret: &str) -> Result<()> {
        crate::net::check_url(url, self.allow_private)?;
        if !(16..=256).contains(&secret.len()) {
            return Err(Error::invalid(ErrorCode::InvalidPushTarget, "a webhook secret is 16 to 256 bytes"));
        }
        Ok(())
    }

    pub async fn send(&self, target: &PushTarget, message: &PushMessage) -> PushOutcome {
        let PushTargetSpec::Webhook { url, secret } = &target.spec else {
            return PushOutcome::Refused { reason: "not a webhook target".into() };
        };
        let url = match crate::net::check_url(url, self.allow_private) {
            Ok(url) => url,
            Err(e) => return PushOutcome::Refused { reason: e.detail.to_string() },
        };
        let body = match serde_json::to_vec(&payload(message)) {
            Ok(body) => body,
            Err(e) => return PushOutcome::Refused { reason: e.to_string() },
        };
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let request = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature(secret, timestamp, &body))
            .header("Idempotency-Key", &message.key)
            .body(body);
        match request.send().await {
            Ok(response) if response.status().as_u16() == 410 => PushOutcome::Gone,
            Ok(response) => outcome_of_status(&response),
            Err(e) => PushOutcome::Retry { after: None, reason: format!("webhook: {e}") },
        }
    }
}
