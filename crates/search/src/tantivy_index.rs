//! `TextIndex` on tantivy, in process, with the index in a directory (the embedded shape).
//! One writer, behind a lock, commits each batch; the reader is reloaded after each commit,
//! so a batch is searchable when `index` returns. Words are split on what is not a letter or
//! a digit, lower-cased and folded to ASCII at index and at query time.

use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use domain::search::TYPO_MIN_CHARS;
use domain::{ChatId, Error, Id, QueryPart, Result, SearchHas, SearchOrder, SignalId};
use ports::{IndexedSignal, TextHit, TextIndex, TextQuery};
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};

/// The analyzer's name in the index's schema.
const ANALYZER: &str = "petit_chat_folded";
/// Memory the writer may use before it flushes a segment.
const WRITER_BYTES: usize = 64 * 1024 * 1024;
/// The score of a typo or prefix match (an exact word's BM25 score is added to it).
const LOOSE_MATCH_SCORE: f32 = 0.01;

#[derive(Clone, Copy)]
struct Fields {
    chat: Field,
    signal: Field,
    author: Field,
    text: Field,
    has_attachment: Field,
    has_link: Field,
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
    reader: IndexReader,
    writer: Arc<Mutex<IndexWriter>>,
    fields: Fields,
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
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir).map_err(index_error)?;
        let mut index = Index::open_or_create(directory, schema).map_err(index_error)?;
        // A query runs over the segments in parallel, one thread per core.
        index.set_default_multithread_executor().map_err(index_error)?;
        index.tokenizers().register(ANALYZER, analyzer());
        let writer = index.writer_with_num_threads(1, WRITER_BYTES).map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => Error::unavailable(format!(
                "the search index in {} is open in another process: a running `petit-chat serve` holds its \
                 own index; stop it first, or delete the directory and restart the server, which rebuilds it \
                 in the background",
                dir.display()
            )),
            e => index_error(e),
        })?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(index_error)?;
        Ok(Self { reader, writer: Arc::new(Mutex::new(writer)), fields })
    }

    /// Runs `work` with the writer on the blocking pool, commits, and makes the result
    /// searchable.
    async fn write(
        &self,
        work: impl FnOnce(&IndexWriter, Fields) -> tantivy::Result<()> + Send + 'static,
    ) -> Result<()> {
        let (writer, reader, fields) = (self.writer.clone(), self.reader.clone(), self.fields);
        tokio::task::spawn_blocking(move || {
            let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
            let done = work(&writer, fields).and_then(|()| writer.commit().map(drop));
            if let Err(e) = done {
                // What was added before the failure is dropped, not committed later.
                let _ = writer.rollback();
                return Err(index_error(e));
            }
            reader.reload().map_err(index_error)
        })
        .await
        .map_err(index_error)?
    }

    /// How many segments the searchable index has now (each query visits every one).
    pub fn segment_count(&self) -> usize {
        self.reader.searcher().segment_readers().len()
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
        self.write(move |writer, f| {
            for s in signals {
                writer.delete_term(Term::from_field_u64(f.signal, s.signal_id.0));
                let mut doc = TantivyDocument::default();
                doc.add_u64(f.chat, s.chat_id.0);
                doc.add_u64(f.signal, s.signal_id.0);
                doc.add_u64(f.author, s.author_id.0);
                doc.add_text(f.text, &s.text);
                doc.add_bool(f.has_attachment, s.has_attachment);
                doc.add_bool(f.has_link, s.has_link);
                writer.add_document(doc)?;
            }
            Ok(())
        })
        .await
    }

    async fn remove(&self, signals: &[(ChatId, SignalId)]) -> Result<()> {
        if signals.is_empty() {
            return Ok(());
        }
        let ids: Vec<SignalId> = signals.iter().map(|(_, s)| *s).collect();
        self.write(move |writer, f| {
            for id in ids {
                writer.delete_term(Term::from_field_u64(f.signal, id.0));
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
        let (reader, order, offset, limit) = (self.reader.clone(), q.order, q.offset, q.limit);
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
        let _ = self.reader.searcher().num_docs();
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
}
