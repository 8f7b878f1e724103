//! The timeline: sending messages (idempotent per nonce), reading pages, reactions.

use std::collections::HashMap;

use domain::{
    AttachmentId, ChatEvent, ChatId, Error, ErrorCode, Event, Page, ReactionCount, Result, Role, Signal, SignalBody,
    SignalId, SignalKind, SignalView, User, UserId, rules,
};
use ports::{InsertSignalOutcome, SignalRange};

use crate::cursor::{self, Position, SignalQuery};
use crate::{ChatService, page_limit};

/// Default and largest page of a timeline.
pub const DEFAULT_SIGNAL_PAGE: usize = 50;
pub const MAX_SIGNAL_PAGE: usize = 100;

/// What a client sends to post a message.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// May be empty when the message has attachments.
    pub text: String,
    pub nonce: String,
    pub reply_to: Option<SignalId>,
    /// Uploads of the sender to this chat, not sent yet (at most 10).
    pub attachments: Vec<AttachmentId>,
    /// Members whose attention it calls (at most [`MAX_MENTIONS`]).
    pub mentions: Vec<UserId>,
    /// It calls every member's attention: owners and admins only.
    pub everyone: bool,
}

/// Most members one message may mention by name.
pub const MAX_MENTIONS: usize = 100;

impl ChatService {
    /// The mentions of a message `member` sends, each once in id order: every one a member
    /// of the chat (else 422 `mention_not_member`), at most [`MAX_MENTIONS`]; `everyone`
    /// only from an owner or admin (else 403 `not_an_admin`).
    pub(crate) async fn check_mentions(
        &self,
        chat_id: ChatId,
        role: Role,
        mut mentions: Vec<UserId>,
        everyone: bool,
    ) -> Result<Vec<UserId>> {
        if everyone && role == Role::Member {
            return Err(Error::forbidden(ErrorCode::NotAnAdmin, "only the owner or an admin may mention everyone"));
        }
        mentions.sort();
        mentions.dedup();
        if mentions.len() > MAX_MENTIONS {
            return Err(Error::invalid(
                ErrorCode::TooManyMentions,
                format!("a message mentions at most {MAX_MENTIONS} members"),
            ));
        }
        if mentions.is_empty() {
            return Ok(mentions);
        }
        let members: std::collections::HashSet<_> = self.store.member_ids(chat_id).await?.into_iter().collect();
        if mentions.iter().any(|u| !members.contains(u)) {
            return Err(Error::invalid(
                ErrorCode::MentionNotMember,
                "mentions name someone who is not a member of this chat",
            ));
        }
        Ok(mentions)
    }

    /// Posts a message (see [`ChatService::store_new_signal`] for retries with its nonce).
    ///
    /// Attachments are claimed for the nonce before the message is stored, so a retry takes
    /// them again and no other message can.
    pub async fn send_message(&self, actor: &User, chat_id: ChatId, msg: NewMessage) -> Result<(SignalView, bool)> {
        rules::validate_nonce(&msg.nonce)?;
        domain::validate_attachment_ids(&msg.attachments)?;
        let text = if msg.attachments.is_empty() || !msg.text.trim().is_empty() {
            rules::validate_text(&msg.text, self.limits.max_text_chars)?;
            msg.text
        } else {
            String::new()
        };
        let role = self.sender_role(actor, chat_id).await?;
        let mentions = self.check_mentions(chat_id, role, msg.mentions, msg.everyone).await?;
        if let Some(reply_to) = msg.reply_to
            && self.store.signal(chat_id, reply_to).await?.is_none()
        {
            return Err(Error::invalid(ErrorCode::ReplyToUnknown, "reply_to names no signal of this chat"));
        }
        let attachments = self.claim_attachments(actor, chat_id, &msg.attachments, &msg.nonce).await?;
        let signal = Signal {
            id: self.ids.next_id(),
            chat_id,
            author_id: actor.id,
            body: SignalBody::Msg { text, reply_to: msg.reply_to, attachments, mentions, everyone: msg.everyone },
            edited_at: None,
        };
        self.store_new_signal(actor, signal, &msg.nonce).await
    }

    /// Stores a new signal of the actor's under `nonce` and announces it. A retry with the
    /// same nonce returns the first signal and stores nothing; it announces the signal again
    /// only if this process has not (the first attempt may have died before announcing).
    /// The flag says whether this call created it.
    pub(crate) async fn store_new_signal(
        &self,
        actor: &User,
        signal: Signal,
        nonce: &str,
    ) -> Result<(SignalView, bool)> {
        let chat_id = signal.chat_id;
        match self.store.insert_signal(&signal, Some(nonce)).await? {
            InsertSignalOutcome::Inserted => {
                self.record_sent(&signal).await?;
                self.after_signal_stored(signal.clone(), Some(nonce)).await?;
                Ok((SignalView { signal, reactions: vec![] }, true))
            }
            InsertSignalOutcome::Duplicate(first) => {
                let signal =
                    self.store.signal(chat_id, first).await?.ok_or_else(|| {
                        Error::unavailable("the first signal of this nonce is not readable yet; retry")
                    })?;
                // The first attempt may have stopped before listing its files or announcing
                // it (bus down, or its node died): both done again (announced unless this
                // process already did). A signal deleted since is not announced again.
                if !signal.is_deleted() {
                    self.record_sent(&signal).await?;
                    self.after_signal_stored(signal.clone(), Some(nonce)).await?;
                }
                let mut views = self.views(actor.id, chat_id, vec![signal]).await?;
                Ok((views.remove(0), false))
            }
        }
    }

    /// Lists a stored message's attachments among the chat's files.
    async fn record_sent(&self, signal: &Signal) -> Result<()> {
        match &signal.body {
            SignalBody::Msg { attachments, .. } if !attachments.is_empty() => {
                self.store.record_sent(signal.chat_id, signal.id, attachments).await
            }
            _ => Ok(()),
        }
    }

    /// Announces the signal on the chat-event log, with the nonce its author sent it with
    /// (none for a signal the server writes). Everything per member (inboxes, live
    /// streams) happens in the fan-out group, off the request path.
    pub(crate) async fn after_signal_stored(&self, signal: Signal, nonce: Option<&str>) -> Result<()> {
        if !self.announcements.needs_announcing(signal.id) {
            return Ok(());
        }
        let chat_id = signal.chat_id;
        self.publish(ChatEvent {
            chat_id,
            event: Event::SignalCreated {
                signal: SignalView { signal, reactions: vec![] },
                nonce: nonce.map(Into::into),
            },
            also_notify: vec![],
        })
        .await
    }

    /// A page of the timeline, newest first, with reactions as the actor sees them.
    pub async fn signals(&self, actor: &User, chat_id: ChatId, query: &SignalQuery) -> Result<Page<SignalView>> {
        let position = query.position()?;
        let limit = page_limit(query.limit, DEFAULT_SIGNAL_PAGE, MAX_SIGNAL_PAGE);
        self.membership(actor, chat_id).await?;
        let (signals, next_cursor) = match position {
            Position::Range(range @ (SignalRange::Latest | SignalRange::Before(_))) => {
                let mut signals = self.store.signals(chat_id, range, limit + 1).await?;
                let more = signals.len() > limit;
                signals.truncate(limit);
                let next = if more { signals.last().map(|s| cursor::older_cursor(s.id)) } else { None };
                (signals, next)
            }
            Position::Range(range @ SignalRange::After(_)) => {
                let mut signals = self.store.signals(chat_id, range, limit + 1).await?;
                // Newest first: the extra one, if any, is the newest.
                let more = signals.len() > limit;
                if more {
                    signals.remove(0);
                }
                let next = if more { signals.first().map(|s| cursor::newer_cursor(s.id)) } else { None };
                (signals, next)
            }
            Position::Around(id) => {
                let older_count = limit.div_ceil(2);
                let newer = self.store.signals(chat_id, SignalRange::After(id), limit - older_count).await?;
                let older =
                    self.store.signals(chat_id, SignalRange::Before(domain::Id(id.0 + 1)), older_count + 1).await?;
                let more = older.len() > older_count;
                let mut signals = newer;
                signals.extend(older.into_iter().take(older_count));
                let next = if more { signals.last().map(|s| cursor::older_cursor(s.id)) } else { None };
                (signals, next)
            }
        };
        let items = self.views(actor.id, chat_id, signals).await?;
        Ok(Page { items, next_cursor })
    }

    /// One signal, as the actor sees it.
    pub async fn signal(&self, actor: &User, chat_id: ChatId, id: SignalId) -> Result<SignalView> {
        self.membership(actor, chat_id).await?;
        let signal = self.store.signal(chat_id, id).await?.ok_or_else(Error::signal_not_found)?;
        Ok(self.views(actor.id, chat_id, vec![signal]).await?.remove(0))
    }

    /// Adds (`add`) or removes the actor's reaction. Doing it twice changes nothing the
    /// second time. Returns the new count of that emoji on the signal.
    pub async fn react(&self, actor: &User, chat_id: ChatId, id: SignalId, emoji: &str, add: bool) -> Result<i64> {
        rules::validate_emoji(emoji)?;
        self.membership(actor, chat_id).await?;
        let signal = self.store.signal(chat_id, id).await?.ok_or_else(Error::signal_not_found)?;
        if signal.kind() != SignalKind::Msg || signal.is_deleted() {
            return Err(Error::invalid(ErrorCode::NotReactable, "only messages take reactions, not deleted ones"));
        }
        let changed = if add {
            self.store.add_reaction(chat_id, id, emoji, actor.id).await?
        } else {
            self.store.remove_reaction(chat_id, id, emoji, actor.id).await?
        };
        let count = self
            .store
            .reaction_counts(chat_id, &[id])
            .await?
            .into_iter()
            .find(|(_, e, _)| e == emoji)
            .map_or(0, |(_, _, n)| n);
        if changed {
            self.publish(ChatEvent {
                chat_id,
                event: Event::ReactionChanged {
                    chat_id,
                    signal_id: id,
                    emoji: emoji.to_string(),
                    user_id: actor.id,
                    added: add,
                    count,
                },
                also_notify: vec![],
            })
            .await?;
        }
        Ok(count)
    }

    /// Who reacted to a signal with an emoji, paged by user id.
    pub async fn reactors(
        &self,
        actor: &User,
        chat_id: ChatId,
        id: SignalId,
        emoji: &str,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Page<UserId>> {
        rules::validate_emoji(emoji)?;
        let after = cursor.map(cursor::parse_id_cursor).transpose()?;
        let limit = page_limit(limit, 100, 1000);
        self.membership(actor, chat_id).await?;
        self.store.signal(chat_id, id).await?.ok_or_else(Error::signal_not_found)?;
        let mut users = self.store.reactors(chat_id, id, emoji, after, limit + 1).await?;
        let more = users.len() > limit;
        users.truncate(limit);
        let next_cursor = if more { users.last().map(|u| cursor::id_cursor(*u)) } else { None };
        Ok(Page { items: users, next_cursor })
    }

    /// Attaches reaction counts (one read for the page, plus one for the viewer's own); a
    /// tombstone shows none.
    pub(crate) async fn views(&self, viewer: UserId, chat_id: ChatId, signals: Vec<Signal>) -> Result<Vec<SignalView>> {
        let ids: Vec<SignalId> = signals.iter().filter(|s| !s.is_deleted()).map(|s| s.id).collect();
        let (counts, mine) = if ids.is_empty() {
            (vec![], vec![])
        } else {
            tokio::try_join!(
                self.store.reaction_counts(chat_id, &ids),
                self.store.reactions_by_user(chat_id, viewer, &ids)
            )?
        };
        let mut by_signal: HashMap<SignalId, Vec<ReactionCount>> = HashMap::new();
        for (sid, emoji, count) in counts {
            let me = mine.iter().any(|(s, e)| *s == sid && *e == emoji);
            by_signal.entry(sid).or_default().push(ReactionCount { emoji, count, me });
        }
        Ok(signals
            .into_iter()
            .map(|signal| {
                let mut reactions = by_signal.remove(&signal.id).unwrap_or_default();
                reactions.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.emoji.cmp(&b.emoji)));
                SignalView { signal, reactions }
            })
            .collect())
    }
}
