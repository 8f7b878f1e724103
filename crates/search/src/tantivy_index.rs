//! `TextIndex` on tantivy, in process, with the index in a directory (the embedded shape).
//! Words are split on what is not a letter or a digit, lower-cased and folded to ASCII at
//! index and at query time.
//!
//! **Commits.** One writer, behind a lock, takes the messages of each `index` call; a
//! committer thread commits what was added every [`COMMIT_EVERY`] and reloads the reader,
//! so a message is searchable within about that. (Committing each batch made a segment per
//! batch: at 1,500 messages a second, a tenth of the embedded server's CPU.) Removals
//! commit at once. Dropping the index commits what is left.
//!
//! **Crashes.** What was added after the last commit is lost if the process dies. Each
//! commit records the newest message id it holds and whether the index was closed
//! ([`CommitMark`]); a session marks the index open as it starts. An index found open was not
//! closed by its last session: [`TantivyIndex::unfinished_since`] tells from when its
//! messages must be indexed again from the store (the server does it as it starts, then
//! calls [`TantivyIndex::caught_up`]; until then the catch-up stays owed across restarts).

use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use domain::search::TYPO_MIN_CHARS;
use domain::{ChatId, Error, Id, QueryPart, Result, SearchHas, SearchOrder, SignalId};
use ports::{IndexedSignal, RemovedSignal, TextHit, TextIndex, TextQuery};
use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{
    DocSet, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TERMINATED, TantivyDocument, Term,
};

/// The analyzer's name in the index's schema.
const ANALYZER: &str = "petit_chat_folded";
/// Memory the writer may use before it flushes a segment.
const WRITER_BYTES: usize = 64 * 1024 * 1024;
/// The score of a typo or prefix match (an exact word's BM25 score is added to it).
const LOOSE_MATCH_SCORE: f32 = 0.01;
/// How often what was added is committed (and becomes searchable).
pub const COMMIT_EVERY: Duration = Duration::from_millis(250);
/// How far before the newest committed message an index left open is indexed again: the
/// messages whose events were still on their way to the indexer when the process died
/// (the index lag stays well under this unless the server is overloaded).
pub const UNFINISHED_MARGIN: Duration = Duration::from_secs(300);

/// The column of each document's revision (`IndexedSignal::revision`).
const REVISION: &str = "revision";

/// What each commit records (its payload, JSON).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CommitMark {
    /// The newest message id ever written (a message or a tombstone).
    newest: u64,
    /// The last commit of a session that ended cleanly.
    closed: bool,
    /// The messages from this id on must be indexed again from the store (a session died,
    /// and the catch-up has not finished yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owed_since: Option<u64>,
}

#[derive(Clone, Copy)]
struct Fields {
    chat: Field,
    signal: Field,
    author: Field,
    text: Field,
    has_attachment: Field,
    has_link: Field,
    revision: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(ANALYZER).set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        chat: builder.add_u64_field("chat_id", INDEXED | FAST),
        signal: builder.add_u64_field("signal_id", INDEXED | FAST),
        author: builder.add_u64_field("author_id", INDEXED),
        text: builder.add_text_field("text", text),
        has_attachment: builder.add_bool_field("has_attachment", INDEXED),
        has_link: builder.add_bool_field("has_link", INDEXED),
        revision: builder.add_u64_field(REVISION, FAST),
    };
    (builder.build(), fields)
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(100))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

fn index_error(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("search index: {e}"))
}

/// A tantivy index in a directory.
#[derive(Clone)]
pub struct TantivyIndex {
    shared: Arc<Shared>,
    fields: Fields,
    unfinished_since: Option<SignalId>,
}

/// The writer and the reader, shared by the handles and the committer thread.
struct Shared {
    reader: IndexReader,
    writer: Mutex<Writer>,
}

struct Writer {
    writer: IndexWriter,
    /// Added or removed since the last commit.
    dirty: bool,
    mark: CommitMark,
    /// The revision of each message written since the reader last reloaded (which the
    /// reader does not see yet), by signal id.
    unseen: HashMap<u64, u64>,
}

impl Writer {
    /// Drops what was written since the last commit.
    fn rollback(&mut self) {
        let _ = self.writer.rollback();
        self.unseen.clear();
        self.dirty = false;
    }

    /// Commits what was added, with the mark as the commit's payload.
    fn commit_marked(&mut self) -> Result<()> {
        let payload = serde_json::to_string(&self.mark).map_err(index_error)?;
        let mut prepared = self.writer.prepare_commit().map_err(index_error)?;
        prepared.set_payload(&payload);
        prepared.commit().map(drop).map_err(index_error)
    }

    /// Writes `revision` of `signal` of `chat` with the fields of `doc` (a message's; none
    /// for a tombstone) in place of the document the index holds for it, unless that one
    /// has a higher revision. A signal above every id written before (a new message, the
    /// usual case) has none: no lookup.
    fn put(
        &mut self,
        searcher: &Searcher,
        f: Fields,
        (chat, signal, revision): (ChatId, SignalId, u64),
        mut doc: TantivyDocument,
    ) -> tantivy::Result<()> {
        if signal.0 <= self.mark.newest {
            let held = match self.unseen.get(&signal.0) {
                Some(held) => Some(*held),
                None => held_revision(searcher, f, signal)?,
            };
            if held.is_some_and(|held| held > revision) {
                return Ok(());
            }
            if held.is_some() {
                self.writer.delete_term(Term::from_field_u64(f.signal, signal.0));
            }
        }
        self.mark.newest = self.mark.newest.max(signal.0);
        self.unseen.insert(signal.0, revision);
        doc.add_u64(f.chat, chat.0);
        doc.add_u64(f.signal, signal.0);
        doc.add_u64(f.revision, revision);
        self.writer.add_document(doc).map(drop)
    }
}

/// The revision of `signal` the searcher's segments hold, if any.
fn held_revision(searcher: &Searcher, f: Fields, signal: SignalId) -> tantivy::Result<Option<u64>> {
    let term = Term::from_field_u64(f.signal, signal.0);
    let mut held = None;
    for segment in searcher.segment_readers() {
        let Some(mut postings) = segment.inverted_index(f.signal)?.read_postings(&term, IndexRecordOption::Basic)?
        else {
            continue;
        };
        let revisions = segment.fast_fields().u64(REVISION)?;
        let mut doc = postings.doc();
        while doc != TERMINATED {
            if !segment.is_deleted(doc) {
                held = held.max(Some(revisions.first(doc).unwrap_or(0)));
            }
            doc = postings.advance();
        }
    }
    Ok(held)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commits what the writer holds (when there is anything, or to change the mark) and
    /// reloads the reader. A failed commit drops what was added since the last one.
    fn commit(&self, writer: &mut Writer, closed: bool) -> Result<()> {
        if !writer.dirty && writer.mark.closed == closed {
            return Ok(());
        }
        writer.mark.closed = closed;
        writer.dirty = false;
        if let Err(e) = writer.commit_marked() {
            writer.rollback();
            return Err(e);
        }
        self.reader.reload().map_err(index_error)?;
        writer.unseen.clear();
        Ok(())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let writer = self.writer.get_mut().unwrap_or_else(|e| e.into_inner());
        writer.mark.closed = true;
        if let Err(error) = writer.commit_marked() {
            tracing::error!(%error, "search index: the last commit failed; the next start indexes the last minutes again");
        }
    }
}

/// Commits every [`COMMIT_EVERY`] while the index is open.
fn run_committer(shared: Weak<Shared>) {
    loop {
        std::thread::sleep(COMMIT_EVERY);
        let Some(shared) = shared.upgrade() else { return };
        let mut writer = shared.lock();
        if writer.dirty
            && let Err(error) = shared.commit(&mut writer, false)
        {
            tracing::error!(%error, "search index: a commit failed; what it held is indexed again at the next start");
        }
    }
}

/// The error of taking the writer of the index in `dir`.
fn writer_error(dir: &Path, e: tantivy::TantivyError) -> Error {
    match e {
        tantivy::TantivyError::LockFailure(..) => Error::unavailable(format!(
            "the search index in {} is open in another process: a running `petit-chat serve` holds its \
             own index; stop it first, or delete the directory and restart the server, which rebuilds it \
             in the background",
            dir.display()
        )),
        e => index_error(e),
    }
}

/// Deletes an index in `dir` written by a build from before revisions (its documents have
/// none, and its schema cannot take them), once sure no process holds it; the caller
/// rebuilds it from the store. Whether it did.
fn discard_outdated(dir: &Path) -> Result<bool> {
    let Ok(old) = Index::open_in_dir(dir) else { return Ok(false) };
    if old.schema().get_field(REVISION).is_ok() {
        return Ok(false);
    }
    let writer: IndexWriter = old.writer_with_num_threads(1, WRITER_BYTES).map_err(|e| writer_error(dir, e))?;
    drop(writer);
    drop(old);
    tracing::warn!(dir = %dir.display(), "search index: built before message revisions; rebuilding it from the store");
    for entry in std::fs::read_dir(dir).map_err(index_error)? {
        let path = entry.map_err(index_error)?.path();
        if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) }
            .map_err(index_error)?;
    }
    Ok(true)
}

impl std::fmt::Debug for TantivyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyIndex").finish_non_exhaustive()
    }
}

impl TantivyIndex {
    /// Opens the index in `dir`, creating it (and the directory) if need be. Only one
    /// process may hold an index open for writing.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(index_error)?;
        let discarded = discard_outdated(dir)?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir).map_err(index_error)?;
        let mut index = Index::open_or_create(directory, schema).map_err(index_error)?;
        // A query runs over the segments in parallel, one thread per core.
        index.set_default_multithread_executor().map_err(index_error)?;
        index.tokenizers().register(ANALYZER, analyzer());
        let writer = index.writer_with_num_threads(1, WRITER_BYTES).map_err(|e| writer_error(dir, e))?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(index_error)?;
        let last = index.load_metas().map_err(index_error)?.payload;
        let last: Option<CommitMark> = last.and_then(|p| serde_json::from_str(&p).ok());
        let mut mark = last.unwrap_or_default();
        if discarded {
            // Everything the store holds is owed to the new index.
            mark.owed_since = Some(0);
        }
        if last.is_some() && !mark.closed {
            let margin = UNFINISHED_MARGIN.as_millis() as u64;
            let since = Id::first_at(Id(mark.newest).unix_ms().saturating_sub(margin).max(domain::id::EPOCH_MS));
            mark.owed_since = Some(mark.owed_since.map_or(since.0, |owed| owed.min(since.0)));
        }
        let unfinished_since = mark.owed_since.map(Id);
        let shared = Arc::new(Shared {
            reader,
            writer: Mutex::new(Writer { writer, dirty: false, mark, unseen: HashMap::new() }),
        });
        // Open from now on, until a last commit marks it closed (a new index too: one whose
        // first session dies is indexed again from the start).
        {
            let mut writer = shared.lock();
            writer.dirty = true;
            shared.commit(&mut writer, false)?;
        }
        let committer = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("tantivy-commit".into())
            .spawn(move || run_committer(committer))
            .map_err(index_error)?;
        Ok(Self { shared, fields, unfinished_since })
    }

    /// When the index was found open (its last session did not close it: the process
    /// died), the id from which the store's messages must be indexed again. It stays owed,
    /// across restarts, until [`TantivyIndex::caught_up`].
    pub fn unfinished_since(&self) -> Option<SignalId> {
        self.unfinished_since
    }

    /// The messages [`TantivyIndex::unfinished_since`] named are indexed again: the next
    /// commit forgets them.
    pub fn caught_up(&self) {
        let mut writer = self.shared.lock();
        writer.mark.owed_since = None;
        writer.dirty = true;
    }

    /// Runs `work` with the writer on the blocking pool; with `commit`, commits and makes
    /// the result searchable at once (else the committer does, within [`COMMIT_EVERY`]).
    async fn write(
        &self,
        commit: bool,
        work: impl FnOnce(&mut Writer, &Searcher, Fields) -> tantivy::Result<()> + Send + 'static,
    ) -> Result<()> {
        let (shared, fields) = (self.shared.clone(), self.fields);
        tokio::task::spawn_blocking(move || {
            let mut writer = shared.lock();
            writer.dirty = true;
            if let Err(e) = work(&mut writer, &shared.reader.searcher(), fields) {
                // What was added before the failure is dropped, not committed later.
                writer.rollback();
                return Err(index_error(e));
            }
            if commit { shared.commit(&mut writer, false) } else { Ok(()) }
        })
        .await
        .map_err(index_error)?
    }

    /// How many segments the searchable index has now (each query visits every one).
    pub fn segment_count(&self) -> usize {
        self.shared.reader.searcher().segment_readers().len()
    }

    /// The folded words of `text` as the index has them.
    fn tokens(&self, text: &str) -> Vec<String> {
        let mut analyzer = analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut out = vec![];
        while let Some(token) = stream.next() {
            out.push(token.text.clone());
        }
        out
    }

    fn term(&self, token: &str) -> Term {
        Term::from_field_text(self.fields.text, token)
    }

    /// The query of one part: `None` when it has no word (punctuation only).
    fn part_query(&self, part: &QueryPart, prefix: bool) -> Option<Box<dyn Query>> {
        let (text, phrase) = match part {
            QueryPart::Word(w) => (w, false),
            QueryPart::Phrase(p) => (p, true),
        };
        let tokens = self.tokens(text);
        match tokens.as_slice() {
            [] => None,
            [token] => {
                let exact: Box<dyn Query> = Box::new(TermQuery::new(self.term(token), IndexRecordOption::WithFreqs));
                if phrase {
                    return Some(exact);
                }
                let mut any: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Should, exact)];
                if token.chars().count() >= TYPO_MIN_CHARS {
                    let typo = FuzzyTermQuery::new(self.term(token), 1, true);
                    any.push((Occur::Should, Box::new(ConstScoreQuery::new(Box::new(typo), LOOSE_MATCH_SCORE))));
                }
                if prefix {
                    let starts = FuzzyTermQuery::new_prefix(self.term(token), 0, true);
                    any.push((Occur::Should, Box::new(ConstScoreQuery::new(Box::new(starts), LOOSE_MATCH_SCORE))));
                }
                Some(Box::new(BooleanQuery::new(any)))
            }
            // A word the tokenizer splits (`l'été`, `chat_id`) is a phrase of its pieces.
            tokens => Some(Box::new(PhraseQuery::new(tokens.iter().map(|t| self.term(t)).collect()))),
        }
    }

    fn query(&self, q: &TextQuery) -> Option<Box<dyn Query>> {
        let f = self.fields;
        let last = q.query.parts.len().saturating_sub(1);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = q
            .query
            .parts
            .iter()
            .enumerate()
            .filter_map(|(i, part)| self.part_query(part, q.query.prefix_last && i == last))
            .map(|query| (Occur::Must, query))
            .collect();
        if clauses.is_empty() {
            return None;
        }
        let mut filter =
            |query: Box<dyn Query>| clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0))));
        filter(Box::new(TermSetQuery::new(q.chats.iter().map(|c| Term::from_field_u64(f.chat, c.0)))));
        if let Some(author) = q.from {
            filter(Box::new(TermQuery::new(Term::from_field_u64(f.author, author.0), IndexRecordOption::Basic)));
        }
        match q.has {
            Some(SearchHas::Attachment) => filter(Box::new(TermQuery::new(
                Term::from_field_bool(f.has_attachment, true),
                IndexRecordOption::Basic,
            ))),
            Some(SearchHas::Link) => {
                filter(Box::new(TermQuery::new(Term::from_field_bool(f.has_link, true), IndexRecordOption::Basic)))
            }
            None => {}
        }
        if q.after.is_some() || q.before.is_some() {
            let bound = |id: Option<SignalId>| {
                id.map_or(Bound::Unbounded, |id| Bound::Excluded(Term::from_field_u64(f.signal, id.0)))
            };
            filter(Box::new(RangeQuery::new(bound(q.after), bound(q.before))));
        }
        Some(Box::new(BooleanQuery::new(clauses)))
    }
}

#[async_trait]
impl TextIndex for TantivyIndex {
    async fn index(&self, signals: &[IndexedSignal]) -> Result<()> {
        if signals.is_empty() {
            return Ok(());
        }
        let signals = signals.to_vec();
        self.write(false, move |writer, searcher, f| {
            for s in signals {
                let mut doc = TantivyDocument::default();
                doc.add_u64(f.author, s.author_id.0);
                doc.add_text(f.text, &s.text);
                doc.add_bool(f.has_attachment, s.has_attachment);
                doc.add_bool(f.has_link, s.has_link);
                writer.put(searcher, f, (s.chat_id, s.signal_id, s.revision), doc)?;
            }
            Ok(())
        })
        .await
    }

    async fn remove(&self, signals: &[RemovedSignal]) -> Result<()> {
        if signals.is_empty() {
            return Ok(());
        }
        let signals = signals.to_vec();
        self.write(true, move |writer, searcher, f| {
            for s in signals {
                // A tombstone: the ids and the revision, no text, so no query finds it.
                writer.put(searcher, f, (s.chat_id, s.signal_id, s.revision), TantivyDocument::default())?;
            }
            Ok(())
        })
        .await
    }

    async fn search(&self, q: &TextQuery) -> Result<Vec<TextHit>> {
        if q.chats.is_empty() || q.limit == 0 {
            return Ok(vec![]);
        }
        let Some(query) = self.query(q) else { return Ok(vec![]) };
        let (reader, order, offset, limit) = (self.shared.reader.clone(), q.order, q.offset, q.limit);
        tokio::task::spawn_blocking(move || {
            let searcher = reader.searcher();
            let top = TopDocs::with_limit(limit).and_offset(offset);
            let addresses: Vec<_> = match order {
                SearchOrder::Relevance => searcher
                    .search(&query, &top.order_by_score())
                    .map_err(index_error)?
                    .into_iter()
                    .map(|h| h.1)
                    .collect(),
                SearchOrder::Recent => searcher
                    .search(&query, &top.order_by_fast_field::<u64>("signal_id", Order::Desc))
                    .map_err(index_error)?
                    .into_iter()
                    .map(|h| h.1)
                    .collect(),
            };
            // The ids from the columns (no stored document to decompress).
            addresses
                .into_iter()
                .map(|address| {
                    let columns = searcher.segment_reader(address.segment_ord).fast_fields();
                    let get = |name| columns.u64(name).ok().and_then(|c| c.first(address.doc_id)).map(Id);
                    match (get("chat_id"), get("signal_id")) {
                        (Some(chat_id), Some(signal_id)) => Ok(TextHit { chat_id, signal_id }),
                        _ => Err(index_error("a document without its ids")),
                    }
                })
                .collect()
        })
        .await
        .map_err(index_error)?
    }

    async fn ping(&self) -> Result<()> {
        let _ = self.shared.reader.searcher().num_docs();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_second_process_cannot_open_an_index_held_for_writing() {
        let dir = tempfile::tempdir().unwrap();
        let _first = TantivyIndex::open(dir.path()).unwrap();
        let second = TantivyIndex::open(dir.path()).unwrap_err();
        assert_eq!(second.kind, domain::ErrorKind::Unavailable, "{second}");
    }

    #[tokio::test]
    async fn an_index_from_before_revisions_is_rebuilt_from_the_whole_store_unless_held() {
        let dir = tempfile::tempdir().unwrap();
        let mut old_schema = Schema::builder();
        let signal = old_schema.add_u64_field("signal_id", INDEXED | FAST);
        let old = Index::create_in_dir(dir.path(), old_schema.build()).unwrap();
        let mut writer: IndexWriter = old.writer_with_num_threads(1, WRITER_BYTES).unwrap();
        writer.add_document(tantivy::doc!(signal => 5u64)).unwrap();
        writer.commit().unwrap();
        let held = TantivyIndex::open(dir.path()).unwrap_err();
        assert_eq!(held.kind, domain::ErrorKind::Unavailable, "another process holds it: {held}");
        assert_eq!(Index::open_in_dir(dir.path()).unwrap().reader().unwrap().searcher().num_docs(), 1, "left alone");
        drop(writer);

        let index = TantivyIndex::open(dir.path()).unwrap();
        assert_eq!(index.unfinished_since(), Some(Id(0)), "every message is owed");
        assert_eq!(index.shared.reader.searcher().num_docs(), 0, "the old documents are gone");
        index.index(&[message(Id(9))]).await.unwrap();
        drop(index);
        let index = TantivyIndex::open(dir.path()).unwrap();
        assert_eq!(index.unfinished_since(), Some(Id(0)), "owed until caught up");
        assert_eq!(index.shared.reader.searcher().num_docs(), 1, "and kept as it is: its schema is this build's");
    }

    fn message(id: Id) -> IndexedSignal {
        IndexedSignal {
            chat_id: Id(1),
            signal_id: id,
            author_id: Id(2),
            text: "hello".into(),
            has_attachment: false,
            has_link: false,
            revision: 1,
        }
    }

    #[tokio::test]
    async fn an_index_closed_cleanly_needs_nothing_again_and_one_left_open_says_from_when() {
        let dir = tempfile::tempdir().unwrap();
        let newest = Id::first_at(domain::id::now_ms());
        let index = TantivyIndex::open(dir.path()).unwrap();
        assert_eq!(index.unfinished_since(), None, "a new index");
        index.index(&[message(Id::first_at(domain::id::now_ms() - 60_000)), message(newest)]).await.unwrap();
        drop(index);
        let index = TantivyIndex::open(dir.path()).unwrap();
        assert_eq!(index.unfinished_since(), None, "closed by its last session");
        assert_eq!(index.shared.reader.searcher().num_docs(), 2, "what was added before the close is kept");
        drop(index);

        // What a session that died leaves: its last commit marked the index open.
        let raw = Index::open_in_dir(dir.path()).unwrap();
        let mut writer: IndexWriter = raw.writer_with_num_threads(1, WRITER_BYTES).unwrap();
        let mut prepared = writer.prepare_commit().unwrap();
        prepared.set_payload(
            &serde_json::to_string(&CommitMark { newest: newest.0, closed: false, owed_since: None }).unwrap(),
        );
        prepared.commit().unwrap();
        drop(writer);
        let index = TantivyIndex::open(dir.path()).unwrap();
        let since = index.unfinished_since().expect("an index left open");
        assert_eq!(since.unix_ms(), newest.unix_ms() - UNFINISHED_MARGIN.as_millis() as u64);
        drop(index);
        // Closed cleanly before its catch-up was done: the catch-up is still owed.
        let raw = Index::open_in_dir(dir.path()).unwrap();
        let payload = raw.load_metas().unwrap().payload.unwrap();
        let mark: CommitMark = serde_json::from_str(&payload).unwrap();
        assert_eq!(mark, CommitMark { newest: newest.0, closed: true, owed_since: Some(since.0) }, "still owed");
        let index = TantivyIndex::open(dir.path()).unwrap();
        assert_eq!(index.unfinished_since(), Some(since), "owed until caught up");
        index.caught_up();
        drop(index);
        assert_eq!(TantivyIndex::open(dir.path()).unwrap().unfinished_since(), None);
    }
}
