//! Who is told of a new message, and when: the `notify` consumer group's handler. For a
//! new message, every member but the author whose level allows it (`all`; `mentions` when
//! mentioned; `none` never; nothing while muted), who has not read past it and who has a
//! push target (a job for nowhere would only be dropped) gets a job on their notification
//! queue: at once when they have no live stream anywhere, else after
//! `delay` (they may read it meanwhile: the push worker checks again before sending). A
//! member who reads a chat gets a `clear` job, when they have somewhere to push it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use domain::{
    ChatEvent, ChatId, Event, NotifyAction, NotifyJob, NotifySettings, Result, Signal, SignalId, SignalKind, UserId,
    id::now_ms,
};
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

/// What the notifier reads of a chat to decide who is told of its new messages: read once
/// for a batch of the chat's events, after all of them were stored (as a read per event
/// would be), so a busy chat costs at most three reads per batch, not per message; two
/// when no member has anywhere to push to (the settings of such a chat decide nothing).
struct ChatView {
    /// Each member and how far they have read.
    read_marks: Vec<(UserId, SignalId)>,
    settings: HashMap<UserId, NotifySettings>,
    /// The members with somewhere to push to.
    pushable: HashSet<UserId>,
}

impl Notifier {
    pub(crate) fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, delay: Duration) -> Self {
        Self { store, bus, delay }
    }

    /// Reads what decides who is told of the chat's new messages.
    async fn view(&self, chat: ChatId) -> Result<ChatView> {
        let read_marks = self.store.read_marks(chat).await?;
        let members: Vec<UserId> = read_marks.iter().map(|(user, _)| *user).collect();
        // A job for someone with nowhere to push it would only be dropped by the push
        // worker: one query here spares a presence read and a queued job per member.
        let pushable: HashSet<UserId> =
            self.store.members_with_push_targets(chat, &members).await?.into_iter().collect();
        let settings = if pushable.is_empty() {
            HashMap::new()
        } else {
            self.store.chat_notify_settings(chat).await?.into_iter().collect()
        };
        Ok(ChatView { read_marks, settings, pushable })
    }

    /// Queues a job for each member `signal` is to be notified to.
    async fn on_signal(&self, signal: &Signal, view: &ChatView) -> Result<()> {
        let calls_attention = |user| signal.body.mentions(user) || signal.kind() == SignalKind::Call;
        let now = now_ms() as i64;
        let told: Vec<_> = view
            .read_marks
            .iter()
            .filter(|(user, read_up_to)| *user != signal.author_id && *read_up_to < signal.id)
            .filter(|(user, _)| view.pushable.contains(user))
            .filter(|(user, _)| {
                view.settings.get(user).copied().unwrap_or_default().allows(calls_attention(*user), now)
            })
            .map(|(user, _)| *user)
            .collect();
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

    /// A member who read a chat gets a `clear` job, when they have somewhere to push it.
    async fn on_other(&self, event: &Event) -> Result<()> {
        match event {
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

/// Whether a new signal notifies anyone: messages, locations and calls (a call calls
/// everyone's attention, as a mention does), not deleted.
fn notifies(signal: &Signal) -> bool {
    signal.kind().counts_as_unread() && !signal.is_deleted()
}

#[async_trait::async_trait]
impl GroupHandler for Notifier {
    async fn handle(&self, event: &ChatEvent, info: DeliveryInfo<'_>) -> Result<()> {
        self.handle_batch(&[(event, info)]).await
    }

    async fn handle_batch(&self, batch: &[(&ChatEvent, DeliveryInfo<'_>)]) -> Result<()> {
        let mut view = None;
        for (event, _) in batch {
            match &event.event {
                Event::SignalCreated { signal, .. } if notifies(&signal.signal) => {
                    let view = match &mut view {
                        Some(view) => view,
                        None => view.insert(self.view(event.chat_id).await?),
                    };
                    self.on_signal(&signal.signal, view).await?;
                }
                _ => self.on_other(&event.event).await?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed unwrap is a failed check

    use domain::{PushTarget, PushTargetSpec, SignalView};
    use futures::StreamExt;

    use super::*;
    use crate::signals::NewMessage;
    use crate::testing::{TestService, user};

    fn message(nonce: &str, mentions: Vec<UserId>) -> NewMessage {
        NewMessage {
            text: nonce.into(),
            nonce: nonce.into(),
            reply_to: None,
            attachments: vec![],
            mentions,
            everyone: false,
        }
    }

    /// A busy chat's waiting messages come to the notifier as one batch: each is notified
    /// to exactly whom it would be alone (not its author, only members with a push
    /// target, a `mentions` member only when mentioned), whoever wrote it.
    #[tokio::test]
    async fn a_batch_of_messages_notifies_each_to_whom_it_would_alone() {
        // No workers: the jobs stay queued for this test to read.
        let TestService { service, store, bus, dir: _dir, .. } = crate::testing::service();
        let [alice, bob, carol, dave] = [
            user(&service, "alice").await,
            user(&service, "bob").await,
            user(&service, "carol").await,
            user(&service, "dave").await,
        ];
        let (chat, _) = service.create_group(&alice, "team", &[bob.id, carol.id, dave.id], None).await.unwrap();
        for (i, who) in [&bob, &carol].into_iter().enumerate() {
            let spec = PushTargetSpec::Webhook { url: format!("https://push.example/{i}"), secret: "s".repeat(32) };
            let target = PushTarget { id: domain::Id(900 + i as u64), user_id: who.id, created_at: 1, spec };
            store.add_push_target(&target).await.unwrap();
        }
        service.set_notify_settings(&carol, chat.id, domain::NotifyLevel::Mentions, None).await.unwrap();
        let mut signals = vec![];
        for (author, msg) in [
            (&alice, message("m1", vec![])),
            (&alice, message("m2", vec![carol.id])),
            (&bob, message("m3", vec![])),
            (&dave, message("m4", vec![carol.id])),
        ] {
            signals.push(service.send_message(author, chat.id, msg).await.unwrap().0);
        }
        let events: Vec<ChatEvent> = signals
            .iter()
            .map(|s| ChatEvent {
                chat_id: chat.id,
                event: Event::SignalCreated { signal: s.clone(), nonce: None },
                also_notify: vec![],
            })
            .collect();
        let notifier = Notifier::new(store, bus.clone(), Duration::from_secs(60));
        let batch: Vec<_> = events.iter().map(|e| (e, DeliveryInfo::default())).collect();
        notifier.handle_batch(&batch).await.unwrap();

        let id = |s: &SignalView| s.signal.id;
        let mut expected = vec![
            (bob.id, id(&signals[0]), false),
            (bob.id, id(&signals[1]), false),
            (carol.id, id(&signals[1]), true),
            (bob.id, id(&signals[3]), false),
            (carol.id, id(&signals[3]), true),
        ];
        expected.sort();
        let mut jobs = bus.notification_jobs().await.unwrap();
        let mut got = vec![];
        while let Ok(Some(job)) = tokio::time::timeout(Duration::from_millis(500), jobs.next()).await {
            let job = job.unwrap();
            assert_eq!((job.event.chat_id, job.event.action), (chat.id, NotifyAction::Message));
            got.push((job.event.user_id, job.event.signal_id, job.event.mentioned));
            (job.ack)().await.unwrap();
        }
        got.sort();
        assert_eq!(got, expected);
    }
}
