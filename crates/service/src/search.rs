//! Searching messages: in one chat (members only: 404 to others) or in all the caller's
//! chats. The index finds ids; the store, the source of truth, gives the messages shown
//! and decides access at query time, so a chat the caller left is never searched, and a
//! message the index still holds but the store no longer has is not shown.

use std::collections::{BTreeMap, HashSet};

use domain::search::highlight;
use domain::{ChatId, Id, Page, ParsedQuery, Result, SearchHas, SearchOrder, SignalView, User, UserId};
use ports::TextQuery;

use crate::cursor;
use crate::{ChatService, page_limit};

/// Default and largest page of results.
pub const DEFAULT_SEARCH_PAGE: usize = 20;
pub const MAX_SEARCH_PAGE: usize = 50;
/// Results past this many are not served (ask a narrower question).
pub const MAX_SEARCH_DEPTH: usize = 1000;
/// Chats of the caller read per page when searching them all.
const CHATS_PAGE: usize = 500;

/// What a person searches for.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub text: String,
    /// Only in this chat (else in all the caller's chats).
    pub chat: Option<ChatId>,
    pub from: Option<UserId>,
    pub has: Option<SearchHas>,
    /// Only messages sent before this time (Unix ms).
    pub before_ms: Option<u64>,
    /// Only messages sent at or after this time (Unix ms).
    pub after_ms: Option<u64>,
    pub order: SearchOrder,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// A message found, with its text highlighted.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub chat_id: ChatId,
    pub signal: SignalView,
    /// The text, HTML-escaped, with the matched words in `<mark>`.
    pub highlight: String,
}

/// The smallest id of `unix_ms`, times past the ids' range (they stay below 2^63, signed in
/// the stores and the index) taken as its end.
fn first_id_at(unix_ms: u64) -> Id {
    const LAST_MS: u64 = domain::id::EPOCH_MS + (1 << 41) - 1;
    Id::first_at(unix_ms.min(LAST_MS))
}

impl ChatService {
    /// Searches the caller's messages. Empty or over-long text, or a bad cursor: 422.
    pub async fn search(&self, actor: &User, req: SearchRequest) -> Result<Page<SearchHit>> {
        let query = ParsedQuery::parse(&req.text)?;
        let offset = match &req.cursor {
            Some(c) => cursor::parse_offset_cursor(c)?,
            None => 0,
        };
        let limit = page_limit(req.limit, DEFAULT_SEARCH_PAGE, MAX_SEARCH_PAGE);
        if offset >= MAX_SEARCH_DEPTH {
            return Ok(Page { items: vec![], next_cursor: None });
        }
        let chats = match req.chat {
            Some(chat) => {
                self.membership(actor, chat).await?;
                vec![chat]
            }
            None => self.all_chats_of(actor.id).await?,
        };
        let text_query = TextQuery {
            from: req.from,
            has: req.has,
            after: req.after_ms.map(|ms| Id(first_id_at(ms).0.saturating_sub(1))),
            before: req.before_ms.map(first_id_at),
            order: req.order,
            offset,
            ..TextQuery::new(query, chats, limit)
        };
        let hits = self.index.search(&text_query).await?;
        let next_cursor =
            (hits.len() == limit && offset + limit < MAX_SEARCH_DEPTH).then(|| cursor::offset_cursor(offset + limit));
        // The messages, read from the store, by chat; access checked again per chat (the
        // list of chats may be a moment old).
        let mut by_chat: BTreeMap<ChatId, Vec<Id>> = BTreeMap::new();
        for hit in &hits {
            by_chat.entry(hit.chat_id).or_default().push(hit.signal_id);
        }
        let reads = by_chat.into_iter().map(|(chat, ids)| async move {
            if req.chat.is_none() && self.store.role(chat, actor.id).await?.is_none() {
                return Ok(vec![]);
            }
            let signals = futures::future::try_join_all(ids.iter().map(|id| self.store.signal(chat, *id))).await?;
            self.views(actor.id, chat, signals.into_iter().flatten().collect()).await
        });
        let views: Vec<SignalView> = futures::future::try_join_all(reads).await?.into_iter().flatten().collect();
        let mut views: BTreeMap<Id, SignalView> = views.into_iter().map(|v| (v.signal.id, v)).collect();
        let items = hits
            .iter()
            .filter_map(|hit| views.remove(&hit.signal_id))
            .filter_map(|view| {
                let domain::SignalBody::Msg { text, .. } = &view.signal.body else { return None };
                let highlight = highlight(text, &text_query.query);
                Some(SearchHit { chat_id: view.signal.chat_id, highlight, signal: view })
            })
            .collect();
        Ok(Page { items, next_cursor })
    }

    /// Every chat `user` is a member of.
    pub(crate) async fn all_chats_of(&self, user: UserId) -> Result<Vec<ChatId>> {
        let (mut chats, mut seen, mut after) = (vec![], HashSet::new(), None);
        loop {
            let page = self.store.inbox(user, after, CHATS_PAGE).await?;
            let full = page.len() == CHATS_PAGE;
            after = page.last().map(|e| (e.activity, e.chat_id));
            chats.extend(page.into_iter().map(|e| e.chat_id).filter(|c| seen.insert(*c)));
            if !full {
                return Ok(chats);
            }
        }
    }
}
