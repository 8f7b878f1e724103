//! The provider's signing keys: discovery, the JWKS, and a cache refreshed when a token
//! names a key it does not hold (rate-limited) or when the keys grow old.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use domain::{Error, Result};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// A signature key of the provider.
#[derive(Clone)]
pub(crate) struct SigningKey {
    pub decoding: DecodingKey,
    /// The algorithm the JWK names, if it names one: a token must then use exactly it.
    pub algorithm: Option<Algorithm>,
}

#[derive(Default)]
struct Cached {
    by_kid: Arc<HashMap<String, SigningKey>>,
    fetched_at: Option<Instant>,
}

/// The cache. Reads take a read lock for a map lookup; fetches are single-flight (one
/// `tokio` mutex) and at most one per `min_refresh`.
pub(crate) struct KeyCache {
    http: reqwest::Client,
    issuer: String,
    min_refresh: Duration,
    max_age: Duration,
    cached: RwLock<Cached>,
    /// The JWKS URL once discovery succeeded, and when the last fetch was attempted.
    fetch: tokio::sync::Mutex<FetchState>,
    /// JWKS requests made (successful or not), for metrics and tests.
    fetches: AtomicU64,
}

#[derive(Default)]
struct FetchState {
    jwks_uri: Option<String>,
    last_attempt: Option<Instant>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl KeyCache {
    pub fn new(http: reqwest::Client, issuer: String, min_refresh: Duration, max_age: Duration) -> Self {
        Self {
            http,
            issuer,
            min_refresh,
            max_age,
            cached: RwLock::default(),
            fetch: tokio::sync::Mutex::default(),
            fetches: AtomicU64::new(0),
        }
    }

    /// The key with this id. An unknown id, or keys older than `max_age`, trigger a fetch
    /// unless one was attempted less than `min_refresh` ago. `Unavailable` only when no
    /// key was ever fetched and the provider cannot be reached now.
    pub async fn key(&self, kid: &str) -> Result<Option<SigningKey>> {
        let (found, fresh, ever) = self.lookup(kid);
        if found.is_some() && fresh {
            return Ok(found);
        }
        match self.refresh().await {
            Ok(()) => Ok(self.lookup(kid).0),
            // Stale but known keys keep working while the provider is down.
            Err(_) if found.is_some() => Ok(found),
            Err(e) if !ever => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// Fetches the keys now (at start, to fail early on a wrong issuer).
    pub async fn warm_up(&self) -> Result<usize> {
        self.refresh().await?;
        Ok(self.read().by_kid.len())
    }

    /// How many times the JWKS was requested.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cached> {
        self.cached.read().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, kid: &str) -> (Option<SigningKey>, bool, bool) {
        let cached = self.read();
        let fresh = cached.fetched_at.is_some_and(|t| t.elapsed() < self.max_age);
        (cached.by_kid.get(kid).cloned(), fresh, cached.fetched_at.is_some())
    }

    async fn refresh(&self) -> Result<()> {
        let mut state = self.fetch.lock().await;
        // Another request may have fetched while this one waited for the lock.
        if let Some(at) = state.last_attempt
            && at.elapsed() < self.min_refresh
        {
            return if self.read().fetched_at.is_some_and(|t| t >= at) {
                Ok(())
            } else {
                Err(Error::unavailable("the identity provider's keys were fetched moments ago without success"))
            };
        }
        state.last_attempt = Some(Instant::now());
        let jwks_uri = match &state.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let uri = self.discover().await?;
                state.jwks_uri = Some(uri.clone());
                uri
            }
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let set: JwkSet = self.get_json(&jwks_uri).await?;
        let keys = signing_keys(&set);
        tracing::info!(issuer = %self.issuer, keys = keys.len(), "fetched the identity provider's signing keys");
        let mut cached = self.cached.write().unwrap_or_else(|e| e.into_inner());
        *cached = Cached { by_kid: Arc::new(keys), fetched_at: Some(Instant::now()) };
        Ok(())
    }

    async fn discover(&self) -> Result<String> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let discovery: Discovery = self.get_json(&url).await?;
        if discovery.issuer.trim_end_matches('/') != self.issuer {
            return Err(Error::unavailable(format!(
                "the discovery document at {url} names issuer {:?}, not the configured {:?}",
                discovery.issuer, self.issuer
            )));
        }
        Ok(discovery.jwks_uri)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T> {
        let unavailable = |e: reqwest::Error| Error::unavailable(format!("identity provider: GET {url}: {e}"));
        let response = self.http.get(url).send().await.map_err(unavailable)?;
        response.error_for_status().map_err(unavailable)?.json().await.map_err(unavailable)
    }
}

/// The keys of a JWKS that can verify signatures with an asymmetric algorithm. Encryption
/// keys, symmetric keys, keys without an id and unsupported ones are left out.
fn signing_keys(set: &JwkSet) -> HashMap<String, SigningKey> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else { continue };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption))
            || matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_) | AlgorithmParameters::Other(_))
        {
            continue;
        }
        let algorithm = match jwk.common.key_algorithm.map(|a| a.to_string().parse::<Algorithm>()) {
            None => None,
            Some(Ok(alg)) => Some(alg),
            // An algorithm this library cannot verify with (e.g. RSA-OAEP on a key with no `use`).
            Some(Err(_)) => continue,
        };
        match DecodingKey::from_jwk(jwk) {
            Ok(decoding) => {
                keys.insert(kid, SigningKey { decoding, algorithm });
            }
            Err(error) => tracing::debug!(%kid, %error, "skipping a JWK that cannot verify signatures"),
        }
    }
    keys
}
