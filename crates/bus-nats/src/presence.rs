//! Presence in a KV bucket (file storage, so it survives a NATS restart).
//!
//! `<PREFIX>_PRESENCE` holds one key per connected user, `<user id>`, whose value maps each
//! of their live connections (on any node) to its deadline (Unix ms): the last heartbeat
//! plus its ttl. Every write is a compare-and-set on the key's revision, so two nodes
//! changing one user's connections at once cannot lose either change, and the writer knows
//! exactly whether the user came online (no live connection before) or went offline (none
//! after: the key is deleted). Each write also gives the key a per-message TTL (NATS ≥
//! 2.11) reaching its latest deadline, so the key of a user whose node died expires by
//! itself; the server then leaves a delete marker (`Nats-Marker-Reason: MaxAge`). The
//! durable consumer `presence_expiry` on the bucket's stream, shared by every node, hands
//! each marker to one node: that is [`Bus::presence_expiries`](ports::Bus).
//!
//! A user is online while their key holds a deadline in the future: the reader's clock
//! decides, so nodes' clocks must agree to well within a heartbeat period (NTP does).
//!
//! `<PREFIX>_STATUS` holds the status a user set, key `<user id>`, as JSON.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::kv::{self, Operation};
use async_nats::jetstream::{self, AckKind, consumer::pull};
use bytes::Bytes;
use domain::{Error, Result, UserId, id::now_ms};
use futures::StreamExt;
use ports::{PresenceExpiry, PresenceExpiryStream};

use crate::{Backoff, Inner, unavailable};

/// The consumer every node's presence worker shares.
pub(crate) const EXPIRY_CONSUMER: &str = "presence_expiry";
/// How long the server keeps the delete marker of an expired key.
pub(crate) const MARKER_TTL: Duration = Duration::from_secs(60);
/// Compare-and-set attempts before giving up (only a storm of writes to one user's key
/// exhausts them).
const CAS_ATTEMPTS: usize = 16;
const HEARTBEAT: Duration = Duration::from_secs(5);
const PULL_EXPIRES: Duration = Duration::from_secs(30);

/// The live connections of one user: connection id → deadline (Unix ms).
type Connections = HashMap<String, u64>;

/// The key's current value, as a compare-and-set needs it.
struct Current {
    /// The revision to expect when writing (0: the key never existed).
    revision: u64,
    /// Whether the key holds a value (not deleted, purged or expired).
    present: bool,
    connections: Connections,
}

fn key(user: UserId) -> String {
    user.0.to_string()
}

fn live(connections: &Connections, now: u64) -> bool {
    connections.values().any(|deadline| *deadline > now)
}

impl Inner {
    async fn read_presence(&self, user: UserId) -> Result<Current> {
        let entry = self.presence.entry(key(user)).await.map_err(|e| unavailable("cannot read presence", e))?;
        Ok(match entry {
            None => Current { revision: 0, present: false, connections: Connections::new() },
            Some(entry) if entry.operation == Operation::Put => Current {
                revision: entry.revision,
                present: true,
                // An unreadable value (a newer node wrote it) counts as no connection.
                connections: serde_json::from_slice(&entry.value).unwrap_or_default(),
            },
            Some(entry) => Current { revision: entry.revision, present: false, connections: Connections::new() },
        })
    }

    /// Writes the connections (or deletes the key when there are none) if the key is still
    /// at `revision`. `Ok(false)`: someone else wrote it first.
    async fn write_presence(&self, user: UserId, revision: u64, connections: &Connections, now: u64) -> Result<bool> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Expected-Last-Subject-Sequence", revision.to_string().as_str());
        let payload = match connections.values().max() {
            Some(latest) => {
                let ttl_secs = latest.saturating_sub(now).div_ceil(1000).max(1);
                headers.insert("Nats-TTL", ttl_secs.to_string().as_str());
                Bytes::from(serde_json::to_vec(connections).map_err(|e| Error::internal(e.to_string()))?)
            }
            None => {
                // A plain delete: no TTL, so it never turns into an expiry marker.
                headers.insert("KV-Operation", "DEL");
                Bytes::new()
            }
        };
        let subject = format!("{}{}", self.presence.prefix, key(user));
        let ack = self
            .js
            .publish_with_headers(subject, headers, payload)
            .await
            .map_err(|e| unavailable("cannot write presence", e))?;
        match ack.await {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => Ok(false),
            Err(error) => Err(unavailable("presence write not acknowledged", error)),
        }
    }

    /// Applies `change` to the user's connections until a compare-and-set succeeds;
    /// returns what `change` said on that attempt.
    async fn change_presence<T>(
        &self,
        user: UserId,
        mut change: impl FnMut(&mut Current, u64) -> Option<T>,
    ) -> Result<Option<T>> {
        for _ in 0..CAS_ATTEMPTS {
            let mut current = self.read_presence(user).await?;
            let now = now_ms();
            let Some(outcome) = change(&mut current, now) else { return Ok(None) };
            if self.write_presence(user, current.revision, &current.connections, now).await? {
                return Ok(Some(outcome));
            }
        }
        Err(Error::unavailable(format!("nats: presence of user {user} keeps changing; gave up")))
    }

    pub(crate) async fn heartbeat(&self, user: UserId, connection: &str, ttl: Duration) -> Result<bool> {
        let came_online = self
            .change_presence(user, |current, now| {
                // Connections that expired without a close go now.
                current.connections.retain(|_, deadline| *deadline > now);
                let came_online = current.connections.is_empty();
                current.connections.insert(connection.to_string(), now + ttl.as_millis() as u64);
                Some(came_online)
            })
            .await?;
        Ok(came_online.unwrap_or(false))
    }

    pub(crate) async fn connection_closed(&self, user: UserId, connection: &str) -> Result<bool> {
        let went_offline = self
            .change_presence(user, |current, now| {
                if !current.present {
                    // Already offline; an expiry marker (if any) reports it.
                    return None;
                }
                let had = current.connections.remove(connection).is_some();
                if live(&current.connections, now) {
                    return had.then_some(false);
                }
                // Nothing live is left: delete the key, so it never expires into a marker.
                current.connections.clear();
                Some(true)
            })
            .await?;
        Ok(went_offline.unwrap_or(false))
    }

    pub(crate) async fn online(&self, users: &[UserId]) -> Result<Vec<UserId>> {
        let reads = futures::future::try_join_all(users.iter().map(|u| self.read_presence(*u))).await?;
        let now = now_ms();
        Ok(users.iter().zip(reads).filter(|(_, c)| c.present && live(&c.connections, now)).map(|(u, _)| *u).collect())
    }

    /// Creates the expiry consumer, or updates it to this configuration.
    pub(crate) async fn expiry_consumer(&self) -> Result<jetstream::consumer::PullConsumer> {
        let config = pull::Config {
            durable_name: Some(EXPIRY_CONSUMER.into()),
            description: Some("Petit chat presence workers (every node): expired connections".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: self.config.ack_wait(),
            max_deliver: -1,
            deliver_policy: jetstream::consumer::DeliverPolicy::New,
            // Only the headers matter: the marker's reason and the subject.
            headers_only: true,
            ..Default::default()
        };
        self.presence
            .stream
            .create_consumer(config)
            .await
            .map_err(|e| unavailable("cannot create or update the presence expiry consumer", e))
    }
}

/// The presence bucket's configuration.
pub(crate) fn bucket(config: &crate::NatsConfig) -> kv::Config {
    kv::Config {
        bucket: config.presence_bucket(),
        description: "Petit chat: live connections per user (presence)".into(),
        history: 1,
        storage: jetstream::stream::StorageType::File,
        num_replicas: config.replicas,
        limit_markers: Some(MARKER_TTL),
        ..Default::default()
    }
}

pub(crate) fn expiries(inner: Arc<Inner>) -> PresenceExpiryStream {
    let feed = Feed { inner, messages: None, backoff: Backoff::default(), failed: false };
    Box::pin(futures::stream::unfold(feed, |mut feed| async move {
        let item = feed.next().await;
        Some((item, feed))
    }))
}

struct Feed {
    inner: Arc<Inner>,
    messages: Option<pull::Stream>,
    backoff: Backoff,
    failed: bool,
}

impl Feed {
    async fn open(&self) -> Result<pull::Stream> {
        self.inner
            .expiry_consumer()
            .await?
            .stream()
            .max_messages_per_batch(64)
            .heartbeat(HEARTBEAT)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|e| unavailable("cannot pull presence changes", e))
    }

    async fn next(&mut self) -> Result<PresenceExpiry> {
        loop {
            if self.failed {
                self.backoff.wait().await;
                self.failed = false;
            }
            let messages = match &mut self.messages {
                Some(messages) => messages,
                None => match self.open().await {
                    Ok(messages) => self.messages.insert(messages),
                    Err(error) => {
                        self.failed = true;
                        return Err(error);
                    }
                },
            };
            let message = match messages.next().await {
                Some(Ok(message)) => message,
                Some(Err(error)) => {
                    self.messages = None;
                    self.failed = true;
                    return Err(unavailable("the presence pull failed", error));
                }
                None => {
                    self.messages = None;
                    self.failed = true;
                    continue;
                }
            };
            self.backoff.reset();
            let expired = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Marker-Reason"))
                .is_some_and(|reason| reason.as_str() == "MaxAge");
            let user = message.subject.strip_prefix(self.inner.presence.prefix.as_str()).and_then(|k| k.parse().ok());
            match (expired, user) {
                (true, Some(user)) => {
                    let ack = Box::new(move || -> ports::bus::AckFuture {
                        Box::pin(async move {
                            message.double_ack().await.map_err(|e| unavailable("cannot acknowledge an expiry", e))
                        })
                    });
                    return Ok(PresenceExpiry { user: domain::Id(user), ack });
                }
                // Heartbeats and closes: nothing to do. An ack that does not arrive only
                // brings the message back, to be skipped again.
                _ => {
                    if let Err(error) = message.ack_with(AckKind::Ack).await {
                        tracing::debug!(%error, "nats: cannot acknowledge a presence write");
                    }
                }
            }
        }
    }
}
