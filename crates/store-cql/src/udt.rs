//! The `attachment` user-defined type: an attachment as a signal row's frozen list holds
//! it, and as `attachments` and `chat_files` rows hold it.

use domain::{Attachment, AttachmentKind, BlobKey, ChatId, Id, Result};
use scylla::{DeserializeValue, SerializeValue};

use crate::store::corrupt;

#[derive(Debug, Clone, SerializeValue, DeserializeValue)]
pub(crate) struct AttachmentUdt {
    pub id: i64,
    pub uploader_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub kind: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub created_at: i64,
}

impl From<&Attachment> for AttachmentUdt {
    fn from(a: &Attachment) -> Self {
        Self {
            id: a.id.as_i64(),
            uploader_id: a.uploader_id.as_i64(),
            filename: a.filename.clone(),
            content_type: a.content_type.clone(),
            size: a.size as i64,
            sha256: a.sha256.as_str().to_string(),
            kind: a.kind.as_str().to_string(),
            width: a.width.map(|w| w as i32),
            height: a.height.map(|h| h as i32),
            created_at: a.created_at,
        }
    }
}

impl AttachmentUdt {
    /// The attachment, of chat `chat` (the row's partition, not repeated in the value).
    pub fn into_attachment(self, chat: ChatId) -> Result<Attachment> {
        Ok(Attachment {
            id: Id::from_i64(self.id),
            chat_id: chat,
            uploader_id: Id::from_i64(self.uploader_id),
            filename: self.filename,
            content_type: self.content_type,
            size: u64::try_from(self.size).map_err(|_| corrupt("attachment"))?,
            sha256: BlobKey::parse(&self.sha256).ok_or_else(|| corrupt("attachment"))?,
            kind: AttachmentKind::parse(&self.kind).ok_or_else(|| corrupt("attachment"))?,
            width: self.width.and_then(|w| u32::try_from(w).ok()),
            height: self.height.and_then(|h| u32::try_from(h).ok()),
            created_at: self.created_at,
        })
    }
}
