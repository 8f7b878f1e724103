//! Sending notifications: the `push` role's handler of notification jobs. Before sending
//! it checks again (the member read it meanwhile, left, muted the chat, the message is
//! gone: nothing is sent), builds the notification once (title, preview as configured,
//! unread count) and sends it to each of the user's push targets through the gateway of
//! its kind. A target that has it already (a record per target and idempotency key) is
//! skipped, so a job handed out again sends nothing twice; a crash between sending and
//! recording resends with the same idempotency key, which the gateway sees. A failure
//! worth it is retried as a job of its own for that target, queued with a delay
//! (exponential backoff and jitter, or the gateway's `Retry-After` up to a cap), so the
//! user's other jobs do not wait behind it; past the last attempt it becomes a dead
//! letter for that target. A target the gateway calls gone is deleted.
//!
//! What it reads per job: the user's targets, and a snapshot of the chat taken once for
//! all the members' jobs of a message (members and their read markers, their settings,
//! the latest signals for the unread count, the message's content) side by side; the
//! record of what was sent only when the job may have been sent before (a redelivery, a
//! retry); then it writes that record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

use domain::{
    ChatId, ChatKind, DeadLetter, NotifyAction, NotifyJob, NotifySettings, PushRetry, PushTarget, Result, SignalBody,
    SignalId, UserId, id::now_ms,
};
use ports::{Bus, PushGateway, PushMessage, PushOutcome, SignalRange, Store};
use serde::{Deserialize, Serialize};

use crate::workers::{DeliveryInfo, GroupHandler};

/// The unread count is counted among this many latest signals of the chat (exact counts
/// come with the signals issue's counters).
pub const MAX_UNREAD_COUNT: usize = 20;
/// Longest preview, in characters.
const MAX_PREVIEW_CHARS: usize = 200;
/// A `Retry-After` longer than this is cut to it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// How much of a message a notification shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preview {
    /// The chat, the sender and the text.
    #[default]
    Full,
    /// The chat and the sender, not the text.
    SenderOnly,
    /// Only that there is something new.
    None,
}

/// How the push role sends.
#[derive(Debug, Clone, Copy)]
pub struct PushSettings {
    pub preview: Preview,
    /// Attempts per target before a dead letter.
    pub attempts: u32,
    /// The first retry's wait; each next one doubles (with jitter), up to 8 s.
    pub retry_base: Duration,
    /// How long a gateway may keep a notification for an unreachable device.
    pub ttl: Duration,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            preview: Preview::Full,
            attempts: 5,
            retry_base: Duration::from_millis(500),
            ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// Counts of the push role in this process, for the metrics.
#[derive(Debug, Default)]
pub struct PushCounts {
    /// Notifications a gateway took.
    pub sent: AtomicU64,
    /// Attempts that failed and were retried.
    pub retried: AtomicU64,
    /// Targets deleted because their gateway said they are gone.
    pub gone: AtomicU64,
    /// Jobs given up on, for one target.
    pub dead: AtomicU64,
    /// Jobs that needed no sending after the check (read, muted, deleted…).
    pub skipped: AtomicU64,
}

pub(crate) struct Pusher {
    store: Arc<dyn Store>,
    /// Where retries are queued.
    bus: Arc<dyn Bus>,
    gateway: Arc<dyn PushGateway>,
    settings: PushSettings,
    counts: Arc<PushCounts>,
    /// Recent messages' snapshots, by (chat, signal), with when they were taken.
    snapshots: Mutex<HashMap<(ChatId, SignalId), Taken>>,
}

/// When a snapshot was first asked for, and the snapshot (once read).
type Taken = (Instant, Arc<OnceCell<Arc<Snapshot>>>);

/// What the push role reads of a chat to push one message, once for all its members'
/// jobs: they were queued together and come together (also when delayed: by the same
/// delay). Taken when the first of them is handled and reused [`SNAPSHOT_KEPT`], so a
/// member who reads the chat, changes their level or leaves is seen within that.
struct Snapshot {
    /// The members: their read markers and settings.
    members: HashMap<UserId, (SignalId, NotifySettings)>,
    /// The latest signals (id, author, whether a message), for the unread counts.
    latest: Vec<(SignalId, UserId, bool)>,
    /// What the notification shows; `None`: the message is gone, or not a message.
    content: Option<Content>,
}

/// What a message's notification shows, whoever it is for.
struct Content {
    title: String,
    body: String,
    sender: String,
}

/// How long a message's snapshot is reused for the other members it is pushed to.
const SNAPSHOT_KEPT: Duration = Duration::from_secs(1);
/// Snapshots kept at most (older ones are dropped past this).
const MAX_SNAPSHOTS: usize = 4096;

impl Pusher {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        gateway: Arc<dyn PushGateway>,
        settings: PushSettings,
        counts: Arc<PushCounts>,
    ) -> Self {
        Self { store, bus, gateway, settings, counts, snapshots: Mutex::default() }
    }

    /// The targets `job` goes to (a retry: its one target, if it still exists) and its
    /// notification, or `None` when nothing should be sent any more.
    async fn prepare(&self, job: &NotifyJob) -> Result<Option<(Vec<PushTarget>, PushMessage)>> {
        let mut message = PushMessage {
            key: job.key(),
            action: job.action,
            chat_id: job.chat_id,
            signal_id: job.signal_id,
            title: None,
            body: None,
            sender: None,
            unread: 0,
            ttl: self.settings.ttl,
        };
        if job.action == NotifyAction::Clear {
            let (targets, member) = tokio::try_join!(self.targets(job), self.store.member(job.chat_id, job.user_id))?;
            return Ok((member.is_some() && !targets.is_empty()).then_some((targets, message)));
        }
        let (targets, snapshot) = tokio::try_join!(self.targets(job), self.snapshot(job.chat_id, job.signal_id))?;
        let (Some(&(read_up_to, settings)), Some(content)) = (snapshot.members.get(&job.user_id), &snapshot.content)
        else {
            return Ok(None);
        };
        if targets.is_empty() || read_up_to >= job.signal_id || !settings.allows(job.mentioned, now_ms() as i64) {
            return Ok(None);
        }
        message.unread = snapshot
            .latest
            .iter()
            .filter(|(id, author, is_message)| *id > read_up_to && *author != job.user_id && *is_message)
            .count() as u32;
        if self.settings.preview != Preview::None {
            message.title = Some(content.title.clone());
            message.body = Some(content.body.clone());
            message.sender = Some(content.sender.clone());
        }
        Ok(Some((targets, message)))
    }

    /// The targets `job` goes to: the user's, or a retry's one (if it still exists).
    async fn targets(&self, job: &NotifyJob) -> Result<Vec<PushTarget>> {
        let mut targets = self.store.push_targets(job.user_id).await?;
        if let Some(retry) = job.retry {
            targets.retain(|t| t.id == retry.target_id);
        }
        Ok(targets)
    }

    /// The snapshot of `chat` for message `signal`: read once for the jobs that come
    /// within [`SNAPSHOT_KEPT`] of each other (the first reads, the others wait for it).
    async fn snapshot(&self, chat: ChatId, signal: SignalId) -> Result<Arc<Snapshot>> {
        let cell = {
            let mut snapshots = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
            if snapshots.len() >= MAX_SNAPSHOTS {
                snapshots.retain(|_, (at, _)| at.elapsed() < SNAPSHOT_KEPT);
            }
            match snapshots.get(&(chat, signal)) {
                Some((at, cell)) if at.elapsed() < SNAPSHOT_KEPT => cell.clone(),
                _ => {
                    let cell = Arc::new(OnceCell::new());
                    snapshots.insert((chat, signal), (Instant::now(), cell.clone()));
                    cell
                }
            }
        };
        cell.get_or_try_init(|| self.read_snapshot(chat, signal)).await.cloned()
    }

    async fn read_snapshot(&self, chat: ChatId, signal: SignalId) -> Result<Arc<Snapshot>> {
        let (members, settings, latest, content) = tokio::try_join!(
            self.store.members(chat),
            self.store.chat_notify_settings(chat),
            self.store.signals(chat, SignalRange::Latest, MAX_UNREAD_COUNT),
            self.read_content(chat, signal),
        )?;
        let mut settings: HashMap<_, _> = settings.into_iter().collect();
        Ok(Arc::new(Snapshot {
            members: members
                .into_iter()
                .map(|m| (m.user_id, (m.read_up_to, settings.remove(&m.user_id).unwrap_or_default())))
                .collect(),
            latest: latest
                .iter()
                .map(|s| (s.id, s.author_id, s.kind().counts_as_unread() && !s.is_deleted()))
                .collect(),
            content,
        }))
    }

    async fn read_content(&self, chat_id: ChatId, signal_id: SignalId) -> Result<Option<Content>> {
        let (signal, chat) = tokio::try_join!(self.store.signal(chat_id, signal_id), self.store.chat(chat_id))?;
        let (Some(signal), Some(chat)) = (signal, chat) else { return Ok(None) };
        let sender = self.store.user(signal.author_id).await?.map_or_else(|| "Someone".into(), |u| u.display_name);
        let title = match (chat.kind, chat.title) {
            (ChatKind::Group, Some(title)) => title,
            _ => sender.clone(),
        };
        let body = match (&signal.body, self.settings.preview) {
            (SignalBody::Msg { text, .. }, Preview::Full) if !text.trim().is_empty() => preview(text),
            (SignalBody::Msg { attachments, .. }, Preview::Full) if !attachments.is_empty() => {
                match attachments.len() {
                    1 => format!("{sender} sent a file"),
                    n => format!("{sender} sent {n} files"),
                }
            }
            (SignalBody::Msg { .. }, _) => format!("{sender} wrote"),
            (SignalBody::Location { .. }, _) => format!("{sender} shared a location"),
            (SignalBody::Call(call), _) if call.missed() => format!("Missed call from {sender}"),
            (SignalBody::Call(call), _) if call.state == domain::CallState::Ringing => format!("{sender} is calling"),
            // An answered call, a deleted signal, the server's lines: nothing to tell.
            _ => return Ok(None),
        };
        Ok(Some(Content { title, body, sender }))
    }

    /// Sends `message` to one target; a failure worth it is queued again for that target.
    /// `maybe_sent`: the job may have reached it before (look at the record first).
    async fn deliver(
        &self,
        job: &NotifyJob,
        target: &PushTarget,
        message: &PushMessage,
        maybe_sent: bool,
    ) -> Result<()> {
        if maybe_sent && self.store.push_sent(target.id, &message.key).await? {
            return Ok(());
        }
        let user = job.user_id;
        let attempt = job.retry.map_or(1, |r| r.attempt);
        let failure = match self.gateway.send(target, message).await {
            PushOutcome::Delivered => {
                self.store.record_push_sent(target.id, &message.key).await?;
                self.counts.sent.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            PushOutcome::Gone => {
                tracing::info!(target = %target.id, %user, kind = target.spec.kind(), "push: the target is gone; deleting it");
                self.store.delete_push_target(user, target.id).await?;
                self.counts.gone.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            PushOutcome::Refused { reason } => reason,
            PushOutcome::Retry { after, reason } if attempt < self.settings.attempts => {
                self.counts.retried.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(target = %target.id, attempt, %reason, "push: retrying later");
                let wait = after.map_or_else(|| backoff(self.settings.retry_base, attempt), |a| a.min(MAX_RETRY_AFTER));
                let retry =
                    NotifyJob { retry: Some(PushRetry { target_id: target.id, attempt: attempt + 1 }), ..job.clone() };
                return self.bus.queue_notification(&retry, Some(wait)).await;
            }
            PushOutcome::Retry { reason, .. } => reason,
        };
        tracing::warn!(target = %target.id, %user, attempts = attempt, reason = %failure, "push: giving up (dead letter)");
        let letter = DeadLetter {
            at: now_ms() as i64,
            user_id: user,
            target_id: target.id,
            key: message.key.clone(),
            attempts: attempt,
            error: failure,
        };
        self.store.add_dead_letter(&letter).await?;
        self.counts.dead.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A gateway for a process that sends no pushes (tools, tests of other things): it takes
/// no target and refuses every send.
#[derive(Debug)]
pub struct NoPushGateway;

#[async_trait::async_trait]
impl PushGateway for NoPushGateway {
    fn check_target(&self, _spec: &domain::PushTargetSpec) -> Result<()> {
        Err(domain::Error::invalid(domain::ErrorCode::PushNotConfigured, "this server sends no push notifications"))
    }

    async fn send(&self, _target: &PushTarget, _message: &PushMessage) -> PushOutcome {
        PushOutcome::Refused { reason: "this server sends no push notifications".into() }
    }

    fn vapid_public_key(&self) -> Option<String> {
        None
    }
}

/// The wait before retry `attempt` (1 = the first retry): `base` doubling, up to 8 s, each
/// between half and all of it (jitter, so targets that failed together do not retry together).
fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(Duration::from_secs(8));
    full.mul_f64(rand::random_range(0.5..=1.0))
}

/// The first characters of a text, on one line.
fn preview(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(MAX_PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

#[async_trait::async_trait]
impl GroupHandler<NotifyJob> for Pusher {
    async fn handle(&self, job: &NotifyJob, info: DeliveryInfo<'_>) -> Result<()> {
        let Some((targets, message)) = self.prepare(job).await? else {
            self.counts.skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let maybe_sent = info.redeliveries > 0 || job.retry.is_some();
        let sends = targets.iter().map(|t| self.deliver(job, t, &message, maybe_sent));
        futures::future::try_join_all(sends).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_a_cap() {
        let base = Duration::from_millis(500);
        for attempt in 1..=10 {
            let wait = backoff(base, attempt);
            let full = (base * 2u32.pow(attempt - 1)).min(Duration::from_secs(8));
            assert!(wait >= full / 2 && wait <= full, "attempt {attempt}: {wait:?}");
        }
    }

    #[test]
    fn previews_are_one_short_line() {
        assert_eq!(preview("hello\n  world"), "hello world");
        let long = "é".repeat(300);
        assert_eq!(preview(&long).chars().count(), MAX_PREVIEW_CHARS + 1);
    }
}
