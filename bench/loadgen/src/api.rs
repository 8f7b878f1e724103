//! The few Petit chat API calls the load generator makes, over one shared HTTP client.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::{Client, StatusCode};
use serde::Deserialize;
use serde_json::json;

/// How long a setup call or a post may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub token: String,
}

/// The server, reached through one client (its pool keeps connections open), and the
/// clients live streams are opened with.
#[derive(Debug, Clone)]
pub struct Api {
    pub client: Client,
    pub base: String,
    /// One per source address: stream `i` is opened by client `i` mod their number.
    stream_clients: Vec<Client>,
}

#[derive(Deserialize)]
struct LoginOut {
    token: String,
    user: IdOut,
}

#[derive(Deserialize)]
struct IdOut {
    id: String,
}

impl Api {
    /// A client for `base`, which must name a loopback address: this tool sends load to
    /// this machine only. Live streams are opened from `stream_sources` source addresses
    /// (127.0.0.1, 127.0.0.2, …; 1: the default one), so that many thousands of them do
    /// not run out of ephemeral ports.
    pub fn new(base: &str, stream_sources: u8) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(base).with_context(|| format!("bad base URL {base}"))?;
        let host = url.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            bail!("{base}: the load generator only talks to loopback addresses");
        }
        let client = Client::builder().pool_max_idle_per_host(4096).tcp_nodelay(true).build()?;
        let stream_clients = match stream_sources {
            0 | 1 => vec![client.clone()],
            n => (1..=n)
                .map(|last| {
                    let source = IpAddr::from([127, 0, 0, last]);
                    Ok(Client::builder().local_address(source).tcp_nodelay(true).build()?)
                })
                .collect::<anyhow::Result<_>>()?,
        };
        Ok(Self { client, base: base.trim_end_matches('/').to_string(), stream_clients })
    }

    /// Logs in with the dev login, creating the user on first login.
    pub async fn login(&self, username: &str) -> anyhow::Result<User> {
        let resp = self
            .client
            .post(format!("{}/api/v1/dev/login", self.base))
            .timeout(REQUEST_TIMEOUT)
            .json(&json!({ "username": username }))
            .send()
            .await?;
        let body: LoginOut = ok_json(resp, "dev login").await?;
        Ok(User { id: body.user.id, token: body.token })
    }

    /// Creates a group owned by `owner` with the `others` (user ids); returns its id.
    pub async fn create_group(&self, owner: &User, title: &str, others: &[&str]) -> anyhow::Result<String> {
        let resp = self
            .client
            .post(format!("{}/api/v1/chats", self.base))
            .timeout(REQUEST_TIMEOUT)
            .bearer_auth(&owner.token)
            .json(&json!({ "kind": "group", "title": title, "members": others }))
            .send()
            .await?;
        let body: IdOut = ok_json(resp, "group creation").await?;
        Ok(body.id)
    }

    /// Posts a message; returns the answer's status (201 when it was stored).
    pub async fn post_message(&self, author: &User, chat: &str, text: &str, nonce: &str) -> anyhow::Result<StatusCode> {
        let resp = self
            .client
            .post(format!("{}/api/v1/chats/{chat}/signals", self.base))
            .timeout(REQUEST_TIMEOUT)
            .bearer_auth(&author.token)
            .json(&json!({ "kind": "msg", "text": text, "nonce": nonce }))
            .send()
            .await?;
        let status = resp.status();
        // Read the body so the connection goes back to the pool.
        resp.bytes().await?;
        Ok(status)
    }

    /// Adds a webhook push target for `user`.
    pub async fn add_webhook(&self, user: &User, url: &str, secret: &str) -> anyhow::Result<()> {
        let resp = self
            .client
            .post(format!("{}/api/v1/me/push-targets", self.base))
            .timeout(REQUEST_TIMEOUT)
            .bearer_auth(&user.token)
            .json(&json!({ "kind": "webhook", "url": url, "secret": secret }))
            .send()
            .await?;
        let _: serde_json::Value = ok_json(resp, "push target").await?;
        Ok(())
    }

    /// Opens the user's live event stream (the caller reads it), as the `index`-th stream.
    pub async fn open_events(&self, user: &User, index: usize) -> anyhow::Result<reqwest::Response> {
        let client = &self.stream_clients[index % self.stream_clients.len()];
        let resp = client.get(format!("{}/api/v1/events", self.base)).bearer_auth(&user.token).send().await?;
        if resp.status() != StatusCode::OK {
            bail!("events: HTTP {}", resp.status());
        }
        Ok(resp)
    }
}

async fn ok_json<T: serde::de::DeserializeOwned>(resp: reqwest::Response, what: &str) -> anyhow::Result<T> {
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        bail!("{what}: HTTP {status}: {text}");
    }
    resp.json().await.with_context(|| format!("{what}: bad body"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_bases_are_accepted() {
        assert!(Api::new("http://127.0.0.1:8080", 1).is_ok());
        assert!(Api::new("http://localhost:1/", 1).is_ok());
        assert!(Api::new("http://[::1]:8080", 1).is_ok());
        assert!(Api::new("http://127.0.0.1:8080", 4).is_ok());
        assert!(Api::new("http://10.0.0.1:8080", 1).is_err());
        assert!(Api::new("http://example.com", 1).is_err());
    }
}
