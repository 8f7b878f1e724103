//! Presence, statuses and typing: the ephemeral side of a chat.
//!
//! A user is online while one of their live streams is open on any node: each stream
//! heartbeats through the bus every [`PRESENCE_HEARTBEAT`] with a ttl of [`PRESENCE_TTL`],
//! and closes on its way out; a stream whose node died expires by itself, and the bus hands
//! that expiry to one presence worker ([`run_presence_expiries`], started beside each
//! fan-out worker). Every change of what others see (online ↔ offline, a new status) is
//! pushed as an ephemeral `presence.changed` to the people who share a chat with the user:
//! the members of their [`MAX_PRESENCE_CHATS`] most recently active chats. An invisible
//! user is offline to everyone else. A status whose `clears_at` passes reads as the default
//! from then on; the `presence` role then tells the user's contacts and the user's own
//! streams (`presence.changed`), once, from whichever node takes that clear first.
//!
//! Typing goes to a chat's other members as an ephemeral `typing` event, at most one per
//! user and chat every [`TYPING_EVERY`] (extras are dropped); clients show it for
//! `expires_in_ms` and drop it sooner when a message from that member arrives.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{Availability, ChatId, Error, ErrorCode, Event, Presence, Result, User, UserId, UserStatus, id::now_ms};
use futures::StreamExt;
use ports::{Bus, Store};

use crate::ChatService;

/// How long a live stream counts as open after its last heartbeat.
pub const PRESENCE_TTL: Duration = Duration::from_secs(30);
/// How often a live stream renews its presence.
pub const PRESENCE_HEARTBEAT: Duration = Duration::from_secs(10);
/// How long clients show a typing indicator unless renewed.
pub const TYPING_EXPIRES_IN: Duration = Duration::from_secs(5);
/// At most one typing event per user and chat this often.
pub const TYPING_EVERY: Duration = Duration::from_secs(2);
/// The chats (most recently active first) whose members hear of a user's presence changes.
pub const MAX_PRESENCE_CHATS: usize = 500;
/// Longest status text, in characters.
pub const MAX_STATUS_TEXT_CHARS: usize = 100;
/// Longest `clear_after_secs`: 30 days.
pub const MAX_CLEAR_AFTER_SECS: u64 = 30 * 24 * 3600;

/// A fresh id for one live stream's presence: unique across nodes.
pub fn new_connection_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A status as `PUT /me/status` asks for it, before validation.
#[derive(Debug, Clone, Default)]
pub struct StatusChange {
    pub availability: Availability,
    /// Blank means none.
    pub text: Option<String>,
    /// Back to the default (online, no text) after this many seconds.
    pub clear_after_secs: Option<u64>,
}

impl StatusChange {
    fn validate(self, now_ms: i64) -> Result<UserStatus> {
        let availability = self.availability;
        let text = self.text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        if let Some(text) = &text {
            if text.chars().count() > MAX_STATUS_TEXT_CHARS {
                return Err(Error::invalid(
                    ErrorCode::StatusTextTooLong,
                    format!("a status text is at most {MAX_STATUS_TEXT_CHARS} characters"),
                ));
            }
            if text.chars().any(char::is_control) {
                return Err(Error::invalid(ErrorCode::InvalidStatusText, "a status text is one line of text"));
            }
        }
        let clears_at = match self.clear_after_secs {
            None => None,
            Some(secs) if (1..=MAX_CLEAR_AFTER_SECS).contains(&secs) => Some(now_ms + secs as i64 * 1000),
            Some(_) => {
                return Err(Error::invalid(
                    ErrorCode::InvalidClearAfter,
                    format!("clear_after_secs is 1 to {MAX_CLEAR_AFTER_SECS}"),
                ));
            }
        };
        Ok(UserStatus { availability, text, clears_at })
    }
}

impl ChatService {
    /// The presence of `user` as `viewer` sees it.
    pub async fn presence(&self, viewer: &User, user: UserId) -> Result<Presence> {
        self.user(user).await?;
        presence_of(&*self.store, &*self.bus, user, viewer.id == user).await
    }

    /// Sets the actor's status; tells their contacts when what they see changed, and the
    /// actor's own streams in any case. Returns the actor's presence as they see it.
    pub async fn set_status(&self, actor: &User, change: StatusChange) -> Result<Presence> {
        let status = change.validate(now_ms() as i64)?;
        let before = presence_of(&*self.store, &*self.bus, actor.id, false).await?;
        let stored = (status != UserStatus::default()).then_some(&status);
        self.store.set_status(actor.id, stored).await?;
        let after = presence_of(&*self.store, &*self.bus, actor.id, false).await?;
        if after != before {
            announce(&*self.store, &*self.bus, after).await?;
        }
        let own = presence_of(&*self.store, &*self.bus, actor.id, true).await?;
        self.bus.publish_ephemeral(&[actor.id], &Event::PresenceChanged { presence: own.clone() }).await?;
        Ok(own)
    }

    /// Renews one live stream's presence (call every [`PRESENCE_HEARTBEAT`] while it is
    /// open, first when it opens); the user's contacts hear when this brings them online.
    pub async fn stream_heartbeat(&self, user: UserId, connection: &str) -> Result<()> {
        if self.bus.heartbeat(user, connection, PRESENCE_TTL).await? {
            announce_transition(&*self.store, &*self.bus, user).await?;
        }
        Ok(())
    }

    /// A live stream closed; the user's contacts hear when it was their last.
    pub async fn stream_closed(&self, user: UserId, connection: &str) -> Result<()> {
        if self.bus.connection_closed(user, connection).await? {
            announce_transition(&*self.store, &*self.bus, user).await?;
        }
        Ok(())
    }

    /// Tells the chat's other members that the actor is typing. Outsiders get
    /// `chat_not_found`; more than one call per [`TYPING_EVERY`] is silently dropped.
    pub async fn typing(&self, actor: &User, chat_id: ChatId) -> Result<()> {
        let members = self.members_of(actor, chat_id).await?;
        if !self.typing.allowed(actor.id, chat_id) {
            return Ok(());
        }
        let others: Vec<UserId> = members.iter().map(|m| m.user_id).filter(|u| *u != actor.id).collect();
        let event = Event::Typing { chat_id, user_id: actor.id, expires_in_ms: TYPING_EXPIRES_IN.as_millis() as u64 };
        self.bus.publish_ephemeral(&others, &event).await
    }
}

/// A user's presence, as they see it (`own`) or as everyone else does.
async fn presence_of(store: &dyn Store, bus: &dyn Bus, user: UserId, own: bool) -> Result<Presence> {
    let connected = !bus.online(&[user]).await?.is_empty();
    let status = store.status(user).await?.unwrap_or_default().at(now_ms() as i64);
    Ok(Presence::new(user, connected, status, own))
}

/// Pushes `presence` (as others see it) to the people who share a chat with its user.
async fn announce(store: &dyn Store, bus: &dyn Bus, presence: Presence) -> Result<()> {
    let contacts = contacts(store, presence.user_id).await?;
    bus.publish_ephemeral(&contacts, &Event::PresenceChanged { presence }).await
}

/// Announces that `user` came online or went offline, unless others saw no change: an
/// invisible user is offline to them throughout.
async fn announce_transition(store: &dyn Store, bus: &dyn Bus, user: UserId) -> Result<()> {
    let connected = !bus.online(&[user]).await?.is_empty();
    let status = store.status(user).await?.unwrap_or_default().at(now_ms() as i64);
    if status.availability == Availability::Invisible {
        return Ok(());
    }
    announce(store, bus, Presence::new(user, connected, status, false)).await
}

/// The distinct members (but `user`) of `user`'s most recently active chats.
async fn contacts(store: &dyn Store, user: UserId) -> Result<Vec<UserId>> {
    const PAGE: usize = 100;
    let mut people = BTreeSet::new();
    let mut after = None;
    let mut seen = 0;
    while seen < MAX_PRESENCE_CHATS {
        let page = store.inbox(user, after, PAGE.min(MAX_PRESENCE_CHATS - seen)).await?;
        for entry in &page {
            people.extend(store.members(entry.chat_id).await?.into_iter().map(|m| m.user_id));
        }
        seen += page.len();
        match page.last() {
            Some(last) if page.len() == PAGE => after = Some((last.activity, last.chat_id)),
            _ => break,
        }
    }
    people.remove(&user);
    Ok(people.into_iter().collect())
}

/// Tells the contacts (and the user's own streams) of each user whose status cleared by
/// itself by now; returns how many. Each clear is taken by one node; one a later status
/// replaced is dropped without a word (that status has a listing of its own, or none).
pub async fn announce_cleared_statuses(store: &dyn Store, bus: &dyn Bus) -> Result<usize> {
    let now = now_ms() as i64;
    let mut told = 0;
    for (user, clears_at) in store.due_status_clears(now, 500).await? {
        if !store.take_status_clear(user, clears_at).await? {
            continue;
        }
        let current = store.status(user).await?;
        if current.as_ref().and_then(|s| s.clears_at) != Some(clears_at) {
            continue;
        }
        let was = current.unwrap_or_default();
        let connected = !bus.online(&[user]).await?.is_empty();
        let now_seen = Presence::new(user, connected, UserStatus::default(), false);
        if was.availability != Availability::Invisible || connected {
            announce(store, bus, now_seen).await?;
        }
        let own = Presence::new(user, connected, UserStatus::default(), true);
        bus.publish_ephemeral(&[user], &Event::PresenceChanged { presence: own }).await?;
        told += 1;
    }
    Ok(told)
}

/// [`announce_cleared_statuses`] every `interval` until the process ends; a failed pass is
/// retried at the next.
pub async fn run_status_clears(store: Arc<dyn Store>, bus: Arc<dyn Bus>, interval: Duration) {
    loop {
        if let Err(error) = announce_cleared_statuses(&*store, &*bus).await {
            tracing::warn!(%error, "presence: cannot announce cleared statuses; retrying");
        }
        tokio::time::sleep(interval).await;
    }
}

/// Consumes the bus's presence expiries (users whose node died with their streams open)
/// and tells their contacts they went offline. Runs until the bus's expiry stream ends; an
/// expiry that fails is left unacknowledged, so it comes again.
pub async fn run_presence_expiries(store: Arc<dyn Store>, bus: Arc<dyn Bus>) {
    let mut expiries = loop {
        match bus.presence_expiries().await {
            Ok(expiries) => break expiries,
            Err(error) => {
                tracing::warn!(%error, "presence: cannot read expiries; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    while let Some(item) = expiries.next().await {
        let expiry = match item {
            Ok(expiry) => expiry,
            Err(error) => {
                tracing::warn!(%error, "presence: cannot read expiries");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let user = expiry.user;
        // The user may be back already (a stream opened on another node meanwhile).
        let result = async {
            if bus.online(&[user]).await?.is_empty() { announce_transition(&*store, &*bus, user).await } else { Ok(()) }
        }
        .await;
        match result {
            Ok(()) => {
                if let Err(error) = (expiry.ack)().await {
                    tracing::warn!(%error, %user, "presence: ack failed; the expiry will come again");
                }
            }
            Err(error) => tracing::warn!(%error, %user, "presence: cannot announce an expiry; it will come again"),
        }
    }
}

/// When each (user, chat) last sent a typing event, in this process: across nodes a user
/// may get one event per node per period, which is harmless.
#[derive(Default)]
pub(crate) struct TypingLimiter(Mutex<HashMap<(UserId, ChatId), Instant>>);

impl TypingLimiter {
    fn allowed(&self, user: UserId, chat: ChatId) -> bool {
        let now = Instant::now();
        let mut sent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if sent.len() >= 10_000 {
            sent.retain(|_, at| now.duration_since(*at) < TYPING_EVERY);
        }
        match sent.get(&(user, chat)) {
            Some(at) if now.duration_since(*at) < TYPING_EVERY => false,
            _ => {
                sent.insert((user, chat), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed unwrap is a failed check

    use super::*;
    use crate::testing::user;
    use ports::{UserEventStream, UserSubscription};

    async fn presence_event(stream: &mut UserEventStream) -> Presence {
        loop {
            let item = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("no event in time");
            if let (None, Event::PresenceChanged { presence }) = item.expect("stream ended").unwrap() {
                return presence;
            }
        }
    }

    #[tokio::test]
    async fn a_user_whose_node_died_goes_offline_for_their_contacts() {
        let crate::testing::TestService { service, store, bus, blobs, dir: _dir } = crate::testing::service();
        crate::Workers::start_all(store, bus.clone(), blobs).await.unwrap();
        let (alice, bob, carol) =
            (user(&service, "alice").await, user(&service, "bob").await, user(&service, "carol").await);
        service.open_direct(&alice, bob.id).await.unwrap();
        let subscribe = |user: UserId| {
            let bus = bus.clone();
            async move {
                match bus.subscribe_user(user, None).await.unwrap() {
                    UserSubscription::Complete(stream) => stream,
                    UserSubscription::Gap(_) => panic!("a fresh subscription has no gap"),
                }
            }
        };
        let (mut bob_events, mut carol_events) = (subscribe(bob.id).await, subscribe(carol.id).await);
        // Alice's stream lives on a node that dies: a heartbeat with a short ttl, no close.
        assert!(bus.heartbeat(alice.id, "doomed", Duration::from_millis(300)).await.unwrap());
        let gone = presence_event(&mut bob_events).await;
        assert_eq!((gone.user_id, gone.online), (alice.id, false), "{gone:?}");
        assert!(!service.presence(&bob, alice.id).await.unwrap().online);
        let quiet = tokio::time::timeout(Duration::from_millis(300), carol_events.next()).await;
        assert!(quiet.is_err(), "carol shares no chat with alice: {:?}", quiet.map(|i| i.map(|i| i.map(|(_, e)| e))));
    }

    #[test]
    fn status_changes_are_validated() {
        let change = |availability: &str, text: Option<&str>, clear: Option<u64>| StatusChange {
            availability: Availability::parse(availability).unwrap(),
            text: text.map(str::to_string),
            clear_after_secs: clear,
        };
        let long = "é".repeat(101);
        let cases: Vec<(StatusChange, std::result::Result<UserStatus, &str>)> = vec![
            (change("online", None, None), Ok(UserStatus::default())),
            (
                change("away", Some("  "), None),
                Ok(UserStatus { availability: Availability::Away, ..Default::default() }),
            ),
            (
                change("dnd", Some(" focus "), Some(60)),
                Ok(UserStatus { availability: Availability::Dnd, text: Some("focus".into()), clears_at: Some(61_000) }),
            ),
            (change("away", Some(&long), None), Err("status_text_too_long")),
            (change("away", Some("a\nb"), None), Err("invalid_status_text")),
            (change("away", None, Some(0)), Err("invalid_clear_after")),
            (change("away", None, Some(MAX_CLEAR_AFTER_SECS + 1)), Err("invalid_clear_after")),
        ];
        for (input, expected) in cases {
            let what = format!("{input:?}");
            assert_eq!(input.validate(1000).map_err(|e| e.code.as_str()), expected, "{what}");
        }
    }
}
