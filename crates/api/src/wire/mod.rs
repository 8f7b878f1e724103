//! Wire types: what clients send and receive, versioned with the API (`/api/v1`) and
//! documented in the OpenAPI document. The domain is free to change behind them. Ids are
//! decimal strings; times are RFC 3339 (UTC, milliseconds).

use std::time::{Duration, UNIX_EPOCH};

use domain::{
    Attachment, AttachmentKind, Availability, Chat, ChatKind, Event, Id, Member, Presence, PresenceState,
    ReactionCount, Receipts, Role, SignalBody, SignalKind, SignalView, User,
};
use ports::ChatFile;
use serde::{Deserialize, Serialize};
use service::ChatSummary;
use utoipa::ToSchema;

/// Unix milliseconds as RFC 3339.
pub fn timestamp(unix_ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(unix_ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Declares a wire enum (snake_case on the wire, listed in the OpenAPI document) that
/// mirrors a domain enum variant for variant, with conversions both ways: a variant added
/// to the domain does not compile until the wire has it too.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $wire:ident <=> $domain:ident { $($(#[$vmeta:meta])* $variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $wire {
            $($(#[$vmeta])* $variant,)*
        }

        impl From<$domain> for $wire {
            fn from(value: $domain) -> Self {
                match value {
                    $($domain::$variant => $wire::$variant,)*
                }
            }
        }

        impl From<$wire> for $domain {
            fn from(value: $wire) -> Self {
                match value {
                    $($wire::$variant => $domain::$variant,)*
                }
            }
        }
    };
}

mod calls;
mod notifications;
pub mod rules;
mod search;
pub mod time;
pub use calls::*;
pub use notifications::*;
pub use search::*;

wire_enum! {
    /// The kind of a chat.
    ChatKindWire <=> ChatKind {
        /// Exactly two members, one chat per pair, ever.
        Direct,
        /// A titled chat of members with roles.
        Group,
    }
}

wire_enum! {
    /// A member's role in a chat.
    RoleWire <=> Role { Member, Admin, Owner }
}

wire_enum! {
    /// The kind of a signal (an entry of a chat's timeline).
    SignalKindWire <=> SignalKind {
        /// A message written by a member.
        Msg,
        /// Members joined (written by the server).
        Joined,
        /// Members left or were removed (written by the server).
        Left,
        /// A point on the map a member shares, perhaps live for a while.
        Location,
        /// A call: its state changes as people join and leave (`signal.updated`).
        Call,
    }
}

wire_enum! {
    /// What a file is, from its sniffed content type.
    AttachmentKindWire <=> AttachmentKind { Image, Video, Audio, File }
}

/// An uploaded file.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentOut {
    #[schema(value_type = String)]
    pub id: Id,
    #[schema(value_type = String)]
    pub chat_id: Id,
    #[schema(value_type = String)]
    pub uploader_id: Id,
    pub filename: String,
    /// Sniffed from the bytes, never taken from the uploader.
    pub content_type: String,
    /// In bytes.
    pub size: u64,
    /// The SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    pub kind: AttachmentKindWire,
    /// Of an image, when its header gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub created_at: String,
}

impl From<Attachment> for AttachmentOut {
    fn from(a: Attachment) -> Self {
        Self {
            id: a.id,
            chat_id: a.chat_id,
            uploader_id: a.uploader_id,
            filename: a.filename,
            content_type: a.content_type,
            size: a.size,
            sha256: a.sha256.to_string(),
            kind: a.kind.into(),
            width: a.width,
            height: a.height,
            created_at: timestamp(a.created_at),
        }
    }
}

/// A file of a chat: an attachment and the message it was sent in.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatFileOut {
    #[schema(value_type = String)]
    pub signal_id: Id,
    #[serde(flatten)]
    pub attachment: AttachmentOut,
}

impl From<ChatFile> for ChatFileOut {
    fn from(f: ChatFile) -> Self {
        Self { signal_id: f.signal_id, attachment: f.attachment.into() }
    }
}

wire_enum! {
    /// How a user chose to appear to others.
    AvailabilityWire <=> Availability {
        /// Online while connected, offline otherwise (the default).
        Online,
        Away,
        /// Do not disturb.
        Dnd,
        /// Offline to everyone else, even while connected.
        Invisible,
    }
}

wire_enum! {
    /// A user's presence as the caller sees it.
    PresenceStateWire <=> PresenceState {
        Online,
        Away,
        Dnd,
        /// Only ever shown to the user themself.
        Invisible,
        Offline,
    }
}

/// The kinds of signal a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SendableKind {
    Msg,
    Location,
}

/// A point on the map ("share point").
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationWire {
    /// Degrees, -90 to 90.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// Degrees, -180 to 180.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
    /// The radius of uncertainty in metres, 0 to 1,000,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1000000)]
    pub accuracy_m: Option<f64>,
    /// A name for the place: one line, at most 200 characters (blank: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<rules::LocationLabel>)]
    pub label: Option<String>,
}

impl From<LocationWire> for domain::Location {
    fn from(l: LocationWire) -> Self {
        Self { lat: l.lat, lon: l.lon, accuracy_m: l.accuracy_m, label: l.label }
    }
}

impl From<domain::Location> for LocationWire {
    fn from(l: domain::Location) -> Self {
        Self { lat: l.lat, lon: l.lon, accuracy_m: l.accuracy_m, label: l.label }
    }
}

fn opt_id(id: Id) -> Option<Id> {
    (id != Id::ZERO).then_some(id)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    #[schema(value_type = String, example = "190127649832337408")]
    pub id: Id,
    pub username: String,
    pub display_name: String,
    pub created_at: String,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        Self { id: u.id, username: u.username, display_name: u.display_name, created_at: timestamp(u.created_at) }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberOut {
    #[schema(value_type = String)]
    pub user_id: Id,
    pub role: RoleWire,
    pub joined_at: String,
    /// The newest signal that reached one of this member's live streams.
    #[schema(value_type = Option<String>)]
    pub delivered_up_to: Option<Id>,
    /// The newest signal this member has read.
    #[schema(value_type = Option<String>)]
    pub read_up_to: Option<Id>,
}

impl From<Member> for MemberOut {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.user_id,
            role: m.role.into(),
            joined_at: timestamp(m.joined_at),
            delivered_up_to: opt_id(m.delivered_up_to),
            read_up_to: opt_id(m.read_up_to),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatOut {
    #[schema(value_type = String)]
    pub id: Id,
    pub kind: ChatKindWire,
    pub title: Option<String>,
    #[schema(value_type = String)]
    pub created_by: Id,
    pub created_at: String,
    /// The id of the chat's newest signal (the chat's own id when it has none yet): the
    /// order of "my chats"; newer than `me.read_up_to` means unread signals.
    #[schema(value_type = Option<String>)]
    pub last_activity_id: Option<Id>,
    /// The caller's membership.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub me: Option<MemberOut>,
    /// All members (on single-chat responses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<MemberOut>>,
    /// The caller's notification settings of the chat (in "my chats" and on `GET`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<NotificationsOut>,
    /// In "my chats": messages and locations of others after the caller's read marker,
    /// not deleted (at most 1,000 signals past the marker are counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<u32>,
    /// In "my chats": how many of the unread ones mention the caller (or everyone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_mentions: Option<u32>,
}

impl ChatOut {
    pub fn new(chat: Chat, me: Option<Member>, members: Option<Vec<Member>>) -> Self {
        Self {
            id: chat.id,
            kind: chat.kind.into(),
            title: chat.title,
            created_by: chat.created_by,
            created_at: timestamp(chat.created_at),
            last_activity_id: None,
            me: me.map(MemberOut::from),
            members: members.map(|m| m.into_iter().map(MemberOut::from).collect()),
            notifications: None,
            unread: None,
            unread_mentions: None,
        }
    }
}

impl From<ChatSummary> for ChatOut {
    fn from(s: ChatSummary) -> Self {
        Self {
            last_activity_id: Some(s.activity),
            notifications: Some(s.notify.into()),
            unread: Some(s.unread.signals),
            unread_mentions: Some(s.unread.mentions),
            ..Self::new(s.chat, Some(s.me), None)
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReactionOut {
    pub emoji: String,
    pub count: i64,
    /// Whether the caller is one of the reactors.
    pub me: bool,
}

impl From<ReactionCount> for ReactionOut {
    fn from(r: ReactionCount) -> Self {
        Self { emoji: r.emoji, count: r.count, me: r.me }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignalOut {
    #[schema(value_type = String)]
    pub id: Id,
    #[schema(value_type = String)]
    pub chat_id: Id,
    #[schema(value_type = String)]
    pub author_id: Id,
    pub kind: SignalKindWire,
    /// A tombstone: the signal was deleted, nothing of what it said is kept.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// For `msg`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub reply_to: Option<Id>,
    /// For `joined` / `left`: who joined or left.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub user_ids: Vec<Id>,
    /// For `msg`: its files, in the order sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentOut>,
    /// For `msg`: the members it mentions, in id order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub mentions: Vec<Id>,
    /// For `msg`: it mentions every member (`@everyone`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mention_everyone: bool,
    /// For `location`: the point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationWire>,
    /// For a live `location`: until when its author may move it (in the past once it ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_until: Option<String>,
    /// For `call`: the call as it stands (its id is this signal's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<CallSummaryOut>,
    pub created_at: String,
    /// When its author last changed it (text edited, location moved); absent if never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// When it was deleted (tombstones only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    pub reactions: Vec<ReactionOut>,
}

impl From<SignalView> for SignalOut {
    fn from(v: SignalView) -> Self {
        let s = v.signal;
        let mut out = Self {
            id: s.id,
            chat_id: s.chat_id,
            author_id: s.author_id,
            kind: s.kind().into(),
            deleted: false,
            text: None,
            reply_to: None,
            user_ids: vec![],
            attachments: vec![],
            mentions: vec![],
            mention_everyone: false,
            location: None,
            live_until: None,
            call: None,
            created_at: timestamp(s.id.unix_ms() as i64),
            edited_at: s.edited_at.map(timestamp),
            deleted_at: None,
            reactions: v.reactions.into_iter().map(ReactionOut::from).collect(),
        };
        match s.body {
            SignalBody::Msg { text, reply_to, attachments, mentions, everyone } => {
                out.text = Some(text);
                out.reply_to = reply_to;
                out.attachments = attachments.into_iter().map(AttachmentOut::from).collect();
                out.mentions = mentions;
                out.mention_everyone = everyone;
            }
            SignalBody::Joined { users } | SignalBody::Left { users } => out.user_ids = users,
            SignalBody::Location { location, live_until } => {
                out.location = Some(location.into());
                out.live_until = live_until.map(timestamp);
            }
            SignalBody::Call(call) => out.call = Some(call.into()),
            SignalBody::Deleted { deleted_at, .. } => {
                out.deleted = true;
                out.deleted_at = Some(timestamp(deleted_at));
            }
        }
        out
    }
}

impl From<domain::Signal> for SignalOut {
    fn from(signal: domain::Signal) -> Self {
        SignalView { signal, reactions: vec![] }.into()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptsOut {
    /// Members (other than the author) the signal reached.
    #[schema(value_type = Vec<String>)]
    pub delivered_to: Vec<Id>,
    /// Members (other than the author) who read it.
    #[schema(value_type = Vec<String>)]
    pub seen_by: Vec<Id>,
}

impl From<Receipts> for ReceiptsOut {
    fn from(r: Receipts) -> Self {
        Self { delivered_to: r.delivered_to, seen_by: r.seen_by }
    }
}

/// A page of a list. Pass `next_cursor` back as `?cursor=` for the next page; `null` means
/// there is none.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Page<T> {
    pub fn from_domain<U>(page: domain::Page<U>, f: impl FnMut(U) -> T) -> Self {
        Self { items: page.items.into_iter().map(f).collect(), next_cursor: page.next_cursor }
    }
}

/// A reaction's reactors, paged.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReactorsOut {
    #[schema(value_type = Vec<String>)]
    pub items: Vec<Id>,
    pub next_cursor: Option<String>,
}

/// What one reaction change did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReactionCountOut {
    pub emoji: String,
    /// The emoji's count on the signal after the change.
    pub count: i64,
}

/// The JSON `data` of every live event (`GET /api/v1/events`), by its SSE `event:` name,
/// which `type` repeats. Events with an SSE `id:` are durable (replayed after
/// `Last-Event-ID`); `ready`, `resync`, `typing` and `presence.changed` have none.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type")]
pub enum EventData {
    /// First on every stream: it is open for `user_id`.
    #[serde(rename = "ready")]
    Ready {
        #[schema(value_type = String)]
        user_id: Id,
    },
    /// Events were missed (the position is gone, or the stream fell behind): reload by REST.
    #[serde(rename = "resync")]
    Resync { reason: String },
    /// A chat the recipient is in was created.
    #[serde(rename = "chat.created")]
    ChatCreated {
        chat: ChatOut,
        #[schema(value_type = Vec<String>)]
        member_ids: Vec<Id>,
    },
    /// A new entry of a chat's timeline. On its author's own streams, `nonce` is the one
    /// the send carried (a message or a shared location): a client drops its pending copy
    /// of that send when this arrives, even if the send's answer was lost, and does not
    /// send it again. Other members' streams never show it.
    #[serde(rename = "signal.created")]
    SignalCreated {
        signal: SignalOut,
        #[serde(skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
    /// A signal changed (a message edited, a live location moved or stopped): replace it.
    /// Its reactions did not change (`reactions` is empty here: keep those shown).
    #[serde(rename = "signal.updated")]
    SignalUpdated { signal: SignalOut },
    /// A signal was deleted (by its author or, `by`, an owner or admin): show the tombstone
    /// `signal` in its place, without reactions.
    #[serde(rename = "signal.deleted")]
    SignalDeleted {
        signal: SignalOut,
        #[schema(value_type = String)]
        by: Id,
    },
    /// A reaction was added or removed; `count` is the emoji's new count on the signal.
    #[serde(rename = "reaction.changed")]
    ReactionChanged {
        #[schema(value_type = String)]
        chat_id: Id,
        #[schema(value_type = String)]
        signal_id: Id,
        emoji: String,
        #[schema(value_type = String)]
        user_id: Id,
        added: bool,
        count: i64,
    },
    /// A member moved their read marker. On the member's own streams (their other
    /// devices) it also says what is left to read in the chat.
    #[serde(rename = "receipt.updated")]
    ReceiptUpdated {
        #[schema(value_type = String)]
        chat_id: Id,
        #[schema(value_type = String)]
        user_id: Id,
        #[schema(value_type = String)]
        read_up_to: Id,
        #[serde(skip_serializing_if = "Option::is_none")]
        unread: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        unread_mentions: Option<u32>,
    },
    /// Users joined a chat (added by `by`).
    #[serde(rename = "member.joined")]
    MembersJoined {
        #[schema(value_type = String)]
        chat_id: Id,
        #[schema(value_type = Vec<String>)]
        user_ids: Vec<Id>,
        #[schema(value_type = String)]
        by: Id,
    },
    /// A user left a chat or was removed (by `by`).
    #[serde(rename = "member.left")]
    MemberLeft {
        #[schema(value_type = String)]
        chat_id: Id,
        #[schema(value_type = String)]
        user_id: Id,
        #[schema(value_type = String)]
        by: Id,
    },
    /// A member's role changed (by the owner `by`; handing ownership over is two of these).
    #[serde(rename = "member.role_changed")]
    MemberRoleChanged {
        #[schema(value_type = String)]
        chat_id: Id,
        #[schema(value_type = String)]
        user_id: Id,
        role: RoleWire,
        #[schema(value_type = String)]
        by: Id,
    },
    /// A member is typing: show it for `expires_in_ms` unless renewed (or their message arrives).
    #[serde(rename = "typing")]
    Typing {
        #[schema(value_type = String)]
        chat_id: Id,
        #[schema(value_type = String)]
        user_id: Id,
        expires_in_ms: u64,
    },
    /// The presence of someone who shares a chat with the recipient (or the recipient's own).
    #[serde(rename = "presence.changed")]
    PresenceChanged { presence: PresenceOut },
    /// A WebRTC message from `from`, in call `call_id` with the recipient (never replayed).
    #[serde(rename = "call.signal")]
    CallSignal {
        #[schema(value_type = String)]
        call_id: Id,
        #[schema(value_type = String)]
        chat_id: Id,
        #[schema(value_type = String)]
        from: Id,
        #[serde(rename = "signal_type")]
        kind: CallSignalKindWire,
        #[schema(value_type = Object)]
        data: serde_json::Value,
    },
}

impl EventData {
    /// The event as `viewer`'s stream shows it (a member's unread counts, and a sender's
    /// nonce, go to their own streams only).
    pub fn for_viewer(event: Event, viewer: Id) -> Self {
        match event {
            Event::ChatCreated { chat, members } => {
                EventData::ChatCreated { chat: ChatOut::new(chat, None, None), member_ids: members }
            }
            Event::SignalCreated { signal, nonce } => {
                let nonce = nonce.filter(|_| signal.signal.author_id == viewer);
                EventData::SignalCreated { signal: SignalOut::from(signal), nonce }
            }
            Event::SignalUpdated { signal } => EventData::SignalUpdated { signal: SignalOut::from(signal) },
            Event::SignalDeleted { signal, by } => EventData::SignalDeleted { signal: SignalOut::from(signal), by },
            Event::ReactionChanged { chat_id, signal_id, emoji, user_id, added, count } => {
                EventData::ReactionChanged { chat_id, signal_id, emoji, user_id, added, count }
            }
            Event::ReceiptUpdated { chat_id, user_id, read_up_to, unread } => {
                let unread = unread.filter(|_| user_id == viewer);
                EventData::ReceiptUpdated {
                    chat_id,
                    user_id,
                    read_up_to,
                    unread: unread.map(|u| u.signals),
                    unread_mentions: unread.map(|u| u.mentions),
                }
            }
            Event::MembersJoined { chat_id, user_ids, by } => EventData::MembersJoined { chat_id, user_ids, by },
            Event::MemberLeft { chat_id, user_id, by } => EventData::MemberLeft { chat_id, user_id, by },
            Event::MemberRoleChanged { chat_id, user_id, role, by } => {
                EventData::MemberRoleChanged { chat_id, user_id, role: role.into(), by }
            }
            Event::Typing { chat_id, user_id, expires_in_ms } => EventData::Typing { chat_id, user_id, expires_in_ms },
            Event::PresenceChanged { presence } => EventData::PresenceChanged { presence: PresenceOut::from(presence) },
            Event::CallSignal { call_id, chat_id, from, kind, data } => EventData::CallSignal {
                call_id,
                chat_id,
                from,
                kind: kind.into(),
                data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
            },
        }
    }

    /// The JSON text of the SSE `data:` line.
    pub fn to_json(&self) -> String {
        // Plain data (strings, numbers, lists): serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

// --- requests ---

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevLoginIn {
    #[schema(value_type = rules::Username)]
    pub username: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DevLoginOut {
    /// A bearer token for `Authorization: Bearer …`.
    pub token: String,
    pub user: UserOut,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchMeIn {
    #[schema(value_type = rules::DisplayName)]
    pub display_name: String,
}

/// A new chat: a direct chat (`members`: the one other person; no title) or a group
/// (`members`: the others, at least one; a title). The document states the two as a
/// `oneOf` ([`rules::create_chat`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateChatIn {
    pub kind: ChatKindWire,
    /// The other members (the caller is always a member).
    pub members: Vec<Id>,
    /// Required for a group; none for a direct chat.
    pub title: Option<String>,
    /// For a group: a client-chosen id of this creation (1 to 64 visible ASCII
    /// characters), so a retry returns the first group instead of creating another.
    pub nonce: Option<String>,
}

impl utoipa::PartialSchema for CreateChatIn {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        rules::create_chat()
    }
}

impl ToSchema for CreateChatIn {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchChatIn {
    #[schema(value_type = rules::Title)]
    pub title: String,
}

/// A member's new role. Only the owner changes roles; `owner` hands ownership over (the
/// owner becomes an admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoleIn {
    pub role: RoleWire,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMembersIn {
    /// At least one.
    #[schema(value_type = Vec<rules::IdString>, min_items = 1)]
    pub user_ids: Vec<Id>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendSignalIn {
    pub kind: SendableKind,
    /// The message; may be left out (or blank) when it has attachments.
    #[serde(default)]
    #[schema(value_type = rules::MessageText)]
    pub text: String,
    /// Ids of the sender's uploads to this chat not sent yet (at most 10, each once), in
    /// the order to show them.
    #[serde(default)]
    #[schema(value_type = Vec<rules::IdString>, max_items = 10)]
    pub attachments: Vec<Id>,
    /// A client-chosen id of this send (1–64 visible ASCII characters): retrying with the
    /// same nonce returns the first signal instead of posting twice, for at least 10
    /// minutes after the first attempt (the cluster shape remembers a nonce that long; the
    /// embedded one, for good). The sender's own `signal.created` event carries it back, so
    /// a client that sees it knows the send landed and does not resend.
    #[schema(value_type = rules::Nonce)]
    pub nonce: String,
    /// A signal of this chat (else 422 `reply_to_unknown`).
    #[schema(value_type = Option<rules::IdString>)]
    pub reply_to: Option<Id>,
    /// Members whose attention it calls (at most 100, each a member of the chat; else 422
    /// `mention_not_member` / `too_many_mentions`).
    #[serde(default)]
    #[schema(value_type = Vec<rules::IdString>, max_items = 100)]
    pub mentions: Vec<Id>,
    /// Calls every member's attention (`@everyone`): owners and admins only (else 403
    /// `not_an_admin`).
    #[serde(default)]
    pub mention_everyone: bool,
    /// For `location` (and only then): the point.
    pub location: Option<LocationWire>,
    /// For `location`: share it live until then (RFC 3339, at most 8 hours ahead); the
    /// author moves it with `PATCH`.
    #[schema(value_type = Option<rules::DateTime>)]
    pub live_until: Option<String>,
}

/// A change to a signal of the caller's: exactly one of `text` (a message; with its
/// mentions, which replace the old ones), `location` (move a live location) or
/// `live: false` (stop sharing it live). The document states the three as a `oneOf`
/// ([`rules::patch_signal`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchSignalIn {
    pub text: Option<String>,
    /// With `text`: the members the new text mentions.
    pub mentions: Option<Vec<Id>>,
    /// With `text`: `@everyone` (owners and admins only).
    pub mention_everyone: Option<bool>,
    pub location: Option<LocationWire>,
    /// `false` stops a live location now.
    pub live: Option<bool>,
}

impl utoipa::PartialSchema for PatchSignalIn {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        rules::patch_signal()
    }
}

impl ToSchema for PatchSignalIn {}

/// The caller's membership after moving the read marker, with what is left to read.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadOut {
    #[serde(flatten)]
    pub member: MemberOut,
    pub unread: u32,
    pub unread_mentions: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadIn {
    /// The newest signal the caller has read.
    #[schema(value_type = rules::IdString)]
    pub up_to: Id,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventTicketOut {
    /// Pass as `GET /api/v1/events?ticket=…`; usable once.
    pub ticket: String,
    /// Seconds until the ticket expires.
    pub expires_in: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthConfigOut {
    /// `dev` (embedded shape: `POST /api/v1/dev/login`) or `oidc`.
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
}

// --- presence and status ---

/// A user's presence as the caller sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceOut {
    #[schema(value_type = String)]
    pub user_id: Id,
    /// Connected on some stream, as far as the caller may know (an invisible user is
    /// offline to everyone else).
    pub online: bool,
    pub availability: PresenceStateWire,
    /// The status text the user set.
    pub text: Option<String>,
    /// When the status (availability and text) goes back to the default by itself:
    /// clients stop showing it then.
    pub clears_at: Option<String>,
}

impl From<Presence> for PresenceOut {
    fn from(p: Presence) -> Self {
        Self {
            user_id: p.user_id,
            online: p.online,
            availability: p.state.into(),
            text: p.text,
            clears_at: p.clears_at.map(timestamp),
        }
    }
}

/// A user with their presence.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserWithPresenceOut {
    #[serde(flatten)]
    pub user: UserOut,
    pub presence: PresenceOut,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStatusIn {
    pub availability: AvailabilityWire,
    /// At most 100 characters, one line; blank or absent: none.
    #[schema(value_type = Option<rules::StatusText>)]
    pub text: Option<String>,
    /// Back to the default (online, no text) after this many seconds (1 to 2,592,000).
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 2592000)]
    pub clear_after_secs: Option<u64>,
}

/// A whole number from 0 as JSON may write it: `220`, or `220.0` (the same integer to JSON
/// Schema, whose `integer` the document says).
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else { return Ok(None) };
    if let Some(n) = number.as_u64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        // Exactly representable and in range: below 2^64.
        Some(f) if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(format!("{number} is not a whole number from 0"))),
    }
}
