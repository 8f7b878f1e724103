//! The Store's attachments: upload records, their claims by sends, and each chat's files
//! (`ports::AttachmentStore`).

use super::*;
use domain::{Attachment, AttachmentId, AttachmentKind, BlobKey, StoredAttachment, Thumbnail};
use ports::{AttachmentStore, ChatFile, FilePosition};

use crate::rows::{ATTACHMENT_COLUMNS, attachment};

#[async_trait]
impl AttachmentStore for SqliteStore {
    async fn insert_attachment(&self, a: &Attachment) -> Result<()> {
        let a = a.clone();
        self.write(move |c| {
            c.prepare_cached(&format!(
                "INSERT OR IGNORE INTO attachments ({ATTACHMENT_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, NULL)"
            ))?
            .execute(params![
                a.id.as_i64(),
                a.chat_id.as_i64(),
                a.uploader_id.as_i64(),
                a.filename,
                a.content_type,
                a.size as i64,
                a.sha256.as_str(),
                a.kind.as_str(),
                a.width,
                a.height,
                a.created_at
            ])?;
            Ok(())
        })
        .await
    }

    async fn attachments(&self, chat: ChatId, ids: &[AttachmentId]) -> Result<Vec<StoredAttachment>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let ids: Vec<i64> = ids.iter().map(|id| id.as_i64()).collect();
        self.read(move |c| {
            let sql = format!(
                "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE chat_id = ? AND id IN ({})",
                placeholders(ids.len())
            );
            let values = std::iter::once(chat.as_i64()).chain(ids.iter().copied());
            c.prepare_cached(&sql)?.query_map(params_from_iter(values), attachment)?.collect()
        })
        .await
    }

    async fn claim_attachment(&self, chat: ChatId, id: AttachmentId, claim: &str) -> Result<bool> {
        let claim = claim.to_string();
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE attachments SET claimed_by = ?3
                 WHERE chat_id = ?1 AND id = ?2 AND (claimed_by IS NULL OR claimed_by = ?3)",
            )?
            .execute(params![chat.as_i64(), id.as_i64(), claim])
            .map(|n| n == 1)
        })
        .await
    }

    async fn record_sent(&self, chat: ChatId, signal: SignalId, attachments: &[Attachment]) -> Result<()> {
        let ids: Vec<i64> = attachments.iter().map(|a| a.id.as_i64()).collect();
        self.write(move |c| {
            let tx = c.savepoint()?;
            {
                let mut stmt =
                    tx.prepare_cached("UPDATE attachments SET signal_id = ?3 WHERE chat_id = ?1 AND id = ?2")?;
                let mut unsent = tx.prepare_cached("DELETE FROM unsent_uploads WHERE attachment_id = ?1")?;
                for id in &ids {
                    stmt.execute(params![chat.as_i64(), id, signal.as_i64()])?;
                    unsent.execute([id])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn chat_files(
        &self,
        chat: ChatId,
        kind: Option<AttachmentKind>,
        before: Option<FilePosition>,
        limit: usize,
    ) -> Result<Vec<ChatFile>> {
        let (signal, id) = before.map_or((i64::MAX, i64::MAX), |p| (p.signal_id.as_i64(), p.attachment_id.as_i64()));
        let kind = kind.map(AttachmentKind::as_str);
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {ATTACHMENT_COLUMNS} FROM attachments
                 WHERE chat_id = ?1 AND signal_id IS NOT NULL AND (?2 IS NULL OR kind = ?2)
                   AND (signal_id < ?3 OR (signal_id = ?3 AND id < ?4))
                 ORDER BY signal_id DESC, id DESC LIMIT ?5"
            ))?
            .query_map(params![chat.as_i64(), kind, signal, id, limit as i64], attachment)?
            .map(|row| {
                let stored = row?;
                let signal_id = stored.signal_id.expect("the query keeps sent attachments only");
                Ok(ChatFile { signal_id, attachment: stored.attachment })
            })
            .collect()
        })
        .await
    }

    async fn thumbnail(&self, blob: &BlobKey) -> Result<Option<Thumbnail>> {
        let blob = blob.clone();
        self.read(move |c| {
            c.prepare_cached("SELECT thumb, width, height, size FROM thumbnails WHERE blob = ?1")?
                .query_row([blob.as_str()], |r| {
                    let thumb: Option<String> = r.get(0)?;
                    Ok(match thumb.as_deref().and_then(BlobKey::parse) {
                        Some(blob) => Thumbnail::Made {
                            blob,
                            width: r.get(1)?,
                            height: r.get(2)?,
                            size: r.get::<_, i64>(3)? as u64,
                        },
                        None => Thumbnail::Impossible,
                    })
                })
                .optional()
        })
        .await
    }

    async fn set_thumbnail(&self, blob: &BlobKey, thumbnail: &Thumbnail) -> Result<()> {
        let (blob, thumbnail) = (blob.clone(), thumbnail.clone());
        self.write(move |c| {
            let (thumb, width, height, size) = match &thumbnail {
                Thumbnail::Made { blob, width, height, size } => (Some(blob.as_str()), *width, *height, *size as i64),
                Thumbnail::Impossible => (None, 0, 0, 0),
            };
            c.prepare_cached(
                "INSERT OR REPLACE INTO thumbnails (blob, thumb, width, height, size) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![blob.as_str(), thumb, width, height, size])?;
            Ok(())
        })
        .await
    }
}
