//! The Identity port: turns a bearer token into the identity the provider vouches for.

use async_trait::async_trait;
use domain::Result;

/// Who a valid token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The provider (the token's `iss`); `dev` for the embedded dev login.
    pub issuer: String,
    /// The provider's stable id of the person (the token's `sub`).
    pub subject: String,
    /// The username the provider gives (`preferred_username`).
    pub username: String,
    /// The display name the provider gives (`name`), if any.
    pub display_name: Option<String>,
}

#[async_trait]
pub trait Identity: Send + Sync + 'static {
    /// Verifies a bearer token. Any failure is an `Unauthenticated` error.
    async fn verify(&self, token: &str) -> Result<VerifiedIdentity>;
}
