//! Blobs: the bytes of attachments, stored once per content under the SHA-256 of those
//! bytes ([`BlobKey`]). The service hashes and sniffs; a `Blobs` adapter only keeps bytes.

use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use domain::{BlobKey, Result};
use futures::stream::BoxStream;

/// The bytes of a blob (or of a range of it), as they are read.
pub type BlobBytes = BoxStream<'static, Result<Bytes>>;

/// The response headers a direct download URL makes the object store send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadHeaders {
    pub content_type: String,
    pub content_disposition: String,
}

#[async_trait]
pub trait Blobs: Send + Sync + 'static {
    /// Starts a blob whose key is known only once its last byte is in.
    async fn stage(&self) -> Result<Box<dyn StagedBlob>>;
    /// The size of blob `key`, if it is stored.
    async fn size(&self, key: &BlobKey) -> Result<Option<u64>>;
    /// The bytes of blob `key` (all, or `range`, which the caller keeps within its size).
    /// A blob that is not stored is a `not_found` error.
    async fn read(&self, key: &BlobKey, range: Option<Range<u64>>) -> Result<BlobBytes>;
    /// A URL from which a client downloads blob `key` directly, with `headers`, until
    /// `expires_in` has passed; `None` when this adapter has no such URL (the server then
    /// streams the bytes itself).
    async fn download_url(
        &self,
        key: &BlobKey,
        expires_in: Duration,
        headers: &DownloadHeaders,
    ) -> Result<Option<String>>;
    /// Removes blob `key`; removing one that is not stored is not an error.
    async fn delete(&self, key: &BlobKey) -> Result<()>;
    /// Whether the storage answers.
    async fn ping(&self) -> Result<()>;
}

/// A blob being written. Dropped without [`StagedBlob::commit`], what was written is left
/// as staging garbage for the adapter to clean up; [`StagedBlob::abort`] removes it now.
#[async_trait]
pub trait StagedBlob: Send {
    async fn write(&mut self, chunk: Bytes) -> Result<()>;
    /// Stores what was written as blob `key`, the SHA-256 of those bytes (computed by the
    /// caller). When `key` is stored already it holds the same bytes: the staged copy is
    /// discarded and the stored one kept, so the same content is stored once.
    async fn commit(self: Box<Self>, key: &BlobKey) -> Result<()>;
    /// Discards what was written.
    async fn abort(self: Box<Self>);
}
