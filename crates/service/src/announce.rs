//! Announcing changes on the bus when the bus is away. A change is stored first, then its
//! chat event is published; when publishing fails the request answers 503 (the change is
//! not acknowledged) and this process keeps retrying the publish in the background until
//! the bus takes it. A client retry of a message (same nonce, any node) publishes its event
//! again unless this process holds it published, so the announcement also survives this
//! process dying, and a retry is acknowledged only once the bus holds the event. The NATS
//! bus drops repeats (message id `signal-<id>`, within its duplicate window).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use domain::{ChatEvent, Event, SignalId};

use crate::ChatService;

/// Signals this process remembers announcing.
const REMEMBERED: usize = 16_384;
/// Chat events at most waiting for the bus in the background; beyond, they are dropped
/// (logged) and only a client retry announces them.
const MAX_PENDING: usize = 100_000;

/// How long a publish may be in flight before a retry takes it over.
const IN_FLIGHT_FOR: Duration = Duration::from_secs(10);

/// Where this process is with announcing a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A request started publishing it then (if that request was dropped midway, a retry
    /// takes over after `IN_FLIGHT_FOR`).
    InFlight(Instant),
    /// The bus refused it; a background task retries.
    Pending,
    /// The bus holds it.
    Published,
}

#[derive(Default)]
pub(crate) struct Announcements {
    states: Mutex<States>,
    pending: AtomicUsize,
}

type States = (HashMap<SignalId, State>, VecDeque<SignalId>);

impl Announcements {
    fn set(&self, signal: SignalId, state: State) {
        insert(&mut self.states.lock().unwrap_or_else(|e| e.into_inner()), signal, state);
    }

    /// Whether `signal` must be announced (again): not when this process holds it published
    /// or a request is publishing it right now. Claims it when so, under the lock: of
    /// concurrent requests for one signal (its first send and retries of it), one announces.
    pub(crate) fn needs_announcing(&self, signal: SignalId) -> bool {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let claim = match states.0.get(&signal) {
            Some(State::Published) => false,
            Some(State::InFlight(since)) => since.elapsed() >= IN_FLIGHT_FOR,
            Some(State::Pending) | None => true,
        };
        if claim {
            insert(&mut states, signal, State::InFlight(Instant::now()));
        }
        claim
    }
}

/// Records `state` for `signal`, forgetting the oldest signal past [`REMEMBERED`].
fn insert((map, order): &mut States, signal: SignalId, state: State) {
    if map.insert(signal, state).is_none() {
        order.push_back(signal);
        if order.len() > REMEMBERED
            && let Some(old) = order.pop_front()
        {
            map.remove(&old);
        }
    }
}

fn signal_of(event: &ChatEvent) -> Option<SignalId> {
    match &event.event {
        Event::SignalCreated { signal, .. } => Some(signal.signal.id),
        _ => None,
    }
}

impl ChatService {
    /// Publishes a chat event. On failure the caller gets the error (a 503: retry) and the
    /// event is published in the background once the bus is back.
    ///
    /// The event's key ([`ports::ChatEventBus::publish_chat_event`]) is the same for every
    /// try: `signal-<id>` for a new signal, so a client's retry on any node is dropped too,
    /// and a random one for any other event.
    pub(crate) async fn publish(&self, event: ChatEvent) -> domain::Result<()> {
        let signal = signal_of(&event);
        let key = match signal {
            Some(id) => format!("signal-{}", id.0),
            None => format!("event-{:032x}", rand::random::<u128>()),
        };
        let Err(error) = self.bus.publish_chat_event(&event, &key).await else {
            if let Some(id) = signal {
                self.announcements.set(id, State::Published);
            }
            return Ok(());
        };
        if let Some(id) = signal {
            self.announcements.set(id, State::Pending);
        }
        let pending = &self.announcements.pending;
        if pending.fetch_add(1, Ordering::Relaxed) >= MAX_PENDING {
            pending.fetch_sub(1, Ordering::Relaxed);
            tracing::error!(%error, chat_id = %event.chat_id, "bus down and too many events waiting: dropping one");
            return Err(error);
        }
        tracing::warn!(%error, chat_id = %event.chat_id, "bus unavailable: the event will be published when it is back");
        let service = self.clone();
        self.spawn_background(async move {
            let mut wait = Duration::from_millis(250);
            loop {
                tokio::time::sleep(wait).await;
                match service.bus.publish_chat_event(&event, &key).await {
                    Ok(()) => {
                        if let Some(id) = signal {
                            service.announcements.set(id, State::Published);
                        }
                        break;
                    }
                    Err(_) => wait = (wait * 2).min(Duration::from_secs(5)),
                }
            }
            service.announcements.pending.fetch_sub(1, Ordering::Relaxed);
            tracing::info!(chat_id = %event.chat_id, "a delayed event reached the bus");
        });
        Err(error)
    }
}
