//! The Bus port: how events travel. Chat events go to a log read by named consumer groups
//! (`fanout` now; the notifier and the indexer add theirs): every group receives every
//! event, the workers of one group share its events, and the events of one chat reach a
//! group in order. Per-user events go to every live stream of that user, on any node, and
//! stay replayable for a while so a reconnecting client misses nothing. Ephemeral per-user
//! events (typing, presence) reach only the streams open at the time, with no id.
//!
//! The bus also keeps what must be shared by every node but is not worth the store:
//! presence (which users have a live connection somewhere, with heartbeats that expire by
//! themselves when a node dies), and the nonce fence, where concurrent attempts of one
//! send meet. The statuses users set are durable: they are in the `Store`.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use domain::{ChatEvent, ChatId, Event, EventTopic, NotifyJob, Result, SignalId, UserId};
use futures::Stream;

/// The id of a per-user event, opaque to clients (`id:` in SSE, `Last-Event-ID` back).
pub type EventId = String;

/// The id every bus gives the event at `seq` of a per-user event log whose epoch (a
/// process's, a stream's) is `epoch`: `<epoch>-<seq>`.
pub fn event_id(epoch: &str, seq: u64) -> EventId {
    format!("{epoch}-{seq}")
}

/// The sequence of `id` if it is an id of the log of `epoch` ([`event_id`]), in ASCII
/// digits as buses write them (`u64::from_str` alone would also take `+4`). A client's
/// `Last-Event-ID` is untrusted text: anything else is `None` (the stream then starts with
/// a resync), never a panic (fuzzed: `fuzz/fuzz_targets/event_ids.rs`).
pub fn parse_event_id(id: &str, epoch: &str) -> Option<u64> {
    let (id_epoch, seq) = id.split_once('-')?;
    if id_epoch != epoch || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    seq.parse().ok()
}

/// Acknowledges a chat event (see [`Delivery`]).
pub type Ack = Box<dyn FnOnce() -> AckFuture + Send>;
/// The future an [`Ack`] returns.
pub type AckFuture = Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>;

/// The consumer group of the fan-out workers: the members' live streams.
pub const FANOUT_GROUP: &str = "fanout";
/// The consumer group of the notifier: who is told of a new message, and when.
pub const NOTIFY_GROUP: &str = "notify";

/// Which chat events a consumer group receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Interest {
    /// Every chat event.
    #[default]
    Every,
    /// Only the events of these topics (the others never reach its workers).
    Only(&'static [EventTopic]),
}

impl Interest {
    pub fn wants(self, topic: EventTopic) -> bool {
        match self {
            Interest::Every => true,
            Interest::Only(topics) => topics.contains(&topic),
        }
    }
}

/// How a consumer group takes the events of one chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EventOrder {
    /// In order: a chat's events reach one worker of the group at a time, in the order
    /// they were published. An adapter may hand that worker several of them before the
    /// first is acknowledged (so a busy chat's events can be handled together); the worker
    /// handles them in the order received. Another worker gets the chat's events only once
    /// the first has acknowledged (or given back, or died with) what it held.
    #[default]
    PerChat,
    /// In any order, many at once: for a group whose writes carry their own versions (the
    /// indexer's revisions), so a late older event changes nothing. An adapter may still
    /// hand them out in order.
    Any,
}

/// What a consumer group receives, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GroupSpec {
    pub interest: Interest,
    pub order: EventOrder,
}

impl From<Interest> for GroupSpec {
    /// The events of `interest`, in order per chat.
    fn from(interest: Interest) -> Self {
        Self { interest, order: EventOrder::PerChat }
    }
}

/// Whether `name` can name a consumer group: 1 to 32 lowercase ASCII letters, digits or `_`.
pub fn valid_group_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The partition (of `partitions`) a chat's events go to. Adapters keep order per
/// partition, which keeps it per chat; the hash spreads the time-ordered ids evenly.
pub fn chat_partition(chat: domain::ChatId, partitions: u32) -> u32 {
    let mixed = chat.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((mixed >> 32) % u64::from(partitions.max(1))) as u32
}

/// A chat event (or a notification job: `T`) handed to a worker of a consumer group. The
/// worker calls `ack` once it is done with it; an event dropped unacknowledged is handed out
/// again (to this worker or another of the group), and so is one held past the bus's
/// acknowledgement deadline (its worker died or hung). Until then no other worker of the
/// group gets the same chat's later events (or the same user's later jobs).
pub struct Delivery<T = ChatEvent> {
    pub event: T,
    pub ack: Ack,
    /// How many times this event was handed out to the group before (0 the first time).
    pub redeliveries: u32,
    /// A stable id of this chat event, the same each time it is delivered, when the bus
    /// has one: the per-user events published for it through
    /// [`UserEventBus::publish_fanned_out`] are then dropped when a redelivery publishes them again.
    pub origin: Option<String>,
}

impl<T: std::fmt::Debug> std::fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("event", &self.event).finish_non_exhaustive()
    }
}

pub type ChatEventStream = Pin<Box<dyn Stream<Item = Result<Delivery>> + Send>>;
/// The notification jobs of one push worker.
pub type NotifyJobStream = Pin<Box<dyn Stream<Item = Result<Delivery<NotifyJob>>> + Send>>;
/// Live per-user events: durable ones with their id, ephemeral ones (typing, presence)
/// with `None`. An `Err` means the stream can no longer guarantee completeness (the
/// subscriber fell too far behind): the client must resync.
pub type UserEventStream = Pin<Box<dyn Stream<Item = Result<(Option<EventId>, Event)>> + Send>>;

/// A user whose last live connection expired without being closed (its node died or lost
/// the bus). Each expiry goes to one subscriber of [`PresenceBus::presence_expiries`], on any node;
/// one not acknowledged may come again.
pub struct PresenceExpiry {
    pub user: UserId,
    pub ack: Ack,
}

impl std::fmt::Debug for PresenceExpiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceExpiry").field("user", &self.user).finish_non_exhaustive()
    }
}

pub type PresenceExpiryStream = Pin<Box<dyn Stream<Item = Result<PresenceExpiry>> + Send>>;

/// What subscribing to a user's events gives.
pub enum UserSubscription {
    /// Everything after the requested position (replayed first, then live, with no gap and
    /// no duplicate).
    Complete(UserEventStream),
    /// The requested position is no longer covered: events may have been missed. The
    /// stream carries live events from now on; the client must resync the rest by REST.
    Gap(UserEventStream),
}

impl std::fmt::Debug for UserSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UserSubscription::Complete(_) => "Complete",
            UserSubscription::Gap(_) => "Gap",
        })
    }
}

/// The chat-event log and its consumer groups.
#[async_trait]
pub trait ChatEventBus: Send + Sync + 'static {
    /// Appends a chat event to the log. Returns once the bus holds it for every consumer
    /// group declared so far. `key` names this publication: publishing again under the
    /// same key within two minutes (a retry of a publish whose answer was lost, or that a
    /// client held while disconnected and sent once reconnected) adds nothing, on a bus
    /// that can hold a publish without answering. Another event needs another key.
    async fn publish_chat_event(&self, event: &ChatEvent, key: &str) -> Result<()>;
    /// Makes sure the consumer group `group` (see [`valid_group_name`]) exists: from now on
    /// it keeps every chat event of its `spec`'s interest published until a worker of the
    /// group acknowledges it, whether or not a worker runs. Declaring it again changes
    /// nothing (or its spec, for the events published from then on).
    async fn declare_group(&self, group: &str, spec: GroupSpec) -> Result<()>;
    /// The chat events of `group` (declared by this call if need be) for one worker. Workers
    /// of one group, on any node, share its events; every group receives every event of
    /// its interest. Events of different chats may be held at the same time; the events of
    /// one chat are handed out in order, to one worker at a time (see
    /// [`EventOrder::PerChat`]), unless the spec's order is [`EventOrder::Any`].
    async fn chat_events(&self, group: &str, spec: GroupSpec) -> Result<ChatEventStream>;
    /// How many chat events `group` holds that are not acknowledged yet (its lag). Asking
    /// never declares the group.
    async fn group_lag(&self, group: &str) -> Result<u64>;
}

/// Per-user events: durable (replayable) ones and ephemeral ones, to every live stream of
/// the user on any node.
#[async_trait]
pub trait UserEventBus: Send + Sync + 'static {
    /// Publishes one event to each user's stream.
    async fn publish_user_event(&self, users: &[UserId], event: &Event) -> Result<()>;
    /// [`UserEventBus::publish_user_event`] for the fan-out of the chat event `origin`
    /// ([`Delivery::origin`]): an adapter that can drops the copies a redelivery of that
    /// chat event would publish again (a worker slower than the bus's ack deadline).
    async fn publish_fanned_out(&self, users: &[UserId], event: &Event, origin: &str) -> Result<()> {
        let _ = origin;
        self.publish_user_event(users, event).await
    }
    /// Subscribes to a user's events from after `after` (`None`: only new events). The
    /// stream carries the user's ephemeral events too, from when this returns.
    async fn subscribe_user(&self, user: UserId, after: Option<&str>) -> Result<UserSubscription>;
    /// Publishes an ephemeral event to the live streams each user has open now, on any
    /// node: no id, not retained, not replayed, at most once.
    async fn publish_ephemeral(&self, users: &[UserId], event: &Event) -> Result<()>;
}

/// Presence: which users have a live connection somewhere, with heartbeats that expire by
/// themselves when a node dies.
#[async_trait]
pub trait PresenceBus: Send + Sync + 'static {
    /// Notes that `connection` (an id unique to one live stream) of `user` is open, until
    /// `ttl` from now unless renewed. Returns whether the user came online: they had no
    /// other live connection anywhere.
    async fn heartbeat(&self, user: UserId, connection: &str, ttl: Duration) -> Result<bool>;
    /// Notes that `connection` closed. Returns whether the user went offline: this was
    /// their last live connection (one that had already expired is reported by
    /// [`PresenceBus::presence_expiries`] instead, never by both).
    async fn connection_closed(&self, user: UserId, connection: &str) -> Result<bool>;
    /// Which of `users` have a live connection anywhere (in `users`' order).
    async fn online(&self, users: &[UserId]) -> Result<Vec<UserId>>;
    /// Users going offline because their last connection expired. Subscribers share them.
    async fn presence_expiries(&self) -> Result<PresenceExpiryStream>;
}

/// The notification queue: jobs on a topic per user, shared by every push worker on any
/// node, durable until a worker acknowledges them.
#[async_trait]
pub trait NotifyQueue: Send + Sync + 'static {
    /// Queues `job` on its user's topic. With a `delay`, it is handed out no sooner than
    /// that from now, and only if no delayed job of the same user and
    /// [`NotifyJob::delay_key`] is waiting already (a burst in a chat makes one job, the
    /// first; a retry queued twice runs once).
    async fn queue_notification(&self, job: &NotifyJob, delay: Option<Duration>) -> Result<()>;
    /// The jobs for one push worker. Workers share them; one user's jobs are handed out in
    /// the order they became due, the next once the previous is acknowledged.
    async fn notification_jobs(&self) -> Result<NotifyJobStream>;
}

/// How long a [`NonceFence`] holds a claim, at least: how long a send's nonce is
/// remembered in a deployment whose store claims nonces at the fence (the cluster shape).
pub const NONCE_FENCE_WINDOW: Duration = Duration::from_secs(600);

/// Who claimed a send's nonce first ([`NonceFence::claim_nonce`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonceClaim {
    /// This attempt: no other attempt claimed the nonce within the window.
    Ours,
    /// Another attempt, whose signal id this is.
    Theirs(SignalId),
}

/// Where the attempts of one send (one chat, author and nonce) meet: a compare-and-set on
/// every node that holds a claim for [`NONCE_FENCE_WINDOW`], then forgets it. A store
/// behind it keeps nothing of the nonce, so a send costs its database no consensus round
/// and no read; a retry later than the window is a new message. The author's own
/// `signal.created` carries the nonce, so a client knows a send landed before it resends.
#[async_trait]
pub trait NonceFence: Send + Sync + 'static {
    /// Claims `nonce` of `author` in `chat` for signal `id`, unless an attempt claimed it
    /// within the window: then that attempt's id. Claiming again with the same `id` (a
    /// repeated request whose answer was lost) answers `Ours`.
    async fn claim_nonce(&self, chat: ChatId, author: UserId, nonce: &str, id: SignalId) -> Result<NonceClaim>;
}

/// Word that a chat's members or roles changed ([`MembershipNews::membership_news`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipWord {
    /// The members or roles of this chat changed.
    Changed(ChatId),
    /// Some word may have been lost (a reconnection, a backlog dropped): any chat may
    /// have changed.
    Missed,
}

/// Word of membership changes from every node, as it comes; ends when the subscription is
/// lost.
pub type MembershipNewsStream = Pin<Box<dyn Stream<Item = MembershipWord> + Send>>;

/// Word, between the nodes, that a chat's membership changed, so that what a node
/// remembers of memberships (the send path's cache) is forgotten on every node. Not
/// retained, at most once: a subscriber is told when it may have missed some.
#[async_trait]
pub trait MembershipNews: Send + Sync + 'static {
    /// Tells the subscribers on every node (this one too) that `chat`'s members or roles
    /// changed.
    async fn membership_changed(&self, chat: ChatId) -> Result<()>;
    /// The word published from when this returns.
    async fn membership_news(&self) -> Result<MembershipNewsStream>;
}

/// The whole bus: chat events, user events, presence, notification jobs, the nonce fence,
/// membership news, and a readiness probe.
#[async_trait]
pub trait Bus: ChatEventBus + UserEventBus + PresenceBus + NotifyQueue + NonceFence + MembershipNews {
    /// Checks the bus answers (for readiness probes).
    async fn ping(&self) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_parse_only_for_their_log_and_in_digits() {
        let cases = [
            ("18f-42", Some(42)),
            ("18f-0", Some(0)),
            ("18e-42", None),
            ("18f-", None),
            ("18f-+4", None),
            ("18f-4x", None),
            ("42", None),
            ("", None),
            ("18f-99999999999999999999999", None),
        ];
        for (id, expected) in cases {
            assert_eq!(parse_event_id(id, "18f"), expected, "{id:?}");
        }
        assert_eq!(parse_event_id(&event_id("18f", 7), "18f"), Some(7));
    }
}
