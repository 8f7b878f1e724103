//! The OIDC adapter against the real Keycloak of `scripts/stack` (realm `petit-chat`, its
//! test users and clients). Needs `eval "$(scripts/stack env)"`; fails, never skips, without it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::ErrorKind;
use identity_oidc::{Directory, OidcConfig, OidcIdentity};
use ports::Identity;
use serde_json::Value;

fn env(name: &str) -> String {
    let key = format!("PETIT_CHAT_STACK_{name}");
    std::env::var(&key).unwrap_or_else(|_| panic!("{key} is not set: run `eval \"$(scripts/stack env)\"` first"))
}

fn config() -> OidcConfig {
    OidcConfig {
        issuer: env("OIDC_ISSUER"),
        audience: env("OIDC_AUDIENCE"),
        leeway_secs: 1,
        sync_client_id: Some(env("OIDC_SYNC_CLIENT_ID")),
        sync_client_secret: Some(env("OIDC_SYNC_CLIENT_SECRET")),
        ..OidcConfig::default()
    }
}

fn password(user: &str) -> String {
    env("TEST_USERS")
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix(&format!("{user}:")).map(str::to_string))
        .unwrap_or_else(|| panic!("no test password for {user}"))
}

/// A token response of `realm`'s token endpoint for a password grant.
async fn grant(realm_url: &str, client_id: &str, user: &str, password: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{realm_url}/protocol/openid-connect/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", client_id),
            ("username", user),
            ("password", password),
            ("scope", "openid profile"),
        ])
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn access_token(client_id: &str, user: &str) -> String {
    let response = grant(&env("OIDC_ISSUER"), client_id, user, &password(user)).await;
    response["access_token"].as_str().unwrap().to_string()
}

fn parts(token: &str) -> (Value, Value, String) {
    let mut it = token.split('.');
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    let payload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    (header, payload, it.next().unwrap().to_string())
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

async fn assert_refused(identity: &OidcIdentity, token: &str, what: &str) {
    match identity.verify(token).await {
        Err(e) if e.kind == ErrorKind::Unauthenticated => {}
        other => panic!("{what}: expected 401 unauthenticated, got {other:?}"),
    }
}

#[tokio::test]
async fn a_realm_access_token_identifies_the_person() {
    let identity = OidcIdentity::new(&config()).unwrap();
    assert!(identity.warm_up().await.unwrap() >= 1);
    let token = access_token(&env("OIDC_CLI_CLIENT_ID"), "alice").await;
    let who = identity.verify(&token).await.unwrap();
    assert_eq!(who.issuer, env("OIDC_ISSUER"));
    assert_eq!(who.username, "alice");
    assert_eq!(who.display_name.as_deref(), Some("Alice Martin"));
    assert_eq!(who.subject, parts(&token).1["sub"].as_str().unwrap());
    // The same token again: served from the key cache, no new fetch.
    let fetches = identity.jwks_fetches();
    identity.verify(&token).await.unwrap();
    assert_eq!(identity.jwks_fetches(), fetches);
}

#[tokio::test]
async fn forged_and_foreign_tokens_are_refused() {
    let identity = OidcIdentity::new(&config()).unwrap();
    let token = access_token(&env("OIDC_CLI_CLIENT_ID"), "bob").await;
    identity.verify(&token).await.unwrap();
    let (header, payload, signature) = parts(&token);

    // The payload changed, the signature kept.
    let mut forged = payload.clone();
    forged["preferred_username"] = "alice".into();
    forged["sub"] = "someone-else".into();
    assert_refused(&identity, &format!("{}.{}.{signature}", b64(&header), b64(&forged)), "tampered payload").await;

    // `alg: none`, with and without a signature.
    let mut none = header.clone();
    none["alg"] = "none".into();
    assert_refused(&identity, &format!("{}.{}.", b64(&none), b64(&payload)), "alg none").await;
    assert_refused(&identity, &format!("{}.{}.{signature}", b64(&none), b64(&payload)), "alg none, signed").await;

    // HS256 under guessable keys: a plain word, and the realm's public RSA modulus (the
    // classic algorithm-confusion attack).
    let jwks: Value = reqwest::get(format!("{}/protocol/openid-connect/certs", env("OIDC_ISSUER")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = header["kid"].as_str().unwrap();
    let modulus = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap()["n"].clone();
    for secret in [b"secret".to_vec(), modulus.as_str().unwrap().as_bytes().to_vec()] {
        let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        hs.kid = Some(kid.to_string());
        let hs256 = jsonwebtoken::encode(&hs, &payload, &jsonwebtoken::EncodingKey::from_secret(&secret)).unwrap();
        assert_refused(&identity, &hs256, "HS256 with a guessable key").await;
    }

    // Not a JWT at all; a key id the realm does not have.
    assert_refused(&identity, "not-a-token", "garbage").await;
    let mut other_kid = header.clone();
    other_kid["kid"] = "no-such-key".into();
    assert_refused(&identity, &format!("{}.{}.{signature}", b64(&other_kid), b64(&payload)), "unknown kid").await;

    // A genuine token of another realm (Keycloak's master realm).
    let master = env("OIDC_ISSUER").replace("/realms/petit-chat", "/realms/master");
    let foreign = grant(&master, "admin-cli", &env("KEYCLOAK_ADMIN_USER"), &env("KEYCLOAK_ADMIN_PASSWORD")).await;
    assert_refused(&identity, foreign["access_token"].as_str().unwrap(), "token of another realm").await;

    // The ID token of the same login: signed by the realm, but not an access token for this API.
    let response = grant(&env("OIDC_ISSUER"), &env("OIDC_CLI_CLIENT_ID"), "bob", &password("bob")).await;
    assert_refused(&identity, response["id_token"].as_str().unwrap(), "ID token").await;

    // The service account's token has no petit-chat-api audience.
    let sync = reqwest::Client::new()
        .post(format!("{}/protocol/openid-connect/token", env("OIDC_ISSUER")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &env("OIDC_SYNC_CLIENT_ID")),
            ("client_secret", &env("OIDC_SYNC_CLIENT_SECRET")),
        ])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_refused(&identity, sync["access_token"].as_str().unwrap(), "service-account token").await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let identity = OidcIdentity::new(&OidcConfig { audience: "another-api".into(), ..config() }).unwrap();
    let token = access_token(&env("OIDC_CLI_CLIENT_ID"), "carol").await;
    assert_refused(&identity, &token, "wrong audience").await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let identity = OidcIdentity::new(&OidcConfig { leeway_secs: 0, ..config() }).unwrap();
    // `petit-chat-test-short` issues 3-second access tokens (test-only client of the dev realm).
    let token = access_token("petit-chat-test-short", "carol").await;
    identity.verify(&token).await.unwrap();
    let exp = parts(&token).1["exp"].as_u64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    tokio::time::sleep(Duration::from_secs(exp.saturating_sub(now) + 2)).await;
    assert_refused(&identity, &token, "expired token").await;
}

#[tokio::test]
async fn unknown_key_ids_cannot_make_it_hammer_the_provider() {
    let identity = OidcIdentity::new(&OidcConfig { jwks_min_refresh_secs: 60, ..config() }).unwrap();
    identity.warm_up().await.unwrap();
    let before = identity.jwks_fetches();
    let token = access_token(&env("OIDC_CLI_CLIENT_ID"), "alice").await;
    let (mut header, payload, signature) = parts(&token);
    for n in 0..50 {
        header["kid"] = format!("garbage-{n}").into();
        assert_refused(&identity, &format!("{}.{}.{signature}", b64(&header), b64(&payload)), "random kid").await;
    }
    // The first fetch happened at warm-up, less than a minute ago: no garbage token fetched again.
    assert_eq!(identity.jwks_fetches(), before);
    identity.verify(&token).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable_not_unauthenticated() {
    let identity =
        OidcIdentity::new(&OidcConfig { issuer: "http://127.0.0.1:9/realms/nowhere".into(), ..config() }).unwrap();
    let token = access_token(&env("OIDC_CLI_CLIENT_ID"), "alice").await;
    let error = identity.verify(&token).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable, "{error}");
}

#[tokio::test]
async fn the_directory_lists_people_who_never_logged_in() {
    let users = Directory::new(&config()).unwrap().users().await.unwrap();
    let dave = users.iter().find(|u| u.username == "dave").expect("dave is in the realm");
    assert_eq!(dave.display_name.as_deref(), Some("Dave Thomas"));
    assert!(dave.enabled);
    assert!(!dave.subject.is_empty());
    assert!(users.iter().all(|u| !u.username.starts_with("service-account-")), "{users:?}");
}

#[test]
fn symmetric_algorithms_cannot_be_configured() {
    let error = OidcIdentity::new(&OidcConfig { algorithms: vec!["HS256".into()], ..config() }).unwrap_err();
    assert_eq!(error.code, "invalid_config");
}
