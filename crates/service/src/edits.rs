//! Signals that change after they are sent: a message's text edited (its mentions with
//! it), a shared location sent, moved while live and stopped, and any member-written signal
//! deleted into a tombstone (its files released, its search entry removed by the `index`
//! group). Each change is a `signal.updated` or `signal.deleted` event.

use domain::{
    ChatEvent, ChatId, Error, ErrorCode, Event, Location, Result, Signal, SignalBody, SignalId, SignalView, User,
    UserId, id::now_ms, rules,
};

use crate::ChatService;

/// What an author changes in a signal.
#[derive(Debug, Clone)]
pub enum SignalEdit {
    /// A message's new text, and its mentions (recomputed by the client from the new text:
    /// those of the old text are replaced).
    Text { text: String, mentions: Vec<UserId>, everyone: bool },
    /// A live location's new point, before its end.
    Move(Location),
    /// A live location ends now.
    StopLive,
}

/// A location a member shares.
#[derive(Debug, Clone)]
pub struct NewLocation {
    pub location: Location,
    /// Live until then (Unix ms, at most 8 hours away): the author may move it meanwhile.
    pub live_until: Option<i64>,
    pub nonce: String,
}

fn not_editable(detail: &'static str) -> Error {
    Error::invalid(ErrorCode::NotEditable, detail)
}

impl ChatService {
    /// Shares a point ("share point"), perhaps live. Idempotent per nonce, as messages are.
    pub async fn send_location(&self, actor: &User, chat_id: ChatId, new: NewLocation) -> Result<(SignalView, bool)> {
        rules::validate_nonce(&new.nonce)?;
        let location = rules::validate_location(new.location)?;
        let live_until = new.live_until.map(|t| rules::validate_live_until(t, now_ms() as i64)).transpose()?;
        self.membership(actor, chat_id).await?;
        let signal = Signal {
            id: self.ids.next_id(),
            chat_id,
            author_id: actor.id,
            body: SignalBody::Location { location, live_until },
            edited_at: None,
        };
        self.store_new_signal(actor, signal, &new.nonce).await
    }

    /// Changes a signal of the actor's: only its author may (403 `not_the_author`), only
    /// what its kind allows (422 `not_editable`: a deleted signal, a server-written one, a
    /// text for a location, a live location past its end). The signal keeps its id and gets
    /// `edited_at`.
    pub async fn edit_signal(&self, actor: &User, chat_id: ChatId, id: SignalId, edit: SignalEdit) -> Result<Signal> {
        let role = self.membership(actor, chat_id).await?;
        let signal = self.store.signal(chat_id, id).await?.ok_or_else(Error::signal_not_found)?;
        if signal.author_id != actor.id {
            return Err(Error::forbidden(ErrorCode::NotTheAuthor, "only its author may change a signal"));
        }
        let now = now_ms() as i64;
        let body = match (signal.body, edit) {
            (SignalBody::Msg { reply_to, attachments, .. }, SignalEdit::Text { text, mentions, everyone }) => {
                let text = if attachments.is_empty() || !text.trim().is_empty() {
                    rules::validate_text(&text, self.limits.max_text_chars)?;
                    text
                } else {
                    String::new()
                };
                let mentions = self.check_mentions(chat_id, role, mentions, everyone).await?;
                SignalBody::Msg { text, reply_to, attachments, mentions, everyone }
            }
            (SignalBody::Location { live_until: Some(end), .. }, SignalEdit::Move(location)) if end > now => {
                SignalBody::Location { location: rules::validate_location(location)?, live_until: Some(end) }
            }
            (SignalBody::Location { location, live_until: Some(end) }, SignalEdit::StopLive) if end > now => {
                SignalBody::Location { location, live_until: Some(now) }
            }
            (SignalBody::Location { .. }, SignalEdit::Move(_) | SignalEdit::StopLive) => {
                return Err(not_editable("this location is not live (any more)"));
            }
            (SignalBody::Deleted { .. }, _) => return Err(not_editable("a deleted signal cannot change")),
            _ => return Err(not_editable("that change does not apply to this kind of signal")),
        };
        let changed = Signal { body, edited_at: Some(now), ..signal };
        if !self.store.update_signal(&changed).await? {
            return Err(not_editable("a deleted signal cannot change"));
        }
        self.publish(ChatEvent {
            chat_id,
            event: Event::SignalUpdated { signal: changed.clone() },
            also_notify: vec![],
        })
        .await?;
        Ok(changed)
    }

    /// Deletes a message or location: its author may, and so may the chat's owner and
    /// admins (else 403 `not_the_author`); server-written signals stay (422 `not_editable`).
    /// It stays in the timeline as a tombstone; its files are released for the collector.
    /// Deleting a deleted signal again changes nothing and announces nothing.
    pub async fn delete_signal(&self, actor: &User, chat_id: ChatId, id: SignalId) -> Result<Signal> {
        let role = self.membership(actor, chat_id).await?;
        let signal = self.store.signal(chat_id, id).await?.ok_or_else(Error::signal_not_found)?;
        if signal.author_id != actor.id && !role.manages_members() {
            return Err(Error::forbidden(
                ErrorCode::NotTheAuthor,
                "only its author, or an owner or admin of the chat, may delete a signal",
            ));
        }
        if signal.is_deleted() {
            return Ok(signal);
        }
        if !signal.kind().is_written_by_members() {
            return Err(not_editable("what the server wrote in the timeline stays"));
        }
        // The files first: a retry after a failure in between finds the message and
        // releases them again (idempotent), then writes the tombstone.
        let attachments = signal.body.attachments();
        if !attachments.is_empty() {
            self.store.release_sent(chat_id, id, attachments).await?;
        }
        let tombstone = Signal {
            body: SignalBody::Deleted { was: signal.kind(), deleted_at: now_ms() as i64 },
            edited_at: None,
            ..signal
        };
        if !self.store.update_signal(&tombstone).await? {
            // Deleted meanwhile by someone else, who announced it.
            return self.store.signal(chat_id, id).await?.ok_or_else(Error::signal_not_found);
        }
        self.publish(ChatEvent {
            chat_id,
            event: Event::SignalDeleted { signal: tombstone.clone(), by: actor.id },
            also_notify: vec![],
        })
        .await?;
        Ok(tombstone)
    }
}
