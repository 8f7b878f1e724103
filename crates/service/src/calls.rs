//! Calls: started in a chat (a `call` signal rings the other members), joined, left,
//! declined and ended by the people it concerns, each change written over the call's
//! version (a change that lost a race is made again from what won) and shown by its signal
//! (`signal.updated`). WebRTC messages between two people in a call go as ephemeral
//! `call.signal` events to the recipient's streams, on any node. The `calls` worker role
//! ends, as missed, the calls nobody answered in time, whichever node started them.
//! STUN/TURN servers are handed out with short-lived credentials in the TURN REST API
//! scheme (coturn's `use-auth-secret`).

use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use domain::{
    Call, CallAction, CallId, CallMedia, CallSignalKind, ChatEvent, ChatId, Error, ErrorCode, Event, Result, Signal,
    SignalBody, User, UserId,
    call::{MAX_CALL_MEMBERS, MAX_CALL_SIGNAL_BYTES},
    id::now_ms,
};
use tokio_util::sync::CancellationToken;

use crate::ChatService;

/// How many times a change is made again after losing a race to another change.
const CAS_ATTEMPTS: usize = 8;

/// The STUN and TURN servers clients use for calls.
#[derive(Clone, Default)]
pub struct IceSettings {
    /// `stun:` URLs.
    pub stun_urls: Vec<String>,
    /// `turn:` / `turns:` URLs, sharing `turn_secret`.
    pub turn_urls: Vec<String>,
    /// The secret the TURN servers share with Petit chat (coturn's `static-auth-secret`).
    pub turn_secret: Option<String>,
    /// How long a TURN credential is good for.
    pub credential_ttl: Duration,
    /// Clients relay every call through the TURN servers (no direct path), so people
    /// never learn each other's network addresses.
    pub relay_only: bool,
}

impl std::fmt::Debug for IceSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceSettings")
            .field("stun_urls", &self.stun_urls)
            .field("turn_urls", &self.turn_urls)
            .field("turn_secret", &self.turn_secret.as_ref().map(|_| "(set)"))
            .field("credential_ttl", &self.credential_ttl)
            .field("relay_only", &self.relay_only)
            .finish()
    }
}

/// One ICE server entry, as `RTCPeerConnection` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub credential: Option<String>,
}

/// The TURN REST API credential of `user` until `expires` (Unix seconds): the username
/// `<expires>:<user id>`, the password the base64 HMAC-SHA1 of the username under the
/// shared secret.
pub fn turn_credential(secret: &str, user: UserId, expires: u64) -> (String, String) {
    let username = format!("{expires}:{user}");
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let tag = hmac::sign(&key, username.as_bytes());
    (username, base64::engine::general_purpose::STANDARD.encode(tag.as_ref()))
}

fn call_not_found() -> Error {
    Error::not_found(ErrorCode::CallNotFound, "no such call in a chat of yours")
}

impl ChatService {
    /// Starts a call in a chat of the actor's (at most [`MAX_CALL_MEMBERS`] members, else
    /// 422 `call_too_large`): its `call` signal rings the other members.
    pub async fn start_call(&self, actor: &User, chat_id: ChatId, media: CallMedia) -> Result<Call> {
        self.membership(actor, chat_id).await?;
        let members = self.store.member_ids(chat_id).await?;
        if members.len() > MAX_CALL_MEMBERS {
            return Err(Error::invalid(
                ErrorCode::CallTooLarge,
                format!("a call takes chats of at most {MAX_CALL_MEMBERS} members"),
            ));
        }
        let id = self.ids.next_id();
        let call = Call::start(id, chat_id, actor.id, &members, media, now_ms() as i64, self.limits.call_ring_ms);
        self.store.insert_call(&call).await?;
        let signal = call_signal(&call);
        self.store.insert_signal(&signal, None).await?;
        self.after_signal_stored(signal, None).await?;
        Ok(call)
    }

    /// A call of a chat the actor is in (404 `call_not_found` otherwise).
    pub async fn call(&self, actor: &User, id: CallId) -> Result<Call> {
        let call = self.store.call(id).await?.ok_or_else(call_not_found)?;
        self.store.role(call.chat_id, actor.id).await?.ok_or_else(call_not_found)?;
        Ok(call)
    }

    /// Joins, leaves, declines or ends a call the actor is concerned by (the caller, or a
    /// member it rings: else 404 `call_not_found`; an ended call is 409 `call_ended`).
    pub async fn act_on_call(&self, actor: &User, id: CallId, action: CallAction) -> Result<Call> {
        let call = self.call(actor, id).await?;
        if !call.concerns(actor.id) {
            return Err(call_not_found());
        }
        if action == CallAction::End && call.state() != domain::CallState::Ended && !call.present.contains(&actor.id) {
            return Err(Error::forbidden(ErrorCode::NotInCall, "only someone in the call ends it for all"));
        }
        self.change_call(id, actor.id, action).await
    }

    /// Makes `action` on the stored call, again from what is stored when another change
    /// came first; announces the new state through the call's signal.
    async fn change_call(&self, id: CallId, who: UserId, action: CallAction) -> Result<Call> {
        for _ in 0..CAS_ATTEMPTS {
            let call = self.store.call(id).await?.ok_or_else(call_not_found)?;
            let Some(next) = call.apply(who, action, now_ms() as i64)? else { return Ok(call) };
            if self.store.update_call(&next, call.version).await? {
                let signal = call_signal(&next);
                if self.store.update_signal(&signal).await? {
                    self.publish(ChatEvent {
                        chat_id: next.chat_id,
                        event: Event::SignalUpdated { signal },
                        also_notify: vec![],
                    })
                    .await?;
                }
                return Ok(next);
            }
        }
        Err(Error::unavailable("this call is changing too often; retry"))
    }

    /// Relays a WebRTC message from the actor to `to`, both in the call now (else 403
    /// `not_in_call`), as an ephemeral `call.signal` event on `to`'s streams.
    pub async fn relay_call_signal(
        &self,
        actor: &User,
        id: CallId,
        to: UserId,
        kind: CallSignalKind,
        data: String,
    ) -> Result<()> {
        if data.len() > MAX_CALL_SIGNAL_BYTES {
            return Err(Error::invalid(
                ErrorCode::CallSignalTooLarge,
                format!("a call signal's data is at most {MAX_CALL_SIGNAL_BYTES} bytes"),
            ));
        }
        let call = self.call(actor, id).await?;
        if call.state() == domain::CallState::Ended {
            return Err(Error::conflict(ErrorCode::CallEnded, "this call has ended"));
        }
        if !call.present.contains(&actor.id) || !call.present.contains(&to) || to == actor.id {
            return Err(Error::forbidden(ErrorCode::NotInCall, "signals go between two people in the call"));
        }
        let event = Event::CallSignal { call_id: id, chat_id: call.chat_id, from: actor.id, kind, data };
        self.bus.publish_ephemeral(&[to], &event).await
    }

    /// The STUN/TURN servers for the actor, with TURN credentials good for the configured
    /// time; none when none is configured (peers on one network connect without).
    pub fn ice_servers(&self, actor: &User, settings: &IceSettings) -> (Vec<IceServer>, Duration) {
        let mut servers = vec![];
        if !settings.stun_urls.is_empty() {
            servers.push(IceServer { urls: settings.stun_urls.clone(), username: None, credential: None });
        }
        if let Some(secret) = settings.turn_secret.as_deref().filter(|_| !settings.turn_urls.is_empty()) {
            let expires = now_ms() / 1000 + settings.credential_ttl.as_secs();
            let (username, credential) = turn_credential(secret, actor.id, expires);
            servers.push(IceServer {
                urls: settings.turn_urls.clone(),
                username: Some(username),
                credential: Some(credential),
            });
        }
        (servers, settings.credential_ttl)
    }

    /// Ends, as missed, the ringing calls nobody answered in time. Any number of nodes may
    /// run it at once: each end is written over the version it was made from.
    pub async fn end_unanswered_calls(&self) -> Result<usize> {
        let mut ended = 0;
        for id in self.store.ringing_calls(1000).await? {
            let Some(call) = self.store.call(id).await? else { continue };
            if call.apply(UserId::ZERO, CallAction::TimeOut, now_ms() as i64)?.is_some() {
                let after = self.change_call(id, UserId::ZERO, CallAction::TimeOut).await?;
                ended += usize::from(after.state() == domain::CallState::Ended);
            } else if call.state() != domain::CallState::Ringing {
                // Listed still: its change was written, the list's removal was not.
                self.store.update_call(&call, call.version).await?;
            }
        }
        Ok(ended)
    }

    /// The `calls` role: [`ChatService::end_unanswered_calls`] every `interval`.
    pub async fn run_call_sweeper(self, interval: Duration, shutdown: CancellationToken) -> Result<()> {
        loop {
            match self.end_unanswered_calls().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(ended = n, "calls: unanswered calls ended as missed"),
                Err(error) => tracing::warn!(%error, "calls: sweep failed, retrying at the next"),
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = shutdown.cancelled() => return Ok(()),
            }
        }
    }
}

/// The `call` signal that shows `call` (its id is the call's).
fn call_signal(call: &Call) -> Signal {
    Signal {
        id: call.id,
        chat_id: call.chat_id,
        author_id: call.started_by,
        body: SignalBody::Call(call.summary.clone()),
        edited_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TURN REST API scheme as coturn checks it (RFC 5389 long-term credentials from
    /// `static-auth-secret`): the example computed independently with
    /// `printf '%s' "$U" | openssl dgst -sha1 -hmac "$SECRET" -binary | base64`.
    #[test]
    fn turn_credentials_follow_the_rest_api_scheme() {
        let (user, pass) = turn_credential("petit-chat-dev-turn-secret-test-only", domain::Id(42), 1_800_000_000);
        assert_eq!(user, "1800000000:42");
        assert_eq!(pass, "YO72yGX69/bSyAbCpQ5DnTz6qx4=");
    }
}
