//! What the send path remembers of memberships, so that a message costs no membership
//! read: the roles of the (chat, user) pairs it has read, on this node.
//!
//! - Only members are remembered: an outsider is read every time, so someone just added is
//!   never refused.
//! - An entry lives at most [`LIFETIME`].
//! - The cache is on only while the node hears membership news
//!   ([`ChatService::follow_membership_news`]); off, every send reads the store.
//! - A change of a chat's members or roles forgets that chat: on the node that makes it,
//!   after its store writes and before it answers; on every other node when the news
//!   arrives; everywhere when news may have been missed.
//! - A read that was under way when something was forgotten is not remembered (its answer
//!   may predate the change): each forgetting starts a new generation, and only a read of
//!   the current generation is kept.
//!
//! So a member removed on this node cannot send from the moment the removal is answered,
//! and on another node from when the news reaches it (today's window was one store read).
//! A node of an older release publishes no news: during a rolling upgrade [`LIFETIME`] is
//! the only bound.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use domain::{ChatId, Role, UserId};
use futures::StreamExt;
use ports::MembershipWord;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ChatService;

/// How long a remembered role is used, whatever happens.
pub const LIFETIME: Duration = Duration::from_secs(30);

/// Most (chat, user) pairs remembered; past it everything is forgotten and filled again.
const CAPACITY: usize = 200_000;

#[derive(Debug, Default)]
pub(crate) struct RoleCache {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    on: bool,
    generation: u64,
    len: usize,
    chats: HashMap<ChatId, HashMap<UserId, (Role, Instant)>>,
}

/// What the cache knows of a (chat, user) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// A member with this role.
    Member(Role),
    /// Nothing: read the store, and give the answer back with this generation
    /// ([`RoleCache::remember`]), or do not when `None` (the cache is off).
    Unknown(Option<u64>),
}

impl State {
    fn forget_all(&mut self) {
        self.generation += 1;
        self.chats.clear();
        self.len = 0;
    }
}

impl RoleCache {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn lookup(&self, chat: ChatId, user: UserId) -> Lookup {
        let state = self.state();
        if !state.on {
            return Lookup::Unknown(None);
        }
        match state.chats.get(&chat).and_then(|users| users.get(&user)) {
            Some((role, until)) if Instant::now() < *until => Lookup::Member(*role),
            _ => Lookup::Unknown(Some(state.generation)),
        }
    }

    /// Remembers a member's role read from the store during `generation`, unless something
    /// was forgotten since.
    pub(crate) fn remember(&self, chat: ChatId, user: UserId, role: Role, generation: u64) {
        let mut state = self.state();
        if !state.on || state.generation != generation {
            return;
        }
        if state.len >= CAPACITY {
            state.forget_all();
            return;
        }
        if state.chats.entry(chat).or_default().insert(user, (role, Instant::now() + LIFETIME)).is_none() {
            state.len += 1;
        }
    }

    /// Forgets what is remembered of `chat`.
    pub(crate) fn forget_chat(&self, chat: ChatId) {
        let mut state = self.state();
        state.generation += 1;
        if let Some(users) = state.chats.remove(&chat) {
            state.len -= users.len();
        }
    }

    pub(crate) fn forget_all(&self) {
        self.state().forget_all();
    }

    /// Turns the cache on or off (off, it forgets everything).
    fn set_on(&self, on: bool) {
        let mut state = self.state();
        state.forget_all();
        state.on = on;
    }
}

impl ChatService {
    /// The role of a sender: remembered, or read (see the module's documentation).
    pub(crate) async fn sender_role(&self, actor: &domain::User, chat: ChatId) -> domain::Result<Role> {
        let generation = match self.roles.lookup(chat, actor.id) {
            Lookup::Member(role) => return Ok(role),
            Lookup::Unknown(generation) => generation,
        };
        let role = self.membership(actor, chat).await?;
        if let Some(generation) = generation {
            self.roles.remember(chat, actor.id, role, generation);
        }
        Ok(role)
    }

    /// After a change of `chat`'s members or roles was written (or half written: a
    /// refused step after a write): forgets the chat here and tells the other nodes. Their
    /// not hearing it (the bus down) is logged; [`LIFETIME`] bounds what they remember.
    pub(crate) async fn membership_changed(&self, chat: ChatId) {
        self.roles.forget_chat(chat);
        if let Err(error) = self.bus.membership_changed(chat).await {
            tracing::warn!(%error, %chat, "cannot tell the other nodes a chat's membership changed");
        }
    }

    /// Keeps the send path's role cache in step with membership news until `shutdown`:
    /// the cache is on while the news is heard, and off while it cannot be (resubscribing
    /// with backoff). Run once per node; without it the cache stays off.
    pub fn follow_membership_news(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let (bus, roles) = (self.bus.clone(), self.roles.clone());
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                let subscribed = tokio::select! {
                    () = shutdown.cancelled() => return,
                    subscribed = bus.membership_news() => subscribed,
                };
                match subscribed {
                    Ok(mut news) => {
                        backoff = Duration::from_millis(100);
                        roles.set_on(true);
                        loop {
                            let word = tokio::select! {
                                () = shutdown.cancelled() => return,
                                word = news.next() => word,
                            };
                            match word {
                                Some(MembershipWord::Changed(chat)) => roles.forget_chat(chat),
                                Some(MembershipWord::Missed) => roles.forget_all(),
                                None => break,
                            }
                        }
                        roles.set_on(false);
                        tracing::warn!("membership news ended; the role cache is off until it is heard again");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot hear membership news; the role cache stays off");
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::Id;

    fn on() -> RoleCache {
        let cache = RoleCache::default();
        cache.set_on(true);
        cache
    }

    fn generation(cache: &RoleCache, chat: ChatId, user: UserId) -> u64 {
        match cache.lookup(chat, user) {
            Lookup::Unknown(Some(g)) => g,
            other => panic!("expected an unknown pair of a cache that is on, got {other:?}"),
        }
    }

    #[test]
    fn an_off_cache_remembers_nothing() {
        let cache = RoleCache::default();
        assert_eq!(cache.lookup(Id(1), Id(2)), Lookup::Unknown(None));
        cache.remember(Id(1), Id(2), Role::Member, 0);
        assert_eq!(cache.lookup(Id(1), Id(2)), Lookup::Unknown(None));
    }

    #[test]
    fn a_role_read_is_remembered_until_its_chat_is_forgotten() {
        let cache = on();
        let g = generation(&cache, Id(1), Id(2));
        cache.remember(Id(1), Id(2), Role::Admin, g);
        cache.remember(Id(3), Id(2), Role::Member, g);
        assert_eq!(cache.lookup(Id(1), Id(2)), Lookup::Member(Role::Admin));
        cache.forget_chat(Id(1));
        assert!(matches!(cache.lookup(Id(1), Id(2)), Lookup::Unknown(Some(_))));
        assert_eq!(cache.lookup(Id(3), Id(2)), Lookup::Member(Role::Member), "other chats are kept");
        cache.forget_all();
        assert!(matches!(cache.lookup(Id(3), Id(2)), Lookup::Unknown(Some(_))));
    }

    #[test]
    fn a_read_under_way_when_something_was_forgotten_is_not_remembered() {
        let cache = on();
        let g = generation(&cache, Id(1), Id(2));
        cache.forget_chat(Id(1));
        cache.remember(Id(1), Id(2), Role::Member, g);
        assert!(matches!(cache.lookup(Id(1), Id(2)), Lookup::Unknown(Some(_))));
    }

    #[test]
    fn turning_off_forgets_everything() {
        let cache = on();
        let g = generation(&cache, Id(1), Id(2));
        cache.remember(Id(1), Id(2), Role::Member, g);
        cache.set_on(false);
        cache.set_on(true);
        assert!(matches!(cache.lookup(Id(1), Id(2)), Lookup::Unknown(Some(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_role_is_used_for_its_lifetime_only() {
        let cache = on();
        let g = generation(&cache, Id(1), Id(2));
        cache.remember(Id(1), Id(2), Role::Member, g);
        tokio::time::advance(LIFETIME - Duration::from_millis(1)).await;
        assert_eq!(cache.lookup(Id(1), Id(2)), Lookup::Member(Role::Member));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(matches!(cache.lookup(Id(1), Id(2)), Lookup::Unknown(Some(_))));
    }
}
