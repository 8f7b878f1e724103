//! Keycloak (realm petit-chat): a token by password grant on petit-chat-cli, verified with
//! `jsonwebtoken` against the realm JWKS (signature, issuer, audience), as the API will.
mod common;

use anyhow::{Context as _, anyhow};
use common::{env, http, within};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

fn issuer() -> String {
    env("OIDC_ISSUER", "http://127.0.0.1:8180/realms/petit-chat")
}

fn password_of(user: &str) -> String {
    env("TEST_USERS", "alice:alice-test-only bob:bob-test-only carol:carol-test-only dave:dave-test-only")
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix(&format!("{user}:")).map(str::to_owned))
        .unwrap_or_else(|| panic!("no password for test user {user} in PETIT_CHAT_STACK_TEST_USERS"))
}

async fn password_token(user: &str) -> anyhow::Result<String> {
    let resp = http()
        .post(format!("{}/protocol/openid-connect/token", issuer()))
        .form(&[
            ("grant_type", "password"),
            ("client_id", &env("OIDC_CLI_CLIENT_ID", "petit-chat-cli")),
            ("username", user),
            ("password", &password_of(user)),
            ("scope", "openid"),
        ])
        .send()
        .await
        .context("token endpoint")?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    anyhow::ensure!(status.is_success(), "password grant for {user}: HTTP {status} {body}");
    body["access_token"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("no access_token in {body}"))
}

async fn jwks() -> anyhow::Result<JwkSet> {
    let discovery: serde_json::Value = http()
        .get(format!("{}/.well-known/openid-configuration", issuer()))
        .send()
        .await
        .context("discovery document")?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(discovery["issuer"], issuer());
    let jwks_uri = discovery["jwks_uri"].as_str().ok_or_else(|| anyhow!("no jwks_uri"))?;
    Ok(http().get(jwks_uri).send().await?.error_for_status()?.json().await?)
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    preferred_username: String,
    name: String,
    email: Option<String>,
}

fn validation(alg: jsonwebtoken::Algorithm, audience: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[issuer()]);
    v.set_audience(&[audience]);
    v
}

#[tokio::test]
async fn keycloak_token_verifies_against_realm_jwks() {
    within("Keycloak token + JWKS", 60, async {
        let token = password_token("alice").await?;
        let header = decode_header(&token)?;
        let kid = header.kid.clone().ok_or_else(|| anyhow!("token has no kid"))?;
        let set = jwks().await?;
        let jwk = set.find(&kid).ok_or_else(|| anyhow!("kid {kid} not in the realm JWKS"))?;
        let key = DecodingKey::from_jwk(jwk)?;
        let audience = env("OIDC_AUDIENCE", "petit-chat-api");
        let data = decode::<Claims>(&token, &key, &validation(header.alg, &audience)).context("verify token")?;
        let c = data.claims;
        assert_eq!(c.iss, issuer());
        assert_eq!(c.preferred_username, "alice");
        assert_eq!(c.name, "Alice Martin");
        assert_eq!(c.email.as_deref(), Some("alice@petit-chat.test"));
        assert!(!c.sub.is_empty());

        // The same token must be refused for another audience.
        let wrong = decode::<Claims>(&token, &key, &validation(header.alg, "someone-else"));
        assert!(wrong.is_err(), "a token for petit-chat-api must not validate for another audience");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn keycloak_sync_service_account_lists_users() {
    within("Keycloak service account", 60, async {
        let base = issuer();
        let resp: serde_json::Value = http()
            .post(format!("{base}/protocol/openid-connect/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &env("OIDC_SYNC_CLIENT_ID", "petit-chat-sync")),
                ("client_secret", &env("OIDC_SYNC_CLIENT_SECRET", "petit-chat-sync-DEV-ONLY-secret")),
            ])
            .send()
            .await?
            .error_for_status()
            .context("client_credentials grant for petit-chat-sync")?
            .json()
            .await?;
        let token = resp["access_token"].as_str().ok_or_else(|| anyhow!("no access_token"))?;
        let admin = base.replace("/realms/", "/admin/realms/");
        let users: Vec<serde_json::Value> = http()
            .get(format!("{admin}/users?briefRepresentation=true&max=100"))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()
            .context("list users with view-users")?
            .json()
            .await?;
        let names: Vec<&str> = users.iter().filter_map(|u| u["username"].as_str()).collect();
        for expected in ["alice", "bob", "carol", "dave"] {
            assert!(names.contains(&expected), "{expected} missing from {names:?}");
        }
        Ok(())
    })
    .await;
}
