//! The PushGateway port's adapters, one per kind of push target: `webpush.rs` (Web Push
//! with VAPID), `webhook.rs` (signed JSON POSTs), `matrix.rs` (the Matrix push gateway
//! API). [`Gateways`] holds one of each and sends each target through its kind's; all share
//! one HTTP client (`net.rs`) that never reaches forbidden addresses.

pub mod matrix;
pub mod net;
pub mod webhook;
pub mod webpush;

use std::time::Duration;

use async_trait::async_trait;
use domain::{NotifyAction, PushTarget, PushTargetSpec, Result};
use ports::{PushGateway, PushMessage, PushOutcome};

pub use webpush::{VAPID_KEY_NAME, generate_vapid_pkcs8};

/// How the gateways send.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Development only: targets on loopback (over HTTP too) and private addresses.
    pub allow_private: bool,
    /// Timeout of one request.
    pub timeout: Duration,
    /// The VAPID `sub` claim: the operator's contact, `mailto:` or `https:`.
    pub vapid_subject: String,
}

/// One gateway per kind.
pub struct Gateways {
    webpush: webpush::WebPush,
    webhook: webhook::Webhook,
    matrix: matrix::Matrix,
}

impl std::fmt::Debug for Gateways {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateways").field("vapid_public_key", &self.webpush.public_key()).finish_non_exhaustive()
    }
}

impl Gateways {
    /// The gateways, signing Web Push with the VAPID key `vapid_pkcs8`.
    pub fn new(config: &PushConfig, vapid_pkcs8: &[u8]) -> Result<Self> {
        let client = net::client(config.allow_private, config.timeout)?;
        let allow_private = config.allow_private;
        Ok(Self {
            webpush: webpush::WebPush::new(vapid_pkcs8, &config.vapid_subject, client.clone(), allow_private)?,
            webhook: webhook::Webhook { client: client.clone(), allow_private },
            matrix: matrix::Matrix { client, allow_private },
        })
    }
}

#[async_trait]
impl PushGateway for Gateways {
    fn check_target(&self, spec: &PushTargetSpec) -> Result<()> {
        match spec {
            PushTargetSpec::Webpush { endpoint, p256dh, auth } => self.webpush.check(endpoint, p256dh, auth),
            PushTargetSpec::Webhook { url, secret } => self.webhook.check(url, secret),
            PushTargetSpec::Matrix { url, app_id, pushkey } => self.matrix.check(url, app_id, pushkey),
        }
    }

    async fn send(&self, target: &PushTarget, message: &PushMessage) -> PushOutcome {
        match &target.spec {
            PushTargetSpec::Webpush { .. } => self.webpush.send(target, message).await,
            PushTargetSpec::Webhook { .. } => self.webhook.send(target, message).await,
            PushTargetSpec::Matrix { .. } => self.matrix.send(target, message).await,
        }
    }

    fn vapid_public_key(&self) -> Option<String> {
        Some(self.webpush.public_key().to_string())
    }
}

/// The JSON a webhook receives and a browser's service worker decrypts: the same fields.
pub(crate) fn payload(message: &PushMessage) -> serde_json::Value {
    match message.action {
        NotifyAction::Message => serde_json::json!({
            "type": "message",
            "id": message.key,
            "chat_id": message.chat_id.0.to_string(),
            "signal_id": message.signal_id.0.to_string(),
            "title": message.title,
            "body": message.body,
            "sender": message.sender,
            "unread": message.unread,
        }),
        NotifyAction::Clear => serde_json::json!({
            "type": "clear",
            "id": message.key,
            "chat_id": message.chat_id.0.to_string(),
            "signal_id": message.signal_id.0.to_string(),
        }),
    }
}

/// The outcome a status says: 2xx taken; 429 and 5xx retried (after `Retry-After` seconds
/// when given); other statuses refused.
pub(crate) fn outcome_of_status(response: &reqwest::Response) -> PushOutcome {
    let status = response.status();
    if status.is_success() {
        return PushOutcome::Delivered;
    }
    let reason = format!("HTTP {status}");
    if status.as_u16() == 429 || status.is_server_error() {
        let after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return PushOutcome::Retry { after, reason };
    }
    PushOutcome::Refused { reason }
}
