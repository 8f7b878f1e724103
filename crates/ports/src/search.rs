//! The TextIndex port: full-text search over the chats' messages. The index holds what a
//! query filters and ranks on (text, chat, author, whether a message has files or links);
//! the store stays the source of truth: callers read the signals they show from it, and
//! check access there, at query time.

use async_trait::async_trait;
use domain::search::has_link;
use domain::{ChatId, ParsedQuery, Result, SearchHas, SearchOrder, Signal, SignalBody, SignalId, UserId};

/// A message as the index holds it. Indexing it again replaces it (by `signal_id`) unless
/// the index holds a higher revision of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedSignal {
    pub chat_id: ChatId,
    pub signal_id: SignalId,
    pub author_id: UserId,
    pub text: String,
    pub has_attachment: bool,
    pub has_link: bool,
    /// The revision of this state of the message ([`Signal::revision`]).
    pub revision: u64,
}

impl IndexedSignal {
    /// What the index keeps of a signal: messages only (joined / left lines are not
    /// searched).
    pub fn of(signal: &Signal) -> Option<Self> {
        let SignalBody::Msg { text, attachments, .. } = &signal.body else { return None };
        Some(Self {
            chat_id: signal.chat_id,
            signal_id: signal.id,
            author_id: signal.author_id,
            text: text.clone(),
            has_attachment: !attachments.is_empty(),
            has_link: has_link(text),
            revision: signal.revision(),
        })
    }
}

/// A message to take out of the index: its deletion, at its revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemovedSignal {
    pub chat_id: ChatId,
    pub signal_id: SignalId,
    /// The revision of the deletion ([`Signal::revision`] of the tombstone).
    pub revision: u64,
}

impl RemovedSignal {
    /// The removal a deleted signal asks for (`None` for a signal not deleted).
    pub fn of(signal: &Signal) -> Option<Self> {
        signal.is_deleted().then(|| Self { chat_id: signal.chat_id, signal_id: signal.id, revision: signal.revision() })
    }
}

/// A search: the parsed words, within some chats, with filters, a page of it.
#[derive(Debug, Clone)]
pub struct TextQuery {
    pub query: ParsedQuery,
    /// Only messages of these chats (never empty: the caller's chats, or one of them).
    pub chats: Vec<ChatId>,
    /// Only messages by this author.
    pub from: Option<UserId>,
    pub has: Option<SearchHas>,
    /// Only messages with an id strictly above this (sent after its time).
    pub after: Option<SignalId>,
    /// Only messages with an id strictly below this.
    pub before: Option<SignalId>,
    pub order: SearchOrder,
    /// Hits to skip (pages of a relevance order).
    pub offset: usize,
    pub limit: usize,
}

impl TextQuery {
    /// The first `limit` hits of `query` in `chats`, best first, with no filter.
    pub fn new(query: ParsedQuery, chats: Vec<ChatId>, limit: usize) -> Self {
        Self {
            query,
            chats,
            from: None,
            has: None,
            after: None,
            before: None,
            order: SearchOrder::Relevance,
            offset: 0,
            limit,
        }
    }
}

/// A message a query matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextHit {
    pub chat_id: ChatId,
    pub signal_id: SignalId,
}

/// A full-text index of messages. Every adapter matches words case-insensitively with
/// accents folded ([`domain::search::fold`]), a word of [`domain::search::TYPO_MIN_CHARS`]
/// letters or more with one typo, the last word as a prefix when
/// [`ParsedQuery::prefix_last`], phrases as consecutive words; it never reads the query's
/// text as its own query syntax.
#[async_trait]
pub trait TextIndex: Send + Sync + 'static {
    /// Adds or replaces these messages, each unless the index holds a higher revision of it
    /// (a later edit, or its removal): writes may come in any order (the indexer takes many
    /// events of a chat at once, a reindex runs beside it) and the newest state of each
    /// message wins; the same revision again replaces it (idempotent). Returns once they
    /// are stored durably, or, for an index in process that commits on a timer (tantivy),
    /// once a crash before that commit is repaired at the next start (the index tells from
    /// when to index the store's messages again). They are searchable shortly after (the
    /// adapter's refresh or commit, about a second at most).
    async fn index(&self, signals: &[IndexedSignal]) -> Result<()>;
    /// Removes these messages (also those not indexed yet), each unless the index holds a
    /// higher revision of it. The index keeps a tombstone of each (found by no search), so
    /// a write of an older revision that comes later is refused.
    async fn remove(&self, signals: &[RemovedSignal]) -> Result<()>;
    /// The hits of `query`, in its order, at most `limit` after `offset`.
    async fn search(&self, query: &TextQuery) -> Result<Vec<TextHit>>;
    /// Checks the index answers (for readiness probes).
    async fn ping(&self) -> Result<()>;
}
