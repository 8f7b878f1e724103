//! Sending notifications: the `push` role's handler of notification jobs. Before sending
//! it checks again (the member read it meanwhile, left, muted the chat, the message is
//! gone: nothing is sent), builds the notification once (title, preview as configured,
//! unread count) and sends it to each of the user's push targets through the gateway of
//! its kind. A target that has it already (a record per target and idempotency key) is
//! skipped, so a job handed out again sends nothing twice; a crash between sending and
//! recording resends with the same idempotency key, which the gateway sees. Failures
//! worth it are retried with exponential backoff and jitter (honouring `Retry-After`, up
//! to a cap); past the last attempt the job becomes a dead letter for that target. A
//! target the gateway calls gone is deleted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{
    ChatId, ChatKind, DeadLetter, NotifyAction, NotifyJob, PushTarget, Result, SignalBody, SignalId, UserId, id::now_ms,
};
use ports::{PushGateway, PushMessage, PushOutcome, SignalRange, Store};
use serde::{Deserialize, Serialize};

use crate::workers::GroupHandler;

/// The unread count stops at this (it reads that many signals at most; exact counts come
/// with the signals issue's counters).
pub const MAX_UNREAD_COUNT: usize = 20;
/// Longest preview, in characters.
const MAX_PREVIEW_CHARS: usize = 200;
/// A `Retry-After` longer than this is cut to it (the job is held meanwhile).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

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
    gateway: Arc<dyn PushGateway>,
    settings: PushSettings,
    counts: Arc<PushCounts>,
    /// Recent messages' contents, by (chat, signal), with when they were read.
    contents: Mutex<HashMap<(ChatId, SignalId), Cached>>,
}

/// A message's content (`None`: gone, or not a message) and when it was read.
type Cached = (Instant, Option<Arc<Content>>);

/// What a message's notification shows, whoever it is for.
struct Content {
    title: String,
    body: String,
    sender: String,
}

/// How long a message's content is reused for the other members it is pushed to (a
/// message deleted meanwhile may still be pushed within this).
const CONTENT_KEPT: Duration = Duration::from_secs(5);
/// Contents kept at most (older ones are dropped past this).
const MAX_CONTENTS: usize = 4096;

impl Pusher {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        gateway: Arc<dyn PushGateway>,
        settings: PushSettings,
        counts: Arc<PushCounts>,
    ) -> Self {
        Self { store, gateway, settings, counts, contents: Mutex::default() }
    }

    /// The notification of `job`, or `None` when nothing should be sent any more.
    async fn message(&self, job: &NotifyJob) -> Result<Option<PushMessage>> {
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
            let member = self.store.member(job.chat_id, job.user_id).await?;
            return Ok(member.map(|_| message));
        }
        let (member, settings) = tokio::try_join!(
            self.store.member(job.chat_id, job.user_id),
            self.store.notify_settings(job.chat_id, job.user_id),
        )?;
        let Some(member) = member else { return Ok(None) };
        if member.read_up_to >= job.signal_id || !settings.allows(job.mentioned, now_ms() as i64) {
            return Ok(None);
        }
        let (content, unread) = tokio::try_join!(
            self.content(job),
            self.store.signals(job.chat_id, SignalRange::After(member.read_up_to), MAX_UNREAD_COUNT),
        )?;
        let Some(content) = content else { return Ok(None) };
        message.unread =
            unread.iter().filter(|s| s.author_id != job.user_id && matches!(s.body, SignalBody::Msg { .. })).count()
                as u32;
        if self.settings.preview != Preview::None {
            message.title = Some(content.title.clone());
            message.body = Some(content.body.clone());
            message.sender = Some(content.sender.clone());
        }
        Ok(Some(message))
    }

    /// What a message's notification says, the same for each member told: read once per
    /// message and kept [`CONTENT_KEPT`] (`None`: the message is gone, or not a message).
    async fn content(&self, job: &NotifyJob) -> Result<Option<Arc<Content>>> {
        let key = (job.chat_id, job.signal_id);
        if let Some((at, content)) = self.contents.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            && at.elapsed() < CONTENT_KEPT
        {
            return Ok(content.clone());
        }
        let content = self.read_content(job).await?;
        let mut contents = self.contents.lock().unwrap_or_else(|e| e.into_inner());
        if contents.len() >= MAX_CONTENTS {
            contents.retain(|_, (at, _)| at.elapsed() < CONTENT_KEPT);
        }
        contents.insert(key, (Instant::now(), content.clone()));
        Ok(content)
    }

    async fn read_content(&self, job: &NotifyJob) -> Result<Option<Arc<Content>>> {
        let (signal, chat) =
            tokio::try_join!(self.store.signal(job.chat_id, job.signal_id), self.store.chat(job.chat_id))?;
        let (Some(signal), Some(chat)) = (signal, chat) else { return Ok(None) };
        let SignalBody::Msg { text, attachments, .. } = &signal.body else { return Ok(None) };
        let sender = self.store.user(signal.author_id).await?.map_or_else(|| "Someone".into(), |u| u.display_name);
        let title = match (chat.kind, chat.title) {
            (ChatKind::Group, Some(title)) => title,
            _ => sender.clone(),
        };
        let body = match self.settings.preview {
            Preview::Full if !text.trim().is_empty() => preview(text),
            Preview::Full if !attachments.is_empty() => match attachments.len() {
                1 => format!("{sender} sent a file"),
                n => format!("{sender} sent {n} files"),
            },
            _ => format!("{sender} wrote"),
        };
        Ok(Some(Arc::new(Content { title, body, sender })))
    }

    /// Sends `message` to one target, retrying as the outcome says.
    async fn deliver(&self, user: UserId, target: &PushTarget, message: &PushMessage) -> Result<()> {
        if self.store.push_sent(target.id, &message.key).await? {
            return Ok(());
        }
        let mut attempt = 1;
        loop {
            let outcome = self.gateway.send(target, message).await;
            let failure = match outcome {
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
                    tracing::debug!(target = %target.id, attempt, %reason, "push: retrying");
                    let wait =
                        after.map_or_else(|| backoff(self.settings.retry_base, attempt), |a| a.min(MAX_RETRY_AFTER));
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                    continue;
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
            return Ok(());
        }
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
    async fn handle(&self, job: &NotifyJob, _origin: Option<&str>) -> Result<()> {
        let targets = self.store.push_targets(job.user_id).await?;
        if targets.is_empty() {
            return Ok(());
        }
        let Some(message) = self.message(job).await? else {
            self.counts.skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let sends = targets.iter().map(|t| self.deliver(job.user_id, t, &message));
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
