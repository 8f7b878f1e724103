//! What a user sets about notifications: each chat's level and mute, and the push targets
//! their notifications go to (checked by the gateway of their kind before they are kept).

use std::sync::Arc;

use domain::{
    ChatId, Error, ErrorCode, NotifyLevel, NotifySettings, PushTarget, PushTargetId, PushTargetSpec, Result, User,
    id::now_ms,
};
use ports::PushGateway;

use crate::ChatService;

/// Push targets one user may have (a browser or device each).
pub const MAX_PUSH_TARGETS: usize = 20;
/// The longest mute: a year.
const MAX_MUTE_MS: i64 = 366 * 24 * 3600 * 1000;

impl ChatService {
    /// Sends notifications through `gateway` (else push targets cannot be added).
    pub fn with_push(mut self, gateway: Arc<dyn PushGateway>) -> Self {
        self.push = Some(gateway);
        self
    }

    fn push_gateway(&self) -> Result<&Arc<dyn PushGateway>> {
        self.push
            .as_ref()
            .ok_or_else(|| Error::invalid(ErrorCode::PushNotConfigured, "this server sends no push notifications"))
    }

    /// The server's VAPID public key (base64url), for a browser's push subscription.
    pub fn vapid_public_key(&self) -> Result<String> {
        self.push_gateway()?
            .vapid_public_key()
            .ok_or_else(|| Error::not_found(ErrorCode::PushNotConfigured, "this server sends no Web Push"))
    }

    /// The actor's notification settings of a chat (404 for outsiders).
    pub async fn notify_settings(&self, actor: &User, chat_id: ChatId) -> Result<NotifySettings> {
        self.membership(actor, chat_id).await?;
        self.store.notify_settings(chat_id, actor.id).await
    }

    /// Sets them: a level, and a mute until a time (Unix ms, in the future, within a year).
    pub async fn set_notify_settings(
        &self,
        actor: &User,
        chat_id: ChatId,
        level: NotifyLevel,
        muted_until: Option<i64>,
    ) -> Result<NotifySettings> {
        let now = now_ms() as i64;
        if muted_until.is_some_and(|until| until <= now || until > now + MAX_MUTE_MS) {
            return Err(Error::invalid(ErrorCode::InvalidMutedUntil, "muted_until is a time in the next year"));
        }
        self.membership(actor, chat_id).await?;
        let settings = NotifySettings { level, muted_until };
        self.store.set_notify_settings(chat_id, actor.id, &settings).await?;
        Ok(settings)
    }

    /// Adds a push target. One with the same address (endpoint, URL and pushkey) replaces
    /// it, keeping its id: a browser that subscribes again.
    pub async fn add_push_target(&self, actor: &User, spec: PushTargetSpec) -> Result<PushTarget> {
        self.push_gateway()?.check_target(&spec)?;
        let existing = self.store.push_targets(actor.id).await?;
        let same = existing.iter().find(|t| same_address(&t.spec, &spec));
        if same.is_none() && existing.len() >= MAX_PUSH_TARGETS {
            return Err(Error::invalid(
                ErrorCode::TooManyPushTargets,
                format!("a user has at most {MAX_PUSH_TARGETS} push targets"),
            ));
        }
        let target = PushTarget {
            id: same.map_or_else(|| self.ids.next_id(), |t| t.id),
            user_id: actor.id,
            created_at: same.map_or_else(|| now_ms() as i64, |t| t.created_at),
            spec,
        };
        self.store.add_push_target(&target).await?;
        Ok(target)
    }

    pub async fn push_targets(&self, actor: &User) -> Result<Vec<PushTarget>> {
        self.store.push_targets(actor.id).await
    }

    /// Deletes one of the actor's push targets (another user's is not found).
    pub async fn delete_push_target(&self, actor: &User, id: PushTargetId) -> Result<()> {
        if self.store.delete_push_target(actor.id, id).await? {
            Ok(())
        } else {
            Err(Error::not_found(ErrorCode::PushTargetNotFound, "no such push target"))
        }
    }
}

fn same_address(a: &PushTargetSpec, b: &PushTargetSpec) -> bool {
    match (a, b) {
        (PushTargetSpec::Matrix { url: u1, pushkey: k1, .. }, PushTargetSpec::Matrix { url: u2, pushkey: k2, .. }) => {
            u1 == u2 && k1 == k2
        }
        _ => a.kind() == b.kind() && a.url() == b.url(),
    }
}
