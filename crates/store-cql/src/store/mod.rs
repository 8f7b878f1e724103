//! The CQL adapter of the Store port: one file per aggregate trait, with the statement and
//! row helpers they share here. Signal writes and timeline pages are in `crate::timeline`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use domain::{
    Availability, Chat, ChatId, ChatKind, Error, Id, InboxEntry, Member, Result, Role, Signal, SignalId, User, UserId,
    UserStatus,
};
use futures::future::try_join_all;
use ports::{CreateUserOutcome, InsertSignalOutcome, RenameOutcome, SignalRange, Store, UserStore};
use scylla::deserialize::row::DeserializeRow;
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use crate::{Claim, CqlStore, claim, lwt, unavailable};

type UserRow = (i64, String, String, String, String, i64);
type ChatRow = (i64, String, Option<String>, i64, i64);
type MemberRow = (i64, i64, String, i64, i64, i64);

/// Rows a batch of blind writes holds at most. Cassandra logs a warning for every batch
/// past 5 KiB (`batch_size_warn_threshold`): 100 delivery marks came to 6.1 KiB, one warning
/// per flush (nine a second in the cluster bench); 64 are about 4 KiB.
const BATCH_ROWS: usize = 64;

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
pub(crate) fn activity_timestamp(activity: Id) -> i64 {
    (activity.unix_ms() as i64) * 1000 + (activity.0 & 0xfff) as i64 % 1000
}

/// The values of `set_chat_activity` that move `chat`'s last activity to `activity`.
pub(crate) fn chat_activity_values(chat: ChatId, activity: SignalId) -> (i64, i64, i64) {
    (activity_timestamp(activity), activity.as_i64(), chat.as_i64())
}

/// The current time as a write timestamp (microseconds), on the scale of
/// [`activity_timestamp`].
fn now_timestamp() -> i64 {
    domain::id::now_ms() as i64 * 1000
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
                let now = now_timestamp();
                self.run(&self.st.set_user_chat_activity, (now, chat.as_i64(), m.user_id.as_i64(), chat.as_i64()))
                    .await?;
                self.note_pushable(chat, m.user_id).await?;
            }
            Ok::<_, Error>(())
        }))
        .await?;
        Ok(())
    }

    /// Unlogged batches of one statement with many values (at most [`BATCH_ROWS`] a batch,
    /// the batches side by side): for blind writes that need no answer but "done".
    async fn run_batched<V: SerializeRow + Clone>(&self, st: &PreparedStatement, values: Vec<V>) -> Result<()> {
        try_join_all(values.chunks(BATCH_ROWS).map(|chunk| {
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
impl Store for CqlStore {
    async fn ping(&self) -> Result<()> {
        self.run(&self.st.ping, ()).await.map(drop)
    }
}
