//! Notification settings, push targets, sent records, dead letters and server keys
//! (`ports::NotificationStore`).

use super::*;
use domain::{DeadLetter, NotifyLevel, NotifySettings, PushTarget, PushTargetId, PushTargetSpec};
use ports::NotificationStore;

/// How long a sent record is kept, in milliseconds: a week.
const SENT_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;
/// How long a dead letter is kept: 30 days.
const DEAD_LETTERS_KEPT_MS: i64 = 30 * 24 * 3600 * 1000;

fn settings(level: String, muted_until: Option<i64>) -> rusqlite::Result<NotifySettings> {
    let level = NotifyLevel::parse(&level).ok_or_else(|| rows::bad(1, "notification level"))?;
    Ok(NotifySettings { level, muted_until })
}

fn target(user_id: i64, target_id: i64, spec: String, created_at: i64) -> rusqlite::Result<PushTarget> {
    let spec: PushTargetSpec = serde_json::from_str(&spec).map_err(|_| rows::bad(2, "push target"))?;
    Ok(PushTarget { id: Id::from_i64(target_id), user_id: Id::from_i64(user_id), created_at, spec })
}

#[async_trait]
impl NotificationStore for SqliteStore {
    async fn notify_settings(&self, chat: ChatId, user: UserId) -> Result<NotifySettings> {
        self.read_point(move |c| {
            let row = c
                .prepare_cached("SELECT level, muted_until FROM member_notify WHERE chat_id = ?1 AND user_id = ?2")?
                .query_row(params![chat.as_i64(), user.as_i64()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            row.map_or(Ok(NotifySettings::default()), |(level, muted)| settings(level, muted))
        })
        .await
    }

    async fn chat_notify_settings(&self, chat: ChatId) -> Result<Vec<(UserId, NotifySettings)>> {
        self.read_point(move |c| {
            c.prepare_cached(
                "SELECT user_id, level, muted_until FROM member_notify WHERE chat_id = ?1 ORDER BY user_id",
            )?
            .query_map([chat.as_i64()], |r| Ok((Id::from_i64(r.get(0)?), settings(r.get(1)?, r.get(2)?)?)))?
            .collect()
        })
        .await
    }

    async fn set_notify_settings(&self, chat: ChatId, user: UserId, s: &NotifySettings) -> Result<()> {
        let s = *s;
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO member_notify (chat_id, user_id, level, muted_until) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (chat_id, user_id) DO UPDATE SET level = excluded.level, muted_until = excluded.muted_until",
            )?
            .execute(params![chat.as_i64(), user.as_i64(), s.level.as_str(), s.muted_until])
            .map(drop)
        })
        .await
    }

    async fn add_push_target(&self, t: &PushTarget) -> Result<()> {
        let spec = serde_json::to_string(&t.spec).map_err(|e| domain::Error::internal(e.to_string()))?;
        let (user, id, created_at) = (t.user_id, t.id, t.created_at);
        self.write(move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO push_targets (user_id, target_id, spec, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![user.as_i64(), id.as_i64(), spec, created_at])
            .map(drop)
        })
        .await
    }

    async fn push_targets(&self, user: UserId) -> Result<Vec<PushTarget>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT user_id, target_id, spec, created_at FROM push_targets WHERE user_id = ?1 ORDER BY target_id",
            )?
            .query_map([user.as_i64()], |r| target(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))?
            .collect()
        })
        .await
    }

    async fn members_with_push_targets(&self, _chat: ChatId, users: &[UserId]) -> Result<Vec<UserId>> {
        // One indexed lookup per user on the local file: no hint needed.
        let users = users.to_vec();
        self.read(move |c| {
            let mut has = c.prepare_cached("SELECT EXISTS (SELECT 1 FROM push_targets WHERE user_id = ?1)")?;
            let mut with = Vec::new();
            for user in users {
                if has.query_row([user.as_i64()], |r| r.get::<_, bool>(0))? {
                    with.push(user);
                }
            }
            Ok(with)
        })
        .await
    }

    async fn delete_push_target(&self, user: UserId, id: PushTargetId) -> Result<bool> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM push_targets WHERE user_id = ?1 AND target_id = ?2")?
                .execute(params![user.as_i64(), id.as_i64()])
                .map(|n| n == 1)
        })
        .await
    }

    async fn push_sent(&self, target: PushTargetId, key: &str) -> Result<bool> {
        let key = key.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT 1 FROM push_sent WHERE target_id = ?1 AND key = ?2")?
                .exists(params![target.as_i64(), key])
        })
        .await
    }

    async fn record_push_sent(&self, target: PushTargetId, key: &str) -> Result<()> {
        let key = key.to_string();
        let now = domain::id::now_ms() as i64;
        self.write(move |c| {
            let tx = c.savepoint()?;
            tx.prepare_cached("DELETE FROM push_sent WHERE sent_at < ?1")?.execute([now - SENT_KEPT_MS])?;
            tx.prepare_cached("INSERT OR IGNORE INTO push_sent (target_id, key, sent_at) VALUES (?1, ?2, ?3)")?
                .execute(params![target.as_i64(), key, now])?;
            tx.commit()
        })
        .await
    }

    async fn add_dead_letter(&self, l: &DeadLetter) -> Result<()> {
        let l = l.clone();
        self.write(move |c| {
            let tx = c.savepoint()?;
            tx.prepare_cached("DELETE FROM push_dead_letters WHERE at < ?1")?.execute([l.at - DEAD_LETTERS_KEPT_MS])?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO push_dead_letters (at, target_id, key, user_id, attempts, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                l.at,
                l.target_id.as_i64(),
                l.key,
                l.user_id.as_i64(),
                l.attempts,
                l.error
            ])?;
            tx.commit()
        })
        .await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT at, target_id, key, user_id, attempts, error FROM push_dead_letters
                 ORDER BY at DESC, target_id, key LIMIT ?1",
            )?
            .query_map([limit as i64], |r| {
                Ok(DeadLetter {
                    at: r.get(0)?,
                    target_id: Id::from_i64(r.get(1)?),
                    key: r.get(2)?,
                    user_id: Id::from_i64(r.get(3)?),
                    attempts: r.get(4)?,
                    error: r.get(5)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn server_key(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>> {
        let (name, candidate) = (name.to_string(), candidate.to_vec());
        self.write(move |c| {
            let tx = c.savepoint()?;
            tx.prepare_cached("INSERT OR IGNORE INTO server_keys (name, value) VALUES (?1, ?2)")?
                .execute(params![name, candidate])?;
            let stored =
                tx.prepare_cached("SELECT value FROM server_keys WHERE name = ?1")?.query_row([&name], |r| r.get(0))?;
            tx.commit()?;
            Ok(stored)
        })
        .await
    }
}
