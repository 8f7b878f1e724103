//! Workers: the long-running consumers, by role. Each role runs under a supervisor that
//! restarts it with backoff when it fails or panics (and logs it), and stops it on
//! shutdown after it has drained: no new event is taken, the ones in hand finish and are
//! acknowledged. A role that consumes the chat-event log does so as a consumer group
//! (`group.rs`), whose counts `WorkerStats` keeps for the metrics.

mod group;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{Error, ErrorCode, Result};
use ports::{Blobs, Bus, GroupSpec, Interest, PushGateway, Store, TextIndex};
use tokio_util::sync::CancellationToken;

pub(crate) use group::{DeliveryInfo, GroupHandler};

/// What a worker process does. `serve` runs every role by default; `worker --roles` any set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkerRole {
    /// The `fanout` consumer group: chat events to the members' live streams.
    Fanout,
    /// Announces users whose last connection expired (their node died) as offline, and
    /// statuses that cleared by themselves.
    Presence,
    /// The `thumbnails` consumer group: a thumbnail per image blob a message sent.
    Thumbnails,
    /// Expires uploads never sent and deletes the blobs nothing holds (a pass at an interval).
    Collector,
    /// The `notify` consumer group: who is told of a new message, and when (jobs on the
    /// notification queue).
    Notify,
    /// Sends the notification queue's jobs to the users' push targets.
    Push,
    /// The `index` consumer group: new messages to the text index, in bulk.
    Index,
    /// Ends, as missed, the calls nobody answered in time (a sweep at an interval).
    Calls,
}

impl WorkerRole {
    pub const ALL: [WorkerRole; 8] = [
        WorkerRole::Fanout,
        WorkerRole::Presence,
        WorkerRole::Thumbnails,
        WorkerRole::Collector,
        WorkerRole::Notify,
        WorkerRole::Push,
        WorkerRole::Index,
        WorkerRole::Calls,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WorkerRole::Fanout => "fanout",
            WorkerRole::Presence => "presence",
            WorkerRole::Thumbnails => "thumbnails",
            WorkerRole::Collector => "collector",
            WorkerRole::Notify => "notify",
            WorkerRole::Push => "push",
            WorkerRole::Index => "index",
            WorkerRole::Calls => "calls",
        }
    }

    /// The chat events its consumer group wants (every one, unless it reads only some), and
    /// in which order.
    pub fn spec(self) -> GroupSpec {
        match self {
            WorkerRole::Thumbnails => crate::thumbnails::THUMBNAILS_INTEREST.into(),
            WorkerRole::Notify => crate::notifier::NOTIFY_INTEREST.into(),
            WorkerRole::Index => crate::indexer::INDEX_SPEC,
            _ => Interest::Every.into(),
        }
    }

    /// The consumer group of the chat-event log this role reads, if it reads one.
    pub fn group(self) -> Option<&'static str> {
        match self {
            WorkerRole::Fanout => Some(ports::FANOUT_GROUP),
            WorkerRole::Presence | WorkerRole::Collector | WorkerRole::Push | WorkerRole::Calls => None,
            WorkerRole::Notify => Some(ports::NOTIFY_GROUP),
            WorkerRole::Thumbnails => Some(crate::thumbnails::THUMBNAILS_GROUP),
            WorkerRole::Index => Some(crate::indexer::INDEX_GROUP),
        }
    }

    /// Parses a comma-separated list of role names (`fanout,presence`; `all` for every role).
    pub fn parse_list(list: &str) -> Result<Vec<WorkerRole>> {
        let mut roles = vec![];
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                roles.extend(Self::ALL);
                continue;
            }
            let role = Self::ALL.into_iter().find(|r| r.name() == name).ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|r| r.name()).collect();
                Error::invalid(
                    ErrorCode::UnknownRole,
                    format!("unknown worker role {name:?} (known: {})", known.join(", ")),
                )
            })?;
            roles.push(role);
        }
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            return Err(Error::invalid(ErrorCode::UnknownRole, "no worker role named"));
        }
        Ok(roles)
    }
}

/// Counts of one consumer group in this process.
#[derive(Debug, Default)]
pub struct GroupCounts {
    /// Events handled and acknowledged.
    pub processed: AtomicU64,
    /// Attempts that failed (the event comes again).
    pub failed: AtomicU64,
    /// Events received that had been handed out before.
    pub redelivered: AtomicU64,
}

/// One group's counts at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub group: &'static str,
    pub processed: u64,
    pub failed: u64,
    pub redelivered: u64,
}

/// The workers' counts in this process, for the metrics.
#[derive(Debug, Default)]
pub struct WorkerStats {
    groups: Mutex<BTreeMap<&'static str, Arc<GroupCounts>>>,
    /// Restarts of a failed worker, by role.
    restarts: Mutex<BTreeMap<&'static str, u64>>,
    /// The push role's counts.
    pub push: Arc<crate::pusher::PushCounts>,
    /// The index role's counts.
    pub index: Arc<crate::indexer::IndexStats>,
}

impl WorkerStats {
    pub fn group(&self, name: &'static str) -> Arc<GroupCounts> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner()).entry(name).or_default().clone()
    }

    /// Each group's counts now.
    pub fn groups(&self) -> Vec<GroupSnapshot> {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups
            .iter()
            .map(|(name, c)| {
                let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
                GroupSnapshot {
                    group: name,
                    processed: get(&c.processed),
                    failed: get(&c.failed),
                    redelivered: get(&c.redelivered),
                }
            })
            .collect()
    }

    /// Restarts by role.
    pub fn restarts(&self) -> Vec<(&'static str, u64)> {
        self.restarts.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(r, n)| (*r, *n)).collect()
    }

    fn restarted(&self, role: &'static str) {
        *self.restarts.lock().unwrap_or_else(|e| e.into_inner()).entry(role).or_default() += 1;
    }
}

/// How the workers run.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// Events one consumer-group worker handles at the same time (of different chats).
    pub concurrency: usize,
    /// The longest side of a thumbnail, in pixels.
    pub thumbnail_side: u32,
    /// Images larger than this (bytes) get no thumbnail (the upload limit).
    pub max_image_bytes: u64,
    /// How long an upload may wait for the message that sends it before the collector
    /// deletes it.
    pub upload_grace: Duration,
    /// Time between two passes of the collector.
    pub collect_interval: Duration,
    /// How long a member with a live stream has to read a message before a push.
    pub notify_delay: Duration,
    pub push: crate::pusher::PushSettings,
    /// Time between two sweeps for calls nobody answered.
    pub call_sweep_interval: Duration,
    /// Time between two looks for statuses that cleared by themselves.
    pub status_clear_interval: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 64,
            thumbnail_side: 400,
            max_image_bytes: domain::Limits::default().max_upload_bytes,
            upload_grace: Duration::from_secs(24 * 3600),
            collect_interval: Duration::from_secs(600),
            notify_delay: Duration::from_secs(60),
            push: crate::pusher::PushSettings::default(),
            call_sweep_interval: Duration::from_secs(2),
            status_clear_interval: Duration::from_secs(1),
        }
    }
}

/// The adapters the workers use.
#[derive(Clone)]
pub struct WorkerPorts {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub blobs: Arc<dyn Blobs>,
    pub push: Arc<dyn PushGateway>,
    pub index: Arc<dyn TextIndex>,
    /// What the fan-out remembers of chats' members.
    pub membership: Arc<crate::membership_cache::MembershipCache>,
}

/// Running workers. [`Workers::stop`] drains them.
pub struct Workers {
    shutdown: CancellationToken,
    supervisors: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers").field("running", &self.supervisors.len()).finish()
    }
}

impl Workers {
    /// Declares the roles' consumer groups, then starts a supervisor per role; they stop
    /// when `shutdown` is cancelled.
    pub async fn start(
        roles: &[WorkerRole],
        ports: WorkerPorts,
        stats: Arc<WorkerStats>,
        settings: WorkerSettings,
        shutdown: CancellationToken,
    ) -> Result<Self> {
        let WorkerPorts { store, bus, blobs, push, index, membership } = ports;
        for role in roles {
            if let Some(group) = role.group() {
                bus.declare_group(group, role.spec()).await?;
            }
        }
        let supervisors = roles
            .iter()
            .map(|role| {
                let run = Runner {
                    role: *role,
                    store: store.clone(),
                    bus: bus.clone(),
                    blobs: blobs.clone(),
                    push: push.clone(),
                    index: index.clone(),
                    membership: membership.clone(),
                    stats: stats.clone(),
                    settings,
                };
                tokio::spawn(supervise(run, shutdown.clone()))
            })
            .collect();
        Ok(Self { shutdown, supervisors })
    }

    /// Every role with default settings, until the process ends (tests, tools).
    /// Pushes go nowhere ([`crate::pusher::NoPushGateway`]), nor do messages to index
    /// ([`crate::indexer::NoTextIndex`]).
    pub async fn start_all(store: Arc<dyn Store>, bus: Arc<dyn Bus>, blobs: Arc<dyn Blobs>) -> Result<Self> {
        let (stats, settings) = (Arc::default(), WorkerSettings::default());
        let push = Arc::new(crate::pusher::NoPushGateway);
        let index = Arc::new(crate::indexer::NoTextIndex);
        let ports = WorkerPorts { store, bus, blobs, push, index, membership: Arc::default() };
        Self::start(&WorkerRole::ALL, ports, stats, settings, CancellationToken::new()).await
    }

    /// Stops every worker and waits until each has drained.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for supervisor in self.supervisors {
            let _ = supervisor.await;
        }
    }
}

#[derive(Clone)]
struct Runner {
    role: WorkerRole,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    blobs: Arc<dyn Blobs>,
    push: Arc<dyn PushGateway>,
    index: Arc<dyn TextIndex>,
    membership: Arc<crate::membership_cache::MembershipCache>,
    stats: Arc<WorkerStats>,
    settings: WorkerSettings,
}

impl Runner {
    async fn run(self, shutdown: CancellationToken) -> Result<()> {
        match self.role {
            WorkerRole::Fanout => {
                let handler =
                    Arc::new(crate::fanout::Fanout::new(self.store.clone(), self.bus.clone(), self.membership.clone()));
                self.consume_group(ports::FANOUT_GROUP, handler, shutdown).await
            }
            WorkerRole::Thumbnails => {
                let s = self.settings;
                let handler = Arc::new(crate::thumbnails::Thumbnails::new(
                    self.store.clone(),
                    self.blobs.clone(),
                    s.thumbnail_side,
                    s.max_image_bytes,
                ));
                self.consume_group(crate::thumbnails::THUMBNAILS_GROUP, handler, shutdown).await
            }
            WorkerRole::Collector => {
                let s = self.settings;
                crate::collector::Collector::new(self.store, self.blobs, s.upload_grace)
                    .run(s.collect_interval, shutdown)
                    .await
            }
            WorkerRole::Calls => {
                // A service of its own: the sweep writes calls and announces their end, and
                // makes no ids.
                let ids = Arc::new(domain::IdGenerator::with_random_node());
                crate::ChatService::new(self.store, self.bus, self.blobs, ids, domain::Limits::default())
                    .run_call_sweeper(self.settings.call_sweep_interval, shutdown)
                    .await
            }
            WorkerRole::Notify => {
                let handler = Arc::new(crate::notifier::Notifier::new(
                    self.store.clone(),
                    self.bus.clone(),
                    self.settings.notify_delay,
                ));
                self.consume_group(ports::NOTIFY_GROUP, handler, shutdown).await
            }
            WorkerRole::Push => {
                let counts = self.stats.push.clone();
                let handler = Arc::new(crate::pusher::Pusher::new(
                    self.store.clone(),
                    self.bus.clone(),
                    self.push.clone(),
                    self.settings.push,
                    counts,
                ));
                let jobs = self.bus.notification_jobs().await?;
                let counts = self.stats.group("push");
                // A user's jobs in order.
                let lane: group::LaneOf<domain::NotifyJob> = Some(|job| job.user_id.0);
                group::consume(jobs, "push", handler, lane, self.settings.concurrency, counts, shutdown).await
            }
            WorkerRole::Index => {
                let handler = Arc::new(crate::indexer::Indexer::new(self.index.clone(), self.stats.index.clone()));
                self.consume_group(crate::indexer::INDEX_GROUP, handler, shutdown).await
            }
            WorkerRole::Presence => {
                let clears = crate::presence::run_status_clears(
                    self.store.clone(),
                    self.bus.clone(),
                    self.settings.status_clear_interval,
                );
                tokio::select! {
                    () = crate::presence::run_presence_expiries(self.store, self.bus) => {
                        Err(Error::unavailable("the presence expiries ended"))
                    }
                    () = clears => Err(Error::unavailable("the status clears ended")),
                    () = shutdown.cancelled() => Ok(()),
                }
            }
        }
    }
}

impl Runner {
    /// Consumes the chat events of this role's group `group` with `handler`.
    async fn consume_group(
        &self,
        group: &'static str,
        handler: Arc<dyn GroupHandler>,
        shutdown: CancellationToken,
    ) -> Result<()> {
        let events = self.bus.chat_events(group, self.role.spec()).await?;
        let counts = self.stats.group(group);
        // The indexer's handlers only wait for their batch's write.
        let concurrency = match self.role {
            WorkerRole::Index => crate::indexer::EVENTS_IN_HAND,
            _ => self.settings.concurrency,
        };
        let lane: group::LaneOf<domain::ChatEvent> = match self.role.spec().order {
            ports::EventOrder::PerChat => Some(|event| event.chat_id.0),
            ports::EventOrder::Any => None,
        };
        group::consume(events, group, handler, lane, concurrency, counts, shutdown).await
    }
}

/// Runs a role until shutdown, restarting it after a failure or a panic: 100 ms, doubling
/// up to 30 s, back to 100 ms once it has run for a minute.
async fn supervise(runner: Runner, shutdown: CancellationToken) {
    let role = runner.role.name();
    let mut backoff = Duration::from_millis(100);
    loop {
        tracing::info!(role, "worker starting");
        let started = Instant::now();
        let outcome = tokio::spawn(runner.clone().run(shutdown.clone())).await;
        if shutdown.is_cancelled() {
            tracing::info!(role, "worker stopped");
            return;
        }
        match outcome {
            Ok(Ok(())) => tracing::error!(role, "worker ended by itself; restarting"),
            Ok(Err(error)) => tracing::error!(role, %error, "worker failed; restarting"),
            Err(panic) => tracing::error!(role, error = %panic, "worker panicked; restarting"),
        }
        runner.stats.restarted(role);
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_millis(100);
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn role_lists_parse() {
        let cases: &[(&str, Option<&[WorkerRole]>)] = &[
            ("fanout", Some(&[WorkerRole::Fanout])),
            ("presence, fanout", Some(&[WorkerRole::Fanout, WorkerRole::Presence])),
            ("all", Some(&WorkerRole::ALL)),
            ("fanout,fanout", Some(&[WorkerRole::Fanout])),
            ("", None),
            ("fan-out", None),
            ("fanout,index", Some(&[WorkerRole::Fanout, WorkerRole::Index])),
            ("fanout,indexer", None),
        ];
        for (list, expected) in cases {
            let parsed = WorkerRole::parse_list(list).ok();
            assert_eq!(parsed.as_deref(), *expected, "{list:?}");
        }
    }
}
