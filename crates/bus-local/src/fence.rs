//! The nonce fence in memory: one process is the only node of a local bus, so a map is
//! the compare-and-set every attempt meets. Claims older than the window are swept once
//! the map has doubled since the last sweep, so memory stays proportional to the claims
//! of one window.

use std::collections::HashMap;
use std::sync::Mutex;

use domain::{ChatId, SignalId, UserId};
use ports::{NONCE_FENCE_WINDOW, NonceClaim};
use tokio::time::Instant;

#[derive(Default)]
pub(crate) struct Fence {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    claims: HashMap<(ChatId, UserId, Box<str>), (SignalId, Instant)>,
    /// The map's size after the last sweep.
    swept_at: usize,
}

impl Fence {
    pub(crate) fn claim(&self, chat: ChatId, author: UserId, nonce: &str, id: SignalId) -> NonceClaim {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.claims.len() >= 2 * state.swept_at.max(1024) {
            state.claims.retain(|_, (_, at)| now.duration_since(*at) < NONCE_FENCE_WINDOW);
            state.swept_at = state.claims.len();
        }
        let entry = state.claims.entry((chat, author, nonce.into())).or_insert((id, now));
        if entry.0 != id && now.duration_since(entry.1) >= NONCE_FENCE_WINDOW {
            *entry = (id, now);
        }
        if entry.0 == id { NonceClaim::Ours } else { NonceClaim::Theirs(entry.0) }
    }
}
