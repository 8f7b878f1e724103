//! Wire types of notifications: a chat's level and mute, push targets.

use domain::{Id, NotifyLevel, NotifySettings, PushTarget, PushTargetSpec};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::timestamp;

wire_enum! {
    /// How much a member hears of a chat.
    NotifyLevelWire <=> NotifyLevel {
        /// Every message.
        All,
        /// Only messages that mention the member.
        Mentions,
        /// Nothing.
        #[serde(rename = "none")]
        Nothing,
    }
}

/// A member's notification settings of a chat.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationsOut {
    pub level: NotifyLevelWire,
    /// Nothing is notified until then (RFC 3339), whatever the level.
    pub muted_until: Option<String>,
}

impl From<NotifySettings> for NotificationsOut {
    fn from(s: NotifySettings) -> Self {
        Self { level: s.level.into(), muted_until: s.muted_until.map(timestamp) }
    }
}

/// Sets a chat's notification level, and a mute until a time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetNotificationsIn {
    pub level: NotifyLevelWire,
    /// RFC 3339, in the next year; absent or null: not muted.
    #[serde(default)]
    #[schema(value_type = Option<super::rules::DateTime>)]
    pub muted_until: Option<String>,
}

/// A browser's push subscription keys (`PushSubscription.toJSON().keys`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebPushKeysIn {
    /// The subscription's P-256 public key, base64url.
    pub p256dh: String,
    /// Its 16-byte auth secret, base64url.
    pub auth: String,
}

/// Where notifications go, by kind of gateway.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PushTargetIn {
    /// A browser's Web Push subscription (`endpoint` and `keys` of `PushSubscription.toJSON()`);
    /// the server's VAPID key is at `/api/v1/push/vapid-public-key`.
    Webpush {
        endpoint: String,
        keys: WebPushKeysIn,
        /// Ignored (what `PushSubscription.toJSON()` gives).
        #[serde(default, rename = "expirationTime")]
        #[schema(value_type = Option<i64>)]
        expiration_time: Option<serde_json::Value>,
    },
    /// A JSON POST signed with HMAC-SHA256 under `secret` (16 to 256 bytes): see the README.
    Webhook { url: String, secret: String },
    /// A Matrix push gateway: `url` ends with `/_matrix/push/v1/notify`.
    Matrix { url: String, app_id: String, pushkey: String },
}

impl From<PushTargetIn> for PushTargetSpec {
    fn from(t: PushTargetIn) -> Self {
        match t {
            PushTargetIn::Webpush { endpoint, keys, .. } => {
                PushTargetSpec::Webpush { endpoint, p256dh: keys.p256dh, auth: keys.auth }
            }
            PushTargetIn::Webhook { url, secret } => PushTargetSpec::Webhook { url, secret },
            PushTargetIn::Matrix { url, app_id, pushkey } => PushTargetSpec::Matrix { url, app_id, pushkey },
        }
    }
}

/// The kind of a push target.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushKindWire {
    Webpush,
    Webhook,
    Matrix,
}

/// A push target, without its secrets (keys, secret, pushkey).
#[derive(Debug, Serialize, ToSchema)]
pub struct PushTargetOut {
    #[schema(value_type = String)]
    pub id: Id,
    pub kind: PushKindWire,
    /// Where requests go (the Web Push endpoint, the webhook or gateway URL).
    pub url: String,
    /// For `matrix`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    pub created_at: String,
}

impl From<PushTarget> for PushTargetOut {
    fn from(t: PushTarget) -> Self {
        let (kind, app_id) = match &t.spec {
            PushTargetSpec::Webpush { .. } => (PushKindWire::Webpush, None),
            PushTargetSpec::Webhook { .. } => (PushKindWire::Webhook, None),
            PushTargetSpec::Matrix { app_id, .. } => (PushKindWire::Matrix, Some(app_id.clone())),
        };
        Self { id: t.id, kind, url: t.spec.url().to_string(), app_id, created_at: timestamp(t.created_at) }
    }
}

/// The server's VAPID public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct VapidKeyOut {
    /// An uncompressed P-256 point, base64url: `applicationServerKey` of `pushManager.subscribe`.
    pub public_key: String,
}
