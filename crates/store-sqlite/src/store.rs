//! `impl Store for SqliteStore`, in the trait's order.

use async_trait::async_trait;
use domain::{Chat, ChatId, Id, InboxEntry, Member, Result, Role, Signal, SignalId, User, UserId, UserStatus};
use ports::{CreateUserOutcome, InsertSignalOutcome, RenameOutcome, SignalRange, Store};
use rusqlite::{OptionalExtension, params, params_from_iter};

use crate::SqliteStore;
use crate::rows::{self, CHAT_COLUMNS, MEMBER_COLUMNS, SIGNAL_COLUMNS, USER_COLUMNS, join_ids, placeholders};

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }

    async fn create_user(&self, user: &User) -> Result<CreateUserOutcome> {
        let user = user.clone();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let existing = tx
                .query_row(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE issuer = ?1 AND subject = ?2"),
                    params![user.issuer, user.subject],
                    rows::user,
                )
                .optional()?;
            if let Some(existing) = existing {
                return Ok(CreateUserOutcome::SubjectTaken(existing));
            }
            let taken: bool =
                tx.query_row("SELECT EXISTS(SELECT 1 FROM users WHERE username = ?1)", [&user.username], |r| r.get(0))?;
            if taken {
                return Ok(CreateUserOutcome::UsernameTaken);
            }
            tx.execute(
                &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![user.id.as_i64(), user.username, user.display_name, user.issuer, user.subject, user.created_at],
            )?;
            tx.commit()?;
            Ok(CreateUserOutcome::Created)
        })
        .await
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
                .query_row([id.as_i64()], rows::user)
                .optional()
        })
        .await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let username = username.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"))?
                .query_row([username], rows::user)
                .optional()
        })
        .await
    }

    async fn user_by_subject(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        let (issuer, subject) = (issuer.to_string(), subject.to_string());
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE issuer = ?1 AND subject = ?2"))?
                .query_row([issuer, subject], rows::user)
                .optional()
        })
        .await
    }

    async fn set_display_name(&self, id: UserId, display_name: &str) -> Result<()> {
        let name = display_name.to_string();
        self.write(move |c| {
            c.execute("UPDATE users SET display_name = ?1 WHERE id = ?2", params![name, id.as_i64()]).map(drop)
        })
        .await
    }

    async fn set_status(&self, user: UserId, status: Option<&UserStatus>) -> Result<()> {
        let status = status.cloned();
        self.write(move |c| match status {
            Some(s) => c
                .execute(
                    "INSERT INTO user_statuses (user_id, availability, text, clears_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (user_id) DO UPDATE SET availability = ?2, text = ?3, clears_at = ?4",
                    params![user.as_i64(), s.availability.as_str(), s.text, s.clears_at],
                )
                .map(drop),
            None => c.execute("DELETE FROM user_statuses WHERE user_id = ?1", [user.as_i64()]).map(drop),
        })
        .await
    }

    async fn status(&self, user: UserId) -> Result<Option<UserStatus>> {
        self.read(move |c| {
            c.prepare_cached("SELECT availability, text, clears_at FROM user_statuses WHERE user_id = ?1")?
                .query_row([user.as_i64()], rows::status)
                .optional()
        })
        .await
    }

    async fn rename_user(&self, id: UserId, old: &str, new: &str) -> Result<RenameOutcome> {
        let _ = old; // one row holds the username here: nothing else to free
        let new = new.to_string();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let holder: Option<i64> =
                tx.query_row("SELECT id FROM users WHERE username = ?1", [&new], |r| r.get(0)).optional()?;
            match holder {
                Some(holder) if holder != id.as_i64() => return Ok(RenameOutcome::UsernameTaken),
                Some(_) => return Ok(RenameOutcome::Renamed),
                None => {}
            }
            tx.execute("UPDATE users SET username = ?1 WHERE id = ?2", params![new, id.as_i64()])?;
            tx.commit()?;
            Ok(RenameOutcome::Renamed)
        })
        .await
    }

    async fn create_event_ticket(&self, digest: &str, user: UserId, expires_at: i64) -> Result<()> {
        let digest = digest.to_string();
        self.write(move |c| {
            let tx = c.savepoint()?;
            // Tickets live seconds: anything that expired an hour before this one is garbage.
            tx.execute("DELETE FROM event_tickets WHERE expires_at < ?1", [expires_at - 3_600_000])?;
            tx.execute(
                "INSERT INTO event_tickets (digest, user_id, expires_at) VALUES (?1, ?2, ?3)",
                params![digest, user.as_i64(), expires_at],
            )?;
            tx.commit()
        })
        .await
    }

    async fn redeem_event_ticket(&self, digest: &str, user: UserId, now: i64) -> Result<bool> {
        let digest = digest.to_string();
        self.write(move |c| {
            c.execute(
                "DELETE FROM event_tickets WHERE digest = ?1 AND user_id = ?2 AND expires_at > ?3",
                params![digest, user.as_i64(), now],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn create_chat(&self, chat: &Chat, members: &[Member]) -> Result<()> {
        let (chat, members) = (chat.clone(), members.to_vec());
        self.write(move |c| {
            let tx = c.savepoint()?;
            tx.execute(
                &format!("INSERT OR IGNORE INTO chats ({CHAT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
                params![chat.id.as_i64(), chat.kind.as_str(), chat.title, chat.created_by.as_i64(), chat.created_at],
            )?;
            insert_members(&tx, &members, chat.id)?;
            tx.commit()
        })
        .await
    }

    async fn claim_direct_chat(&self, a: UserId, b: UserId, chat: ChatId) -> Result<ChatId> {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        self.write(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO direct_pairs (user_lo, user_hi, chat_id) VALUES (?1, ?2, ?3)",
                params![lo.as_i64(), hi.as_i64(), chat.as_i64()],
            )?;
            c.query_row(
                "SELECT chat_id FROM direct_pairs WHERE user_lo = ?1 AND user_hi = ?2",
                params![lo.as_i64(), hi.as_i64()],
                |r| r.get::<_, i64>(0).map(Id::from_i64),
            )
        })
        .await
    }

    async fn chat(&self, id: ChatId) -> Result<Option<Chat>> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {CHAT_COLUMNS} FROM chats WHERE id = ?1"))?
                .query_row([id.as_i64()], rows::chat)
                .optional()
        })
        .await
    }

    async fn set_chat_title(&self, id: ChatId, title: &str) -> Result<()> {
        let title = title.to_string();
        self.write(move |c| {
            c.execute("UPDATE chats SET title = ?1 WHERE id = ?2", params![title, id.as_i64()]).map(drop)
        })
        .await
    }

    async fn member(&self, chat: ChatId, user: UserId) -> Result<Option<Member>> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {MEMBER_COLUMNS} FROM chat_members WHERE chat_id = ?1 AND user_id = ?2"))?
                .query_row([chat.as_i64(), user.as_i64()], rows::member)
                .optional()
        })
        .await
    }

    async fn members(&self, chat: ChatId) -> Result<Vec<Member>> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {MEMBER_COLUMNS} FROM chat_members WHERE chat_id = ?1 ORDER BY user_id"))?
                .query_map([chat.as_i64()], rows::member)?
                .collect()
        })
        .await
    }

    async fn member_ids(&self, chat: ChatId) -> Result<Vec<UserId>> {
        self.read(move |c| {
            c.prepare_cached("SELECT user_id FROM chat_members WHERE chat_id = ?1 ORDER BY user_id")?
                .query_map([chat.as_i64()], |r| r.get::<_, i64>(0).map(Id::from_i64))?
                .collect()
        })
        .await
    }

    async fn add_members(&self, chat: ChatId, members: &[Member]) -> Result<()> {
        let members = members.to_vec();
        self.write(move |c| {
            let tx = c.savepoint()?;
            insert_members(&tx, &members, chat)?;
            tx.commit()
        })
        .await
    }

    async fn remove_member(&self, chat: ChatId, user: UserId) -> Result<()> {
        self.write(move |c| {
            c.execute("DELETE FROM chat_members WHERE chat_id = ?1 AND user_id = ?2", [chat.as_i64(), user.as_i64()])
                .map(drop)
        })
        .await
    }

    async fn set_role(&self, chat: ChatId, user: UserId, role: Role) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE chat_members SET role = ?1 WHERE chat_id = ?2 AND user_id = ?3",
                params![role.as_str(), chat.as_i64(), user.as_i64()],
            )
            .map(drop)
        })
        .await
    }

    async fn record_activity(&self, chat: ChatId, activity: SignalId, members: &[UserId]) -> Result<()> {
        let members = members.to_vec();
        self.write(move |c| {
            let tx = c.savepoint()?;
            {
                let mut stmt = tx.prepare_cached(
                    "UPDATE chat_members SET activity = ?1 WHERE chat_id = ?2 AND user_id = ?3 AND activity < ?1",
                )?;
                for user in members {
                    stmt.execute([activity.as_i64(), chat.as_i64(), user.as_i64()])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn inbox(&self, user: UserId, after: Option<(SignalId, ChatId)>, limit: usize) -> Result<Vec<InboxEntry>> {
        let (activity, chat) = after.unwrap_or((Id(i64::MAX as u64), Id(i64::MAX as u64)));
        self.read(move |c| {
            c.prepare_cached(
                "SELECT chat_id, activity FROM chat_members WHERE user_id = ?1 AND (activity, chat_id) < (?2, ?3)
                 ORDER BY activity DESC, chat_id DESC LIMIT ?4",
            )?
            .query_map(params![user.as_i64(), activity.as_i64(), chat.as_i64(), limit as i64], |r| {
                Ok(InboxEntry { chat_id: Id::from_i64(r.get(0)?), activity: Id::from_i64(r.get(1)?) })
            })?
            .collect()
        })
        .await
    }

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
            let (kind, text, reply_to, users) = s.body.columns();
            tx.execute(
                &format!("INSERT INTO signals ({SIGNAL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![
                    s.chat_id.as_i64(),
                    s.id.as_i64(),
                    s.author_id.as_i64(),
                    kind.as_str(),
                    text,
                    reply_to.map(Id::as_i64),
                    join_ids(users)
                ],
            )?;
            tx.commit()?;
            Ok(InsertSignalOutcome::Inserted)
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

    async fn advance_read(&self, chat: ChatId, user: UserId, up_to: SignalId) -> Result<bool> {
        self.write(move |c| {
            c.execute(
                "UPDATE chat_members SET read_up_to = ?1 WHERE chat_id = ?2 AND user_id = ?3 AND read_up_to < ?1",
                [up_to.as_i64(), chat.as_i64(), user.as_i64()],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn advance_delivered_many(&self, marks: &[(ChatId, UserId, SignalId)]) -> Result<()> {
        let marks = marks.to_vec();
        self.write(move |c| {
            let tx = c.savepoint()?;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE chat_members SET delivered_up_to = ?1 WHERE chat_id = ?2 AND user_id = ?3 AND delivered_up_to < ?1",
                )?;
                for (chat, user, up_to) in &marks {
                    update.execute([up_to.as_i64(), chat.as_i64(), user.as_i64()])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn advance_delivered(&self, chat: ChatId, user: UserId, up_to: SignalId) -> Result<()> {
        self.advance_delivered_many(&[(chat, user, up_to)]).await
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
