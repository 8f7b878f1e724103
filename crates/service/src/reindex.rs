//! Rebuilding the text index from the store, the source of truth: every chat's messages
//! (or one chat's), newest first, in bulk. Indexing is idempotent by message, so a rebuild
//! can run while the `index` workers index new messages, and can be run again after a stop.

use std::sync::Arc;

use domain::{ChatId, Result};
use futures::StreamExt;
use ports::{IndexedSignal, SignalRange, Store, TextIndex};

/// Messages read and written per page of a chat's timeline.
const PAGE: usize = 500;
/// Chats rebuilt at the same time.
const CHATS_AT_ONCE: usize = 4;

/// How far a rebuild is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReindexProgress {
    pub chats_total: u64,
    pub chats_done: u64,
    /// Messages written to the index so far.
    pub messages: u64,
}

/// Rebuilds the index of `chat`, or of every chat, calling `progress` after each chat.
pub async fn reindex(
    store: Arc<dyn Store>,
    index: Arc<dyn TextIndex>,
    chat: Option<ChatId>,
    mut progress: impl FnMut(ReindexProgress),
) -> Result<ReindexProgress> {
    let chats = match chat {
        Some(chat) => vec![chat],
        None => {
            let (mut all, mut after) = (vec![], None);
            loop {
                let page = store.chat_ids(after, 1000).await?;
                let full = page.len() == 1000;
                after = page.last().copied();
                all.extend(page);
                if !full {
                    break all;
                }
            }
        }
    };
    let mut done = ReindexProgress { chats_total: chats.len() as u64, ..ReindexProgress::default() };
    progress(done);
    let mut runs = futures::stream::iter(chats)
        .map(|chat| reindex_chat(store.clone(), index.clone(), chat))
        .buffer_unordered(CHATS_AT_ONCE);
    while let Some(messages) = runs.next().await {
        done.messages += messages?;
        done.chats_done += 1;
        progress(done);
    }
    Ok(done)
}

/// Indexes one chat's messages; returns how many.
async fn reindex_chat(store: Arc<dyn Store>, index: Arc<dyn TextIndex>, chat: ChatId) -> Result<u64> {
    let (mut range, mut count) = (SignalRange::Latest, 0);
    loop {
        let page = store.signals(chat, range, PAGE).await?;
        let batch: Vec<IndexedSignal> = page.iter().filter_map(IndexedSignal::of).collect();
        index.index(&batch).await?;
        count += batch.len() as u64;
        match page.last() {
            Some(oldest) if page.len() == PAGE => range = SignalRange::Before(oldest.id),
            _ => return Ok(count),
        }
    }
}
