//! Events: what changed, as the fan-out worker and the live streams carry it. The API turns
//! them into wire events; the bus adapters serialize them between nodes with serde.

use serde::{Deserialize, Serialize};

use crate::call::CallId;
use crate::id::{ChatId, SignalId, UserId};
use crate::model::{Chat, Presence, Signal, SignalView, Unread};

/// Something that happened, addressed to one user's live streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A chat was created with the recipient in it.
    ChatCreated { chat: Chat, members: Vec<UserId> },
    /// A new entry of a chat's timeline. `nonce` is the one its author sent it with (a
    /// message or a shared location), so the author's clients can match it to what they
    /// sent; the API shows it on the author's streams only. Events from builds before it
    /// have none, and read as such.
    SignalCreated {
        signal: SignalView,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
    /// A signal changed: a message edited, a live location moved or stopped. Its reactions
    /// did not change.
    SignalUpdated { signal: Signal },
    /// A signal was deleted (by its author, or `by` an owner or admin): it is now the
    /// tombstone `signal`.
    SignalDeleted { signal: Signal, by: UserId },
    /// A reaction was added or removed; `count` is the new per-emoji count.
    ReactionChanged { chat_id: ChatId, signal_id: SignalId, emoji: String, user_id: UserId, added: bool, count: i64 },
    /// A member moved their read marker. `unread` is what the member has left to read after
    /// it, for the member's own streams (others are not told it).
    ReceiptUpdated {
        chat_id: ChatId,
        user_id: UserId,
        read_up_to: SignalId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unread: Option<Unread>,
    },
    /// Users joined a chat.
    MembersJoined { chat_id: ChatId, user_ids: Vec<UserId>, by: UserId },
    /// A user left a chat or was removed from it.
    MemberLeft { chat_id: ChatId, user_id: UserId, by: UserId },
    /// A member's role changed (`by` the owner; a transfer of ownership is two of these).
    MemberRoleChanged { chat_id: ChatId, user_id: UserId, role: crate::Role, by: UserId },
    /// Ephemeral: a member is typing in a chat. Recipients show it for `expires_in_ms`
    /// unless another one renews it (or a message from that member arrives).
    Typing { chat_id: ChatId, user_id: UserId, expires_in_ms: u64 },
    /// Ephemeral: a user's presence as the recipient may see it changed.
    PresenceChanged { presence: Presence },
    /// Ephemeral: a WebRTC message (`data`, JSON text) from `from` to the recipient, both in
    /// call `call_id`.
    CallSignal { call_id: CallId, chat_id: ChatId, from: UserId, kind: CallSignalKind, data: String },
}

impl Event {
    /// The event's name on the wire (`event:` of SSE).
    pub fn name(&self) -> &'static str {
        match self {
            Event::ChatCreated { .. } => "chat.created",
            Event::SignalCreated { .. } => "signal.created",
            Event::SignalUpdated { .. } => "signal.updated",
            Event::SignalDeleted { .. } => "signal.deleted",
            Event::ReactionChanged { .. } => "reaction.changed",
            Event::ReceiptUpdated { .. } => "receipt.updated",
            Event::MembersJoined { .. } => "member.joined",
            Event::MemberLeft { .. } => "member.left",
            Event::MemberRoleChanged { .. } => "member.role_changed",
            Event::Typing { .. } => "typing",
            Event::PresenceChanged { .. } => "presence.changed",
            Event::CallSignal { .. } => "call.signal",
        }
    }

    /// Whether this kind of event is ephemeral: it goes only to the streams open when it is
    /// published, without an id, and is never replayed.
    pub fn is_ephemeral(&self) -> bool {
        matches!(self, Event::Typing { .. } | Event::PresenceChanged { .. } | Event::CallSignal { .. })
    }
}

/// What a relayed WebRTC message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallSignalKind {
    Offer,
    Answer,
    Candidate,
    Hangup,
}

/// A coarse class of chat events, so a consumer group that needs only some gets only
/// those: the bus routes by it without reading the payload. Each event has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventTopic {
    /// A new message with no image.
    Message,
    /// A new message with at least one image attachment.
    ImageMessage,
    /// A signal changed or deleted.
    Change,
    /// Every other chat event.
    Other,
}

impl EventTopic {
    pub const ALL: [EventTopic; 4] =
        [EventTopic::Message, EventTopic::ImageMessage, EventTopic::Change, EventTopic::Other];

    /// Its name on the wire (a NATS subject token).
    pub fn as_str(self) -> &'static str {
        match self {
            EventTopic::Message => "msg",
            EventTopic::ImageMessage => "img",
            EventTopic::Change => "edit",
            EventTopic::Other => "other",
        }
    }
}

impl ChatEvent {
    /// The topic of this event.
    pub fn topic(&self) -> EventTopic {
        match &self.event {
            Event::SignalCreated { signal, .. } => match &signal.signal.body {
                crate::SignalBody::Msg { attachments, .. }
                    if attachments.iter().any(|a| a.kind == crate::AttachmentKind::Image) =>
                {
                    EventTopic::ImageMessage
                }
                _ => EventTopic::Message,
            },
            Event::SignalUpdated { .. } | Event::SignalDeleted { .. } => EventTopic::Change,
            _ => EventTopic::Other,
        }
    }
}

/// An event about a chat, before fan-out: delivered to every current member of the chat,
/// plus `also_notify` (people who are no longer members but must hear about it, such as
/// someone just removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatEvent {
    pub chat_id: ChatId,
    pub event: Event,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_notify: Vec<UserId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Id, SignalBody};

    /// The nonce was added to `signal.created` without a version bump: events of older
    /// builds (without it) read as having none. (A build that does not know the field skips
    /// it: `Event` does not deny unknown fields.)
    #[test]
    fn a_signal_created_reads_with_or_without_its_nonce() {
        let signal = Signal {
            id: Id(3 << 22),
            chat_id: Id(1 << 22),
            author_id: Id(2 << 22),
            body: SignalBody::Msg {
                text: "hi".into(),
                reply_to: None,
                attachments: vec![],
                mentions: vec![],
                everyone: false,
            },
            edited_at: None,
        };
        let view = SignalView { signal, reactions: vec![] };
        let without = Event::SignalCreated { signal: view.clone(), nonce: None };
        let old = serde_json::to_value(&without).unwrap_or_default();
        assert!(old.get("nonce").is_none(), "{old}");
        assert_eq!(serde_json::from_value::<Event>(old).ok(), Some(without));

        let with = Event::SignalCreated { signal: view, nonce: Some("n-1".into()) };
        let new = serde_json::to_string(&with).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Event>(&new).ok(), Some(with));
    }
}
