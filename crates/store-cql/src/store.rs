//! `impl Store for CqlStore`, in the trait's order. Signal writes and timeline pages are
//! in `timeline`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use domain::{
    Availability, Chat, ChatId, ChatKind, Error, Id, InboxEntry, Member, Result, Role, Signal, SignalId, User, UserId,
    UserStatus,
};
use futures::future::try_join_all;
use ports::{CreateUserOutcome, InsertSignalOutcome, RenameOutcome, SignalRange, Store};
use scylla::deserialize::row::DeserializeRow;
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use crate::{CqlStore, bigint, lwt, unavailable};

type UserRow = (i64, String, String, String, String, i64);
type ChatRow = (i64, String, Option<String>, i64, i64);
type MemberRow = (i64, i64, String, i64, i64, i64);

pub(crate) fn rows<T>(result: QueryResult) -> Result<Vec<T>>
where
    T: for<'f, 'm> DeserializeRow<'f, 'm>,
{
    let rows = result.into_rows_result().map_err(unavailable)?;
    rows.rows::<T>().map_err(unavailable)?.map(|r| r.map_err(unavailable)).collect()
}

pub(crate) fn first<T>(result: QueryResult) -> Result<Option<T>>
where
    T: for<'f, 'm> DeserializeRow<'f, 'm>,
{
    Ok(rows::<T>(result)?.into_iter().next())
}

pub(crate) fn corrupt(what: &str) -> Error {
    Error::internal(format!("cql: unreadable {what} row"))
}

fn to_user(r: UserRow) -> User {
    User { id: Id::from_i64(r.0), username: r.1, display_name: r.2, issuer: r.3, subject: r.4, created_at: r.5 }
}

fn to_chat(r: ChatRow) -> Result<Chat> {
    Ok(Chat {
        id: Id::from_i64(r.0),
        kind: ChatKind::parse(&r.1).ok_or_else(|| corrupt("chat"))?,
        title: r.2,
        created_by: Id::from_i64(r.3),
        created_at: r.4,
    })
}

/// A member row, with the delivery watermark of `chat_delivered` when there is one (the
/// greater of it and the row's own, written by earlier versions, counts).
fn to_member(r: MemberRow, delivered: Option<i64>) -> Result<Member> {
    Ok(Member {
        chat_id: Id::from_i64(r.0),
        user_id: Id::from_i64(r.1),
        role: Role::parse(&r.2).ok_or_else(|| corrupt("member"))?,
        joined_at: r.3,
        delivered_up_to: Id::from_i64(r.4.max(delivered.unwrap_or(0))),
        read_up_to: Id::from_i64(r.5),
    })
}

/// The write timestamp (microseconds) of an activity: later activity, later timestamp, so
/// the newest activity wins in `user_chats` without reading first.
fn activity_timestamp(activity: Id) -> i64 {
    (activity.unix_ms() as i64) * 1000 + (activity.0 & 0xfff) as i64 % 1000
}

/// Ids grouped by bucket.
fn by_bucket(ids: &[SignalId]) -> BTreeMap<i64, Vec<i64>> {
    let mut map: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for id in ids {
        map.entry(id.bucket()).or_default().push(id.as_i64());
    }
    map
}

impl CqlStore {
    pub(crate) async fn run(&self, st: &PreparedStatement, values: impl SerializeRow) -> Result<QueryResult> {
        self.session.execute_unpaged(st, values).await.map_err(unavailable)
    }

    /// Reads a user row, waiting briefly for a concurrent creator to finish writing it.
    async fn user_eventually(&self, id: i64) -> Result<User> {
        for _ in 0..20 {
            if let Some(user) = self.user(Id::from_i64(id)).await? {
                return Ok(user);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::unavailable("cql: a user is being created concurrently; retry"))
    }

    /// Adds members that are not already in (LWT), with their `user_chats` rows.
    async fn insert_members(&self, chat: ChatId, members: &[Member]) -> Result<()> {
        try_join_all(members.iter().map(|m| async move {
            let (applied, _) = lwt(self
                .run(
                    &self.st.insert_member,
                    (
                        chat.as_i64(),
                        m.user_id.as_i64(),
                        m.role.as_str(),
                        m.joined_at,
                        m.delivered_up_to.as_i64(),
                        m.read_up_to.as_i64(),
                    ),
                )
                .await?)?;
            if applied {
                // Written at the current time, not the chat's: a row deleted when the user
                // left must not shadow it if they come back.
                let now = activity_timestamp(Id::first_at(domain::id::now_ms()));
                self.run(&self.st.set_user_chat_activity, (now, chat.as_i64(), m.user_id.as_i64(), chat.as_i64()))
                    .await?;
            }
            Ok::<_, Error>(())
        }))
        .await?;
        Ok(())
    }

    /// Unlogged batches of one statement with many values (at most 100 a batch, the
    /// batches side by side): for blind writes that need no answer but "done".
    async fn run_batched<V: SerializeRow + Clone>(&self, st: &PreparedStatement, values: Vec<V>) -> Result<()> {
        try_join_all(values.chunks(100).map(|chunk| {
            let mut batch = Batch::new(BatchType::Unlogged);
            for _ in chunk {
                batch.append_statement(st.clone());
            }
            batch.set_is_idempotent(true);
            async move { self.session.batch(&batch, chunk.to_vec()).await.map_err(unavailable) }
        }))
        .await?;
        Ok(())
    }

    /// The delivery watermarks of a chat's users (members or not).
    async fn delivered(&self, chat: ChatId) -> Result<HashMap<i64, i64>> {
        Ok(rows::<(i64, Option<i64>)>(self.run(&self.st.delivered, (chat.as_i64(),)).await?)?
            .into_iter()
            .filter_map(|(user, up_to)| Some((user, up_to?)))
            .collect())
    }
}

#[async_trait]
impl Store for CqlStore {
    async fn ping(&self) -> Result<()> {
        self.run(&self.st.ping, ()).await.map(drop)
    }

    /// Claims the (issuer, subject), then the username, then writes the user row. A crash
    /// between the claims and the row leaves a claim with no user: the next login of that
    /// subject then answers `unavailable` until the claim row is deleted by hand (known gap).
    async fn create_user(&self, user: &User) -> Result<CreateUserOutcome> {
        let id = user.id.as_i64();
        let (claimed, row) = lwt(self.run(&self.st.claim_subject, (&user.issuer, &user.subject, id)).await?)?;
        if !claimed {
            let existing = bigint(&row, "user_id").ok_or_else(|| corrupt("users_by_subject"))?;
            return Ok(CreateUserOutcome::SubjectTaken(self.user_eventually(existing).await?));
        }
        let (named, _) = lwt(self.run(&self.st.claim_username, (&user.username, id)).await?)?;
        if !named {
            self.run(&self.st.release_subject, (&user.issuer, &user.subject, id)).await?;
            return Ok(CreateUserOutcome::UsernameTaken);
        }
        self.run(
            &self.st.insert_user,
            (id, &user.username, &user.display_name, &user.issuer, &user.subject, user.created_at),
        )
        .await?;
        Ok(CreateUserOutcome::Created)
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        Ok(first::<UserRow>(self.run(&self.st.user, (id.as_i64(),)).await?)?.map(to_user))
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        match first::<(i64,)>(self.run(&self.st.user_by_username, (username,)).await?)? {
            Some((id,)) => self.user(Id::from_i64(id)).await,
            None => Ok(None),
        }
    }

    async fn user_by_subject(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        match first::<(i64,)>(self.run(&self.st.user_by_subject, (issuer, subject)).await?)? {
            Some((id,)) => self.user(Id::from_i64(id)).await,
            None => Ok(None),
        }
    }

    async fn set_display_name(&self, id: UserId, display_name: &str) -> Result<()> {
        self.run(&self.st.set_display_name, (display_name, id.as_i64())).await.map(drop)
    }

    async fn set_status(&self, user: UserId, status: Option<&UserStatus>) -> Result<()> {
        match status {
            Some(s) => {
                let values = (user.as_i64(), s.availability.as_str(), s.text.as_deref(), s.clears_at);
                self.run(&self.st.set_status, values).await.map(drop)
            }
            None => self.run(&self.st.delete_status, (user.as_i64(),)).await.map(drop),
        }
    }

    async fn status(&self, user: UserId) -> Result<Option<UserStatus>> {
        let row = first::<(String, Option<String>, Option<i64>)>(self.run(&self.st.status, (user.as_i64(),)).await?)?;
        row.map(|(availability, text, clears_at)| {
            let availability = Availability::parse(&availability).ok_or_else(|| corrupt("user status"))?;
            Ok(UserStatus { availability, text, clears_at })
        })
        .transpose()
    }

    /// Claims the new username (LWT), points the user at it, then frees the old one. Every
    /// step is safe to repeat: a claim this user already holds counts as claimed.
    async fn rename_user(&self, id: UserId, old: &str, new: &str) -> Result<RenameOutcome> {
        let uid = id.as_i64();
        let (claimed, row) = lwt(self.run(&self.st.claim_username, (new, uid)).await?)?;
        if !claimed && bigint(&row, "user_id") != Some(uid) {
            return Ok(RenameOutcome::UsernameTaken);
        }
        self.run(&self.st.set_username, (new, uid)).await?;
        if old != new {
            self.run(&self.st.release_username, (old, uid)).await?;
        }
        Ok(RenameOutcome::Renamed)
    }

    async fn create_event_ticket(&self, digest: &str, user: UserId, expires_at: i64) -> Result<()> {
        self.run(&self.st.insert_ticket, (digest, user.as_i64(), expires_at)).await.map(drop)
    }

    async fn redeem_event_ticket(&self, digest: &str, user: UserId, now: i64) -> Result<bool> {
        Ok(lwt(self.run(&self.st.redeem_ticket, (digest, user.as_i64(), now)).await?)?.0)
    }

    async fn create_chat(&self, chat: &Chat, members: &[Member]) -> Result<()> {
        self.run(
            &self.st.insert_chat,
            (chat.id.as_i64(), chat.kind.as_str(), chat.title.as_deref(), chat.created_by.as_i64(), chat.created_at),
        )
        .await?;
        self.insert_members(chat.id, members).await
    }

    async fn claim_direct_chat(&self, a: UserId, b: UserId, chat: ChatId) -> Result<ChatId> {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let (applied, row) = lwt(self.run(&self.st.claim_pair, (lo.as_i64(), hi.as_i64(), chat.as_i64())).await?)?;
        if applied {
            return Ok(chat);
        }
        bigint(&row, "chat_id").map(Id::from_i64).ok_or_else(|| corrupt("direct_pairs"))
    }

    async fn chat(&self, id: ChatId) -> Result<Option<Chat>> {
        first::<ChatRow>(self.run(&self.st.chat, (id.as_i64(),)).await?)?.map(to_chat).transpose()
    }

    async fn set_chat_title(&self, id: ChatId, title: &str) -> Result<()> {
        self.run(&self.st.set_title, (title, id.as_i64())).await.map(drop)
    }

    async fn member(&self, chat: ChatId, user: UserId) -> Result<Option<Member>> {
        let key = (chat.as_i64(), user.as_i64());
        let (row, delivered) = tokio::try_join!(self.run(&self.st.member, key), self.run(&self.st.delivered_of, key))?;
        let delivered = first::<(Option<i64>,)>(delivered)?.and_then(|r| r.0);
        first::<MemberRow>(row)?.map(|row| to_member(row, delivered)).transpose()
    }

    async fn members(&self, chat: ChatId) -> Result<Vec<Member>> {
        let (rows_of_members, delivered) =
            tokio::try_join!(self.run(&self.st.members, (chat.as_i64(),)), self.delivered(chat))?;
        rows::<MemberRow>(rows_of_members)?
            .into_iter()
            .map(|row| {
                let up_to = delivered.get(&row.1).copied();
                to_member(row, up_to)
            })
            .collect()
    }

    async fn member_ids(&self, chat: ChatId) -> Result<Vec<UserId>> {
        let ids = rows::<(i64,)>(self.run(&self.st.member_ids, (chat.as_i64(),)).await?)?;
        Ok(ids.into_iter().map(|(id,)| Id::from_i64(id)).collect())
    }

    async fn add_members(&self, chat: ChatId, members: &[Member]) -> Result<()> {
        self.insert_members(chat, members).await
    }

    async fn remove_member(&self, chat: ChatId, user: UserId) -> Result<()> {
        self.run(&self.st.delete_member, (chat.as_i64(), user.as_i64())).await?;
        self.run(&self.st.delete_user_chat, (user.as_i64(), chat.as_i64())).await?;
        self.run(&self.st.delete_delivered, (chat.as_i64(), user.as_i64())).await?;
        Ok(())
    }

    async fn set_role(&self, chat: ChatId, user: UserId, role: Role) -> Result<()> {
        self.run(&self.st.set_role, (role.as_str(), chat.as_i64(), user.as_i64())).await.map(drop)
    }

    async fn record_activity(&self, chat: ChatId, activity: SignalId, members: &[UserId]) -> Result<()> {
        // Blind writes, the newest activity winning by its write timestamp. A row written for
        // someone removed meanwhile (and so left only with `activity`) is harmless: readers
        // check the membership of every chat they list.
        let ts = activity_timestamp(activity);
        let values: Vec<(i64, i64, i64, i64)> =
            members.iter().map(|u| (ts, activity.as_i64(), u.as_i64(), chat.as_i64())).collect();
        self.run_batched(&self.st.set_user_chat_activity, values).await
    }

    async fn inbox(&self, user: UserId, after: Option<(SignalId, ChatId)>, limit: usize) -> Result<Vec<InboxEntry>> {
        // One partition: every chat of the user with its last activity, ordered here. A
        // user's chats number in the hundreds or thousands, not millions.
        let mut entries: Vec<InboxEntry> =
            rows::<(i64, Option<i64>)>(self.run(&self.st.user_chats, (user.as_i64(),)).await?)?
                .into_iter()
                .map(|(chat, activity)| InboxEntry {
                    chat_id: Id::from_i64(chat),
                    activity: Id::from_i64(activity.unwrap_or(chat)),
                })
                .filter(|e| after.is_none_or(|(a, c)| (e.activity, e.chat_id) < (a, c)))
                .collect();
        entries.sort_unstable_by_key(|e| std::cmp::Reverse((e.activity, e.chat_id)));
        entries.truncate(limit);
        Ok(entries)
    }

    /// Claims the nonce (LWT) if there is one, then writes the signal. A nonce already
    /// claimed answers `Duplicate`, after making sure its signal exists
    /// ([`CqlStore::complete_duplicate`]).
    async fn insert_signal(&self, signal: &Signal, nonce: Option<&str>) -> Result<InsertSignalOutcome> {
        let s = signal;
        if let Some(nonce) = nonce {
            let (applied, row) = lwt(self
                .run(&self.st.claim_nonce, (s.chat_id.as_i64(), s.author_id.as_i64(), nonce, s.id.as_i64()))
                .await?)?;
            if !applied {
                let first = Id::from_i64(bigint(&row, "signal_id").ok_or_else(|| corrupt("signal_nonces"))?);
                self.complete_duplicate(s, first).await?;
                return Ok(InsertSignalOutcome::Duplicate(first));
            }
        }
        self.write_signal(s).await?;
        Ok(InsertSignalOutcome::Inserted)
    }

    async fn signal(&self, chat: ChatId, id: SignalId) -> Result<Option<Signal>> {
        self.signal_by_id(chat, id).await
    }

    async fn signals(&self, chat: ChatId, range: SignalRange, limit: usize) -> Result<Vec<Signal>> {
        self.page(chat, range, limit).await
    }

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

    async fn advance_read(&self, chat: ChatId, user: UserId, up_to: SignalId) -> Result<bool> {
        let v = up_to.as_i64();
        Ok(lwt(self.run(&self.st.advance_read, (v, chat.as_i64(), user.as_i64(), v)).await?)?.0)
    }

    async fn advance_delivered_many(&self, marks: &[(ChatId, UserId, SignalId)]) -> Result<()> {
        let values: Vec<(i64, i64, i64, i64)> = marks
            .iter()
            .map(|(chat, user, up_to)| (activity_timestamp(*up_to), up_to.as_i64(), chat.as_i64(), user.as_i64()))
            .collect();
        self.run_batched(&self.st.set_delivered, values).await
    }

    async fn advance_delivered(&self, chat: ChatId, user: UserId, up_to: SignalId) -> Result<()> {
        self.advance_delivered_many(&[(chat, user, up_to)]).await
    }
}
