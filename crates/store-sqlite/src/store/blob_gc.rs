//! The blob collector's tables (`ports::BlobGcStore`): `blob_holds` (what keeps each blob),
//! `condemned_blobs` (being deleted) and `unsent_uploads`. The one writer connection makes
//! a hold and a condemnation exclusive: each checks the other inside its transaction.

use super::*;
use domain::{Attachment, BlobKey};
use ports::{BlobGcStore, BlobHolder, UnsentUpload};

/// Inserts `holder`'s hold on `blob` unless the blob is being deleted (false).
fn hold(tx: &rusqlite::Connection, blob: &str, holder: &str) -> rusqlite::Result<bool> {
    let condemned = tx.prepare_cached("SELECT 1 FROM condemned_blobs WHERE sha256 = ?1")?.exists([blob])?;
    if condemned {
        return Ok(false);
    }
    tx.prepare_cached("INSERT OR IGNORE INTO blob_holds (sha256, holder) VALUES (?1, ?2)")?.execute([blob, holder])?;
    Ok(true)
}

#[async_trait]
impl BlobGcStore for SqliteStore {
    async fn hold_upload(&self, u: &UnsentUpload) -> Result<bool> {
        let u = u.clone();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let holder = BlobHolder::Upload { chat_id: u.chat_id, attachment_id: u.attachment_id }.encode();
            if !hold(&tx, u.sha256.as_str(), &holder)? {
                return Ok(false);
            }
            tx.prepare_cached(
                "INSERT OR IGNORE INTO unsent_uploads (attachment_id, chat_id, sha256, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                u.attachment_id.as_i64(),
                u.chat_id.as_i64(),
                u.sha256.as_str(),
                u.created_at
            ])?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn hold_blob(&self, blob: &BlobKey, holder: &BlobHolder) -> Result<bool> {
        let (blob, holder) = (blob.clone(), holder.encode());
        self.write(move |c| {
            let tx = c.savepoint()?;
            let held = hold(&tx, blob.as_str(), &holder)?;
            tx.commit()?;
            Ok(held)
        })
        .await
    }

    async fn release_sent(&self, chat: ChatId, _signal: SignalId, attachments: &[Attachment]) -> Result<()> {
        let attachments = attachments.to_vec();
        self.write(move |c| {
            let tx = c.savepoint()?;
            for a in &attachments {
                let holder = BlobHolder::Upload { chat_id: chat, attachment_id: a.id }.encode();
                tx.prepare_cached("DELETE FROM attachments WHERE chat_id = ?1 AND id = ?2")?
                    .execute([chat.as_i64(), a.id.as_i64()])?;
                tx.prepare_cached("DELETE FROM blob_holds WHERE sha256 = ?1 AND holder = ?2")?
                    .execute([a.sha256.as_str(), holder.as_str()])?;
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO unsent_uploads (attachment_id, chat_id, sha256, created_at)
                     VALUES (?1, ?2, ?3, 0)",
                )?
                .execute(params![a.id.as_i64(), chat.as_i64(), a.sha256.as_str()])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn unsent_uploads(&self, before_ms: i64, limit: usize) -> Result<Vec<UnsentUpload>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT attachment_id, chat_id, sha256, created_at FROM unsent_uploads
                 WHERE created_at < ?1 ORDER BY created_at LIMIT ?2",
            )?
            .query_map(params![before_ms, limit as i64], |r| {
                let (id, chat, sha, created_at): (i64, i64, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                Ok(BlobKey::parse(&sha).map(|sha256| UnsentUpload {
                    attachment_id: Id::from_i64(id),
                    chat_id: Id::from_i64(chat),
                    sha256,
                    created_at,
                }))
            })?
            .filter_map(|row| row.transpose())
            .collect()
        })
        .await
    }

    async fn expire_upload(&self, u: &UnsentUpload) -> Result<bool> {
        let u = u.clone();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let key = params![u.chat_id.as_i64(), u.attachment_id.as_i64()];
            let expired = tx
                .prepare_cached(
                    "DELETE FROM attachments WHERE chat_id = ?1 AND id = ?2 AND claimed_by IS NULL AND signal_id IS NULL",
                )?
                .execute(key)?
                == 1;
            // Not deleted: claimed or sent (kept), or never recorded (gone all the same).
            let gone = expired
                || !tx.prepare_cached("SELECT 1 FROM attachments WHERE chat_id = ?1 AND id = ?2")?.exists(key)?;
            if gone {
                let holder = BlobHolder::Upload { chat_id: u.chat_id, attachment_id: u.attachment_id }.encode();
                tx.prepare_cached("DELETE FROM blob_holds WHERE sha256 = ?1 AND holder = ?2")?
                    .execute([u.sha256.as_str(), holder.as_str()])?;
            }
            tx.prepare_cached("DELETE FROM unsent_uploads WHERE attachment_id = ?1")?
                .execute([u.attachment_id.as_i64()])?;
            tx.commit()?;
            Ok(gone)
        })
        .await
    }

    async fn condemn_blob(&self, blob: &BlobKey) -> Result<bool> {
        let blob = blob.clone();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let held = tx.prepare_cached("SELECT 1 FROM blob_holds WHERE sha256 = ?1")?.exists([blob.as_str()])?;
            if !held {
                tx.prepare_cached("INSERT OR IGNORE INTO condemned_blobs (sha256) VALUES (?1)")?
                    .execute([blob.as_str()])?;
            }
            tx.commit()?;
            Ok(!held)
        })
        .await
    }

    async fn forget_blob(&self, blob: &BlobKey) -> Result<Option<BlobKey>> {
        let blob = blob.clone();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let thumb: Option<String> = tx
                .prepare_cached("SELECT thumb FROM thumbnails WHERE blob = ?1")?
                .query_row([blob.as_str()], |r| r.get(0))
                .optional()?
                .flatten();
            tx.prepare_cached("DELETE FROM thumbnails WHERE blob = ?1")?.execute([blob.as_str()])?;
            if let Some(t) = &thumb {
                let holder = BlobHolder::ThumbnailOf(blob.clone()).encode();
                tx.prepare_cached("DELETE FROM blob_holds WHERE sha256 = ?1 AND holder = ?2")?
                    .execute([t.as_str(), holder.as_str()])?;
            }
            tx.prepare_cached("DELETE FROM condemned_blobs WHERE sha256 = ?1")?.execute([blob.as_str()])?;
            tx.commit()?;
            Ok(thumb.as_deref().and_then(BlobKey::parse))
        })
        .await
    }

    async fn condemned_blobs(&self, limit: usize) -> Result<Vec<BlobKey>> {
        self.read(move |c| {
            c.prepare_cached("SELECT sha256 FROM condemned_blobs LIMIT ?1")?
                .query_map([limit as i64], |r| r.get::<_, String>(0))?
                .map(|row| row.map(|s| BlobKey::parse(&s)))
                .filter_map(|row| row.transpose())
                .collect()
        })
        .await
    }
}
