//! The PushGateway port: how a notification leaves for a device, through the external
//! gateway a push target names (a browser vendor's Web Push service, a team's webhook, a
//! Matrix push gateway). One adapter per kind of target; none retries by itself: the push
//! worker decides from the outcome.

use std::time::Duration;

use async_trait::async_trait;
use domain::{ChatId, NotifyAction, PushTarget, PushTargetSpec, Result, SignalId};

/// One notification, as every kind of gateway gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    /// The idempotency key ([`domain::NotifyJob::key`]): gateways pass it on, so a
    /// notification sent twice (a worker died before it noted the first) shows once.
    pub key: String,
    pub action: NotifyAction,
    pub chat_id: ChatId,
    pub signal_id: SignalId,
    /// The chat's title, or the sender in a direct chat (`None` when previews are off).
    pub title: Option<String>,
    /// The preview: the text, or only who wrote (`None` when previews are off).
    pub body: Option<String>,
    /// Who wrote (`None` when previews are off, and for a clear).
    pub sender: Option<String>,
    /// Unread messages in the chat, capped (0 for a clear).
    pub unread: u32,
    /// How long the gateway may keep it for an unreachable device.
    pub ttl: Duration,
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The gateway took it.
    Delivered,
    /// The target is gone for good (Web Push 404/410, Matrix `rejected`): delete it.
    Gone,
    /// A failure worth retrying (a 5xx, a 429, a timeout, a refused connection), after
    /// `after` when the gateway said (`Retry-After`).
    Retry { after: Option<Duration>, reason: String },
    /// A failure a retry would not mend (a 4xx other than those above).
    Refused { reason: String },
}

#[async_trait]
pub trait PushGateway: Send + Sync + 'static {
    /// Whether this gateway can send to `spec`: its kind, its URL (HTTPS, or HTTP on
    /// loopback in development; never a link-local, metadata or, outside development,
    /// private address), its keys. An `invalid` error names what is wrong.
    fn check_target(&self, spec: &PushTargetSpec) -> Result<()>;
    /// One attempt to send `message` to `target`.
    async fn send(&self, target: &PushTarget, message: &PushMessage) -> PushOutcome;
    /// The server's VAPID public key (uncompressed P-256 point, base64url), for browsers'
    /// `applicationServerKey`, if this gateway sends Web Push.
    fn vapid_public_key(&self) -> Option<String>;
}
