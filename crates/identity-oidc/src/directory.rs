//! The realm's users, read through the Keycloak admin REST API with a service-account
//! client (client credentials grant), so people who never logged in can be found and
//! added to chats. Keycloak-specific: the admin API of realm `R` at `<host>/realms/R` is
//! `<host>/admin/realms/R`.

use domain::{Error, ErrorCode, Result};
use serde::Deserialize;

use crate::OidcConfig;

/// Users are read this many per request.
const PAGE: usize = 100;

/// A person of the realm, as the directory lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// Keycloak's user id: the `sub` of that person's tokens.
    pub subject: String,
    pub username: String,
    /// First and last name, as Keycloak's `name` claim joins them.
    pub display_name: Option<String>,
    pub enabled: bool,
}

/// Reads the realm's users.
pub struct Directory {
    http: reqwest::Client,
    token_url: String,
    users_url: String,
    client_id: String,
    client_secret: String,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").field("users_url", &self.users_url).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeycloakUser {
    id: String,
    username: String,
    first_name: Option<String>,
    last_name: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    service_account_client_id: Option<String>,
}

fn yes() -> bool {
    true
}

impl Directory {
    /// A directory for the configured realm; needs `sync_client_id` and `sync_client_secret`.
    pub fn new(config: &OidcConfig) -> Result<Self> {
        config.validate()?;
        let (Some(client_id), Some(client_secret)) = (&config.sync_client_id, &config.sync_client_secret) else {
            return Err(Error::invalid(
                ErrorCode::InvalidConfig,
                "the user sync needs identity.sync_client_id and identity.sync_client_secret",
            ));
        };
        let base = config.base();
        let (host, realm) = base.rsplit_once("/realms/").ok_or_else(|| {
            Error::invalid(
                ErrorCode::InvalidConfig,
                format!("identity.issuer {base:?} is not a Keycloak realm URL (…/realms/NAME)"),
            )
        })?;
        Ok(Self {
            http: crate::http_client(config)?,
            token_url: format!("{base}/protocol/openid-connect/token"),
            users_url: format!("{host}/admin/realms/{realm}/users"),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
        })
    }

    /// Every user of the realm except service accounts, in Keycloak's order.
    pub async fn users(&self) -> Result<Vec<DirectoryUser>> {
        let token = self.token().await?;
        let mut out = vec![];
        for first in (0..).step_by(PAGE) {
            let page: Vec<KeycloakUser> = self
                .http
                .get(&self.users_url)
                .bearer_auth(&token)
                .query(&[
                    ("first", first.to_string()),
                    ("max", PAGE.to_string()),
                    ("briefRepresentation", "true".into()),
                ])
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| unavailable("list users", e))?
                .json()
                .await
                .map_err(|e| unavailable("list users", e))?;
            let last = page.len() < PAGE;
            out.extend(page.into_iter().filter_map(DirectoryUser::from_keycloak));
            if last {
                break;
            }
        }
        Ok(out)
    }

    async fn token(&self) -> Result<String> {
        let response: TokenResponse = self
            .http
            .post(&self.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| unavailable("service-account login", e))?
            .json()
            .await
            .map_err(|e| unavailable("service-account login", e))?;
        Ok(response.access_token)
    }
}

impl DirectoryUser {
    fn from_keycloak(user: KeycloakUser) -> Option<Self> {
        if user.service_account_client_id.is_some() || user.username.starts_with("service-account-") {
            return None;
        }
        let name = [user.first_name, user.last_name].into_iter().flatten().collect::<Vec<_>>().join(" ");
        let name = name.trim();
        Some(Self {
            subject: user.id,
            username: user.username,
            display_name: (!name.is_empty()).then(|| name.to_string()),
            enabled: user.enabled,
        })
    }
}

fn unavailable(what: &str, e: reqwest::Error) -> Error {
    Error::unavailable(format!("identity provider: {what}: {e}"))
}
