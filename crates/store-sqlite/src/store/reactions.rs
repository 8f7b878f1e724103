//! The Store's reactions to signals (`ports::ReactionStore`).

use super::*;
use ports::ReactionStore;

#[async_trait]
impl ReactionStore for SqliteStore {
    async fn add_reaction(&self, chat: ChatId, signal: SignalId, emoji: &str, user: UserId) -> Result<bool> {
        let emoji = emoji.to_string();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let added = tx.execute(
                "INSERT OR IGNORE INTO reactions (chat_id, signal_id, emoji, user_id) VALUES (?1, ?2, ?3, ?4)",
                params![chat.as_i64(), signal.as_i64(), emoji, user.as_i64()],
            )? == 1;
            if added {
                tx.execute(
                    "INSERT INTO reaction_counts (chat_id, signal_id, emoji, n) VALUES (?1, ?2, ?3, 1)
                     ON CONFLICT (chat_id, signal_id, emoji) DO UPDATE SET n = n + 1",
                    params![chat.as_i64(), signal.as_i64(), emoji],
                )?;
            }
            tx.commit()?;
            Ok(added)
        })
        .await
    }

    async fn remove_reaction(&self, chat: ChatId, signal: SignalId, emoji: &str, user: UserId) -> Result<bool> {
        let emoji = emoji.to_string();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let removed = tx.execute(
                "DELETE FROM reactions WHERE chat_id = ?1 AND signal_id = ?2 AND emoji = ?3 AND user_id = ?4",
                params![chat.as_i64(), signal.as_i64(), emoji, user.as_i64()],
            )? == 1;
            if removed {
                tx.execute(
                    "UPDATE reaction_counts SET n = n - 1 WHERE chat_id = ?1 AND signal_id = ?2 AND emoji = ?3",
                    params![chat.as_i64(), signal.as_i64(), emoji],
                )?;
            }
            tx.commit()?;
            Ok(removed)
        })
        .await
    }

    async fn reaction_counts(&self, chat: ChatId, signals: &[SignalId]) -> Result<Vec<(SignalId, String, i64)>> {
        if signals.is_empty() {
            return Ok(vec![]);
        }
        let mut args: Vec<i64> = vec![chat.as_i64()];
        args.extend(signals.iter().map(|s| s.as_i64()));
        self.read(move |c| {
            let sql = format!(
                "SELECT signal_id, emoji, n FROM reaction_counts WHERE chat_id = ? AND signal_id IN ({}) AND n > 0",
                placeholders(args.len() - 1)
            );
            c.prepare_cached(&sql)?
                .query_map(params_from_iter(args), |r| Ok((Id::from_i64(r.get(0)?), r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .await
    }

    async fn reactions_by_user(
        &self,
        chat: ChatId,
        user: UserId,
        signals: &[SignalId],
    ) -> Result<Vec<(SignalId, String)>> {
        if signals.is_empty() {
            return Ok(vec![]);
        }
        let mut args: Vec<i64> = vec![chat.as_i64(), user.as_i64()];
        args.extend(signals.iter().map(|s| s.as_i64()));
        self.read(move |c| {
            let sql = format!(
                "SELECT signal_id, emoji FROM reactions WHERE chat_id = ? AND user_id = ? AND signal_id IN ({})",
                placeholders(args.len() - 2)
            );
            c.prepare_cached(&sql)?
                .query_map(params_from_iter(args), |r| Ok((Id::from_i64(r.get(0)?), r.get(1)?)))?
                .collect()
        })
        .await
    }

    async fn reactors(
        &self,
        chat: ChatId,
        signal: SignalId,
        emoji: &str,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>> {
        let emoji = emoji.to_string();
        let after = after.map_or(-1, Id::as_i64);
        self.read(move |c| {
            c.prepare_cached(
                "SELECT user_id FROM reactions WHERE chat_id = ?1 AND signal_id = ?2 AND emoji = ?3 AND user_id > ?4
                 ORDER BY user_id LIMIT ?5",
            )?
            .query_map(params![chat.as_i64(), signal.as_i64(), emoji, after, limit as i64], |r| {
                r.get::<_, i64>(0).map(Id::from_i64)
            })?
            .collect()
        })
        .await
    }
}
