//! The entities of a chat system: users, chats, members, signals, reactions, receipts,
//! statuses and presence.

use serde::{Deserialize, Serialize};

use crate::attachment::Attachment;
use crate::call::{CallMedia, CallState, CallSummary};
use crate::id::{ChatId, SignalId, UserId};

/// A person. Created the first time they log in (or by a directory sync).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// Unique, from the identity provider's `preferred_username`.
    pub username: String,
    pub display_name: String,
    /// The identity provider that vouches for this user (`dev` in the embedded shape).
    pub issuer: String,
    /// The provider's stable subject for the person.
    pub subject: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    /// Exactly two members, one chat per pair, ever.
    Direct,
    /// A titled chat of 2..N members with roles.
    Group,
}

impl ChatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Direct => "direct",
            ChatKind::Group => "group",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "direct" => Some(ChatKind::Direct),
            "group" => Some(ChatKind::Group),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    pub id: ChatId,
    pub kind: ChatKind,
    pub title: Option<String>,
    pub created_by: UserId,
    /// Unix milliseconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }

    /// Owners and admins manage membership.
    pub fn manages_members(self) -> bool {
        self >= Role::Admin
    }
}

/// A user's membership of a chat, with their receipt watermarks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub chat_id: ChatId,
    pub user_id: UserId,
    pub role: Role,
    /// Unix milliseconds.
    pub joined_at: i64,
    /// Every signal with an id at or below this was written to one of the member's streams.
    pub delivered_up_to: SignalId,
    /// Every signal with an id at or below this was seen by the member.
    pub read_up_to: SignalId,
}

/// One entry of "my chats, most recently active first".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxEntry {
    pub chat_id: ChatId,
    /// The id of the chat's latest signal, or the chat's id when it has none.
    pub activity: SignalId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// A message written by a member.
    Msg,
    /// Members joined (written by the server).
    Joined,
    /// A member left or was removed (written by the server).
    Left,
    /// A point on the map a member shares, perhaps live for a while.
    Location,
    /// A call (its state changes as people join and leave).
    Call,
}

impl SignalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Msg => "msg",
            SignalKind::Joined => "joined",
            SignalKind::Left => "left",
            SignalKind::Location => "location",
            SignalKind::Call => "call",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "msg" => Some(SignalKind::Msg),
            "joined" => Some(SignalKind::Joined),
            "left" => Some(SignalKind::Left),
            "location" => Some(SignalKind::Location),
            "call" => Some(SignalKind::Call),
            _ => None,
        }
    }

    /// Whether signals of this kind are written by members (and so count as unread, can be
    /// deleted by their author): messages and locations, not the server's entries.
    pub fn is_written_by_members(self) -> bool {
        matches!(self, SignalKind::Msg | SignalKind::Location)
    }

    /// Whether a signal of this kind from someone else is one to read: messages,
    /// locations and calls (a missed call included).
    pub fn counts_as_unread(self) -> bool {
        matches!(self, SignalKind::Msg | SignalKind::Location | SignalKind::Call)
    }
}

/// One entry of a chat's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    pub id: SignalId,
    pub chat_id: ChatId,
    pub author_id: UserId,
    /// What it says, by kind.
    #[serde(flatten)]
    pub body: SignalBody,
    /// Unix milliseconds of its last change by its author (a text edited, a live location
    /// moved); none if it never changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
}

impl Signal {
    pub fn kind(&self) -> SignalKind {
        self.body.kind()
    }

    pub fn is_deleted(&self) -> bool {
        matches!(self.body, SignalBody::Deleted { .. })
    }

    /// The revision of this state of the signal: its creation, each edit and its deletion
    /// have higher ones, in that order, so a copy kept elsewhere (the text index) can
    /// refuse a state older than the one it holds when writes arrive out of order. The
    /// time of the change in milliseconds, doubled, plus one for a deletion: a deletion
    /// outranks an edit of the same millisecond, and never goes below the creation (a
    /// node's clock behind the one that created the signal).
    pub fn revision(&self) -> u64 {
        let created = self.id.unix_ms();
        let at = |ms: i64| created.max(u64::try_from(ms).unwrap_or(0));
        match self.body {
            SignalBody::Deleted { deleted_at, .. } => at(deleted_at) * 2 + 1,
            _ => self.edited_at.map_or(created, at) * 2,
        }
    }
}

/// A point on the map ("share point"). Checked by [`crate::rules::validate_location`]:
/// finite coordinates in range, so comparing two is an equivalence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Degrees, -90 to 90.
    pub lat: f64,
    /// Degrees, -180 to 180.
    pub lon: f64,
    /// The radius of uncertainty, in metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
    /// A name for the place, at most 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

// Coordinates are validated finite before a `Location` is stored or sent, so `==` is
// reflexive on every value that exists.
impl Eq for Location {}

/// The content of a signal, one shape per kind. (Encoded with its `kind` beside the
/// signal's other fields; `joined` / `left` name their users `subjects`, as version 1 of
/// the chat events did.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignalBody {
    /// A message written by a member, perhaps answering another signal, perhaps with files
    /// (then its text may be empty).
    Msg {
        text: String,
        reply_to: Option<SignalId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<Attachment>,
        /// Members whose attention it calls (`@name`), each once, in id order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<UserId>,
        /// It calls every member's attention (`@everyone`; owners and admins only).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        everyone: bool,
    },
    /// Members joined (written by the server).
    Joined {
        #[serde(rename = "subjects")]
        users: Vec<UserId>,
    },
    /// Members left or were removed (written by the server).
    Left {
        #[serde(rename = "subjects")]
        users: Vec<UserId>,
    },
    /// A shared point; live (its author moves it) until `live_until` (Unix ms) when set.
    Location {
        location: Location,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        live_until: Option<i64>,
    },
    /// A call, as it stands (the call's own record is in the store's calls).
    Call(CallSummary),
    /// A signal of kind `was` its author (or an admin) deleted at `deleted_at` (Unix ms): a
    /// tombstone that keeps its place in the timeline, with nothing of what it said.
    Deleted { was: SignalKind, deleted_at: i64 },
}

/// A signal body as the columns of a store row (what the SQLite and CQL rows hold).
/// `users` are who joined or left, or whom a message mentions; a location's label is in
/// `text`; a tombstone keeps its kind and sets `deleted_at`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SignalRow {
    pub kind: Option<SignalKind>,
    pub text: Option<String>,
    pub reply_to: Option<SignalId>,
    pub users: Vec<UserId>,
    pub attachments: Vec<Attachment>,
    pub everyone: bool,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_m: Option<f64>,
    pub live_until: Option<i64>,
    pub deleted_at: Option<i64>,
    pub call_media: Option<CallMedia>,
    pub call_state: Option<CallState>,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
}

impl SignalBody {
    pub fn kind(&self) -> SignalKind {
        match self {
            SignalBody::Msg { .. } => SignalKind::Msg,
            SignalBody::Joined { .. } => SignalKind::Joined,
            SignalBody::Left { .. } => SignalKind::Left,
            SignalBody::Location { .. } => SignalKind::Location,
            SignalBody::Call(_) => SignalKind::Call,
            SignalBody::Deleted { was, .. } => *was,
        }
    }

    /// The body as store columns.
    pub fn to_row(&self) -> SignalRow {
        let kind = Some(self.kind());
        match self.clone() {
            SignalBody::Msg { text, reply_to, attachments, mentions, everyone } => SignalRow {
                kind,
                text: Some(text),
                reply_to,
                users: mentions,
                attachments,
                everyone,
                ..SignalRow::default()
            },
            SignalBody::Joined { users } | SignalBody::Left { users } => {
                SignalRow { kind, users, ..SignalRow::default() }
            }
            SignalBody::Location { location, live_until } => SignalRow {
                kind,
                text: location.label,
                lat: Some(location.lat),
                lon: Some(location.lon),
                accuracy_m: location.accuracy_m,
                live_until,
                ..SignalRow::default()
            },
            SignalBody::Call(c) => SignalRow {
                kind,
                users: c.participants,
                call_media: Some(c.media),
                call_state: Some(c.state),
                answered_at: c.answered_at,
                ended_at: c.ended_at,
                ..SignalRow::default()
            },
            SignalBody::Deleted { deleted_at, .. } => {
                SignalRow { kind, deleted_at: Some(deleted_at), ..SignalRow::default() }
            }
        }
    }

    /// The body of store columns; `None` for a row no body writes (a message without
    /// text, a location without coordinates).
    pub fn from_row(row: SignalRow) -> Option<Self> {
        let kind = row.kind?;
        if let Some(deleted_at) = row.deleted_at {
            return Some(SignalBody::Deleted { was: kind, deleted_at });
        }
        Some(match kind {
            SignalKind::Msg => SignalBody::Msg {
                text: row.text?,
                reply_to: row.reply_to,
                attachments: row.attachments,
                mentions: row.users,
                everyone: row.everyone,
            },
            SignalKind::Joined => SignalBody::Joined { users: row.users },
            SignalKind::Left => SignalBody::Left { users: row.users },
            SignalKind::Location => SignalBody::Location {
                location: Location { lat: row.lat?, lon: row.lon?, accuracy_m: row.accuracy_m, label: row.text },
                live_until: row.live_until,
            },
            SignalKind::Call => SignalBody::Call(CallSummary {
                media: row.call_media?,
                state: row.call_state?,
                answered_at: row.answered_at,
                ended_at: row.ended_at,
                participants: row.users,
            }),
        })
    }

    /// Whether it calls `user`'s attention (a message mentioning them, or everyone).
    pub fn mentions(&self, user: UserId) -> bool {
        matches!(self, SignalBody::Msg { mentions, everyone, .. } if *everyone || mentions.contains(&user))
    }

    /// Its files (a message's; none for anything else).
    pub fn attachments(&self) -> &[Attachment] {
        match self {
            SignalBody::Msg { attachments, .. } => attachments,
            _ => &[],
        }
    }
}

/// How many signals of a chat a member has not read: members' messages, locations and
/// calls after their read marker, not their own, not deleted; and how many of those mention them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Unread {
    pub signals: u32,
    pub mentions: u32,
}

impl Unread {
    /// Counted over `signals` (those after the reader's marker) for `reader`.
    pub fn count<'a>(reader: UserId, signals: impl IntoIterator<Item = &'a Signal>) -> Self {
        let mut unread = Unread::default();
        for s in signals {
            if s.author_id == reader || s.is_deleted() || !s.kind().counts_as_unread() {
                continue;
            }
            unread.signals += 1;
            if s.body.mentions(reader) {
                unread.mentions += 1;
            }
        }
        unread
    }
}

/// Per-emoji reaction count of a signal, from the viewer's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionCount {
    pub emoji: String,
    pub count: i64,
    /// Whether the viewer is one of the reactors.
    pub me: bool,
}

/// A signal with what a reader sees alongside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalView {
    pub signal: Signal,
    pub reactions: Vec<ReactionCount>,
}

/// Who a signal reached and who saw it, derived from the members' watermarks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipts {
    pub delivered_to: Vec<UserId>,
    pub seen_by: Vec<UserId>,
}

/// A page of a list, with the cursor of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// How a user chose to appear to others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Online while connected, offline otherwise (the default).
    #[default]
    Online,
    Away,
    /// Do not disturb.
    Dnd,
    /// Appears offline to everyone else, even while connected.
    Invisible,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Online => "online",
            Availability::Away => "away",
            Availability::Dnd => "dnd",
            Availability::Invisible => "invisible",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "online" => Some(Availability::Online),
            "away" => Some(Availability::Away),
            "dnd" => Some(Availability::Dnd),
            "invisible" => Some(Availability::Invisible),
            _ => None,
        }
    }
}

/// What a user set through `PUT /me/status`: kept by the bus, not the store.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserStatus {
    pub availability: Availability,
    /// A free text, at most 100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Unix milliseconds after which the status is cleared (back to the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clears_at: Option<i64>,
}

impl UserStatus {
    /// The status in force at `now_ms`: the default once `clears_at` has passed.
    pub fn at(self, now_ms: i64) -> Self {
        match self.clears_at {
            Some(t) if t <= now_ms => Self::default(),
            _ => self,
        }
    }
}

/// What a viewer sees of a user's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    Online,
    Away,
    Dnd,
    /// Invisible to others: only the user themself sees this.
    Invisible,
    Offline,
}

impl PresenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceState::Online => "online",
            PresenceState::Away => "away",
            PresenceState::Dnd => "dnd",
            PresenceState::Invisible => "invisible",
            PresenceState::Offline => "offline",
        }
    }
}

/// A user's presence from one viewer's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub user_id: UserId,
    /// Connected, as far as the viewer may know (an invisible user is offline to others).
    pub online: bool,
    pub state: PresenceState,
    pub text: Option<String>,
    /// Unix milliseconds when the status clears by itself.
    pub clears_at: Option<i64>,
}

impl Presence {
    /// The presence of `user`, who is `connected` with `status`, as they see it themself
    /// (`own`: the availability they chose, connected or not) or as everyone else does
    /// (offline unless connected and not invisible).
    pub fn new(user: UserId, connected: bool, status: UserStatus, own: bool) -> Self {
        let visible = connected && (own || status.availability != Availability::Invisible);
        let state = match (visible || own, status.availability) {
            (false, _) => PresenceState::Offline,
            (true, Availability::Online) => PresenceState::Online,
            (true, Availability::Away) => PresenceState::Away,
            (true, Availability::Dnd) => PresenceState::Dnd,
            (true, Availability::Invisible) => PresenceState::Invisible,
        };
        Self { user_id: user, online: visible, state, text: status.text, clears_at: status.clears_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_as_version_1_of_the_chat_events_wrote_them_still_read() {
        let msg = r#"{"id":"5","chat_id":"2","author_id":"3","kind":"msg","text":"hi","reply_to":"4","subjects":[]}"#;
        let joined = r#"{"id":"6","chat_id":"2","author_id":"3","kind":"joined","text":null,"reply_to":null,"subjects":["3","7"]}"#;
        let read = |json: &str| serde_json::from_str::<Signal>(json).unwrap().body;
        assert_eq!(
            read(msg),
            SignalBody::Msg {
                text: "hi".into(),
                reply_to: Some(crate::Id(4)),
                attachments: vec![],
                mentions: vec![],
                everyone: false
            }
        );
        assert_eq!(read(joined), SignalBody::Joined { users: vec![crate::Id(3), crate::Id(7)] });
        let signal = Signal {
            id: crate::Id(8),
            chat_id: crate::Id(2),
            author_id: crate::Id(3),
            body: read(joined),
            edited_at: None,
        };
        let again: Signal = serde_json::from_str(&serde_json::to_string(&signal).unwrap()).unwrap();
        assert_eq!(again, signal);
    }

    #[test]
    fn presence_depends_on_who_looks() {
        let status = |availability| UserStatus { availability, text: None, clears_at: None };
        let cases = [
            // (connected, chosen, own) → (online, state)
            (true, Availability::Online, false, true, PresenceState::Online),
            (false, Availability::Online, false, false, PresenceState::Offline),
            (true, Availability::Away, false, true, PresenceState::Away),
            (false, Availability::Dnd, false, false, PresenceState::Offline),
            (true, Availability::Invisible, false, false, PresenceState::Offline),
            (true, Availability::Invisible, true, true, PresenceState::Invisible),
            (false, Availability::Away, true, false, PresenceState::Away),
        ];
        for (connected, chosen, own, online, state) in cases {
            let p = Presence::new(crate::Id(1), connected, status(chosen), own);
            assert_eq!((p.online, p.state), (online, state), "{connected} {chosen:?} {own}");
        }
    }

    #[test]
    fn a_status_clears_at_its_time() {
        let s = UserStatus { availability: Availability::Dnd, text: Some("x".into()), clears_at: Some(10) };
        assert_eq!(s.clone().at(9), s);
        assert_eq!(s.at(10), UserStatus::default());
    }
}
