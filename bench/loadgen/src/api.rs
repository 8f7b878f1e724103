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
    /// (`nonce` makes a retry return the same group).
    pub async fn create_group(
        &self,
        owner: &User,
        title: &str,
        others: &[&str],
        nonce: &str,
    ) -> anyhow::Result<String> {
        let resp = self
            .client
            .post(format!("{}/api/v1/chats", self.base))
            .timeout(REQUEST_TIMEOUT)
            .bearer_auth(&owner.token)
            .json(&json!({ "kind": "group", "title": title, "members": others, "nonce": nonce }))
            .send()
            .await?;
        let body: IdOut = ok_json(resp, "group creation").await?;
        Ok(body.id)
    }

    /// Posts a message: 201 with the new signal's id when it was stored, 200 with the same id
    /// when an earlier attempt with this nonce was.
    pub async fn post_message(&self, author: &User, chat: &str, text: &str, nonce: &str) -> Result<Answer, Refusal> {
        let resp = self
            .client
            .post(format!("{}/api/v1/chats/{chat}/signals", self.base))
            .timeout(REQUEST_TIMEOUT)
            .bearer_auth(&author.token)
            .json(&json!({ "kind": "msg", "text": text, "nonce": nonce }))
            .send()
            .await
            .map_err(Refusal::from)?;
        let status = resp.status();
        if !status.is_success() {
            // Read the body so the connection goes back to the pool.
            let _ = resp.bytes().await;
            return Err(Refusal::Status(status.as_u16()));
        }
        let body: IdOut = resp.json().await.map_err(Refusal::from)?;
        Ok(Answer { status, id: body.id })
    }

    /// Adds `user`'s `emoji` reaction to a signal (idempotent: adding it again changes nothing).
    pub async fn react(&self, user: &User, chat: &str, signal: &str, emoji: &str) -> Result<(), Refusal> {
        let resp = self
            .client
            .put(format!("{}/api/v1/chats/{chat}/signals/{signal}/reactions/{emoji}", self.base))
            .timeout(REQUEST_TIMEOUT)
            .bearer_auth(&user.token)
            .send()
            .await
            .map_err(Refusal::from)?;
        let status = resp.status();
        let _ = resp.bytes().await;
        if status.is_success() { Ok(()) } else { Err(Refusal::Status(status.as_u16())) }
    }

    /// One page of a chat's timeline (newest first) and the cursor of the next.
    pub async fn history_page(
        &self,
        user: &User,
        chat: &str,
        cursor: Option<&str>,
    ) -> anyhow::Result<(Vec<serde_json::Value>, Option<String>)> {
        let mut url = reqwest::Url::parse(&format!("{}/api/v1/chats/{chat}/signals?limit=1000", self.base))?;
        if let Some(cursor) = cursor {
            url.query_pairs_mut().append_pair("cursor", cursor);
        }
        let req = self.client.get(url).timeout(REQUEST_TIMEOUT).bearer_auth(&user.token);
        #[derive(Deserialize)]
        struct Page {
            items: Vec<serde_json::Value>,
            next_cursor: Option<String>,
        }
        let page: Page = ok_json(req.send().await?, "history").await?;
        Ok((page.items, page.next_cursor))
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

    /// Opens the user's live event stream (the caller reads it), as the `index`-th stream,
    /// resuming after `last_event_id` when given.
    pub async fn open_events(
        &self,
        user: &User,
        index: usize,
        last_event_id: Option<&str>,
    ) -> anyhow::Result<reqwest::Response> {
        let client = &self.stream_clients[index % self.stream_clients.len()];
        let mut req = client.get(format!("{}/api/v1/events", self.base)).bearer_auth(&user.token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await?;
        if resp.status() != StatusCode::OK {
            return Err(Refusal::Status(resp.status().as_u16()).into());
        }
        Ok(resp)
    }
}

/// A request's successful answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// The id of what was made.
    pub id: String,
}

/// Why a request was not answered with success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server answered with this status.
    Status(u16),
    /// No connection could be made (the node is down).
    Connect,
    /// No answer within the request timeout.
    Timeout,
    /// The connection broke, or the answer was unreadable.
    Broken,
}

impl From<reqwest::Error> for Refusal {
    fn from(e: reqwest::Error) -> Self {
        Refusal::from_ref(&e)
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    /// The refusal behind a failed stream opening.
    pub fn of(e: &anyhow::Error) -> Self {
        if let Some(r) = e.downcast_ref::<Refusal>() {
            *r
        } else if let Some(e) = e.downcast_ref::<reqwest::Error>() {
            Refusal::from_ref(e)
        } else {
            Refusal::Broken
        }
    }

    fn from_ref(e: &reqwest::Error) -> Self {
        if e.is_connect() {
            Refusal::Connect
        } else if e.is_timeout() {
            Refusal::Timeout
        } else {
            Refusal::Broken
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Status(code) => write!(f, "http_{code}"),
            Refusal::Connect => f.write_str("connect"),
            Refusal::Timeout => f.write_str("timeout"),
            Refusal::Broken => f.write_str("broken"),
        }
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
