//! The Store's timelines: each chat's signals (`ports::TimelineStore`).

use super::*;
use crate::rows::SIGNAL_UPDATE;
use ports::TimelineStore;
use rusqlite::types::Value;

/// A signal's content columns (`text` to `live_until`), in the order of both
/// `SIGNAL_COLUMNS` and `SIGNAL_UPDATE`.
fn content(s: &Signal) -> [Value; 15] {
    let row = s.body.to_row();
    [
        row.text.into(),
        row.reply_to.map(Id::as_i64).into(),
        join_ids(&row.users).into(),
        rows::attachment_list(&row.attachments).into(),
        row.everyone.into(),
        s.edited_at.into(),
        row.deleted_at.into(),
        row.lat.into(),
        row.lon.into(),
        row.accuracy_m.into(),
        row.live_until.into(),
        row.call_media.map(|m| m.as_str().to_string()).into(),
        row.call_state.map(|c| c.as_str().to_string()).into(),
        row.answered_at.into(),
        row.ended_at.into(),
    ]
}

#[async_trait]
impl TimelineStore for SqliteStore {
    async fn insert_signal(&self, signal: &Signal, nonce: Option<&str>) -> Result<InsertSignalOutcome> {
        let (s, nonce) = (signal.clone(), nonce.map(str::to_string));
        self.write(move |c| {
            let tx = c.savepoint()?;
            if let Some(nonce) = nonce {
                let fresh = tx.execute(
                    "INSERT OR IGNORE INTO signal_nonces (chat_id, author_id, nonce, signal_id) VALUES (?1, ?2, ?3, ?4)",
                    params![s.chat_id.as_i64(), s.author_id.as_i64(), nonce, s.id.as_i64()],
                )? == 1;
                if !fresh {
                    let first: i64 = tx.query_row(
                        "SELECT signal_id FROM signal_nonces WHERE chat_id = ?1 AND author_id = ?2 AND nonce = ?3",
                        params![s.chat_id.as_i64(), s.author_id.as_i64(), nonce],
                        |r| r.get(0),
                    )?;
                    return Ok(InsertSignalOutcome::Duplicate(Id::from_i64(first)));
                }
            }
            let kind = s.kind().as_str().to_string();
            let head: [Value; 4] = [s.chat_id.as_i64().into(), s.id.as_i64().into(), s.author_id.as_i64().into(), kind.into()];
            tx.execute(
                &format!("INSERT INTO signals ({SIGNAL_COLUMNS}) VALUES ({})", rows::numbered_placeholders(19)),
                params_from_iter(head.into_iter().chain(content(&s))),
            )?;
            // The chat's last activity moves with its signal, in the same commit.
            tx.prepare_cached("UPDATE chats SET activity = ?1 WHERE id = ?2 AND activity < ?1")?
                .execute([s.id.as_i64(), s.chat_id.as_i64()])?;
            tx.commit()?;
            Ok(InsertSignalOutcome::Inserted)
        })
        .await
    }

    async fn update_signal(&self, signal: &Signal) -> Result<bool> {
        let s = signal.clone();
        self.write(move |c| {
            let key: [Value; 2] = [s.chat_id.as_i64().into(), s.id.as_i64().into()];
            let written = c
                .prepare_cached(&format!(
                    "UPDATE signals SET {SIGNAL_UPDATE} WHERE chat_id = ?1 AND id = ?2 AND deleted_at IS NULL"
                ))?
                .execute(params_from_iter(key.into_iter().chain(content(&s))))?;
            Ok(written == 1)
        })
        .await
    }

    async fn signal(&self, chat: ChatId, id: SignalId) -> Result<Option<Signal>> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE chat_id = ?1 AND id = ?2"))?
                .query_row([chat.as_i64(), id.as_i64()], rows::signal)
                .optional()
        })
        .await
    }

    async fn signals(&self, chat: ChatId, range: SignalRange, limit: usize) -> Result<Vec<Signal>> {
        self.read(move |c| {
            let (sql, bound, ascending) = match range {
                SignalRange::Latest => ("id <= ?2 ORDER BY id DESC", i64::MAX, false),
                SignalRange::Before(id) => ("id < ?2 ORDER BY id DESC", id.as_i64(), false),
                SignalRange::After(id) => ("id > ?2 ORDER BY id ASC", id.as_i64(), true),
            };
            let mut signals: Vec<Signal> = c
                .prepare_cached(&format!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE chat_id = ?1 AND {sql} LIMIT ?3"))?
                .query_map(params![chat.as_i64(), bound, limit as i64], rows::signal)?
                .collect::<rusqlite::Result<_>>()?;
            if ascending {
                signals.reverse();
            }
            Ok(signals)
        })
        .await
    }
}
