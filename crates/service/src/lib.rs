//! The service layer: Petit chat's use cases, written against the ports only. It decides
//! who may do what, makes ids, validates input, keeps sends idempotent and decides what
//! each change tells whom. It never names an adapter and knows nothing of HTTP.

mod announce;
mod chats;
pub use chats::ChatSummary;
mod cursor;
pub mod fanout;
pub mod gateway;
pub mod presence;
mod receipts;
pub mod signals;
mod tickets;
mod users;
pub mod workers;
pub use users::Provisioned;

use std::sync::Arc;

use domain::{IdGenerator, Limits};
use ports::{Bus, Store};

pub use cursor::SignalQuery;
pub use fanout::DeliveryTracker;
pub use gateway::{GatewaySession, Outgoing};
pub use workers::{WorkerRole, WorkerSettings, WorkerStats, Workers};

/// Petit chat's use cases. Cheap to clone.
#[derive(Clone)]
pub struct ChatService {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    ids: Arc<IdGenerator>,
    limits: Limits,
    announcements: Arc<announce::Announcements>,
    typing: Arc<presence::TypingLimiter>,
}

impl std::fmt::Debug for ChatService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatService").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl ChatService {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, ids: Arc<IdGenerator>, limits: Limits) -> Self {
        Self { store, bus, ids, limits, announcements: Arc::default(), typing: Arc::default() }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }
}

/// Clamps a requested page size to `1..=max`, `default` when absent.
pub fn page_limit(requested: Option<usize>, default: usize, max: usize) -> usize {
    requested.unwrap_or(default).clamp(1, max)
}
