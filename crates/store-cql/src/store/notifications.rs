//! Notifications over CQL (`ports::NotificationStore`): `member_notify ((chat_id),
//! user_id)` (a chat's settings in one partition, for the notifier, with each member's
//! push hint: see [`CqlStore::note_pushable`]), `push_targets
//! ((user_id), target_id)`, `push_sent ((target_id, key))` with a week's TTL,
//! `push_dead_letters ((shard), at DESC, …)` with 30 days', and `server_keys ((name))`
//! claimed by a lightweight transaction so every node uses the same key.

use super::*;
use domain::{DeadLetter, NotifyLevel, NotifySettings, PushTarget, PushTargetId, PushTargetSpec};
use ports::NotificationStore;
use scylla::value::CqlValue;

use crate::timeline::cql_limit;

fn settings(level: &str, muted_until: Option<i64>) -> Result<NotifySettings> {
    let level = NotifyLevel::parse(level).ok_or_else(|| corrupt("member_notify"))?;
    Ok(NotifySettings { level, muted_until })
}

#[async_trait]
impl NotificationStore for CqlStore {
    async fn notify_settings(&self, chat: ChatId, user: UserId) -> Result<NotifySettings> {
        // A row with no level holds only the member's push hint: settings never set.
        let row: Option<(Option<String>, Option<i64>)> =
            first(self.run(&self.st.notify_settings, (chat.as_i64(), user.as_i64())).await?)?;
        match row {
            Some((Some(level), muted)) => settings(&level, muted),
            _ => Ok(NotifySettings::default()),
        }
    }

    async fn chat_notify_settings(&self, chat: ChatId) -> Result<Vec<(UserId, NotifySettings)>> {
        let rows: Vec<(i64, Option<String>, Option<i64>)> =
            rows(self.run(&self.st.chat_notify_settings, (chat.as_i64(),)).await?)?;
        rows.into_iter()
            .filter_map(|(user, level, muted)| Some((user, level?, muted)))
            .map(|(user, level, muted)| Ok((Id::from_i64(user), settings(&level, muted)?)))
            .collect()
    }

    async fn set_notify_settings(&self, chat: ChatId, user: UserId, s: &NotifySettings) -> Result<()> {
        let values = (chat.as_i64(), user.as_i64(), s.level.as_str(), s.muted_until);
        self.run(&self.st.set_notify_settings, values).await.map(drop)
    }

    async fn add_push_target(&self, t: &PushTarget) -> Result<()> {
        let spec = serde_json::to_string(&t.spec).map_err(|e| Error::internal(e.to_string()))?;
        let values = (t.user_id.as_i64(), t.id.as_i64(), spec, t.created_at);
        // The hint of every chat of theirs says "can be pushed to" before the target is
        // written (should this call stop between the two, no chat keeps a `false`) and
        // again after (a chat joined meanwhile whose join did not see the target yet).
        self.mark_pushable_everywhere(t.user_id).await?;
        self.run(&self.st.insert_push_target, values).await?;
        self.mark_pushable_everywhere(t.user_id).await
    }

    async fn push_targets(&self, user: UserId) -> Result<Vec<PushTarget>> {
        let rows: Vec<(i64, i64, String, i64)> = rows(self.run(&self.st.push_targets, (user.as_i64(),)).await?)?;
        rows.into_iter()
            .map(|(user, id, spec, created_at)| {
                let spec: PushTargetSpec = serde_json::from_str(&spec).map_err(|_| corrupt("push_targets"))?;
                Ok(PushTarget { id: Id::from_i64(id), user_id: Id::from_i64(user), created_at, spec })
            })
            .collect()
    }

    async fn members_with_push_targets(&self, chat: ChatId, users: &[UserId]) -> Result<Vec<UserId>> {
        if users.is_empty() {
            return Ok(vec![]);
        }
        // One partition read for the chat's hints; `push_targets` only for the members a
        // `false` does not rule out (in a chat of web-only users: nobody).
        let ids: Vec<i64> = users.iter().map(|u| u.as_i64()).collect();
        let ruled_out: HashSet<i64> =
            rows::<(i64, Option<bool>)>(self.run(&self.st.members_pushable, (chat.as_i64(), &ids)).await?)?
                .into_iter()
                .filter_map(|(user, pushable)| (pushable == Some(false)).then_some(user))
                .collect();
        let asked: Vec<i64> = ids.into_iter().filter(|u| !ruled_out.contains(u)).collect();
        if asked.is_empty() {
            return Ok(vec![]);
        }
        let with: HashSet<i64> = rows::<(i64,)>(self.run(&self.st.users_with_push_targets, (asked,)).await?)?
            .into_iter()
            .map(|(u,)| u)
            .collect();
        Ok(users.iter().copied().filter(|u| with.contains(&u.as_i64())).collect())
    }

    async fn delete_push_target(&self, user: UserId, id: PushTargetId) -> Result<bool> {
        let key = (user.as_i64(), id.as_i64());
        let found: Option<(i64,)> = first(self.run(&self.st.push_target, key).await?)?;
        if found.is_none() {
            return Ok(false);
        }
        self.run(&self.st.delete_push_target, key).await?;
        Ok(true)
    }

    async fn push_sent(&self, target: PushTargetId, key: &str) -> Result<bool> {
        let row: Option<(String,)> = first(self.run(&self.st.push_sent, (target.as_i64(), key)).await?)?;
        Ok(row.is_some())
    }

    async fn record_push_sent(&self, target: PushTargetId, key: &str) -> Result<()> {
        self.run(&self.st.insert_push_sent, (target.as_i64(), key)).await.map(drop)
    }

    async fn add_dead_letter(&self, l: &DeadLetter) -> Result<()> {
        let attempts = i32::try_from(l.attempts).unwrap_or(i32::MAX);
        let values = (l.at, l.target_id.as_i64(), l.key.as_str(), l.user_id.as_i64(), attempts, l.error.as_str());
        self.run(&self.st.insert_dead_letter, values).await.map(drop)
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        let rows: Vec<(i64, i64, String, i64, i32, String)> =
            rows(self.run(&self.st.dead_letters, (cql_limit(limit),)).await?)?;
        Ok(rows
            .into_iter()
            .map(|(at, target, key, user, attempts, error)| DeadLetter {
                at,
                target_id: Id::from_i64(target),
                key,
                user_id: Id::from_i64(user),
                attempts: u32::try_from(attempts).unwrap_or(0),
                error,
            })
            .collect())
    }

    async fn server_key(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>> {
        let (applied, row) = lwt(self.run(&self.st.claim_server_key, (name, candidate)).await?)?;
        if applied {
            return Ok(candidate.to_vec());
        }
        match row.get("value") {
            Some(CqlValue::Blob(stored)) => Ok(stored.clone()),
            _ => Err(corrupt("server_keys")),
        }
    }
}

/// The notifier's per-member push hint, `member_notify.pushable`. It may say "no push
/// target" (`false`) only when that is certain: a member is ruled out by it and never asked
/// about in `push_targets`. So:
///
/// - a join writes it after the membership and `user_chats` rows, from a read of the
///   user's targets that follows them: `true`, or `false` at timestamp 1, so that any
///   `true` written by anyone at any time wins over it;
/// - adding a target writes `true` on every chat in `user_chats` after the target is
///   written. Either the join's read sees the target, or the listing sees the chat: the
///   two sides each write before they read;
/// - nothing ever writes `false` again: a member whose last target went keeps `true`, and
///   `push_targets` answers for them (exactly, at the cost of the read the hint spares
///   the others).
///
/// A row without a hint (members from before it existed) is asked about as well.
impl CqlStore {
    pub(crate) async fn note_pushable(&self, chat: ChatId, user: UserId) -> Result<()> {
        let has = first::<(i64,)>(self.run(&self.st.users_with_push_targets, (vec![user.as_i64()],)).await?)?.is_some();
        self.set_pushable(chat, user, has).await
    }

    async fn set_pushable(&self, chat: ChatId, user: UserId, pushable: bool) -> Result<()> {
        let at = if pushable { now_timestamp() } else { 1 };
        self.run(&self.st.set_member_pushable, (at, pushable, chat.as_i64(), user.as_i64())).await.map(drop)
    }

    async fn mark_pushable_everywhere(&self, user: UserId) -> Result<()> {
        let chats = rows::<(i64, Option<i64>)>(self.run(&self.st.user_chats, (user.as_i64(),)).await?)?;
        let at = now_timestamp();
        let values: Vec<_> = chats.into_iter().map(|(chat, _)| (at, true, chat, user.as_i64())).collect();
        self.run_batched(&self.st.set_member_pushable, values).await
    }
}
