//! The Identity port over OpenID Connect, for Keycloak (any provider with discovery and a
//! JWKS works). The API trusts nothing but an access token the configured realm signed:
//!
//! - the header's `alg` must be one of the configured asymmetric algorithms (`none` and
//!   `HS*` never pass: a symmetric key would be the public JWKS), and the key its `kid`
//!   names must be a signing key of the realm's JWKS (fetched through discovery, cached,
//!   fetched again for an unknown `kid` at most once per `jwks_min_refresh_secs`);
//! - the signature, `iss` (exactly the configured issuer), `aud` (contains the configured
//!   audience), `exp` and `nbf` (with `leeway_secs`), and `sub` are checked by
//!   `jsonwebtoken`; a Keycloak `typ` other than `Bearer` (ID and refresh tokens) is refused.
//!
//! Any failure is `Unauthenticated` (401); only "no key was ever fetched and the provider
//! cannot be reached" is `Unavailable` (503). [`directory`] reads the realm's users for the
//! user sync.

mod config;
pub mod directory;
mod keys;

use std::time::Duration;

use async_trait::async_trait;
use domain::{Error, Result};
use jsonwebtoken::{Algorithm, Validation, decode, decode_header, errors::ErrorKind};
use ports::{Identity, VerifiedIdentity};
use serde::Deserialize;

pub use config::OidcConfig;
pub use directory::{Directory, DirectoryUser};

use crate::keys::KeyCache;

/// Verifies access tokens of one OIDC issuer.
pub struct OidcIdentity {
    issuer: String,
    algorithms: Vec<Algorithm>,
    validation: Validation,
    keys: KeyCache,
}

impl std::fmt::Debug for OidcIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcIdentity").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

/// The claims Petit chat reads; the rest of the token is ignored.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    preferred_username: Option<String>,
    name: Option<String>,
    /// Keycloak's token type: `Bearer` for access tokens.
    typ: Option<String>,
}

impl OidcIdentity {
    /// A verifier for `config`. Nothing is fetched yet; see [`OidcIdentity::warm_up`].
    pub fn new(config: &OidcConfig) -> Result<Self> {
        let algorithms = config.validate()?;
        let issuer = config.base().to_string();
        let mut validation = Validation::new(algorithms[0]);
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = config.leeway_secs;
        let keys = KeyCache::new(
            http_client(config)?,
            issuer.clone(),
            Duration::from_secs(config.jwks_min_refresh_secs),
            Duration::from_secs(config.jwks_max_age_secs.max(config.jwks_min_refresh_secs)),
        );
        Ok(Self { issuer, algorithms, validation, keys })
    }

    /// Fetches the discovery document and the keys now, so a wrong issuer shows at start.
    /// Returns how many signing keys the realm has.
    pub async fn warm_up(&self) -> Result<usize> {
        self.keys.warm_up().await
    }

    /// How many times the JWKS was requested since start.
    pub fn jwks_fetches(&self) -> u64 {
        self.keys.fetches()
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

pub(crate) fn http_client(config: &OidcConfig) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(config.http_timeout_secs.max(1)))
        .build()
        .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))
}

fn refused(detail: &'static str) -> Error {
    Error::unauthenticated(detail)
}

#[async_trait]
impl Identity for OidcIdentity {
    async fn verify(&self, token: &str) -> Result<VerifiedIdentity> {
        let header = decode_header(token).map_err(|_| refused("the token is not a signed JWT"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(refused("the token's signature algorithm is not accepted"));
        }
        let kid = header.kid.as_deref().ok_or_else(|| refused("the token names no key (kid)"))?;
        let key = self.keys.key(kid).await?.ok_or_else(|| refused("the token's key is not one of the realm's"))?;
        if key.algorithm.is_some_and(|alg| alg != header.alg) {
            return Err(refused("the token's algorithm does not match its key"));
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let claims = decode::<Claims>(token, &key.decoding, &validation).map_err(|e| refused(reason(e.kind())))?.claims;
        if claims.typ.as_deref().is_some_and(|typ| !typ.eq_ignore_ascii_case("bearer")) {
            return Err(refused("the token is not an access token"));
        }
        let username = claims.preferred_username.ok_or_else(|| refused("the token has no preferred_username"))?;
        if claims.sub.is_empty() {
            return Err(refused("the token has an empty subject"));
        }
        Ok(VerifiedIdentity {
            issuer: self.issuer.clone(),
            subject: claims.sub,
            username,
            display_name: claims.name.filter(|n| !n.trim().is_empty()),
        })
    }
}

/// What a client is told about a refused token: enough to act on, nothing about keys.
fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidIssuer => "the token is from another issuer",
        ErrorKind::InvalidAudience => "the token is not meant for this API (audience)",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        ErrorKind::InvalidSignature => "the token's signature is not valid",
        _ => "the token is not valid",
    }
}
