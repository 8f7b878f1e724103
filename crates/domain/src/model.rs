//! The entities of a chat system: users, chats, members, signals, reactions, receipts.

use serde::{Deserialize, Serialize};

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
}

impl SignalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Msg => "msg",
            SignalKind::Joined => "joined",
            SignalKind::Left => "left",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "msg" => Some(SignalKind::Msg),
            "joined" => Some(SignalKind::Joined),
            "left" => Some(SignalKind::Left),
            _ => None,
        }
    }
}

/// One entry of a chat's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    pub id: SignalId,
    pub chat_id: ChatId,
    pub author_id: UserId,
    pub kind: SignalKind,
    /// The text of a `msg`.
    pub text: Option<String>,
    /// The signal a `msg` answers.
    pub reply_to: Option<SignalId>,
    /// For `joined` / `left`: the users who joined or left.
    pub subjects: Vec<UserId>,
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
