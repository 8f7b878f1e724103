//! Mapping between SQLite rows and domain types.

use domain::{
    Attachment, AttachmentKind, Availability, BlobKey, CallMedia, CallState, Chat, ChatKind, Id, Member, Role, Signal,
    SignalBody, SignalKind, SignalRow, StoredAttachment, User, UserStatus,
};
use rusqlite::Row;
use rusqlite::types::Type;

pub const USER_COLUMNS: &str = "id, username, display_name, issuer, subject, created_at";
pub const CHAT_COLUMNS: &str = "id, kind, title, created_by, created_at";
pub const MEMBER_COLUMNS: &str = "chat_id, user_id, role, joined_at, delivered_up_to, read_up_to";
pub const SIGNAL_COLUMNS: &str = "chat_id, id, author_id, kind, text, reply_to, subjects, attachments, everyone, \
     edited_at, deleted_at, lat, lon, accuracy_m, live_until, call_media, call_state, answered_at, ended_at";
/// The columns of a signal an update rewrites, as `SET` assignments from `?3` on (`?1` and
/// `?2` are the chat and the id).
pub const SIGNAL_UPDATE: &str = "text = ?3, reply_to = ?4, subjects = ?5, attachments = ?6, everyone = ?7, \
     edited_at = ?8, deleted_at = ?9, lat = ?10, lon = ?11, accuracy_m = ?12, live_until = ?13, call_media = ?14, \
     call_state = ?15, answered_at = ?16, ended_at = ?17";
pub const ATTACHMENT_COLUMNS: &str = "id, chat_id, uploader_id, filename, content_type, size, sha256, kind, width, height, created_at, claimed_by, signal_id";

fn id(row: &Row<'_>, i: usize) -> rusqlite::Result<Id> {
    row.get::<_, i64>(i).map(Id::from_i64)
}

pub fn bad(i: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, Type::Text, format!("unknown {what}").into())
}

pub fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: id(row, 0)?,
        username: row.get(1)?,
        display_name: row.get(2)?,
        issuer: row.get(3)?,
        subject: row.get(4)?,
        created_at: row.get(5)?,
    })
}

pub fn chat(row: &Row<'_>) -> rusqlite::Result<Chat> {
    let kind: String = row.get(1)?;
    Ok(Chat {
        id: id(row, 0)?,
        kind: ChatKind::parse(&kind).ok_or_else(|| bad(1, "chat kind"))?,
        title: row.get(2)?,
        created_by: id(row, 3)?,
        created_at: row.get(4)?,
    })
}

pub fn member(row: &Row<'_>) -> rusqlite::Result<Member> {
    let role: String = row.get(2)?;
    Ok(Member {
        chat_id: id(row, 0)?,
        user_id: id(row, 1)?,
        role: Role::parse(&role).ok_or_else(|| bad(2, "role"))?,
        joined_at: row.get(3)?,
        delivered_up_to: id(row, 4)?,
        read_up_to: id(row, 5)?,
    })
}

pub fn status(row: &Row<'_>) -> rusqlite::Result<UserStatus> {
    let availability: String = row.get(0)?;
    Ok(UserStatus {
        availability: Availability::parse(&availability).ok_or_else(|| bad(0, "availability"))?,
        text: row.get(1)?,
        clears_at: row.get(2)?,
    })
}

pub fn signal(row: &Row<'_>) -> rusqlite::Result<Signal> {
    let kind: String = row.get(3)?;
    let subjects: String = row.get(6)?;
    let users = subjects
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Id>().map_err(|_| bad(6, "subject id")))
        .collect::<rusqlite::Result<_>>()?;
    let attachments: String = row.get(7)?;
    let attachments = if attachments.is_empty() {
        vec![]
    } else {
        serde_json::from_str(&attachments).map_err(|_| bad(7, "attachment list"))?
    };
    let columns = SignalRow {
        kind: Some(SignalKind::parse(&kind).ok_or_else(|| bad(3, "signal kind"))?),
        text: row.get(4)?,
        reply_to: row.get::<_, Option<i64>>(5)?.map(Id::from_i64),
        users,
        attachments,
        everyone: row.get(8)?,
        deleted_at: row.get(10)?,
        lat: row.get(11)?,
        lon: row.get(12)?,
        accuracy_m: row.get(13)?,
        live_until: row.get(14)?,
        call_media: row
            .get::<_, Option<String>>(15)?
            .map(|m| CallMedia::parse(&m).ok_or_else(|| bad(15, "call media")))
            .transpose()?,
        call_state: row
            .get::<_, Option<String>>(16)?
            .map(|m| CallState::parse(&m).ok_or_else(|| bad(16, "call state")))
            .transpose()?,
        answered_at: row.get(17)?,
        ended_at: row.get(18)?,
    };
    Ok(Signal {
        chat_id: id(row, 0)?,
        id: id(row, 1)?,
        author_id: id(row, 2)?,
        body: SignalBody::from_row(columns).ok_or_else(|| bad(4, "signal content"))?,
        edited_at: row.get(9)?,
    })
}

/// A signal's attachments as its `attachments` column holds them ('' for none).
pub fn attachment_list(attachments: &[Attachment]) -> String {
    if attachments.is_empty() {
        String::new()
    } else {
        serde_json::to_string(attachments).expect("attachments encode as JSON")
    }
}

pub fn attachment(row: &Row<'_>) -> rusqlite::Result<StoredAttachment> {
    let sha256: String = row.get(6)?;
    let kind: String = row.get(7)?;
    let size: i64 = row.get(5)?;
    Ok(StoredAttachment {
        attachment: Attachment {
            id: id(row, 0)?,
            chat_id: id(row, 1)?,
            uploader_id: id(row, 2)?,
            filename: row.get(3)?,
            content_type: row.get(4)?,
            size: u64::try_from(size).map_err(|_| bad(5, "size"))?,
            sha256: BlobKey::parse(&sha256).ok_or_else(|| bad(6, "sha256"))?,
            kind: AttachmentKind::parse(&kind).ok_or_else(|| bad(7, "attachment kind"))?,
            width: row.get(8)?,
            height: row.get(9)?,
            created_at: row.get(10)?,
        },
        claimed_by: row.get(11)?,
        signal_id: row.get::<_, Option<i64>>(12)?.map(Id::from_i64),
    })
}

pub fn join_ids(ids: &[Id]) -> String {
    ids.iter().map(Id::to_string).collect::<Vec<_>>().join(",")
}

/// `?1, ?2, …, ?n`.
pub fn numbered_placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
}

/// `?,?,?` with `n` placeholders (n ≥ 1).
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}
