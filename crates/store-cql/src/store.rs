//! `impl Store for CqlStore`, in the trait's order. Signal writes and timeline pages are
//! in `timeline`.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use domain::{Chat, ChatId, ChatKind, Error, Id, InboxEntry, Member, Result, Role, Signal, SignalId, User, UserId};
use futures::future::try_join_all;
use ports::{CreateUserOutcome, InsertSignalOutcome, RenameOutcome, SignalRange, Store};
use scylla::deserialize::row::DeserializeRow;
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
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

fn to_member(r: MemberRow) -> Result<Member> {
    Ok(Member {
        chat_id: Id::from_i64(r.0),
        user_id: Id::from_i64(r.1),
        role: Role::parse(&r.2).ok_or_else(|| corrupt("member"))?,
        joined_at: r.3,
        delivered_up_to: Id::from_i64(r.4),
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

    /// Adds members that are not already in (LWT), with their inbox rows.
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
                self.move_activity(m.user_id, chat, chat).await?;
            }
            Ok::<_, Error>(())
        }))
        .await?;
        Ok(())
    }

    /// Moves a chat's activity for one user forward (never back) and its inbox row with it.
    async fn move_activity(&self, user: UserId, chat: ChatId, activity: Id) -> Result<()> {
        let old =
            first::<(Option<i64>,)>(self.run(&self.st.user_chat_activity, (user.as_i64(), chat.as_i64())).await?)?
                .and_then(|r| r.0);
        if old.is_some_and(|old| old >= activity.as_i64()) {
            return Ok(());
        }
        let ts = activity_timestamp(activity);
        self.run(&self.st.set_user_chat_activity, (ts, activity.as_i64(), user.as_i64(), chat.as_i64())).await?;
        self.run(&self.st.insert_inbox, (user.as_i64(), activity.as_i64(), chat.as_i64())).await?;
        if let Some(old) = old {
            self.run(&self.st.delete_inbox, (user.as_i64(), old, chat.as_i64())).await?;
        }
        Ok(())
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
        first::<MemberRow>(self.run(&self.st.member, (chat.as_i64(), user.as_i64())).await?)?.map(to_member).transpose()
    }

    async fn members(&self, chat: ChatId) -> Result<Vec<Member>> {
        rows::<MemberRow>(self.run(&self.st.members, (chat.as_i64(),)).await?)?.into_iter().map(to_member).collect()
    }

    async fn add_members(&self, chat: ChatId, members: &[Member]) -> Result<()> {
        self.insert_members(chat, members).await
    }

    async fn remove_member(&self, chat: ChatId, user: UserId) -> Result<()> {
        self.run(&self.st.delete_member, (chat.as_i64(), user.as_i64())).await?;
        let old =
            first::<(Option<i64>,)>(self.run(&self.st.user_chat_activity, (user.as_i64(), chat.as_i64())).await?)?
                .and_then(|r| r.0);
        self.run(&self.st.delete_user_chat, (user.as_i64(), chat.as_i64())).await?;
        if let Some(old) = old {
            self.run(&self.st.delete_inbox, (user.as_i64(), old, chat.as_i64())).await?;
        }
        Ok(())
    }

    async fn set_role(&self, chat: ChatId, user: UserId, role: Role) -> Result<()> {
        self.run(&self.st.set_role, (role.as_str(), chat.as_i64(), user.as_i64())).await.map(drop)
    }

    async fn record_activity(&self, chat: ChatId, activity: SignalId, members: &[UserId]) -> Result<()> {
        try_join_all(members.iter().map(|u| self.move_activity(*u, chat, activity))).await?;
        Ok(())
    }

    async fn inbox(&self, user: UserId, after: Option<(SignalId, ChatId)>, limit: usize) -> Result<Vec<InboxEntry>> {
        // Rows of older activity of a chat may linger after concurrent updates: keep only
        // the row matching user_chats, delete the others as they are met.
        let mut out: Vec<InboxEntry> = vec![];
        let mut seen: HashSet<i64> = HashSet::new();
        let mut cursor = after;
        let batch = (limit as i32).clamp(1, 500) + 10;
        loop {
            let result = match cursor {
                None => self.run(&self.st.inbox_first, (user.as_i64(), batch)).await?,
                Some((a, c)) => self.run(&self.st.inbox_after, (user.as_i64(), a.as_i64(), c.as_i64(), batch)).await?,
            };
            let page = rows::<(i64, i64)>(result)?;
            let exhausted = page.len() < batch as usize;
            if page.is_empty() {
                break;
            }
            cursor = page.last().map(|(a, c)| (Id::from_i64(*a), Id::from_i64(*c)));
            let chats: Vec<i64> = page.iter().map(|(_, c)| *c).collect();
            let current: BTreeMap<i64, Option<i64>> =
                rows::<(i64, Option<i64>)>(self.run(&self.st.user_chats_in, (user.as_i64(), chats)).await?)?
                    .into_iter()
                    .collect();
            for (activity, chat) in page {
                let live = current.get(&chat).copied().flatten() == Some(activity);
                if !live {
                    self.run(&self.st.delete_inbox, (user.as_i64(), activity, chat)).await?;
                    continue;
                }
                if seen.insert(chat) {
                    out.push(InboxEntry { chat_id: Id::from_i64(chat), activity: Id::from_i64(activity) });
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        Ok(out)
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
        // Conditional updates (a missing row, i.e. not a member, is not applied) cannot share
        // a CQL batch across partitions: they run side by side, at most 64 at a time.
        use futures::StreamExt;
        let results: Vec<Result<bool>> = futures::stream::iter(marks.iter().copied())
            .map(|(chat, user, up_to)| self.advance_delivered(chat, user, up_to))
            .buffer_unordered(64)
            .collect()
            .await;
        results.into_iter().try_for_each(|r| r.map(|_| ()))
    }

    async fn advance_delivered(&self, chat: ChatId, user: UserId, up_to: SignalId) -> Result<bool> {
        let v = up_to.as_i64();
        Ok(lwt(self.run(&self.st.advance_delivered, (v, chat.as_i64(), user.as_i64(), v)).await?)?.0)
    }
}
