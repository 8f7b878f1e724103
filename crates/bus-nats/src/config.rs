//! The NATS adapter's configuration (`[bus]` with `kind = "nats"`), and the names of the
//! streams, subjects and consumer it derives from it.

use std::path::PathBuf;
use std::time::Duration;

use domain::{ChatEvent, Error, ErrorCode, Result, UserId};
use ports::Interest;
use serde::{Deserialize, Serialize};

/// How to reach NATS and how the JetStream streams are shaped.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct NatsConfig {
    /// NATS server URLs (`nats://host:4222`, `tls://host:4222`); the client learns the rest
    /// of a cluster from the ones it reaches.
    pub servers: Vec<String>,
    /// Prefix of every subject (`<prefix>.events.…`, `<prefix>.user.fanout`,
    /// `<prefix>.stored.fanout`, `<prefix>.live.<user id>`, `<prefix>.notify.…`) and,
    /// upper-cased, of the stream and bucket names (`<PREFIX>_CHAT_LOG`,
    /// `<PREFIX>_USER_EVENTS`, `<PREFIX>_NOTIFY`, `<PREFIX>_PRESENCE`, …).
    /// Lowercase letters, digits and `_`. Deployments sharing one NATS account need
    /// distinct prefixes; all nodes of one deployment use the same.
    pub prefix: String,
    /// The name this connection shows in the server's monitoring.
    pub connection_name: String,
    /// User and password authentication.
    pub user: Option<String>,
    pub password: Option<String>,
    /// Token authentication.
    pub token: Option<String>,
    /// Refuse to connect without TLS.
    pub tls_required: bool,
    /// A PEM file of the certificate authorities that sign the servers' certificates
    /// (unset: the system's roots).
    pub tls_ca_file: Option<PathBuf>,
    /// Replicas of the streams and of the fan-out consumer: 1 for a single server, 3 in a
    /// production cluster. Changing it later updates the streams in place.
    pub replicas: usize,
    /// How long per-user events stay replayable for `Last-Event-ID`: a client that comes
    /// back later is told to resync.
    pub user_events_max_age_secs: u64,
    /// Cap on the per-user event stream's size; the oldest events go first (a client
    /// resuming from one of them is told to resync). Unset: bounded by age only.
    pub user_events_max_bytes: Option<i64>,
    /// How many of the last per-user events (of all users) each node with live streams
    /// keeps in memory, so that a client that comes back within them (on any node) gets
    /// what it missed; one that comes back later is told to resync. An event takes its
    /// JSON and 8 bytes per recipient (about 0.5 KB for a message to a group of 10); also
    /// bounded by `user_events_max_age_secs`.
    pub replay_window_events: u64,
    /// How long a chat event waits for a fan-out worker before it is dropped (no worker
    /// ran for that long).
    pub chat_events_max_age_secs: u64,
    /// How long a worker may hold a chat event it took without acknowledging it before it
    /// is handed to another worker (a worker that dies or hangs mid-event). Events a
    /// worker received but has not taken yet are kept alive meanwhile.
    pub ack_wait_ms: u64,
    /// How long a push worker may hold a notification job (its attempts at every target
    /// of the user) before it is handed to another worker.
    pub notify_ack_wait_ms: u64,
    /// How long a chat event a worker gave up on (dropped without acknowledging) waits
    /// before it is handed out again.
    pub redeliver_delay_ms: u64,
    /// Partitions of the chat-event log (and of the notification jobs): an in-order
    /// consumer group pulls each partition from the one worker that owns it, a chat's
    /// events in order, partitions in parallel. Fixed for a deployment: the chat log
    /// records the count it was made with, and a node set to another count refuses to
    /// start. Unset (the default), a node takes the recorded count, or
    /// [`NEW_DEPLOYMENT_PARTITIONS`] for a new deployment.
    pub partitions: Option<u32>,
    /// Timeout of a JetStream request (publish acknowledgement, stream and consumer
    /// management).
    pub request_timeout_ms: u64,
    /// Timeout of the readiness probe's round trip.
    pub ping_timeout_ms: u64,
    /// Timeout of one connection attempt.
    pub connect_timeout_ms: u64,
    /// How long to keep trying to connect at start.
    pub connect_wait_secs: u64,
    /// How often a node makes sure the per-user event stream still republishes what it
    /// stores (the nodes' followers read it there): a node of a release before the rule removes
    /// it when it starts, and the next check puts it back.
    pub stream_check_secs: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            servers: vec!["nats://127.0.0.1:4222".into()],
            prefix: "petit_chat".into(),
            connection_name: "petit-chat".into(),
            user: None,
            password: None,
            token: None,
            tls_required: false,
            tls_ca_file: None,
            replicas: 1,
            user_events_max_age_secs: 24 * 3600,
            user_events_max_bytes: None,
            replay_window_events: 100_000,
            chat_events_max_age_secs: 7 * 24 * 3600,
            ack_wait_ms: 5_000,
            notify_ack_wait_ms: 30_000,
            redeliver_delay_ms: 500,
            partitions: None,
            request_timeout_ms: 5_000,
            ping_timeout_ms: 2_000,
            connect_timeout_ms: 5_000,
            connect_wait_secs: 60,
            stream_check_secs: 30,
        }
    }
}

/// Partitions of a new deployment's chat log when `bus.partitions` is not set. Fewer
/// partitions are fewer durable consumers for NATS to keep: each busy one has its state
/// written to a file ten times a second (a fifth of NATS's CPU under load with 16), and
/// every acknowledgement checks all of them for interest. A partition's owner runs its
/// chats in parallel, so 8 lose no parallelism on a node of a few cores; they cap a group
/// at 8 busy workers (bench/README.md, "Fewer partitions" and "NATS's own profile").
pub const NEW_DEPLOYMENT_PARTITIONS: u32 = 8;

/// Partitions of a chat log made before the count was recorded in its metadata: the
/// default then.
pub(crate) const UNRECORDED_PARTITIONS: u32 = 64;

/// The chat log's metadata key that records its partition count.
pub(crate) const PARTITIONS_KEY: &str = "petit_chat.partitions";

/// The durable consumer of one partition of a consumer group.
pub(crate) fn group_consumer(group: &str, partition: u32) -> String {
    format!("{group}_{partition}")
}

impl NatsConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::invalid(ErrorCode::InvalidConfig, what));
        if self.servers.is_empty() {
            return bad("bus.servers is empty".into());
        }
        let prefix_ok = !self.prefix.is_empty()
            && self.prefix.len() <= 32
            && self.prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !prefix_ok {
            return bad(format!(
                "bus.prefix {:?} must be 1 to 32 lowercase letters, digits or underscores",
                self.prefix
            ));
        }
        if !(1..=5).contains(&self.replicas) {
            return bad(format!("bus.replicas is {}, must be 1 to 5", self.replicas));
        }
        if self.user_events_max_age_secs == 0 {
            return bad("bus.user_events_max_age_secs must be positive".into());
        }
        if self.user_events_max_bytes.is_some_and(|b| b <= 0) {
            return bad("bus.user_events_max_bytes must be positive when set".into());
        }
        if self.ack_wait_ms < 100 {
            return bad("bus.ack_wait_ms must be at least 100".into());
        }
        if self.notify_ack_wait_ms < 1000 {
            return bad("bus.notify_ack_wait_ms must be at least 1000".into());
        }
        if let Some(n) = self.partitions.filter(|n| !(1..=256).contains(n)) {
            return bad(format!("bus.partitions is {n}, must be 1 to 256"));
        }
        if self.user.is_some() != self.password.is_some() {
            return bad("bus.user and bus.password go together".into());
        }
        Ok(())
    }

    /// The partitions this configuration runs with: the setting, which a connected bus has
    /// resolved (see [`NEW_DEPLOYMENT_PARTITIONS`]).
    pub fn partition_count(&self) -> u32 {
        self.partitions.unwrap_or(NEW_DEPLOYMENT_PARTITIONS)
    }

    /// The chat-event log, read by the consumer groups.
    pub fn chat_log_stream(&self) -> String {
        format!("{}_CHAT_LOG", self.prefix.to_ascii_uppercase())
    }

    /// The stream of per-user events, replayable for `Last-Event-ID`.
    pub fn user_events_stream(&self) -> String {
        format!("{}_USER_EVENTS", self.prefix.to_ascii_uppercase())
    }

    /// The work queue of notification jobs.
    pub fn notify_stream(&self) -> String {
        format!("{}_NOTIFY", self.prefix.to_ascii_uppercase())
    }

    /// The KV bucket of live connections per user.
    pub fn presence_bucket(&self) -> String {
        format!("{}_PRESENCE", self.prefix.to_ascii_uppercase())
    }

    /// The KV bucket of the live workers of each in-order consumer group (`owners.rs`).
    pub fn workers_bucket(&self) -> String {
        format!("{}_WORKERS", self.prefix.to_ascii_uppercase())
    }

    /// The KV bucket of the nonce fence (`fence.rs`).
    pub fn nonces_bucket(&self) -> String {
        format!("{}_NONCES", self.prefix.to_ascii_uppercase())
    }

    /// The core NATS subject of a user's ephemeral events (no stream captures it).
    pub(crate) fn live_subject(&self, user: UserId) -> String {
        format!("{}.live.{}", self.prefix, user.0)
    }

    /// The core NATS subject of membership news (`membership.rs`; no stream captures it).
    pub(crate) fn membership_subject(&self) -> String {
        format!("{}.membership", self.prefix)
    }

    /// `<prefix>.events.<partition>.<chat id>.<topic>`: a group of some topics filters on
    /// the last token, so the events it does not want never reach it.
    pub(crate) fn chat_log_subject(&self, event: &ChatEvent) -> String {
        let partition = ports::chat_partition(event.chat_id, self.partition_count());
        format!("{}.events.{partition}.{}.{}", self.prefix, event.chat_id.0, event.topic().as_str())
    }

    /// The subjects of one partition that a group of `interest` reads.
    pub(crate) fn partition_subjects(&self, partition: u32, interest: Interest) -> Vec<String> {
        match interest {
            Interest::Every => vec![format!("{}.events.{partition}.>", self.prefix)],
            Interest::Only(topics) => {
                topics.iter().map(|t| format!("{}.events.{partition}.*.{}", self.prefix, t.as_str())).collect()
            }
        }
    }

    /// The subject of the per-user events: one message per event, its recipients in a
    /// header (`user_events.rs`).
    pub(crate) fn fanout_subject(&self) -> String {
        format!("{}.user.fanout", self.prefix)
    }

    pub(crate) fn chat_log_subjects(&self) -> String {
        format!("{}.events.>", self.prefix)
    }

    pub(crate) fn user_subjects(&self) -> String {
        format!("{}.user.*", self.prefix)
    }

    /// The core NATS subjects where the per-user event stream republishes what it
    /// stores, with its sequence: what each node's follower reads (`follower.rs`).
    pub(crate) fn stored_subjects(&self) -> String {
        self.stored_subject_of("*")
    }

    fn stored_subject_of(&self, user: impl std::fmt::Display) -> String {
        format!("{}.stored.{user}", self.prefix)
    }

    /// The per-user event stream's republish rule: `<prefix>.user.<id>` to
    /// `<prefix>.stored.<id>`.
    pub(crate) fn user_republish(&self) -> async_nats::jetstream::stream::Republish {
        async_nats::jetstream::stream::Republish {
            source: self.user_subjects(),
            destination: self.stored_subject_of("{{wildcard(1)}}"),
            headers_only: false,
        }
    }

    pub(crate) fn ack_wait(&self) -> Duration {
        Duration::from_millis(self.ack_wait_ms)
    }

    /// How long an in-order group's partition stays pinned to a pull stream that stopped
    /// pulling (its worker died): long enough that what that worker held is due again before
    /// the next worker gets the partition, and so comes first. The server finds expired
    /// events on a timer of about `ack_wait`, so an event is due again up to twice
    /// `ack_wait` after it was sent (1.5 × `ack_wait` was measured too short: the
    /// conformance check `an_event_whose_worker_died_goes_to_another_worker` fails).
    pub(crate) fn pin_ttl(&self) -> Duration {
        self.ack_wait() * 2 + Duration::from_millis(self.redeliver_delay_ms)
    }

    pub(crate) fn notify_ack_wait(&self) -> Duration {
        Duration::from_millis(self.notify_ack_wait_ms)
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_name_the_streams() {
        let c = NatsConfig::default();
        assert!(c.validate().is_ok());
        assert_eq!(c.chat_log_stream(), "PETIT_CHAT_CHAT_LOG");
        assert_eq!(c.user_events_stream(), "PETIT_CHAT_USER_EVENTS");
        assert_eq!(c.fanout_subject(), "petit_chat.user.fanout");
        let event = ChatEvent {
            chat_id: domain::Id(7),
            event: domain::Event::MemberLeft { chat_id: domain::Id(7), user_id: domain::Id(1), by: domain::Id(1) },
            also_notify: vec![],
        };
        let p = ports::chat_partition(domain::Id(7), NEW_DEPLOYMENT_PARTITIONS);
        assert_eq!(c.chat_log_subject(&event), format!("petit_chat.events.{p}.7.other"));
        assert_eq!(c.partition_subjects(3, Interest::Every), ["petit_chat.events.3.>"]);
        let images = Interest::Only(&[domain::EventTopic::ImageMessage]);
        assert_eq!(c.partition_subjects(3, images), ["petit_chat.events.3.*.img"]);
        assert_eq!(c.live_subject(domain::Id(42)), "petit_chat.live.42");
        assert_eq!(c.membership_subject(), "petit_chat.membership");
        assert_eq!(c.stored_subjects(), "petit_chat.stored.*");
        assert_eq!(c.user_republish().destination, "petit_chat.stored.{{wildcard(1)}}");
        assert_eq!(c.presence_bucket(), "PETIT_CHAT_PRESENCE");
        assert_eq!(c.workers_bucket(), "PETIT_CHAT_WORKERS");
        assert!(c.pin_ttl() > c.ack_wait());
    }

    type Change = Box<dyn Fn(&mut NatsConfig)>;

    #[test]
    fn invalid_settings_are_refused() {
        let cases: Vec<(&str, Change)> = vec![
            ("no servers", Box::new(|c| c.servers.clear())),
            ("empty prefix", Box::new(|c| c.prefix.clear())),
            ("dotted prefix", Box::new(|c| c.prefix = "a.b".into())),
            ("uppercase prefix", Box::new(|c| c.prefix = "Petit".into())),
            ("wildcard prefix", Box::new(|c| c.prefix = "a*".into())),
            ("zero replicas", Box::new(|c| c.replicas = 0)),
            ("zero max age", Box::new(|c| c.user_events_max_age_secs = 0)),
            ("negative max bytes", Box::new(|c| c.user_events_max_bytes = Some(-1))),
            ("tiny ack wait", Box::new(|c| c.ack_wait_ms = 10)),
            ("zero partitions", Box::new(|c| c.partitions = Some(0))),
            ("too many partitions", Box::new(|c| c.partitions = Some(257))),
            ("user without password", Box::new(|c| c.user = Some("u".into()))),
        ];
        for (what, change) in cases {
            let mut c = NatsConfig::default();
            change(&mut c);
            assert!(c.validate().is_err(), "{what} must be refused");
        }
    }
}
