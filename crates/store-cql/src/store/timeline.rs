//! The Store's timelines: each chat's signals (`ports::TimelineStore`).

use super::*;
use ports::TimelineStore;

#[async_trait]
impl TimelineStore for CqlStore {
    /// Claims the nonce (LWT) if there is one, then writes the signal. A nonce already
    /// claimed by another attempt answers `Duplicate`, after making sure its signal exists
    /// ([`CqlStore::complete_duplicate`]). A claim the driver repeated after losing the
    /// answer of one that landed is this attempt's ([`crate::Claim::Ours`]).
    async fn insert_signal(&self, signal: &Signal, nonce: Option<&str>) -> Result<InsertSignalOutcome> {
        let s = signal;
        if let Some(nonce) = nonce {
            let result = self
                .run(&self.st.claim_nonce, (s.chat_id.as_i64(), s.author_id.as_i64(), nonce, s.id.as_i64()))
                .await?;
            if let Claim::Theirs(first) = claim(result, "signal_id", s.id.as_i64())? {
                let first = Id::from_i64(first);
                self.complete_duplicate(s, first).await?;
                return Ok(InsertSignalOutcome::Duplicate(first));
            }
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
