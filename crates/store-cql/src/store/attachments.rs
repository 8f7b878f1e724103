//! The Store's attachments over CQL (`ports::AttachmentStore`): `attachments ((chat_id),
//! id)` holds each upload with its claim and message; `chat_files ((chat_id, kind),
//! signal_id, attachment_id)` lists a chat's sent files newest first, each under its kind
//! and under `any`. A claim is a lightweight transaction (one send takes an attachment,
//! on any node; never one the collector expired); the rest are idempotent writes.

use super::*;
use domain::{Attachment, AttachmentId, AttachmentKind, BlobKey, StoredAttachment, Thumbnail};
use ports::{AttachmentStore, ChatFile, FilePosition};

use super::blob_gc::day;
use crate::timeline::cql_limit;
use crate::udt::AttachmentUdt;

/// The `chat_files` partition of every kind.
pub(crate) const ANY_KIND: &str = "any";

#[async_trait]
impl AttachmentStore for CqlStore {
    async fn insert_attachment(&self, a: &Attachment) -> Result<()> {
        self.run(&self.st.insert_attachment, (a.chat_id.as_i64(), a.id.as_i64(), AttachmentUdt::from(a)))
            .await
            .map(drop)
    }

    async fn attachments(&self, chat: ChatId, ids: &[AttachmentId]) -> Result<Vec<StoredAttachment>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let ids: Vec<i64> = ids.iter().map(|id| id.as_i64()).collect();
        let result = self.run(&self.st.attachments, (chat.as_i64(), ids)).await?;
        rows::<(AttachmentUdt, Option<String>, Option<i64>)>(result)?
            .into_iter()
            .map(|(file, claimed_by, signal_id)| {
                Ok(StoredAttachment {
                    attachment: file.into_attachment(chat)?,
                    claimed_by,
                    signal_id: signal_id.map(Id::from_i64),
                })
            })
            .collect()
    }

    async fn claim_attachment(&self, chat: ChatId, id: AttachmentId, claim: &str) -> Result<bool> {
        let (applied, row) = lwt(self.run(&self.st.claim_attachment, (claim, chat.as_i64(), id.as_i64())).await?)?;
        Ok(applied || matches!(row.get("claimed_by"), Some(scylla::value::CqlValue::Text(c)) if c == claim))
    }

    async fn record_sent(&self, chat: ChatId, signal: SignalId, attachments: &[Attachment]) -> Result<()> {
        let (c, s) = (chat.as_i64(), signal.as_i64());
        let files: Vec<(i64, &str, i64, i64, AttachmentUdt)> = attachments
            .iter()
            .flat_map(|a| {
                let udt = AttachmentUdt::from(a);
                [(c, ANY_KIND, s, a.id.as_i64(), udt.clone()), (c, a.kind.as_str(), s, a.id.as_i64(), udt)]
            })
            .collect();
        let sent: Vec<(i64, i64, i64)> = attachments.iter().map(|a| (s, c, a.id.as_i64())).collect();
        let unsent: Vec<(i32, i64, i64, i64)> =
            attachments.iter().map(|a| (day(a.created_at), a.created_at, c, a.id.as_i64())).collect();
        futures::try_join!(
            self.run_batched(&self.st.insert_chat_file, files),
            self.run_batched(&self.st.set_attachment_signal, sent)
        )?;
        // Sent: no longer for the collector to expire.
        self.run_batched(&self.st.delete_unsent, unsent).await?;
        Ok(())
    }

    async fn chat_files(
        &self,
        chat: ChatId,
        kind: Option<AttachmentKind>,
        before: Option<FilePosition>,
        limit: usize,
    ) -> Result<Vec<ChatFile>> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let (signal, id) = before.map_or((i64::MAX, i64::MAX), |p| (p.signal_id.as_i64(), p.attachment_id.as_i64()));
        let kind = kind.map_or(ANY_KIND, AttachmentKind::as_str);
        let result = self.run(&self.st.chat_files, (chat.as_i64(), kind, signal, id, cql_limit(limit))).await?;
        rows::<(i64, AttachmentUdt)>(result)?
            .into_iter()
            .map(|(signal_id, file)| {
                Ok(ChatFile { signal_id: Id::from_i64(signal_id), attachment: file.into_attachment(chat)? })
            })
            .collect()
    }

    async fn thumbnail(&self, blob: &BlobKey) -> Result<Option<Thumbnail>> {
        let row = first::<(Option<String>, Option<i32>, Option<i32>, Option<i64>)>(
            self.run(&self.st.thumbnail, (blob.as_str(),)).await?,
        )?;
        Ok(row.map(|(thumb, width, height, size)| match thumb.as_deref().and_then(BlobKey::parse) {
            Some(blob) => Thumbnail::Made {
                blob,
                width: width.unwrap_or(0).max(0) as u32,
                height: height.unwrap_or(0).max(0) as u32,
                size: size.unwrap_or(0).max(0) as u64,
            },
            None => Thumbnail::Impossible,
        }))
    }

    async fn set_thumbnail(&self, blob: &BlobKey, thumbnail: &Thumbnail) -> Result<()> {
        let values = match thumbnail {
            Thumbnail::Made { blob: thumb, width, height, size } => {
                (blob.as_str(), Some(thumb.as_str()), *width as i32, *height as i32, *size as i64)
            }
            Thumbnail::Impossible => (blob.as_str(), None, 0, 0, 0),
        };
        self.run(&self.st.set_thumbnail, values).await.map(drop)
    }
}
