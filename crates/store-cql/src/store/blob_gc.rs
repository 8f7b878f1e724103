//! The blob collector's tables over CQL (`ports::BlobGcStore`). `blob_holds ((sha256),
//! holder)` says what keeps each blob; `blob_states ((sha256))` is `live` with the token of
//! its last hold, or `deleting` while the collector deletes it. Every write to
//! `blob_states` is a lightweight transaction: a hold writes its row first and then sets a
//! new token `IF state = 'live'`; the collector reads the token, finds no hold, and marks
//! the blob `IF token = <what it read>`. Whichever comes second fails, so a blob is never
//! deleted under a hold. `unsent_uploads ((day), created_at, …)` lists uploads not sent
//! yet by the day they were made, `unsent_days` the days that have any, and
//! `condemned_blobs` the blobs being deleted (for a collector that stopped half-way).

use super::*;
use domain::{Attachment, BlobKey};
use ports::{BlobGcStore, BlobHolder, UnsentUpload};
use scylla::value::CqlValue;

use crate::timeline::cql_limit;

/// Milliseconds in the day partitions of `unsent_uploads`.
const DAY_MS: i64 = 86_400_000;

pub(crate) fn day(ms: i64) -> i32 {
    ms.div_euclid(DAY_MS) as i32
}

/// A new value for a blob's token: each hold sets one, so the collector can tell.
fn token() -> i64 {
    rand::random()
}

impl CqlStore {
    /// Sets a new token on `blob`'s state if it is live (creating it if missing): false
    /// while it is being deleted.
    async fn touch_blob(&self, blob: &BlobKey) -> Result<bool> {
        for _ in 0..3 {
            let (created, row) = lwt(self.run(&self.st.blob_live_new, (blob.as_str(), token())).await?)?;
            if created {
                return Ok(true);
            }
            if !matches!(row.get("state"), Some(CqlValue::Text(s)) if s == "live") {
                return Ok(false);
            }
            let (touched, row) = lwt(self.run(&self.st.blob_live_again, (token(), blob.as_str())).await?)?;
            if touched {
                return Ok(true);
            }
            if matches!(row.get("state"), Some(CqlValue::Text(s)) if s == "deleting") {
                return Ok(false);
            }
            // Forgotten in between: create it again.
        }
        Ok(false)
    }
}

#[async_trait]
impl BlobGcStore for CqlStore {
    async fn hold_upload(&self, u: &UnsentUpload) -> Result<bool> {
        let d = day(u.created_at);
        let entry = (d, u.created_at, u.chat_id.as_i64(), u.attachment_id.as_i64(), u.sha256.as_str());
        futures::try_join!(self.run(&self.st.insert_unsent, entry), self.run(&self.st.insert_unsent_day, (d,)))?;
        let holder = BlobHolder::Upload { chat_id: u.chat_id, attachment_id: u.attachment_id };
        self.hold_blob(&u.sha256, &holder).await
    }

    async fn hold_blob(&self, blob: &BlobKey, holder: &BlobHolder) -> Result<bool> {
        self.run(&self.st.insert_blob_hold, (blob.as_str(), holder.encode())).await?;
        self.touch_blob(blob).await
    }

    async fn release_sent(&self, chat: ChatId, signal: SignalId, attachments: &[Attachment]) -> Result<()> {
        let (c, s) = (chat.as_i64(), signal.as_i64());
        try_join_all(attachments.iter().map(|a| async move {
            let id = a.id.as_i64();
            let holder = BlobHolder::Upload { chat_id: chat, attachment_id: a.id }.encode();
            futures::try_join!(
                self.run(&self.st.delete_chat_file, (c, attachments::ANY_KIND, s, id)),
                self.run(&self.st.delete_chat_file, (c, a.kind.as_str(), s, id)),
                self.run(&self.st.delete_attachment, (c, id)),
                self.run(&self.st.delete_blob_hold, (a.sha256.as_str(), holder)),
            )?;
            futures::try_join!(
                self.run(&self.st.insert_unsent, (day(0), 0i64, c, id, a.sha256.as_str())),
                self.run(&self.st.insert_unsent_day, (day(0),)),
            )?;
            Ok::<_, Error>(())
        }))
        .await?;
        Ok(())
    }

    async fn unsent_uploads(&self, before_ms: i64, limit: usize) -> Result<Vec<UnsentUpload>> {
        let last = day(before_ms);
        let days = rows::<(i32,)>(self.run(&self.st.unsent_days, (last,)).await?)?;
        let mut out = vec![];
        for (d,) in days {
            if out.len() >= limit {
                break;
            }
            let want = cql_limit(limit - out.len());
            let found = rows::<(i64, i64, i64, String)>(self.run(&self.st.unsent_in_day, (d, before_ms, want)).await?)?;
            if found.is_empty() && d < last {
                // A day before the cut-off with nothing left: no upload is added to it again.
                self.run(&self.st.delete_unsent_day, (d,)).await?;
            }
            for (created_at, chat, id, sha) in found {
                let Some(sha256) = BlobKey::parse(&sha) else { continue };
                out.push(UnsentUpload {
                    chat_id: Id::from_i64(chat),
                    attachment_id: Id::from_i64(id),
                    sha256,
                    created_at,
                });
            }
        }
        Ok(out)
    }

    async fn expire_upload(&self, u: &UnsentUpload) -> Result<bool> {
        let (chat, id) = (u.chat_id.as_i64(), u.attachment_id.as_i64());
        let (expired, _) = lwt(self.run(&self.st.expire_attachment, (chat, id)).await?)?;
        if expired {
            let holder = BlobHolder::Upload { chat_id: u.chat_id, attachment_id: u.attachment_id };
            self.run(&self.st.delete_blob_hold, (u.sha256.as_str(), holder.encode())).await?;
        }
        self.run(&self.st.delete_unsent, (day(u.created_at), u.created_at, chat, id)).await?;
        Ok(expired)
    }

    async fn condemn_blob(&self, blob: &BlobKey) -> Result<bool> {
        let state = first::<(Option<String>, Option<i64>)>(self.run(&self.st.blob_state, (blob.as_str(),)).await?)?;
        if matches!(&state, Some((Some(s), _)) if s == "deleting") {
            return Ok(true);
        }
        if first::<(String,)>(self.run(&self.st.any_blob_hold, (blob.as_str(),)).await?)?.is_some() {
            return Ok(false);
        }
        // Listed first: a collector that stops after marking finds the blob again.
        self.run(&self.st.insert_condemned, (blob.as_str(),)).await?;
        let (marked, _) = match state {
            None => lwt(self.run(&self.st.blob_condemn_new, (blob.as_str(), token())).await?)?,
            Some((_, token)) => lwt(self.run(&self.st.blob_condemn, (blob.as_str(), token)).await?)?,
        };
        if !marked {
            self.run(&self.st.delete_condemned, (blob.as_str(),)).await?;
        }
        Ok(marked)
    }

    async fn forget_blob(&self, blob: &BlobKey) -> Result<Option<BlobKey>> {
        let thumb = first::<(Option<String>,)>(self.run(&self.st.thumbnail_blob, (blob.as_str(),)).await?)?
            .and_then(|(t,)| t.as_deref().and_then(BlobKey::parse));
        self.run(&self.st.delete_thumbnail, (blob.as_str(),)).await?;
        if let Some(t) = &thumb {
            self.run(&self.st.delete_blob_hold, (t.as_str(), BlobHolder::ThumbnailOf(blob.clone()).encode())).await?;
        }
        self.run(&self.st.blob_forget, (blob.as_str(),)).await?;
        self.run(&self.st.delete_condemned, (blob.as_str(),)).await?;
        Ok(thumb)
    }

    async fn condemned_blobs(&self, limit: usize) -> Result<Vec<BlobKey>> {
        let found = rows::<(String,)>(self.run(&self.st.condemned, (cql_limit(limit),)).await?)?;
        Ok(found.into_iter().filter_map(|(b,)| BlobKey::parse(&b)).collect())
    }
}
