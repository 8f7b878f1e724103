//! Attachments: the records of uploaded files (their bytes are in [`crate::Blobs`]), which
//! send took each, and "all files of a chat".

use async_trait::async_trait;
use domain::{
    Attachment, AttachmentId, AttachmentKind, BlobKey, ChatId, Result, SignalId, StoredAttachment, Thumbnail,
};

/// Where a page of a chat's files starts: strictly older than this file of this signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilePosition {
    pub signal_id: SignalId,
    pub attachment_id: AttachmentId,
}

/// A file of a chat: an attachment and the message it was sent in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatFile {
    pub signal_id: SignalId,
    pub attachment: Attachment,
}

#[async_trait]
pub trait AttachmentStore: Send + Sync + 'static {
    /// Records an upload (its blob is stored already). Not claimed, not sent.
    async fn insert_attachment(&self, attachment: &Attachment) -> Result<()>;
    /// The attachments of `chat` among `ids` (those that exist), in no particular order.
    async fn attachments(&self, chat: ChatId, ids: &[AttachmentId]) -> Result<Vec<StoredAttachment>>;
    /// Claims attachment `id` for the send of nonce `claim`: true if it was free or is
    /// claimed by that nonce already (a retry), false if another send took it. Decided
    /// once across every node.
    async fn claim_attachment(&self, chat: ChatId, id: AttachmentId, claim: &str) -> Result<bool>;
    /// Records that `attachments` (claimed before) went out in `signal`: they then count
    /// among the chat's files. Idempotent.
    async fn record_sent(&self, chat: ChatId, signal: SignalId, attachments: &[Attachment]) -> Result<()>;
    /// Up to `limit` files of the chat's sent messages (of one kind, or any), newest first,
    /// strictly older than `before`.
    async fn chat_files(
        &self,
        chat: ChatId,
        kind: Option<AttachmentKind>,
        before: Option<FilePosition>,
        limit: usize,
    ) -> Result<Vec<ChatFile>>;
    /// The thumbnail of image blob `blob`, once one was made (or found impossible).
    async fn thumbnail(&self, blob: &BlobKey) -> Result<Option<Thumbnail>>;
    /// Records the thumbnail of `blob` (the last write wins: every writer made the same).
    async fn set_thumbnail(&self, blob: &BlobKey, thumbnail: &Thumbnail) -> Result<()>;
}
