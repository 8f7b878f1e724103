//! The service layer: Petit chat's use cases, written against the ports only. It decides
//! who may do what, makes ids, validates input, keeps sends idempotent and decides what
//! each change tells whom. It never names an adapter and knows nothing of HTTP.

mod announce;
pub mod attachments;
pub mod calls;
mod chats;
pub mod collector;
pub use chats::ChatSummary;
#[doc(hidden)]
pub mod cursor;
pub mod edits;
pub mod fanout;
pub mod gateway;
pub mod indexer;
mod known_users;
pub mod membership_cache;
mod notifications;
pub mod notifier;
pub mod presence;
pub mod pusher;
mod receipts;
pub mod reindex;
pub mod search;
pub mod signals;
#[cfg(test)]
mod testing;
pub mod thumbnails;
mod tickets;
mod users;
pub mod workers;
pub use users::Provisioned;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use domain::{IdGenerator, Limits};
use ports::{Blobs, Bus, Store};
use tokio_util::task::TaskTracker;

pub use cursor::SignalQuery;
pub use fanout::DeliveryTracker;
pub use gateway::{GatewaySession, Outgoing};
pub use notifications::MAX_PUSH_TARGETS;
pub use pusher::{Preview, PushCounts, PushSettings};
pub use workers::{WorkerPorts, WorkerRole, WorkerSettings, WorkerStats, Workers};

/// Petit chat's use cases. Cheap to clone.
#[derive(Clone)]
pub struct ChatService {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    blobs: Arc<dyn Blobs>,
    ids: Arc<IdGenerator>,
    limits: Limits,
    announcements: Arc<announce::Announcements>,
    typing: Arc<presence::TypingLimiter>,
    /// The push gateways, when notifications are sent.
    push: Option<Arc<dyn ports::PushGateway>>,
    /// The text index searches ask ([`indexer::NoTextIndex`] until one is given).
    index: Arc<dyn ports::TextIndex>,
    /// Callers provisioned lately, so a request need not read its caller from the store.
    known_users: Arc<known_users::KnownUsers>,
    /// The roles of senders, remembered while membership news is heard.
    membership_cache: Arc<membership_cache::MembershipCache>,
    /// Work a request or a stream left to finish after it (a closed stream's presence, an
    /// event waiting for the bus), waited for at shutdown.
    background: TaskTracker,
}

impl std::fmt::Debug for ChatService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatService").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl ChatService {
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        blobs: Arc<dyn Blobs>,
        ids: Arc<IdGenerator>,
        limits: Limits,
    ) -> Self {
        Self {
            store,
            bus,
            blobs,
            ids,
            limits,
            announcements: Arc::default(),
            typing: Arc::default(),
            push: None,
            index: Arc::new(indexer::NoTextIndex),
            known_users: Arc::default(),
            membership_cache: Arc::default(),
            background: TaskTracker::new(),
        }
    }

    /// Senders' roles are remembered in `cache` (off unless it is
    /// [`membership_cache::MembershipCache::followed`]).
    pub fn with_membership_cache(mut self, cache: Arc<membership_cache::MembershipCache>) -> Self {
        self.membership_cache = cache;
        self
    }

    /// Searches go to `index`.
    pub fn with_search(mut self, index: Arc<dyn ports::TextIndex>) -> Self {
        self.index = index;
        self
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

    pub fn index(&self) -> &Arc<dyn ports::TextIndex> {
        &self.index
    }

    pub fn blobs(&self) -> &Arc<dyn Blobs> {
        &self.blobs
    }

    /// Runs `work` after the request or stream that started it, on the current runtime;
    /// [`ChatService::finish_background`] waits for it.
    pub(crate) fn spawn_background(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.background.spawn(work);
    }

    /// At shutdown: waits, at most `within`, for the background work started so far to
    /// finish (what is still running then is abandoned: a stream's presence expires by
    /// itself, an event waiting for a bus that does not come back is lost with the
    /// process, as before). Returns whether everything finished.
    pub async fn finish_background(&self, within: Duration) -> bool {
        self.background.close();
        tokio::time::timeout(within, self.background.wait()).await.is_ok()
    }
}

/// Clamps a requested page size to `1..=max`, `default` when absent.
pub fn page_limit(requested: Option<usize>, default: usize, max: usize) -> usize {
    requested.unwrap_or(default).clamp(1, max)
}
