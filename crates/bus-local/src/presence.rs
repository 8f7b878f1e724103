//! Presence and statuses in memory. A connection is live until its deadline (the last
//! heartbeat plus its ttl); a user with entries whose deadlines all passed is reported
//! once by the expiry stream, then forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use domain::UserId;
use ports::{PresenceExpiry, PresenceExpiryStream};
use tokio::time::Instant;

/// How often an idle expiry stream looks again.
const SWEEP_AT_MOST_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone, Default)]
pub(crate) struct Presence {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Per user: (connection id, deadline), one per open stream. A user has a handful at
    /// most, so a vector (one small allocation per online user) rather than a map. A user
    /// with no entry is offline and was reported so.
    connections: HashMap<UserId, Vec<(Box<str>, Instant)>>,
}

fn live(connections: &[(Box<str>, Instant)], now: Instant) -> bool {
    connections.iter().any(|(_, deadline)| *deadline > now)
}

impl Presence {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn heartbeat(&self, user: UserId, connection: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        let connections = state.connections.entry(user).or_default();
        // Connections that expired without a close (and were not swept yet) go now: the
        // user is back before anyone was told they left.
        connections.retain(|(_, deadline)| *deadline > now);
        let came_online = connections.is_empty();
        match connections.iter_mut().find(|(id, _)| &**id == connection) {
            Some((_, deadline)) => *deadline = now + ttl,
            None => {
                connections.reserve_exact(1);
                connections.push((connection.into(), now + ttl));
            }
        }
        came_online
    }

    pub(crate) fn connection_closed(&self, user: UserId, connection: &str) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        let Some(connections) = state.connections.get_mut(&user) else { return false };
        connections.retain(|(id, _)| &**id != connection);
        if live(connections, now) {
            return false;
        }
        // Nothing live is left: the user goes offline now, expired leftovers included (the
        // expiry stream will not report them again).
        state.connections.remove(&user);
        true
    }

    pub(crate) fn online(&self, users: &[UserId]) -> Vec<UserId> {
        let now = Instant::now();
        let state = self.lock();
        users.iter().copied().filter(|u| state.connections.get(u).is_some_and(|c| live(c, now))).collect()
    }

    /// Removes the users whose connections all expired; returns them and when to look again.
    fn sweep(&self) -> (Vec<UserId>, Duration) {
        let now = Instant::now();
        let mut state = self.lock();
        let expired: Vec<UserId> =
            state.connections.iter().filter(|(_, c)| !live(c, now)).map(|(user, _)| *user).collect();
        for user in &expired {
            state.connections.remove(user);
        }
        let next = state
            .connections
            .values()
            .flat_map(|c| c.iter().map(|(_, deadline)| deadline))
            .min()
            .map_or(SWEEP_AT_MOST_EVERY, |deadline| deadline.saturating_duration_since(now));
        (expired, next.clamp(Duration::from_millis(10), SWEEP_AT_MOST_EVERY))
    }

    pub(crate) fn expiries(&self) -> PresenceExpiryStream {
        let presence = self.clone();
        let stream = futures::stream::unfold(
            (presence, std::collections::VecDeque::<UserId>::new()),
            |(presence, mut pending)| async move {
                loop {
                    if let Some(user) = pending.pop_front() {
                        // In one process an expiry cannot be lost to a crash: nothing to redo.
                        let expiry = PresenceExpiry { user, ack: Box::new(|| Box::pin(async { Ok(()) })) };
                        return Some((Ok(expiry), (presence, pending)));
                    }
                    let (expired, next) = presence.sweep();
                    if expired.is_empty() {
                        tokio::time::sleep(next).await;
                    }
                    pending.extend(expired);
                }
            },
        );
        Box::pin(stream)
    }
}
