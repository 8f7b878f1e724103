//! Who is told of a new message, and when: the `notify` consumer group's handler. For a
//! new message, every member but the author whose level allows it (`all`; `mentions` when
//! mentioned; `none` never; nothing while muted), who has not read past it and who has a
//! push target (a job for nowhere would only be dropped) gets a job on their notification
//! queue: at once when they have no live stream anywhere, else after
//! `delay` (they may read it meanwhile: the push worker checks again before sending). A
//! member who reads a chat gets a `clear` job, when they have somewhere to push it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use domain::{ChatEvent, Event, NotifyAction, NotifyJob, Result, SignalKind, id::now_ms};
use ports::{Bus, Interest, Store};

use crate::workers::{DeliveryInfo, GroupHandler};

/// It reads every topic: new messages, and receipts (for clears).
pub const NOTIFY_INTEREST: Interest = Interest::Every;

pub(crate) struct Notifier {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    /// How long a member with a live stream has to read a message before being notified.
    delay: Duration,
}

impl Notifier {
    pub(crate) fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, delay: Duration) -> Self {
        Self { store, bus, delay }
    }
}

#[async_trait::async_trait]
impl GroupHandler for Notifier {
    async fn handle(&self, event: &ChatEvent, _info: DeliveryInfo<'_>) -> Result<()> {
        match &event.event {
            Event::SignalCreated { signal } => {
                let signal = &signal.signal;
                // Messages, locations and calls (a call calls everyone's attention, as a
                // mention does).
                if !signal.kind().counts_as_unread() || signal.is_deleted() {
                    return Ok(());
                }
                let calls_attention = |user| signal.body.mentions(user) || signal.kind() == SignalKind::Call;
                let members = self.store.read_marks(signal.chat_id).await?;
                let settings: HashMap<_, _> =
                    self.store.chat_notify_settings(signal.chat_id).await?.into_iter().collect();
                let now = now_ms() as i64;
                let told: Vec<_> = members
                    .iter()
                    .filter(|(user, read_up_to)| *user != signal.author_id && *read_up_to < signal.id)
                    .filter(|(user, _)| {
                        settings.get(user).copied().unwrap_or_default().allows(calls_attention(*user), now)
                    })
                    .map(|(user, _)| *user)
                    .collect();
                // A job for someone with nowhere to push it would only be dropped by the push
                // worker: one query here spares a presence read and a queued job per member.
                let told = self.store.members_with_push_targets(signal.chat_id, &told).await?;
                if told.is_empty() {
                    return Ok(());
                }
                let online = self.bus.online(&told).await?;
                let jobs = told.iter().map(|user| {
                    let job = NotifyJob {
                        user_id: *user,
                        chat_id: signal.chat_id,
                        signal_id: signal.id,
                        action: NotifyAction::Message,
                        mentioned: calls_attention(*user),
                        retry: None,
                    };
                    let delay = online.contains(user).then_some(self.delay);
                    async move { self.bus.queue_notification(&job, delay).await }
                });
                futures::future::try_join_all(jobs).await.map(drop)
            }
            Event::ReceiptUpdated { chat_id, user_id, read_up_to, .. } => {
                if self.store.push_targets(*user_id).await?.is_empty() {
                    return Ok(());
                }
                let job = NotifyJob {
                    user_id: *user_id,
                    chat_id: *chat_id,
                    signal_id: *read_up_to,
                    action: NotifyAction::Clear,
                    mentioned: false,
                    retry: None,
                };
                self.bus.queue_notification(&job, None).await
            }
            _ => Ok(()),
        }
    }
}
