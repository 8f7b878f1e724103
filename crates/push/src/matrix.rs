//! The Matrix Push Gateway API (`POST /_matrix/push/v1/notify`), which Sygnal, ntfy and
//! other gateways speak: one device (the target's app id and pushkey) per request; a
//! pushkey the gateway lists in `rejected` is gone. A clear is a notification with only
//! `counts.unread = 0` and low priority, as homeservers send to reset a badge.

use domain::{Error, ErrorCode, NotifyAction, PushTarget, PushTargetSpec, Result};
use ports::{PushMessage, PushOutcome};
use serde_json::json;

use crate::outcome_of_status;

pub const NOTIFY_PATH: &str = "/_matrix/push/v1/notify";

pub struct Matrix {
    pub(crate) client: reqwest::Client,
    pub(crate) allow_private: bool,
}

impl Matrix {
    pub fn check(&self, url: &str, app_id: &str, pushkey: &str) -> Result<()> {
        let parsed = crate::net::check_url(url, self.allow_private)?;
        let bad = |why: &str| Err(Error::invalid(ErrorCode::InvalidPushTarget, why.to_string()));
        if parsed.path() != NOTIFY_PATH {
            return bad("a Matrix push gateway URL ends with /_matrix/push/v1/notify");
        }
        if app_id.is_empty() || app_id.len() > 64 {
            return bad("a Matrix app_id is 1 to 64 bytes");
        }
        if pushkey.is_empty() || pushkey.len() > 512 {
            return bad("a Matrix pushkey is 1 to 512 bytes");
        }
        Ok(())
    }

    pub async fn send(&self, target: &PushTarget, message: &PushMessage) -> PushOutcome {
        let PushTargetSpec::Matrix { url, app_id, pushkey } = &target.spec else {
            return PushOutcome::Refused { reason: "not a Matrix target".into() };
        };
        let url = match crate::net::check_url(url, self.allow_private) {
            Ok(url) => url,
            Err(e) => return PushOutcome::Refused { reason: e.detail.to_string() },
        };
        let devices = json!([{ "app_id": app_id, "pushkey": pushkey, "data": { "format": "event_id_only" } }]);
        let notification = match message.action {
            NotifyAction::Message => json!({
                "event_id": message.key,
                "room_id": message.chat_id.0.to_string(),
                "type": "m.room.message",
                "sender_display_name": message.sender,
                "room_name": message.title,
                "content": message.body.as_ref().map(|b| json!({ "msgtype": "m.text", "body": b })),
                "prio": "high",
                "counts": { "unread": message.unread },
                "devices": devices,
            }),
            NotifyAction::Clear => json!({ "prio": "low", "counts": { "unread": 0 }, "devices": devices }),
        };
        let response = match self.client.post(url).json(&json!({ "notification": notification })).send().await {
            Ok(response) => response,
            Err(e) => return PushOutcome::Retry { after: None, reason: format!("matrix gateway: {e}") },
        };
        let outcome = outcome_of_status(&response);
        if outcome != PushOutcome::Delivered {
            return outcome;
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            rejected: Vec<String>,
        }
        match response.json::<Answer>().await {
            Ok(answer) if answer.rejected.iter().any(|k| k == pushkey) => PushOutcome::Gone,
            Ok(_) => PushOutcome::Delivered,
            Err(e) => PushOutcome::Retry { after: None, reason: format!("matrix gateway: unreadable answer: {e}") },
        }
    }
}
