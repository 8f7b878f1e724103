//! Signals over CQL: writing one (behind the nonce fence, and completing a send whose
//! nonce was claimed but whose signal was never written), reading one, and reading pages
//! across the time buckets that `chat_buckets` lists.

use std::time::Instant;

use domain::{CallMedia, CallState, ChatId, Error, Id, Result, Signal, SignalBody, SignalId, SignalKind, SignalRow};
use ports::{InsertSignalOutcome, NONCE_FENCE_WINDOW, NonceClaim, NonceFence, SignalRange};
use scylla::{DeserializeRow, SerializeRow};

use crate::store::{chat_activity_values, corrupt, first, rows};
use crate::udt::AttachmentUdt;
use crate::{CqlStore, lwt, unavailable};

/// A `signals` row as read (`SIGNAL_COLUMNS`, matched by name).
#[derive(DeserializeRow)]
struct StoredRow {
    chat_id: i64,
    signal_id: i64,
    author_id: i64,
    kind: String,
    text: Option<String>,
    reply_to: Option<i64>,
    subjects: Option<Vec<i64>>,
    attachments: Option<Vec<AttachmentUdt>>,
    everyone: Option<bool>,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
    lat: Option<f64>,
    lon: Option<f64>,
    accuracy_m: Option<f64>,
    live_until: Option<i64>,
    call_media: Option<String>,
    call_state: Option<String>,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
}

fn to_signal(r: StoredRow) -> Result<Signal> {
    let chat = Id::from_i64(r.chat_id);
    let attachments =
        r.attachments.unwrap_or_default().into_iter().map(|a| a.into_attachment(chat)).collect::<Result<_>>()?;
    let columns = SignalRow {
        kind: Some(SignalKind::parse(&r.kind).ok_or_else(|| corrupt("signal"))?),
        text: r.text,
        reply_to: r.reply_to.map(Id::from_i64),
        users: r.subjects.unwrap_or_default().into_iter().map(Id::from_i64).collect(),
        attachments,
        everyone: r.everyone.unwrap_or(false),
        deleted_at: r.deleted_at,
        lat: r.lat,
        lon: r.lon,
        accuracy_m: r.accuracy_m,
        live_until: r.live_until,
        call_media: r.call_media.map(|v| CallMedia::parse(&v).ok_or_else(|| corrupt("signal"))).transpose()?,
        call_state: r.call_state.map(|v| CallState::parse(&v).ok_or_else(|| corrupt("signal"))).transpose()?,
        answered_at: r.answered_at,
        ended_at: r.ended_at,
    };
    let body = SignalBody::from_row(columns).ok_or_else(|| corrupt("signal"))?;
    Ok(Signal {
        chat_id: chat,
        id: Id::from_i64(r.signal_id),
        author_id: Id::from_i64(r.author_id),
        body,
        edited_at: r.edited_at,
    })
}

/// A signal's row as written: by `insert_signal` and `update_signal` alike (bind markers
/// matched by name).
#[derive(SerializeRow)]
struct SignalValues<'a> {
    bucket: i64,
    chat_id: i64,
    signal_id: i64,
    author_id: i64,
    kind: &'a str,
    text: Option<String>,
    reply_to: Option<i64>,
    subjects: Option<Vec<i64>>,
    attachments: Option<Vec<AttachmentUdt>>,
    everyone: bool,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
    lat: Option<f64>,
    lon: Option<f64>,
    accuracy_m: Option<f64>,
    live_until: Option<i64>,
    call_media: Option<&'a str>,
    call_state: Option<&'a str>,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
}

impl<'a> SignalValues<'a> {
    fn of(s: &'a Signal) -> Self {
        let row = s.body.to_row();
        Self {
            bucket: s.id.bucket(),
            chat_id: s.chat_id.as_i64(),
            signal_id: s.id.as_i64(),
            author_id: s.author_id.as_i64(),
            kind: s.kind().as_str(),
            text: row.text,
            reply_to: row.reply_to.map(Id::as_i64),
            subjects: (!row.users.is_empty()).then(|| row.users.iter().map(|u| u.as_i64()).collect()),
            attachments: (!row.attachments.is_empty())
                .then(|| row.attachments.iter().map(AttachmentUdt::from).collect()),
            everyone: row.everyone,
            edited_at: s.edited_at,
            deleted_at: row.deleted_at,
            lat: row.lat,
            lon: row.lon,
            accuracy_m: row.accuracy_m,
            live_until: row.live_until,
            call_media: row.call_media.map(CallMedia::as_str),
            call_state: row.call_state.map(CallState::as_str),
            answered_at: row.answered_at,
            ended_at: row.ended_at,
        }
    }
}

/// A row count for a CQL `LIMIT`, which is an `int`: a `usize` beyond it asks for everything
/// anyway. Callers never pass 0 (Cassandra rejects `LIMIT 0`).
pub(crate) fn cql_limit(n: usize) -> i32 {
    debug_assert!(n > 0, "LIMIT 0 is an error on Cassandra");
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Which way a page walks the timeline from its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Below the bound, newest first (`Latest`, `Before`).
    Older,
    /// Above the bound, closest (oldest) first (`After`); the page is reversed at the end.
    Newer,
}

impl Direction {
    /// The next bucket after `bucket` in this direction.
    fn step(self, bucket: i64) -> i64 {
        match self {
            Direction::Older => bucket.saturating_sub(1),
            Direction::Newer => bucket.saturating_add(1),
        }
    }
}

impl CqlStore {
    /// Writes the signal row and its bucket's `chat_buckets` row. They are independent
    /// (other tables, other partitions) and both idempotent, so they go together: one round
    /// trip instead of two. If only one of them lands (a failure, or the process stopping),
    /// either `chat_buckets` lists a bucket without that signal — pages then read one
    /// partition for nothing, see [`CqlStore::page`] — or the signal is readable by id but
    /// missing from pages until a retry with its nonce rewrites the bucket row
    /// ([`CqlStore::complete_duplicate`]).
    pub(crate) async fn write_signal(&self, s: &Signal) -> Result<()> {
        futures::try_join!(self.write_signal_row(s), self.write_bucket_row(s.chat_id, s.id))?;
        Ok(())
    }

    /// Writes `s`'s row and moves its chat's last activity forward to it (a blind write, the
    /// newest winning by its write timestamp), in one request: an unlogged batch of the two
    /// partitions, which costs the coordinator one request instead of two, and the fan-out
    /// nothing. Not atomic: a write that failed halfway is completed by the retry
    /// ([`CqlStore::complete_duplicate`]).
    async fn write_signal_row(&self, s: &Signal) -> Result<()> {
        let activity = chat_activity_values(s.chat_id, s.id);
        self.session
            .batch(&self.st.insert_signal_and_activity, (SignalValues::of(s), activity))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// See [`ports::TimelineStore::update_signal`]: a lightweight transaction, so a
    /// tombstone is never overwritten by an edit that raced it.
    pub(crate) async fn update_signal_row(&self, s: &Signal) -> Result<bool> {
        let (applied, _) = lwt(self.run(&self.st.update_signal, SignalValues::of(s)).await?)?;
        Ok(applied)
    }

    /// Lists `id`'s bucket in `chat_buckets`, unless this process already did: a bucket
    /// holds [`domain::id::BUCKET_MS`] of a chat's signals and its row never changes, so a busy
    /// chat costs one such write per bucket and node instead of one per signal. Rows are
    /// never deleted, so a row once written stays written.
    async fn write_bucket_row(&self, chat: ChatId, id: SignalId) -> Result<()> {
        let key = (chat.as_i64(), id.bucket());
        if self.buckets.contains(key) {
            return Ok(());
        }
        self.run(&self.st.insert_bucket, key).await?;
        self.buckets.insert(key);
        Ok(())
    }

    /// Inserts `s` with `nonce`, which `fence` orders among the attempts of a send: the
    /// first attempt within the fence's window ([`NONCE_FENCE_WINDOW`]) writes the signal;
    /// every other one is a `Duplicate` of it, and [`CqlStore::complete_duplicate`] makes
    /// sure its signal exists (the first attempt may have stopped after its claim). Nothing
    /// of the nonce is written to Cassandra: a send costs the fence's compare-and-set and
    /// the signal's writes, no read. A retry later than the window is a new message; the
    /// author's `signal.created` echoes the nonce, so a client knows its send landed
    /// before resending (bench/README.md, "The nonce's promise, bounded at the fence").
    ///
    /// An attempt that took half of the window to claim gives up before writing anything
    /// (503, the client retries): written later, its signal could land after the claim
    /// expired and another attempt had claimed the nonce again.
    pub(crate) async fn insert_fenced(
        &self,
        fence: &dyn NonceFence,
        s: &Signal,
        nonce: &str,
    ) -> Result<InsertSignalOutcome> {
        let started = Instant::now();
        match fence.claim_nonce(s.chat_id, s.author_id, nonce, s.id).await? {
            NonceClaim::Ours => {
                if started.elapsed() > NONCE_FENCE_WINDOW / 2 {
                    return Err(Error::unavailable("cql: a send took too long to claim its nonce; retry it"));
                }
                self.write_signal(s).await?;
                Ok(InsertSignalOutcome::Inserted)
            }
            NonceClaim::Theirs(first) => {
                self.complete_duplicate(s, first).await?;
                Ok(InsertSignalOutcome::Duplicate(first))
            }
        }
    }

    /// Called when the nonce of `retry` is already claimed by signal `first`; the caller
    /// then answers `Duplicate(first)`.
    ///
    /// Normally `first` is stored and nothing is written here but `first`'s bucket row
    /// (idempotent; it repairs a first attempt that stopped between its two writes). But
    /// a claim can exist without its signal: the claim's LWT timed out and was completed
    /// later (a CAS timeout has an unknown outcome; the next Paxos round on that key
    /// finishes an accepted proposal), or the process stopped, or the `signals` write
    /// failed, between the claim and the write. Every retry would then get `Duplicate` of
    /// a signal nobody can read, until the nonce expires. So when `first` is not readable,
    /// the retry's signal is written under the id `first`: by the API's contract one nonce
    /// is one message, and nonces are scoped to (chat, author), so the retry carries the
    /// content the first attempt would have written. If the first attempt is only slow,
    /// both write the same row with the same content, which is harmless. A `first` that is
    /// there is never rewritten, so a client reusing a nonce for another text cannot
    /// change the stored message.
    ///
    /// The caller sees `Duplicate`, and the service then announces `first` unless this
    /// process already did (`service::signals::store_new_signal`), so a signal completed
    /// this way reaches the members' streams: the fault bench saw 8 such sends, none lost.
    /// A deleted `first` stays as its tombstone row, so it is there and never rewritten: a
    /// retry cannot bring a deleted message back.
    pub(crate) async fn complete_duplicate(&self, retry: &Signal, first: SignalId) -> Result<()> {
        let (stored, (), _) = futures::try_join!(
            self.signal_by_id(retry.chat_id, first),
            self.write_bucket_row(retry.chat_id, first),
            // The first attempt's batch may have stopped halfway too.
            self.run(&self.st.set_chat_activity, chat_activity_values(retry.chat_id, first)),
        )?;
        if stored.is_none() {
            tracing::warn!(
                chat = %retry.chat_id,
                signal = %first,
                retry = %retry.id,
                "cql: a nonce names a signal that was never written; writing the retry under its id"
            );
            self.write_signal_row(&Signal { id: first, ..retry.clone() }).await?;
        }
        Ok(())
    }

    pub(crate) async fn signal_by_id(&self, chat: ChatId, id: SignalId) -> Result<Option<Signal>> {
        first::<StoredRow>(self.run(&self.st.signal, (chat.as_i64(), id.bucket(), id.as_i64())).await?)?
            .map(to_signal)
            .transpose()
    }

    /// Up to `limit` signals of `range`, newest first.
    ///
    /// The bucket holding a `Before`/`After` cursor is known (`id.bucket()`), so it is read
    /// first without listing; `chat_buckets` is read only when it does not fill the page.
    /// Listing is bounded by what the page still needs: every listed bucket past the
    /// cursor's holds at least one signal of the range, so `n` missing signals need at
    /// most `n` buckets. That holds unless a write stopped halfway (see
    /// [`CqlStore::write_signal`]), so when a full batch of buckets leaves the page short,
    /// the list continues after its last bucket: an empty listed bucket costs a read, never
    /// a short page.
    pub(crate) async fn page(&self, chat: ChatId, range: SignalRange, limit: usize) -> Result<Vec<Signal>> {
        // Cassandra rejects `LIMIT 0` (the service asks for 0 newer signals around a signal
        // for a page of 1); an empty page needs no query.
        if limit == 0 {
            return Ok(vec![]);
        }
        let (direction, bound, cursor_bucket) = match range {
            SignalRange::Latest => (Direction::Older, Id(i64::MAX as u64), None),
            SignalRange::Before(id) => (Direction::Older, id, Some(id.bucket())),
            SignalRange::After(id) => (Direction::Newer, id, Some(id.bucket())),
        };
        let mut out: Vec<Signal> = Vec::with_capacity(limit.min(1000));
        let mut list_from = bound.bucket();
        if let Some(bucket) = cursor_bucket {
            self.read_bucket(direction, chat, bucket, bound, limit, &mut out).await?;
            list_from = direction.step(bucket);
        }
        while out.len() < limit {
            let want = cql_limit(limit - out.len());
            let buckets = self.list_buckets(direction, chat, list_from, want).await?;
            for bucket in &buckets {
                self.read_bucket(direction, chat, *bucket, bound, limit - out.len(), &mut out).await?;
                if out.len() >= limit {
                    break;
                }
            }
            match buckets.last() {
                Some(last) if buckets.len() == want as usize => list_from = direction.step(*last),
                _ => break,
            }
        }
        if direction == Direction::Newer {
            out.reverse();
        }
        Ok(out)
    }

    /// Up to `want` of the chat's buckets from `from` (included) in `direction`.
    async fn list_buckets(&self, direction: Direction, chat: ChatId, from: i64, want: i32) -> Result<Vec<i64>> {
        let st = match direction {
            Direction::Older => &self.st.buckets_down,
            Direction::Newer => &self.st.buckets_up,
        };
        Ok(rows::<(i64,)>(self.run(st, (chat.as_i64(), from, want)).await?)?.into_iter().map(|(b,)| b).collect())
    }

    /// Appends up to `want` signals of one bucket beyond `bound` in `direction`.
    async fn read_bucket(
        &self,
        direction: Direction,
        chat: ChatId,
        bucket: i64,
        bound: Id,
        want: usize,
        out: &mut Vec<Signal>,
    ) -> Result<()> {
        let st = match direction {
            Direction::Older => &self.st.signals_below,
            Direction::Newer => &self.st.signals_above,
        };
        let result = self.run(st, (chat.as_i64(), bucket, bound.as_i64(), cql_limit(want))).await?;
        for row in rows::<StoredRow>(result)? {
            out.push(to_signal(row)?);
        }
        Ok(())
    }
}

/// The `(chat, bucket)` rows of `chat_buckets` this process wrote, at most
/// [`WrittenBuckets::CAPACITY`] (then forgotten all at once: forgetting only costs a
/// write again).
#[derive(Default)]
pub(crate) struct WrittenBuckets(std::sync::Mutex<std::collections::HashSet<(i64, i64)>>);

impl WrittenBuckets {
    const CAPACITY: usize = 100_000;

    fn contains(&self, key: (i64, i64)) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).contains(&key)
    }

    fn insert(&self, key: (i64, i64)) {
        let mut written = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if written.len() >= Self::CAPACITY {
            written.clear();
        }
        written.insert(key);
    }
}
