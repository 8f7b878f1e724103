//! Receipts: per-member watermarks, and "delivered to / seen by" derived from them.

use domain::{ChatEvent, ChatId, Error, Event, Member, Receipts, Result, SignalId, Unread, User, UserId};

use crate::ChatService;

impl ChatService {
    /// Moves the actor's read marker to `up_to` (a signal of the chat). Markers never move
    /// back; reading implies delivery. Returns the actor's membership after the move, with
    /// what is left to read; the `receipt.updated` event carries that to the actor's other
    /// devices.
    pub async fn mark_read(&self, actor: &User, chat_id: ChatId, up_to: SignalId) -> Result<(Member, Unread)> {
        self.membership(actor, chat_id).await?;
        self.store.signal(chat_id, up_to).await?.ok_or_else(Error::signal_not_found)?;
        self.store.advance_delivered(chat_id, actor.id, up_to).await?;
        let moved = self.store.advance_read(chat_id, actor.id, up_to).await?;
        let member = self.store.member(chat_id, actor.id).await?.ok_or_else(Error::chat_not_found)?;
        let unread = self.unread(chat_id, &member).await?;
        if moved {
            self.publish(ChatEvent {
                chat_id,
                event: Event::ReceiptUpdated { chat_id, user_id: actor.id, read_up_to: up_to, unread: Some(unread) },
                also_notify: vec![],
            })
            .await?;
        }
        Ok((member, unread))
    }

    /// Records that signals reached the users' live streams (called by the delivery tracker,
    /// one batch per flush). A user who is no longer a member is ignored.
    pub async fn mark_delivered(&self, marks: &[(ChatId, UserId, SignalId)]) -> Result<()> {
        self.store.advance_delivered_many(marks).await
    }

    /// Which current members a signal was delivered to and which saw it. The author is in
    /// neither list.
    pub async fn receipts(&self, actor: &User, chat_id: ChatId, id: SignalId) -> Result<Receipts> {
        let members = self.members_of(actor, chat_id).await?;
        let signal = self.store.signal(chat_id, id).await?.ok_or_else(Error::signal_not_found)?;
        let others = members.iter().filter(|m| m.user_id != signal.author_id);
        let mut receipts = Receipts::default();
        for m in others {
            if m.delivered_up_to >= id || m.read_up_to >= id {
                receipts.delivered_to.push(m.user_id);
            }
            if m.read_up_to >= id {
                receipts.seen_by.push(m.user_id);
            }
        }
        Ok(receipts)
    }
}
