//! The Store's reactions to signals (`ports::ReactionStore`).

use super::*;
use ports::ReactionStore;

#[async_trait]
impl ReactionStore for CqlStore {
    async fn add_reaction(&self, chat: ChatId, signal: SignalId, emoji: &str, user: UserId) -> Result<bool> {
        let (applied, _) =
            lwt(self.run(&self.st.insert_reaction, (chat.as_i64(), signal.as_i64(), emoji, user.as_i64())).await?)?;
        if applied {
            let b = signal.bucket();
            self.run(&self.st.count_up, (chat.as_i64(), b, signal.as_i64(), emoji)).await?;
            self.run(&self.st.insert_user_reaction, (chat.as_i64(), user.as_i64(), b, signal.as_i64(), emoji)).await?;
        }
        Ok(applied)
    }

    async fn remove_reaction(&self, chat: ChatId, signal: SignalId, emoji: &str, user: UserId) -> Result<bool> {
        let (applied, _) =
            lwt(self.run(&self.st.delete_reaction, (chat.as_i64(), signal.as_i64(), emoji, user.as_i64())).await?)?;
        if applied {
            let b = signal.bucket();
            self.run(&self.st.count_down, (chat.as_i64(), b, signal.as_i64(), emoji)).await?;
            self.run(&self.st.delete_user_reaction, (chat.as_i64(), user.as_i64(), b, signal.as_i64(), emoji)).await?;
        }
        Ok(applied)
    }

    async fn reaction_counts(&self, chat: ChatId, signals: &[SignalId]) -> Result<Vec<(SignalId, String, i64)>> {
        let mut out = vec![];
        for (bucket, ids) in by_bucket(signals) {
            let result = self.run(&self.st.counts, (chat.as_i64(), bucket, ids)).await?;
            for (sid, emoji, n) in rows::<(i64, String, Option<scylla::value::Counter>)>(result)? {
                let n = n.map_or(0, |c| c.0);
                if n > 0 {
                    out.push((Id::from_i64(sid), emoji, n));
                }
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
        let mut out = vec![];
        for (bucket, ids) in by_bucket(signals) {
            let result = self.run(&self.st.user_reactions, (chat.as_i64(), user.as_i64(), bucket, ids)).await?;
            out.extend(rows::<(i64, String)>(result)?.into_iter().map(|(s, e)| (Id::from_i64(s), e)));
        }
        Ok(out)
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
        let result = self.run(&self.st.reactors, (chat.as_i64(), signal.as_i64(), emoji, after, limit as i32)).await?;
        Ok(rows::<(i64,)>(result)?.into_iter().map(|(u,)| Id::from_i64(u)).collect())
    }
}
