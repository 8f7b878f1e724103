//! The dev login of the embedded shape: anyone who can reach the loopback address may
//! log in as any username, and gets a token signed with HMAC-SHA256 under a key kept in
//! the data directory. It exists so Petit chat runs with zero set-up; it is never
//! offered in the cluster shape, where Keycloak is the only identity.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{Error, Result, id::now_ms, rules};
use hmac::{Hmac, Mac};
use ports::{Identity, VerifiedIdentity};
use sha2::Sha256;

/// The issuer of dev tokens, as users created by the dev login record it.
pub const DEV_ISSUER: &str = "dev";
const PREFIX: &str = "dev1";

/// Issues and verifies dev tokens.
pub struct DevIdentity {
    key: Vec<u8>,
    lifetime: Duration,
}

impl std::fmt::Debug for DevIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIdentity").field("lifetime", &self.lifetime).finish_non_exhaustive()
    }
}

impl DevIdentity {
    pub fn new(key: Vec<u8>, lifetime: Duration) -> Self {
        Self { key, lifetime }
    }

    /// Loads the signing key from `dir/dev-login.key`, creating it (readable by the owner
    /// only) on first use, so tokens survive a restart.
    pub fn load_or_create(dir: &Path, lifetime: Duration) -> std::io::Result<Self> {
        let path = dir.join("dev-login.key");
        let key = match std::fs::read(&path) {
            Ok(key) if key.len() >= 32 => key,
            _ => {
                let key: [u8; 32] = rand::random();
                write_private(&path, &key)?;
                key.to_vec()
            }
        };
        Ok(Self::new(key, lifetime))
    }

    /// A token for `username`, valid for the configured lifetime.
    pub fn issue(&self, username: &str) -> Result<String> {
        rules::validate_username(username)?;
        let expires = now_ms() + self.lifetime.as_millis() as u64;
        let payload = URL_SAFE_NO_PAD.encode(format!("{PREFIX}:{username}:{expires}"));
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        Ok(format!("{payload}.{signature}"))
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(payload.as_bytes());
        mac
    }
}

#[async_trait]
impl Identity for DevIdentity {
    async fn verify(&self, token: &str) -> Result<VerifiedIdentity> {
        let bad = || Error::unauthenticated("the token is not valid");
        let (payload, signature) = token.split_once('.').ok_or_else(bad)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| bad())?;
        self.mac(payload).verify_slice(&signature).map_err(|_| bad())?;
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?).map_err(|_| bad())?;
        let mut parts = text.splitn(3, ':');
        let (Some(PREFIX), Some(username), Some(expires)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let expires: u64 = expires.parse().map_err(|_| bad())?;
        if expires <= now_ms() {
            return Err(Error::unauthenticated("the token has expired"));
        }
        Ok(VerifiedIdentity {
            issuer: DEV_ISSUER.to_string(),
            subject: username.to_string(),
            username: username.to_string(),
            display_name: None,
        })
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn identity() -> DevIdentity {
        DevIdentity::new(vec![7; 32], Duration::from_secs(60))
    }

    #[tokio::test]
    async fn a_token_verifies_as_its_username() {
        let id = identity();
        let v = id.verify(&id.issue("alice").unwrap()).await.unwrap();
        assert_eq!((v.issuer.as_str(), v.subject.as_str(), v.username.as_str()), ("dev", "alice", "alice"));
    }

    #[tokio::test]
    async fn tampered_foreign_and_expired_tokens_are_refused() {
        let id = identity();
        let token = id.issue("alice").unwrap();
        let (payload, sig) = token.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(format!("{PREFIX}:mallory:{}", now_ms() + 60_000));
        let other_key = DevIdentity::new(vec![8; 32], Duration::from_secs(60)).issue("alice").unwrap();
        let expired = DevIdentity::new(vec![7; 32], Duration::ZERO).issue("alice").unwrap();
        for bad in [
            "",
            "garbage",
            &format!("{forged_payload}.{sig}"),
            &format!("{payload}.{}", &sig[1..]),
            &format!("{payload}."),
            &other_key,
            &expired,
        ] {
            let err = id.verify(bad).await.unwrap_err();
            assert_eq!(err.kind, domain::ErrorKind::Unauthenticated, "{bad}");
        }
    }

    #[test]
    fn the_key_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let a = DevIdentity::load_or_create(dir.path(), Duration::from_secs(60)).unwrap();
        let b = DevIdentity::load_or_create(dir.path(), Duration::from_secs(60)).unwrap();
        assert_eq!(a.key, b.key);
    }
}
