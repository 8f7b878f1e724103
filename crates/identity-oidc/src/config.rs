//! The OIDC adapter's configuration (`[identity]` with `kind = "oidc"`).

use domain::{Error, ErrorCode, Result};
use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

/// Which realm to trust, what a token must say, and how clients log in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OidcConfig {
    /// The realm's issuer URL, exactly as tokens carry it in `iss`, e.g.
    /// `https://sso.example.com/realms/petit-chat`. Its discovery document is
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// The audience a token must name in `aud` (Keycloak: an audience mapper on the clients).
    pub audience: String,
    /// Accepted signature algorithms. Asymmetric only: `RS256`, `RS384`, `RS512`, `PS256`,
    /// `PS384`, `PS512`, `ES256`, `ES384`, `EdDSA`.
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// A token naming an unknown key id makes the JWKS be fetched again, at most once per
    /// this many seconds (garbage tokens cannot make the server hammer the provider).
    pub jwks_min_refresh_secs: u64,
    /// Keys older than this are fetched again at the next token (rotation, revocation).
    pub jwks_max_age_secs: u64,
    /// Timeout of each request to the provider, in seconds.
    pub http_timeout_secs: u64,
    /// Told to clients by `GET /api/v1/auth/config`: the public client they log in with
    /// (Authorization Code + PKCE) and the scopes to ask for.
    pub client_id: String,
    pub scopes: Vec<String>,
    /// The user sync (`petit-chat sync-users`, and `sync_interval_secs`): a confidential
    /// client with a service account allowed to view the realm's users
    /// (realm-management `view-users`).
    pub sync_client_id: Option<String>,
    pub sync_client_secret: Option<String>,
    /// Run the user sync every this many seconds on every node (0: only by command).
    pub sync_interval_secs: u64,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: "petit-chat-api".into(),
            algorithms: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
                .map(String::from)
                .to_vec(),
            leeway_secs: 30,
            jwks_min_refresh_secs: 30,
            jwks_max_age_secs: 3600,
            http_timeout_secs: 5,
            client_id: "petit-chat-web".into(),
            scopes: vec!["openid".into(), "profile".into()],
            sync_client_id: None,
            sync_client_secret: None,
            sync_interval_secs: 0,
        }
    }
}

impl OidcConfig {
    /// Checks the configuration and returns the accepted algorithms.
    pub fn validate(&self) -> Result<Vec<Algorithm>> {
        let bad = |detail: String| Error::invalid(ErrorCode::InvalidConfig, detail);
        let issuer = self.issuer.trim_end_matches('/');
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(bad(format!("identity.issuer must be an http(s) URL, not {:?}", self.issuer)));
        }
        if self.audience.is_empty() {
            return Err(bad("identity.audience must be set".into()));
        }
        let mut algorithms = vec![];
        for name in &self.algorithms {
            let alg: Algorithm = name.parse().map_err(|_| bad(format!("identity.algorithms: unknown {name:?}")))?;
            if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                return Err(bad(format!(
                    "identity.algorithms: {name} is symmetric; only asymmetric ones are accepted"
                )));
            }
            algorithms.push(alg);
        }
        if algorithms.is_empty() {
            return Err(bad("identity.algorithms must name at least one algorithm".into()));
        }
        if self.sync_client_id.is_some() != self.sync_client_secret.is_some() {
            return Err(bad("identity.sync_client_id and sync_client_secret go together".into()));
        }
        Ok(algorithms)
    }

    /// The issuer without a trailing slash, as URLs are built from it.
    pub(crate) fn base(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }
}
