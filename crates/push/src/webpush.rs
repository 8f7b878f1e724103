//! Web Push (RFC 8030): the payload encrypted for the browser's subscription (RFC 8291,
//! `aes128gcm`, by `web-push-native`), signed for the push service with the server's VAPID
//! key (RFC 8292: an ES256 JWT for the endpoint's origin). `Topic` is the chat, so a burst
//! in one chat replaces, not piles up, on a device that is offline; a clear uses the same
//! topic with low urgency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use domain::{Error, ErrorCode, NotifyAction, PushTarget, PushTargetSpec, Result};
use ports::{PushMessage, PushOutcome};
use web_push_native::p256;

use crate::{outcome_of_status, payload};

/// How long a VAPID JWT is valid (RFC 8292 allows up to 24 h).
const JWT_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// A new VAPID key pair, PKCS#8 (what the store keeps under [`VAPID_KEY_NAME`]).
pub fn generate_vapid_pkcs8() -> Result<Vec<u8>> {
    let document = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| Error::internal("cannot generate a VAPID key"))?;
    Ok(document.as_ref().to_vec())
}

/// The name of the VAPID key among the server keys.
pub const VAPID_KEY_NAME: &str = "vapid-p256";

pub struct WebPush {
    key: EcdsaKeyPair,
    public_key: String,
    /// The JWT's `sub`: how the push service reaches the operator (`mailto:` or `https:`).
    subject: String,
    client: reqwest::Client,
    allow_private: bool,
}

impl WebPush {
    pub fn new(pkcs8: &[u8], subject: &str, client: reqwest::Client, allow_private: bool) -> Result<Self> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|_| Error::internal("the stored VAPID key is not a P-256 PKCS#8 key"))?;
        let public_key = B64.encode(key.public_key().as_ref());
        Ok(Self { key, public_key, subject: subject.to_string(), client, allow_private })
    }

    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// `vapid t=<JWT>, k=<public key>` for `endpoint`'s origin.
    fn authorization(&self, endpoint: &reqwest::Url) -> Result<String> {
        let audience = endpoint.origin().ascii_serialization();
        let exp = (SystemTime::now() + JWT_LIFETIME).duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": audience, "exp": exp, "sub": self.subject });
        let signing_input = format!("{header}.{}", B64.encode(claims.to_string()));
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| Error::internal("cannot sign a VAPID token"))?;
        Ok(format!("vapid t={signing_input}.{}, k={}", B64.encode(signature.as_ref()), self.public_key))
    }

    pub fn check(&self, endpoint: &str, p256dh: &str, auth: &str) -> Result<()> {
        crate::net::check_url(endpoint, self.allow_private)?;
        subscription_keys(p256dh, auth).map(drop)
    }

    pub async fn send(&self, target: &PushTarget, message: &PushMessage) -> PushOutcome {
        let PushTargetSpec::Webpush { endpoint, p256dh, auth } = &target.spec else {
            return PushOutcome::Refused { reason: "not a Web Push target".into() };
        };
        let prepared = crate::net::check_url(endpoint, self.allow_private).and_then(|url| {
            let (public, auth) = subscription_keys(p256dh, auth)?;
            let body = serde_json::to_vec(&payload(message)).map_err(|e| Error::internal(e.to_string()))?;
            let encrypted = web_push_native::encrypt(body, &public, &auth)
                .map_err(|e| Error::internal(format!("cannot encrypt a push: {e}")))?;
            Ok((self.authorization(&url)?, url, encrypted))
        });
        let (authorization, url, encrypted) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => return PushOutcome::Refused { reason: e.detail.to_string() },
        };
        let urgency = match message.action {
            NotifyAction::Message => "normal",
            NotifyAction::Clear => "low",
        };
        let request = self
            .client
            .post(url)
            .header("Authorization", authorization)
            .header("TTL", message.ttl.as_secs().to_string())
            .header("Urgency", urgency)
            .header("Topic", format!("chat-{}", message.chat_id.0))
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .body(encrypted);
        match request.send().await {
            Ok(response) => match response.status().as_u16() {
                404 | 410 => PushOutcome::Gone,
                _ => outcome_of_status(&response),
            },
            Err(e) => PushOutcome::Retry { after: None, reason: format!("web push: {e}") },
        }
    }
}

/// The subscription's public key (an uncompressed P-256 point) and auth secret (16 bytes).
fn subscription_keys(p256dh: &str, auth: &str) -> Result<(p256::PublicKey, web_push_native::Auth)> {
    let bad = |why: &str| Error::invalid(ErrorCode::InvalidPushTarget, why.to_string());
    if p256dh.len() > 100 || auth.len() > 40 {
        return Err(bad("keys.p256dh is 65 bytes and keys.auth 16, base64url"));
    }
    let point = B64.decode(p256dh.trim_end_matches('=')).map_err(|_| bad("keys.p256dh is not base64url"))?;
    if point.len() != 65 {
        return Err(bad("keys.p256dh is an uncompressed P-256 point (65 bytes)"));
    }
    let public = p256::PublicKey::from_sec1_bytes(&point).map_err(|_| bad("keys.p256dh is not a P-256 point"))?;
    let secret = B64.decode(auth.trim_end_matches('=')).map_err(|_| bad("keys.auth is not base64url"))?;
    if secret.len() != 16 {
        return Err(bad("keys.auth is 16 bytes"));
    }
    Ok((public, web_push_native::Auth::clone_from_slice(&secret)))
}
