//! Rebuilding the text index from the store, the source of truth: every chat's messages
//! (or one chat's), newest first, in bulk; deleted ones leave it. Indexing is idempotent by
//! message, so a rebuild can run while the `index` workers index new messages, and can be
//! run again after a stop. [`catch_up`] does it only for the messages after a point in
//! time, for an index that lost its last moments in a crash.

use std::sync::Arc;

use domain::{ChatId, Result, SignalId};
use futures::StreamExt;
use ports::{IndexedSignal, RemovedSignal, SignalRange, Store, TextIndex};

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
    progress: impl FnMut(ReindexProgress),
) -> Result<ReindexProgress> {
    run(store, index, chat, None, progress).await
}

/// Indexes again every chat's messages with an id above `since` (sent after its time), and
/// removes those deleted since: what an index that was not closed cleanly (its process
/// died) may have lost.
pub async fn catch_up(store: Arc<dyn Store>, index: Arc<dyn TextIndex>, since: SignalId) -> Result<ReindexProgress> {
    run(store, index, None, Some(since), |_| {}).await
}

async fn run(
    store: Arc<dyn Store>,
    index: Arc<dyn TextIndex>,
    chat: Option<ChatId>,
    since: Option<SignalId>,
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
        .map(|chat| reindex_chat(store.clone(), index.clone(), chat, since))
        .buffer_unordered(CHATS_AT_ONCE);
    while let Some(messages) = runs.next().await {
        done.messages += messages?;
        done.chats_done += 1;
        progress(done);
    }
    Ok(done)
}

/// Indexes one chat's messages (those after `since`, oldest first, or all, newest first)
/// and removes its deleted ones; returns how many it indexed.
async fn reindex_chat(
    store: Arc<dyn Store>,
    index: Arc<dyn TextIndex>,
    chat: ChatId,
    since: Option<SignalId>,
) -> Result<u64> {
    let (mut range, mut count) = (since.map_or(SignalRange::Latest, SignalRange::After), 0);
    loop {
        let page = store.signals(chat, range, PAGE).await?;
        let batch: Vec<IndexedSignal> = page.iter().filter_map(IndexedSignal::of).collect();
        let deleted: Vec<_> = page.iter().filter_map(RemovedSignal::of).collect();
        index.index(&batch).await?;
        index.remove(&deleted).await?;
        count += batch.len() as u64;
        // Pages come newest first either way.
        range = match (page.first(), page.last(), range) {
            _ if page.len() < PAGE => return Ok(count),
            (Some(newest), _, SignalRange::After(_)) => SignalRange::After(newest.id),
            (_, Some(oldest), _) => SignalRange::Before(oldest.id),
            _ => return Ok(count),
        };
    }
}
