//! The `collector` worker role: deletes the uploads never sent within the grace period,
//! then every blob nothing holds any more (an expired upload's bytes, the thumbnail of a
//! deleted image), and finishes what a collector that stopped half-way left. Any number
//! of nodes may run it at once: the store decides each hold and each condemnation once.

use std::sync::Arc;
use std::time::Duration;

use domain::{BlobKey, Result};
use ports::{Blobs, Store};
use tokio_util::sync::CancellationToken;

/// Uploads (and condemned blobs) read per query.
const BATCH: usize = 500;

/// What one pass deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    pub expired_uploads: usize,
    pub deleted_blobs: usize,
}

pub struct Collector {
    store: Arc<dyn Store>,
    blobs: Arc<dyn Blobs>,
    /// How long an upload may wait for its message.
    grace: Duration,
}

impl Collector {
    pub fn new(store: Arc<dyn Store>, blobs: Arc<dyn Blobs>, grace: Duration) -> Self {
        Self { store, blobs, grace }
    }

    /// A pass every `interval` until `shutdown`; a failed pass is retried at the next.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) -> Result<()> {
        loop {
            match self.pass().await {
                Ok(c) if c != Collected::default() => {
                    tracing::info!(
                        expired_uploads = c.expired_uploads,
                        deleted_blobs = c.deleted_blobs,
                        "collector: pass"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "collector: pass failed, retrying at the next"),
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = shutdown.cancelled() => return Ok(()),
            }
        }
    }

    /// Expires the uploads older than the grace period, then deletes the blobs left
    /// without a hold.
    pub async fn pass(&self) -> Result<Collected> {
        let before = domain::id::now_ms() as i64 - self.grace.as_millis() as i64;
        let mut done = Collected::default();
        let mut candidates: Vec<BlobKey> = self.store.condemned_blobs(BATCH).await?;
        loop {
            let due = self.store.unsent_uploads(before, BATCH).await?;
            for upload in &due {
                if self.store.expire_upload(upload).await? {
                    done.expired_uploads += 1;
                }
                // Also when it was not expired: a released upload (its message deleted)
                // is listed here with its hold already dropped. `condemn_blob` checks holds.
                candidates.push(upload.sha256.clone());
            }
            if due.len() < BATCH {
                break;
            }
        }
        candidates.sort();
        candidates.dedup();
        while let Some(blob) = candidates.pop() {
            if !self.store.condemn_blob(&blob).await? {
                continue;
            }
            self.blobs.delete(&blob).await?;
            if let Some(thumbnail) = self.store.forget_blob(&blob).await? {
                candidates.push(thumbnail);
            }
            done.deleted_blobs += 1;
        }
        Ok(done)
    }
}
