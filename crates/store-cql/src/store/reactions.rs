//! The Store's reactions to signals (`ports::ReactionStore`): one row per (signal, emoji,
//! user) in `reactions_by_bucket`, written with statements that are safe to repeat, so a
//! count (the number of rows) stays exact whatever is retried.

use super::*;
use ports::ReactionStore;

impl CqlStore {
    /// Whether `user` has reacted to `signal` with `emoji`.
    async fn has_reacted(&self, chat: ChatId, signal: SignalId, emoji: &str, user: UserId) -> Result<bool> {
        let key = (chat.as_i64(), signal.bucket(), signal.as_i64(), emoji, user.as_i64());
        Ok(!rows::<(i64,)>(self.run(&self.st.reaction, key).await?)?.is_empty())
    }

    /// Every (signal, emoji, user) of `signals`, in clustering order (by signal, then emoji).
    async fn reaction_rows(&self, chat: ChatId, signals: &[SignalId]) -> Result<Vec<(i64, String, i64)>> {
        let mut out = vec![];
        for (bucket, ids) in by_bucket(signals) {
            let result = self.run(&self.st.reactions_of, (chat.as_i64(), bucket, ids)).await?;
            out.extend(rows::<(i64, String, i64)>(result)?);
        }
        Ok(out)
    }
}

#[async_trait]
impl ReactionStore for CqlStore {
    /// Added, or already there (`false`: nothing changed). The read before the write only
    /// decides what is reported: two identical requests at once may both say `true`.
    async fn add_reaction(&self, chat: ChatId, signal: SignalId, emoji: &str, user: UserId) -> Result<bool> {
        let had = self.has_reacted(chat, signal, emoji, user).await?;
        let key = (chat.as_i64(), signal.bucket(), signal.as_i64(), emoji, user.as_i64());
        self.run(&self.st.insert_reaction, key).await?;
        Ok(!had)
    }

    async fn remove_reaction(&self, chat: ChatId, signal: SignalId, emoji: &str, user: UserId) -> Result<bool> {
        let had = self.has_reacted(chat, signal, emoji, user).await?;
        let key = (chat.as_i64(), signal.bucket(), signal.as_i64(), emoji, user.as_i64());
        self.run(&self.st.delete_reaction, key).await?;
        Ok(had)
    }

    async fn reaction_counts(&self, chat: ChatId, signals: &[SignalId]) -> Result<Vec<(SignalId, String, i64)>> {
        let mut out: Vec<(SignalId, String, i64)> = vec![];
        for (signal, emoji, _) in self.reaction_rows(chat, signals).await? {
            match out.last_mut() {
                Some((s, e, n)) if s.as_i64() == signal && *e == emoji => *n += 1,
                _ => out.push((Id::from_i64(signal), emoji, 1)),
            }
        }
        Ok(out)
    }

    async fn reactions_by_user(
        &self,
        chat: ChatId,
        user: UserId,
        signals: &[SignalId],
    ) -> Result<Vec<(SignalId, String)>> {
        let user = user.as_i64();
        Ok(self
            .reaction_rows(chat, signals)
            .await?
            .into_iter()
            .filter(|(_, _, u)| *u == user)
            .map(|(s, e, _)| (Id::from_i64(s), e))
            .collect())
    }

    async fn reactors(
        &self,
        chat: ChatId,
        signal: SignalId,
        emoji: &str,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>> {
        let after = after.map_or(i64::MIN, Id::as_i64);
        let values = (chat.as_i64(), signal.bucket(), signal.as_i64(), emoji, after, limit as i32);
        let result = self.run(&self.st.reactors, values).await?;
        Ok(rows::<(i64,)>(result)?.into_iter().map(|(u,)| Id::from_i64(u)).collect())
    }
}
