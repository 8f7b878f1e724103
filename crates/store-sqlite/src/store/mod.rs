//! The SQLite adapter of the Store port: one file per aggregate trait, with the row helpers
//! they share here.

use async_trait::async_trait;
use domain::{Chat, ChatId, Id, InboxEntry, Member, Result, Role, Signal, SignalId, User, UserId, UserStatus};
use ports::{CreateUserOutcome, InsertSignalOutcome, RenameOutcome, SignalRange, Store};
use rusqlite::{OptionalExtension, params, params_from_iter};

use crate::SqliteStore;
use crate::rows::{self, CHAT_COLUMNS, MEMBER_COLUMNS, SIGNAL_COLUMNS, USER_COLUMNS, join_ids, placeholders};

mod attachments;
mod blob_gc;
mod calls;
mod chats;
mod inbox;
mod notifications;
mod reactions;
mod receipts;
mod tickets;
mod timeline;
mod users;

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }
}

fn insert_members(tx: &rusqlite::Connection, members: &[Member], chat: ChatId) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT OR IGNORE INTO chat_members ({MEMBER_COLUMNS}, activity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?;
    for m in members {
        debug_assert_eq!(m.chat_id, chat);
        stmt.execute(params![
            chat.as_i64(),
            m.user_id.as_i64(),
            m.role.as_str(),
            m.joined_at,
            m.delivered_up_to.as_i64(),
            m.read_up_to.as_i64(),
            chat.as_i64()
        ])?;
    }
    Ok(())
}
