//! The blob collector's side of the store: what holds each blob, the uploads not sent yet,
//! and the blobs being deleted.

use async_trait::async_trait;
use domain::{Attachment, AttachmentId, BlobKey, ChatId, Result, SignalId};

/// What keeps a blob from the collector: an upload of its bytes (until it expires unsent;
/// for good once sent), or the image whose thumbnail it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BlobHolder {
    Upload { chat_id: ChatId, attachment_id: AttachmentId },
    ThumbnailOf(BlobKey),
}

impl BlobHolder {
    /// As stored: `upload:<chat>:<attachment>` or `thumbnail:<sha256>`.
    pub fn encode(&self) -> String {
        match self {
            BlobHolder::Upload { chat_id, attachment_id } => format!("upload:{chat_id}:{attachment_id}"),
            BlobHolder::ThumbnailOf(blob) => format!("thumbnail:{blob}"),
        }
    }
}

/// An upload not sent yet, as the collector sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsentUpload {
    pub chat_id: ChatId,
    pub attachment_id: AttachmentId,
    pub sha256: BlobKey,
    pub created_at: i64,
}

impl From<&Attachment> for UnsentUpload {
    fn from(a: &Attachment) -> Self {
        Self { chat_id: a.chat_id, attachment_id: a.id, sha256: a.sha256.clone(), created_at: a.created_at }
    }
}

/// The blob garbage collector's view of the store. A blob may be deleted once nothing holds
/// it; holding and condemning are decided once across every node, so an upload of the same
/// bytes that comes while the collector deletes them either keeps the blob or waits until it
/// is gone (and stores it again).
#[async_trait]
pub trait BlobGcStore: Send + Sync + 'static {
    /// Before the bytes of upload `upload` are stored: notes the upload (the collector
    /// expires it if it is not sent in time) and its hold on its blob. False while the
    /// collector deletes that blob: wait, then call again.
    async fn hold_upload(&self, upload: &UnsentUpload) -> Result<bool>;
    /// `holder` holds `blob` (idempotent). False while the collector deletes that blob.
    async fn hold_blob(&self, blob: &BlobKey, holder: &BlobHolder) -> Result<bool>;
    /// Message `signal`, which carried `attachments`, was deleted: they leave the chat's
    /// files, their records go (downloads answer 404), and each is listed among the unsent
    /// uploads as due at once (`created_at` 0), so the collector's next pass drops its hold
    /// and deletes the bytes nothing else holds. Idempotent.
    async fn release_sent(&self, chat: ChatId, signal: SignalId, attachments: &[Attachment]) -> Result<()>;
    /// Up to `limit` uploads made before `before_ms` (ms since the epoch) and neither sent
    /// nor expired yet, oldest first.
    async fn unsent_uploads(&self, before_ms: i64, limit: usize) -> Result<Vec<UnsentUpload>>;
    /// Expires `upload` unless a send claimed it: deletes its record and its hold on its
    /// blob, and returns true. A claimed or sent upload is left as it is (false). Either way
    /// it is no longer among the unsent uploads.
    async fn expire_upload(&self, upload: &UnsentUpload) -> Result<bool>;
    /// Marks `blob` as being deleted if nothing holds it (true: delete its bytes, then call
    /// [`forget_blob`](Self::forget_blob)); false if something holds it. True again for a
    /// blob already marked (a collector stopped half-way).
    async fn condemn_blob(&self, blob: &BlobKey) -> Result<bool>;
    /// The blob's bytes are gone: it may be held (and stored) again. Also deletes the
    /// blob's thumbnail record; returns the thumbnail's blob, if it had one, whose hold by
    /// this blob it releases.
    async fn forget_blob(&self, blob: &BlobKey) -> Result<Option<BlobKey>>;
    /// Up to `limit` blobs marked as being deleted (left by a collector that stopped).
    async fn condemned_blobs(&self, limit: usize) -> Result<Vec<BlobKey>>;
}
