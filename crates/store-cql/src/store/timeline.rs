//! The Store's timelines: each chat's signals (`ports::TimelineStore`).

use super::*;
use ports::TimelineStore;

#[async_trait]
impl TimelineStore for CqlStore {
    /// Claims the nonce if there is one, at the fence ([`CqlStore::insert_fenced`]) or else
    /// by a lightweight transaction, then writes the signal. A nonce already claimed by
    /// another attempt answers `Duplicate`, after making sure its signal exists
    /// ([`CqlStore::complete_duplicate`]). A claim the driver repeated after losing the
    /// answer of one that landed is this attempt's ([`crate::Claim::Ours`]).
    async fn insert_signal(&self, signal: &Signal, nonce: Option<&str>) -> Result<InsertSignalOutcome> {
        let s = signal;
        match (nonce, &self.fence) {
            (Some(nonce), Some(fence)) => return self.insert_fenced(fence.as_ref(), s, nonce).await,
            (Some(nonce), None) => {
                let result = self
                    .run(&self.st.claim_nonce, (s.chat_id.as_i64(), s.author_id.as_i64(), nonce, s.id.as_i64()))
                    .await?;
                if let Claim::Theirs(first) = claim(result, "signal_id", s.id.as_i64())? {
                    let first = Id::from_i64(first);
                    self.complete_duplicate(s, first).await?;
                    return Ok(InsertSignalOutcome::Duplicate(first));
                }
            }
            (None, _) => {}
        }
        self.write_signal(s).await?;
        Ok(InsertSignalOutcome::Inserted)
    }

    async fn update_signal(&self, signal: &Signal) -> Result<bool> {
        self.update_signal_row(signal).await
    }

    async fn signal(&self, chat: ChatId, id: SignalId) -> Result<Option<Signal>> {
        self.signal_by_id(chat, id).await
    }

    async fn signals(&self, chat: ChatId, range: SignalRange, limit: usize) -> Result<Vec<Signal>> {
        self.page(chat, range, limit).await
    }
}
