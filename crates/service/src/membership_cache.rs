//! What a node remembers of memberships, so that a message costs no membership read: the
//! roles of senders (the send path) and the member lists of chats (the fan-out).
//!
//! - Only members are remembered: an outsider is read every time, so someone just added may
//!   send at once.
//! - An entry lives at most [`LIFETIME`].
//! - The cache is on only while the node hears membership news
//!   ([`MembershipCache::followed`]); off, everything is read from the store.
//! - A change of a chat's members or roles forgets that chat: on the node that makes it,
//!   after its store writes (before it answers a removal or a role change); on every other
//!   node when the news arrives; everywhere when news may have been missed.
//! - A read that was under way when something was forgotten is not remembered (its answer
//!   may predate the change): each forgetting starts a new generation, and only a read of
//!   the current generation is kept.
//!
//! So a member removed on this node cannot send from the moment the removal is answered,
//! and on another node from when the news reaches it (the window used to be one store
//! read); the fan-out stops sending them the chat's events, and starts sending them to
//! someone added, from when the news reaches its node. A node of an older release
//! publishes no news: during a rolling upgrade [`LIFETIME`] is the only bound.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::{ChatId, Role, UserId};
use futures::StreamExt;
use ports::{Bus, MembershipWord};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ChatService;

/// How long a remembered role or member list is used, whatever happens.
pub const LIFETIME: Duration = Duration::from_secs(30);

/// Most roles and member ids remembered; past it everything is forgotten and filled again.
const CAPACITY: usize = 200_000;

/// See the module's documentation. Off until [`MembershipCache::followed`].
#[derive(Debug, Default)]
pub struct MembershipCache {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    on: bool,
    generation: u64,
    /// Roles and member ids held.
    len: usize,
    chats: HashMap<ChatId, Known>,
}

/// What is remembered of one chat.
#[derive(Debug, Default)]
struct Known {
    roles: HashMap<UserId, (Role, Instant)>,
    members: Option<(Vec<UserId>, Instant)>,
}

impl Known {
    fn len(&self) -> usize {
        self.roles.len() + self.members.as_ref().map_or(0, |(m, _)| m.len())
    }
}

/// What the cache says of a role or a member list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup<T> {
    Known(T),
    /// Nothing: read the store, and give the answer back with this generation, or do not
    /// when `None` (the cache is off).
    Unknown(Option<u64>),
}

impl State {
    fn forget_all(&mut self) {
        self.generation += 1;
        self.chats.clear();
        self.len = 0;
    }

    fn lookup<T>(&self, chat: ChatId, get: impl FnOnce(&Known) -> Option<T>) -> Lookup<T> {
        if !self.on {
            return Lookup::Unknown(None);
        }
        match self.chats.get(&chat).and_then(get) {
            Some(known) => Lookup::Known(known),
            None => Lookup::Unknown(Some(self.generation)),
        }
    }

    /// Keeps what `put` writes into `chat`'s entry, unless the cache is off, something was
    /// forgotten since `generation`, or it is full (then it forgets everything).
    fn remember(&mut self, chat: ChatId, generation: u64, put: impl FnOnce(&mut Known)) {
        if !self.on || self.generation != generation {
            return;
        }
        if self.len >= CAPACITY {
            self.forget_all();
            return;
        }
        let known = self.chats.entry(chat).or_default();
        let before = known.len();
        put(known);
        self.len = self.len + known.len() - before;
    }
}

impl MembershipCache {
    /// A cache kept in step with `bus`'s membership news until `shutdown`: on while the
    /// news is heard, off while it cannot be (resubscribing with backoff).
    pub fn followed(bus: Arc<dyn Bus>, shutdown: CancellationToken) -> Arc<Self> {
        let cache = Arc::new(Self::default());
        tokio::spawn(cache.clone().follow(bus, shutdown));
        cache
    }

    async fn follow(self: Arc<Self>, bus: Arc<dyn Bus>, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let subscribed = tokio::select! {
                () = shutdown.cancelled() => return,
                subscribed = bus.membership_news() => subscribed,
            };
            match subscribed {
                Ok(mut news) => {
                    backoff = Duration::from_millis(100);
                    self.set_on(true);
                    loop {
                        let word = tokio::select! {
                            () = shutdown.cancelled() => return,
                            word = news.next() => word,
                        };
                        match word {
                            Some(MembershipWord::Changed(chat)) => self.forget_chat(chat),
                            Some(MembershipWord::Missed) => self.forget_all(),
                            None => break,
                        }
                    }
                    self.set_on(false);
                    tracing::warn!(
                        "membership news ended; memberships are read from the store until it is heard again"
                    );
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot hear membership news; memberships are read from the store");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn lookup_role(&self, chat: ChatId, user: UserId) -> Lookup<Role> {
        let now = Instant::now();
        self.state().lookup(chat, |k| k.roles.get(&user).filter(|(_, until)| now < *until).map(|(role, _)| *role))
    }

    /// Remembers a member's role read from the store during `generation`.
    pub(crate) fn remember_role(&self, chat: ChatId, user: UserId, role: Role, generation: u64) {
        self.state().remember(chat, generation, |k| {
            k.roles.insert(user, (role, Instant::now() + LIFETIME));
        });
    }

    pub(crate) fn lookup_members(&self, chat: ChatId) -> Lookup<Vec<UserId>> {
        let now = Instant::now();
        self.state().lookup(chat, |k| k.members.as_ref().filter(|(_, until)| now < *until).map(|(m, _)| m.clone()))
    }

    /// Remembers a chat's members read from the store during `generation`.
    pub(crate) fn remember_members(&self, chat: ChatId, members: &[UserId], generation: u64) {
        self.state().remember(chat, generation, |k| k.members = Some((members.to_vec(), Instant::now() + LIFETIME)));
    }

    /// Forgets what is remembered of `chat`.
    pub(crate) fn forget_chat(&self, chat: ChatId) {
        let mut state = self.state();
        state.generation += 1;
        if let Some(known) = state.chats.remove(&chat) {
            state.len -= known.len();
        }
    }

    fn forget_all(&self) {
        self.state().forget_all();
    }

    /// Turns the cache on or off (either way it forgets everything).
    fn set_on(&self, on: bool) {
        let mut state = self.state();
        state.forget_all();
        state.on = on;
    }
}

/// What `lookup` found, or what `read` gives, handed to `remember` with the generation it
/// was read in when the cache is on.
pub(crate) async fn read_through<T>(
    lookup: Lookup<T>,
    read: impl Future<Output = domain::Result<T>>,
    remember: impl FnOnce(&T, u64),
) -> domain::Result<T> {
    let generation = match lookup {
        Lookup::Known(known) => return Ok(known),
        Lookup::Unknown(generation) => generation,
    };
    let value = read.await?;
    if let Some(generation) = generation {
        remember(&value, generation);
    }
    Ok(value)
}

impl ChatService {
    /// The role of a sender: remembered, or read (see the module's documentation).
    pub(crate) async fn sender_role(&self, actor: &domain::User, chat: ChatId) -> domain::Result<Role> {
        let cache = &self.membership_cache;
        read_through(cache.lookup_role(chat, actor.id), self.membership(actor, chat), |role, generation| {
            cache.remember_role(chat, actor.id, *role, generation)
        })
        .await
    }

    /// After a change of `chat`'s members or roles was written (or half written: a failed
    /// step after a write): forgets the chat here and tells the other nodes. Their not
    /// hearing it (the bus down) is logged; [`LIFETIME`] bounds what they remember.
    pub(crate) async fn membership_changed(&self, chat: ChatId) {
        self.membership_cache.forget_chat(chat);
        if let Err(error) = self.bus.membership_changed(chat).await {
            tracing::warn!(%error, %chat, "cannot tell the other nodes a chat's membership changed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::Id;

    fn on() -> MembershipCache {
        let cache = MembershipCache::default();
        cache.set_on(true);
        cache
    }

    fn generation(cache: &MembershipCache, chat: ChatId, user: UserId) -> u64 {
        match cache.lookup_role(chat, user) {
            Lookup::Unknown(Some(g)) => g,
            other => panic!("expected an unknown pair of a cache that is on, got {other:?}"),
        }
    }

    #[test]
    fn an_off_cache_remembers_nothing() {
        let cache = MembershipCache::default();
        assert_eq!(cache.lookup_role(Id(1), Id(2)), Lookup::Unknown(None));
        cache.remember_role(Id(1), Id(2), Role::Member, 0);
        assert_eq!(cache.lookup_role(Id(1), Id(2)), Lookup::Unknown(None));
    }

    #[test]
    fn a_role_read_is_remembered_until_its_chat_is_forgotten() {
        let cache = on();
        let g = generation(&cache, Id(1), Id(2));
        cache.remember_role(Id(1), Id(2), Role::Admin, g);
        cache.remember_role(Id(3), Id(2), Role::Member, g);
        assert_eq!(cache.lookup_role(Id(1), Id(2)), Lookup::Known(Role::Admin));
        cache.forget_chat(Id(1));
        assert!(matches!(cache.lookup_role(Id(1), Id(2)), Lookup::Unknown(Some(_))));
        assert_eq!(cache.lookup_role(Id(3), Id(2)), Lookup::Known(Role::Member), "other chats are kept");
        cache.forget_all();
        assert!(matches!(cache.lookup_role(Id(3), Id(2)), Lookup::Unknown(Some(_))));
    }

    #[test]
    fn a_read_under_way_when_something_was_forgotten_is_not_remembered() {
        let cache = on();
        let g = generation(&cache, Id(1), Id(2));
        cache.forget_chat(Id(1));
        cache.remember_role(Id(1), Id(2), Role::Member, g);
        assert!(matches!(cache.lookup_role(Id(1), Id(2)), Lookup::Unknown(Some(_))));
    }

    #[test]
    fn turning_off_forgets_everything() {
        let cache = on();
        let g = generation(&cache, Id(1), Id(2));
        cache.remember_role(Id(1), Id(2), Role::Member, g);
        cache.set_on(false);
        cache.set_on(true);
        assert!(matches!(cache.lookup_role(Id(1), Id(2)), Lookup::Unknown(Some(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_role_is_used_for_its_lifetime_only() {
        let cache = on();
        let g = generation(&cache, Id(1), Id(2));
        cache.remember_role(Id(1), Id(2), Role::Member, g);
        tokio::time::advance(LIFETIME - Duration::from_millis(1)).await;
        assert_eq!(cache.lookup_role(Id(1), Id(2)), Lookup::Known(Role::Member));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(matches!(cache.lookup_role(Id(1), Id(2)), Lookup::Unknown(Some(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_member_list_is_kept_with_the_roles_until_its_chat_is_forgotten_or_it_expires() {
        let cache = on();
        let Lookup::Unknown(Some(g)) = cache.lookup_members(Id(1)) else { panic!("unknown at first") };
        cache.remember_members(Id(1), &[Id(2), Id(3)], g);
        cache.remember_role(Id(1), Id(2), Role::Owner, g);
        assert_eq!(cache.lookup_members(Id(1)), Lookup::Known(vec![Id(2), Id(3)]));
        assert_eq!(cache.state().len, 3);
        cache.forget_chat(Id(1));
        assert!(matches!(cache.lookup_members(Id(1)), Lookup::Unknown(Some(_))));
        assert!(matches!(cache.lookup_role(Id(1), Id(2)), Lookup::Unknown(Some(_))));
        assert_eq!(cache.state().len, 0);
        let Lookup::Unknown(Some(g)) = cache.lookup_members(Id(1)) else { panic!("forgotten") };
        cache.remember_members(Id(1), &[Id(2)], g);
        tokio::time::advance(LIFETIME).await;
        assert!(matches!(cache.lookup_members(Id(1)), Lookup::Unknown(Some(_))));
    }
}
