//! The Bus port over NATS JetStream, for the cluster shape: any number of stateless nodes
//! share one NATS (cluster).
//!
//! - Chat events go to the interest-retention stream `<PREFIX>_CHAT_LOG` (subject
//!   `<prefix>.events.<partition>.<chat id>.<topic>`), read by consumer groups (`fanout`,
//!   `thumbnails` on the `img` topic only, …): a
//!   group is one durable pull consumer per partition, with explicit acknowledgement; an
//!   in-order group's partitions are shared out among its live workers (KV bucket
//!   `<PREFIX>_WORKERS`), each pinned to its owner, which may hold several of its events
//!   at once (see `chat_events.rs`, `owners.rs`; pinned consumers need NATS ≥ 2.11).
//!   Publishing returns once the stream holds the event; the stream keeps it until every
//!   group has acknowledged it.
//! - Per-user events go to the limits stream `<PREFIX>_USER_EVENTS` (subject
//!   `<prefix>.user.fanout`, one message per event, its recipients in a header), kept for
//!   `user_events_max_age_secs`. An event id is `<stream epoch>-<stream sequence>`: the
//!   sequence is the same on every node, so a client resumes with `Last-Event-ID` on any
//!   node; the epoch (the stream's creation time) tells ids of a deleted and recreated
//!   stream apart. The stream republishes each event it stores to the core subject
//!   `<prefix>.stored.fanout`, with its sequence: each node with live streams follows it
//!   there once (`follower.rs`), reading the stream itself only to catch up, and keeps its
//!   last `replay_window_events` events for replays (`window.rs`); see `user_events.rs`.
//! - Ephemeral per-user events (typing, presence) are core NATS messages on
//!   `<prefix>.live.<user id>`, outside every stream: each live stream subscribes to its
//!   user's subject and merges them, without ids, with the durable ones.
//! - Notification jobs go to the work-queue stream `<PREFIX>_NOTIFY`, a subject per user
//!   (`<prefix>.notify.<partition>.<user id>`), shared by the push workers through one
//!   durable consumer per partition; delayed jobs are message schedules (see `notify.rs`).
//! - Membership news (a chat's members or roles changed) are core NATS messages on
//!   `<prefix>.membership`, outside every stream (see `membership.rs`).
//! - Presence is a KV bucket, `<PREFIX>_PRESENCE` (see `presence.rs`); expired
//!   connections reach one node through the durable consumer `presence_expiry`. Per-key
//!   TTLs need NATS ≥ 2.11.
//! - The nonce fence is a KV bucket, `<PREFIX>_NONCES`, whose claims are KV creates
//!   (see `fence.rs`).
//!
//! Streams, buckets and consumers are created or updated at [`NatsBus::connect`]. NATS
//! failures become `unavailable` errors (503).

mod chat_events;
mod config;
mod fence;
mod follower;
mod membership;
mod notify;
mod owners;
mod presence;
mod user_events;
mod window;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, kv, stream};
use async_trait::async_trait;
use domain::{ChatEvent, ChatId, Error, ErrorCode, Event, NotifyJob, Result, SignalId, UserId};
use ports::{
    Bus, ChatEventBus, ChatEventStream, GroupSpec, MembershipNews, MembershipNewsStream, NonceClaim, NonceFence,
    NotifyJobStream, NotifyQueue, PresenceBus, PresenceExpiryStream, UserEventBus, UserSubscription,
};

pub use chat_events::{EVENT_VERSION, EVENT_VERSION_HEADER};
pub use config::{NEW_DEPLOYMENT_PARTITIONS, NatsConfig};

/// The NATS JetStream bus. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct NatsBus {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: NatsConfig,
    pub(crate) js: jetstream::Context,
    pub(crate) chat_stream: String,
    pub(crate) user_stream: String,
    /// Live connections per user.
    pub(crate) presence: kv::Store,
    /// The live workers of each in-order consumer group (`owners.rs`).
    pub(crate) workers: kv::Store,
    /// The nonce fence (`fence.rs`).
    pub(crate) nonces: kv::Store,
    /// Counts the connection's (re)connections and the republish rule's restorations: a
    /// node's follower may have missed what was stored meanwhile, so it looks
    /// (`follower.rs`).
    pub(crate) misses: tokio::sync::watch::Sender<u64>,
    /// Counts the messages the connection dropped because a subscription fell too far
    /// behind (slow consumers), whichever it was (`membership.rs`).
    pub(crate) drops: tokio::sync::watch::Sender<u64>,
    /// This node's window on the per-user events, and its follower (`follower.rs`).
    pub(crate) follower: follower::Follower,
    /// The consumer groups this bus has made sure of.
    pub(crate) declared: std::sync::Mutex<std::collections::HashSet<(String, GroupSpec)>>,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("servers", &self.inner.config.servers)
            .field("prefix", &self.inner.config.prefix)
            .finish_non_exhaustive()
    }
}

/// A NATS failure as the domain's `unavailable` error: a retry may succeed.
pub(crate) fn unavailable(what: &str, error: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("nats: {what}: {error}"))
}

impl NatsBus {
    /// Connects (retrying for `connect_wait_secs`), then creates or updates the streams
    /// and the fan-out consumer.
    pub async fn connect(config: &NatsConfig) -> Result<Self> {
        config.validate()?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(config.connect_wait_secs);
        let mut backoff = Backoff::default();
        loop {
            match Self::try_connect(config).await {
                Ok(bus) => return Ok(bus),
                Err(error) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(%error, servers = ?config.servers, "nats: not ready yet, retrying");
                    backoff.wait().await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn try_connect(config: &NatsConfig) -> Result<Self> {
        let misses = tokio::sync::watch::Sender::new(0u64);
        let missed = misses.clone();
        let drops = tokio::sync::watch::Sender::new(0u64);
        let dropped = drops.clone();
        let mut options = async_nats::ConnectOptions::new()
            .name(&config.connection_name)
            .connection_timeout(Duration::from_millis(config.connect_timeout_ms.max(1)))
            .request_timeout(Some(config.request_timeout()))
            .require_tls(config.tls_required)
            .event_callback(move |event| {
                let (missed, dropped) = (missed.clone(), dropped.clone());
                async move {
                    match event {
                        async_nats::Event::Connected => missed.send_modify(|n| *n += 1),
                        async_nats::Event::SlowConsumer(_) => dropped.send_modify(|n| *n += 1),
                        _ => {}
                    }
                    match event {
                        async_nats::Event::Connected => tracing::info!("nats: connected"),
                        async_nats::Event::Disconnected => tracing::warn!("nats: disconnected, reconnecting"),
                        other => tracing::warn!(event = %other, "nats: connection event"),
                    }
                }
            });
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(token) = &config.token {
            options = options.token(token.clone());
        }
        if let Some(ca) = &config.tls_ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        let client = options
            .connect(config.servers.as_slice())
            .await
            .map_err(|e| unavailable(&format!("cannot connect to {}", config.servers.join(",")), e))?;
        let js = jetstream::ContextBuilder::new().timeout(config.request_timeout()).build(client);
        let config = &NatsConfig { partitions: Some(partitions(&js, config).await?), ..config.clone() };
        let presence = key_value(&js, presence::bucket(config)).await?;
        let workers = key_value(&js, owners::bucket(config)).await?;
        let nonces = key_value(&js, fence::bucket(config)).await?;
        let inner = Inner {
            config: config.clone(),
            js,
            chat_stream: config.chat_log_stream(),
            user_stream: config.user_events_stream(),
            presence,
            workers,
            nonces,
            misses,
            drops,
            follower: follower::Follower::new(
                usize::try_from(config.replay_window_events).unwrap_or(usize::MAX),
                Duration::from_secs(config.user_events_max_age_secs),
            ),
            declared: std::sync::Mutex::default(),
        };
        inner.ensure_streams().await?;
        inner.expiry_consumer().await?;
        notify::declare_consumers(&inner).await?;
        let inner = Arc::new(inner);
        keep_republishing(&inner);
        Ok(Self { inner })
    }

    /// Deletes the streams and the bucket of `config.prefix` (its consumers go with them):
    /// what a test or a benchmark run removes when it ends. Missing ones are no error.
    pub async fn delete_streams(config: &NatsConfig) -> Result<()> {
        let client = async_nats::connect(config.servers.as_slice())
            .await
            .map_err(|e| unavailable(&format!("cannot connect to {}", config.servers.join(",")), e))?;
        let js = jetstream::new(client);
        let streams = [
            config.chat_log_stream(),
            config.user_events_stream(),
            config.notify_stream(),
            format!("KV_{}", config.presence_bucket()),
            format!("KV_{}", config.workers_bucket()),
            format!("KV_{}", config.nonces_bucket()),
        ];
        for name in streams {
            match js.delete_stream(&name).await {
                Ok(_) => {}
                Err(e) if stream_not_found(&e) => {}
                Err(e) => return Err(unavailable(&format!("cannot delete stream {name}"), e)),
            }
        }
        Ok(())
    }

    /// Drops the connection and makes a new one, as a network failure would: what was
    /// published to this node's subscriptions meanwhile is lost to them, and the node's
    /// follower catches up from the per-user stream. For operators and tests.
    pub async fn force_reconnect(&self) -> Result<()> {
        self.inner.js.client().force_reconnect().await.map_err(|e| unavailable("cannot reconnect", e))
    }

    /// The configuration this bus runs with.
    pub fn config(&self) -> &NatsConfig {
        &self.inner.config
    }
}

/// The partitions of the deployment: those the chat log records (see
/// [`config::NEW_DEPLOYMENT_PARTITIONS`]). A setting that differs from them is refused:
/// events of a partition the node would not read would wait forever.
async fn partitions(js: &jetstream::Context, config: &NatsConfig) -> Result<u32> {
    let name = config.chat_log_stream();
    let recorded = match js.get_stream(&name).await {
        Ok(stream) => Some(
            stream
                .cached_info()
                .config
                .metadata
                .get(config::PARTITIONS_KEY)
                .and_then(|n| n.parse().ok())
                .unwrap_or(config::UNRECORDED_PARTITIONS),
        ),
        Err(e) if stream_not_found(&e) => None,
        Err(e) => return Err(unavailable(&format!("cannot read stream {name}"), e)),
    };
    match (config.partitions, recorded) {
        (Some(set), Some(made)) if set != made => Err(Error::invalid(
            ErrorCode::InvalidConfig,
            format!(
                "bus.partitions is {set}, but this deployment's chat log ({name}) has {made} partitions: \
                 every node must use the count the deployment was made with (set bus.partitions = {made}, \
                 or leave it out)"
            ),
        )),
        (_, Some(made)) => Ok(made),
        (set, None) => Ok(set.unwrap_or(config::NEW_DEPLOYMENT_PARTITIONS)),
    }
}

/// Checks every `stream_check_secs` that the per-user stream still republishes, and puts
/// the rule back if not (a node of an older release that starts updates the stream to its
/// own configuration, without it). Ends with the bus.
fn keep_republishing(inner: &Arc<Inner>) {
    let period = Duration::from_secs(inner.config.stream_check_secs.max(1));
    let inner = Arc::downgrade(inner);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            let Some(inner) = inner.upgrade() else { return };
            if let Err(error) = inner.ensure_republish().await {
                tracing::debug!(%error, "nats: cannot check the per-user stream's republish rule");
            }
        }
    });
}

/// Whether a stream lookup or deletion failed because the stream does not exist.
fn stream_not_found(error: &jetstream::context::GetStreamError) -> bool {
    matches!(error.kind(), jetstream::context::GetStreamErrorKind::JetStream(j)
        if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
}

/// Creates the KV bucket of `config`, or updates it to this configuration.
pub(crate) async fn key_value(js: &jetstream::Context, config: kv::Config) -> Result<kv::Store> {
    let name = config.bucket.clone();
    js.create_or_update_key_value(config)
        .await
        .map_err(|e| unavailable(&format!("cannot create or update bucket {name}"), e))
}

impl Inner {
    async fn ensure_streams(&self) -> Result<()> {
        let c = &self.config;
        let chat = stream::Config {
            name: self.chat_stream.clone(),
            description: Some("Petit chat: the chat-event log, kept until every consumer group has it".into()),
            subjects: vec![c.chat_log_subjects()],
            retention: stream::RetentionPolicy::Interest,
            storage: stream::StorageType::File,
            num_replicas: c.replicas,
            max_age: Duration::from_secs(c.chat_events_max_age_secs),
            metadata: [(config::PARTITIONS_KEY.to_string(), c.partition_count().to_string())].into(),
            ..Default::default()
        };
        let user = stream::Config {
            name: self.user_stream.clone(),
            description: Some("Petit chat: per-user events, replayable for Last-Event-ID".into()),
            subjects: vec![c.user_subjects()],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            discard: stream::DiscardPolicy::Old,
            num_replicas: c.replicas,
            max_age: Duration::from_secs(c.user_events_max_age_secs),
            max_bytes: c.user_events_max_bytes.unwrap_or(-1),
            republish: Some(c.user_republish()),
            ..Default::default()
        };
        for config in [chat, user, notify::stream_config(self)] {
            let name = config.name.clone();
            self.js
                .create_or_update_stream(config)
                .await
                .map_err(|e| unavailable(&format!("cannot create or update stream {name}"), e))?;
        }
        Ok(())
    }

    /// Puts the per-user stream's republish rule back if it is gone; the nodes' followers
    /// then look for what they missed meanwhile.
    async fn ensure_republish(&self) -> Result<()> {
        let stream = self
            .js
            .get_stream(&self.user_stream)
            .await
            .map_err(|e| unavailable(&format!("cannot read stream {}", self.user_stream), e))?;
        let wanted = self.config.user_republish();
        let mut config = stream.cached_info().config.clone();
        if config.republish.as_ref() == Some(&wanted) {
            return Ok(());
        }
        config.republish = Some(wanted);
        self.js
            .update_stream(config)
            .await
            .map_err(|e| unavailable(&format!("cannot update stream {}", self.user_stream), e))?;
        tracing::warn!(
            stream = %self.user_stream,
            "nats: the per-user stream did not republish (a node of an older release started?): rule restored"
        );
        self.misses.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Creates the durable consumers of a group (one per partition), or updates them to
    /// this configuration. Once per group and bus.
    pub(crate) async fn declare_group(&self, group: &str, spec: GroupSpec) -> Result<()> {
        if !ports::valid_group_name(group) {
            return Err(Error::invalid(ErrorCode::InvalidGroup, format!("{group:?} is not a consumer group name")));
        }
        let declared = (group.to_string(), spec);
        if self.declared.lock().unwrap_or_else(|e| e.into_inner()).contains(&declared) {
            return Ok(());
        }
        let consumers = (0..self.config.partition_count()).map(|partition| {
            // In order: the partition's events go to one pull stream at a time (pinned),
            // up to `in_flight` of them unacknowledged (see `owners.rs`).
            let pinned = spec.order == ports::EventOrder::PerChat;
            let config = pull::Config {
                durable_name: Some(config::group_consumer(group, partition)),
                description: Some(format!("Petit chat consumer group {group}, partition {partition}")),
                filter_subjects: self.config.partition_subjects(partition, spec.interest),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: self.config.ack_wait(),
                max_deliver: -1,
                max_ack_pending: chat_events::in_flight(spec.order),
                priority_groups: if pinned { vec![owners::PIN_GROUP.to_string()] } else { vec![] },
                priority_policy: if pinned {
                    jetstream::consumer::PriorityPolicy::PinnedClient
                } else {
                    jetstream::consumer::PriorityPolicy::None
                },
                priority_timeout: if pinned { self.config.pin_ttl() } else { Duration::ZERO },
                deliver_policy: jetstream::consumer::DeliverPolicy::New,
                num_replicas: self.config.replicas,
                ..Default::default()
            };
            async move {
                self.js
                    .create_consumer_on_stream(config, &self.chat_stream)
                    .await
                    .map_err(|e| unavailable(&format!("cannot create or update consumer group {group}"), e))
            }
        });
        futures::future::try_join_all(consumers).await?;
        self.declared.lock().unwrap_or_else(|e| e.into_inner()).insert(declared);
        Ok(())
    }
}

#[async_trait]
impl NonceFence for NatsBus {
    async fn claim_nonce(&self, chat: ChatId, author: UserId, nonce: &str, id: SignalId) -> Result<NonceClaim> {
        self.inner.claim_nonce(chat, author, nonce, id).await
    }
}

#[async_trait]
impl MembershipNews for NatsBus {
    async fn membership_changed(&self, chat: ChatId) -> Result<()> {
        membership::publish(&self.inner, chat).await
    }

    async fn membership_news(&self) -> Result<MembershipNewsStream> {
        membership::subscribe(&self.inner).await
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn ping(&self) -> Result<()> {
        let timeout = Duration::from_millis(self.inner.config.ping_timeout_ms.max(1));
        tokio::time::timeout(timeout, self.inner.js.query_account())
            .await
            .map_err(|_| Error::unavailable(format!("nats: no answer within {timeout:?}")))?
            .map_err(|e| unavailable("account info", e))?;
        Ok(())
    }
}

#[async_trait]
impl ChatEventBus for NatsBus {
    async fn publish_chat_event(&self, event: &ChatEvent, key: &str) -> Result<()> {
        chat_events::publish(&self.inner, event, key).await
    }

    async fn declare_group(&self, group: &str, spec: GroupSpec) -> Result<()> {
        self.inner.declare_group(group, spec).await
    }

    async fn chat_events(&self, group: &str, spec: GroupSpec) -> Result<ChatEventStream> {
        chat_events::stream(self.inner.clone(), group, spec).await
    }

    async fn group_lag(&self, group: &str) -> Result<u64> {
        chat_events::lag(&self.inner, group).await
    }
}

#[async_trait]
impl NotifyQueue for NatsBus {
    async fn queue_notification(&self, job: &NotifyJob, delay: Option<Duration>) -> Result<()> {
        notify::queue(&self.inner, job, delay).await
    }

    async fn notification_jobs(&self) -> Result<NotifyJobStream> {
        Ok(notify::jobs(self.inner.clone()))
    }
}

#[async_trait]
impl UserEventBus for NatsBus {
    async fn publish_user_event(&self, users: &[UserId], event: &Event) -> Result<()> {
        user_events::publish(&self.inner, users, event, None).await
    }

    async fn publish_fanned_out(&self, users: &[UserId], event: &Event, origin: &str) -> Result<()> {
        user_events::publish(&self.inner, users, event, Some(origin)).await
    }

    async fn subscribe_user(&self, user: UserId, after: Option<&str>) -> Result<UserSubscription> {
        user_events::subscribe(self.inner.clone(), user, after).await
    }

    async fn publish_ephemeral(&self, users: &[UserId], event: &Event) -> Result<()> {
        user_events::publish_ephemeral(&self.inner, users, event).await
    }
}

#[async_trait]
impl PresenceBus for NatsBus {
    async fn heartbeat(&self, user: UserId, connection: &str, ttl: Duration) -> Result<bool> {
        self.inner.heartbeat(user, connection, ttl).await
    }

    async fn connection_closed(&self, user: UserId, connection: &str) -> Result<bool> {
        self.inner.connection_closed(user, connection).await
    }

    async fn online(&self, users: &[UserId]) -> Result<Vec<UserId>> {
        self.inner.online(users).await
    }

    async fn presence_expiries(&self) -> Result<PresenceExpiryStream> {
        Ok(presence::expiries(self.inner.clone()))
    }
}

/// Waits between retries: 100 ms, doubling up to 5 s.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Duration::from_millis(100) }
    }
}

impl Backoff {
    pub(crate) async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Duration::from_secs(5));
    }

    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }
}
