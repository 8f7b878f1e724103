//! Notifications: how much each member of a chat wants to hear of it, where a user's
//! notifications go (push targets), and the jobs of the notification queue.

use serde::{Deserialize, Serialize};

use crate::id::{ChatId, Id, SignalId, UserId};

/// A push target's id.
pub type PushTargetId = Id;

/// How much a member hears of a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyLevel {
    /// Every message.
    #[default]
    All,
    /// Only messages that mention the member.
    Mentions,
    /// Nothing.
    Nothing,
}

impl NotifyLevel {
    pub const ALL: [NotifyLevel; 3] = [NotifyLevel::All, NotifyLevel::Mentions, NotifyLevel::Nothing];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyLevel::All => "all",
            NotifyLevel::Mentions => "mentions",
            NotifyLevel::Nothing => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// A member's notification settings of one chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NotifySettings {
    pub level: NotifyLevel,
    /// Unix milliseconds until which nothing is notified, whatever the level.
    pub muted_until: Option<i64>,
}

impl NotifySettings {
    /// Whether a message (mentioning the member or not) is notified at `now_ms`.
    pub fn allows(&self, mentioned: bool, now_ms: i64) -> bool {
        if self.muted_until.is_some_and(|until| until > now_ms) {
            return false;
        }
        match self.level {
            NotifyLevel::All => true,
            NotifyLevel::Mentions => mentioned,
            NotifyLevel::Nothing => false,
        }
    }
}

/// Where a user's notifications go, by kind of gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PushTargetSpec {
    /// A browser's Web Push subscription (RFC 8030): the push service's endpoint and the
    /// subscription's keys (base64url), for RFC 8291 encryption.
    Webpush { endpoint: String, p256dh: String, auth: String },
    /// A JSON POST signed with HMAC-SHA256 under `secret`.
    Webhook { url: String, secret: String },
    /// A Matrix push gateway (`POST <url>` = `…/_matrix/push/v1/notify`).
    Matrix { url: String, app_id: String, pushkey: String },
}

impl PushTargetSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            PushTargetSpec::Webpush { .. } => "webpush",
            PushTargetSpec::Webhook { .. } => "webhook",
            PushTargetSpec::Matrix { .. } => "matrix",
        }
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        match self {
            PushTargetSpec::Webpush { endpoint, .. } => endpoint,
            PushTargetSpec::Webhook { url, .. } | PushTargetSpec::Matrix { url, .. } => url,
        }
    }
}

/// A push target of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    pub id: PushTargetId,
    pub user_id: UserId,
    /// Unix milliseconds.
    pub created_at: i64,
    pub spec: PushTargetSpec,
}

/// What a notification job asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyAction {
    /// Tell the user of a new message (unless it is read, deleted or muted meanwhile).
    Message,
    /// The user read the chat up to the signal: clear what was shown for it.
    Clear,
}

/// One job of the notification queue: for one user, about one signal of one chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyJob {
    pub user_id: UserId,
    pub chat_id: ChatId,
    pub signal_id: SignalId,
    pub action: NotifyAction,
    /// Whether the message mentions the user.
    #[serde(default)]
    pub mentioned: bool,
    /// Set on a job queued again because one target failed: that target, and the attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<PushRetry>,
}

/// A job's next attempt at one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRetry {
    pub target_id: PushTargetId,
    /// 2 for the first retry.
    pub attempt: u32,
}

impl NotifyJob {
    /// The idempotency key of this job at one target: the same however often it is handed
    /// out, so a gateway (and the record of what was sent) sees one notification.
    pub fn key(&self) -> String {
        let action = match self.action {
            NotifyAction::Message => "msg",
            NotifyAction::Clear => "clear",
        };
        format!("{action}-{}-{}", self.chat_id.0, self.signal_id.0)
    }

    /// What a delayed job is unique by: a first job waits once per user and chat (a burst
    /// in a chat makes one), a retry once per target, job and attempt.
    pub fn delay_key(&self) -> String {
        match self.retry {
            None => self.chat_id.0.to_string(),
            Some(retry) => format!("{}-{}-{}", retry.target_id.0, self.key(), retry.attempt),
        }
    }
}

/// A job that failed at a target past its last attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Unix milliseconds.
    pub at: i64,
    pub user_id: UserId,
    pub target_id: PushTargetId,
    /// [`NotifyJob::key`].
    pub key: String,
    pub attempts: u32,
    /// The last failure.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_mutes_decide() {
        let now = 1_000_000;
        let s = |level, muted_until| NotifySettings { level, muted_until };
        assert!(s(NotifyLevel::All, None).allows(false, now));
        assert!(!s(NotifyLevel::Mentions, None).allows(false, now));
        assert!(s(NotifyLevel::Mentions, None).allows(true, now));
        assert!(!s(NotifyLevel::Nothing, None).allows(true, now));
        assert!(!s(NotifyLevel::All, Some(now + 1)).allows(true, now));
        assert!(s(NotifyLevel::All, Some(now)).allows(false, now));
        for level in NotifyLevel::ALL {
            assert_eq!(NotifyLevel::parse(level.as_str()), Some(level));
        }
    }
}
