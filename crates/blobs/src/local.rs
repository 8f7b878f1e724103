//! Blobs in a local directory: a staged upload is a file under `staging/`, synced to disk
//! and then linked to its content-addressed name (a hard link, so "store it unless it is
//! there" is one atomic step), so an acknowledged upload survives a power cut.

use std::io::SeekFrom;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use domain::{BlobKey, Error, ErrorCode, Result};
use futures::StreamExt;
use ports::{BlobBytes, Blobs, DownloadHeaders, StagedBlob};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::{blob_path, staging_name};

/// Bytes read from disk at a time when serving a blob.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::unavailable(format!("blob storage: cannot {what}: {e}"))
}

impl LocalBlobs {
    /// Opens (creating it) the blob directory `root`, and removes what uploads interrupted
    /// by a stop left in its staging directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let staging = root.join("staging");
        std::fs::create_dir_all(&staging).map_err(|e| io_error("create the blob directory", e))?;
        std::fs::create_dir_all(root.join("blobs")).map_err(|e| io_error("create the blob directory", e))?;
        for entry in std::fs::read_dir(&staging).map_err(|e| io_error("list staged uploads", e))?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(Self { root })
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        self.root.join(blob_path(key))
    }
}

#[async_trait]
impl Blobs for LocalBlobs {
    async fn stage(&self) -> Result<Box<dyn StagedBlob>> {
        let path = self.root.join(staging_name());
        let file = tokio::fs::File::create(&path).await.map_err(|e| io_error("stage an upload", e))?;
        Ok(Box::new(LocalStaged { root: self.root.clone(), path, file }))
    }

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read a blob's size", e)),
        }
    }

    async fn read(&self, key: &BlobKey, range: Option<Range<u64>>) -> Result<BlobBytes> {
        let mut file = match tokio::fs::File::open(self.path(key)).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::not_found(ErrorCode::BlobNotFound, "the file's bytes are not stored"));
            }
            Err(e) => return Err(io_error("open a blob", e)),
        };
        let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match range {
            Some(range) => {
                file.seek(SeekFrom::Start(range.start)).await.map_err(|e| io_error("seek in a blob", e))?;
                Box::new(file.take(range.end.saturating_sub(range.start)))
            }
            None => Box::new(file),
        };
        Ok(tokio_util::io::ReaderStream::with_capacity(reader, READ_CHUNK)
            .map(|chunk| chunk.map_err(|e| io_error("read a blob", e)))
            .boxed())
    }

    async fn download_url(&self, _: &BlobKey, _: Duration, _: &DownloadHeaders) -> Result<Option<String>> {
        Ok(None)
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("delete a blob", e)),
        }
    }

    async fn ping(&self) -> Result<()> {
        tokio::fs::metadata(self.root.join("blobs"))
            .await
            .map(drop)
            .map_err(|e| io_error("reach the blob directory", e))
    }
}

struct LocalStaged {
    root: PathBuf,
    path: PathBuf,
    file: tokio::fs::File,
}

#[async_trait]
impl StagedBlob for LocalStaged {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.file.write_all(&chunk).await.map_err(|e| io_error("write an upload", e))
    }

    async fn commit(self: Box<Self>, key: &BlobKey) -> Result<()> {
        let Self { root, path, mut file } = *self;
        let result = async {
            file.flush().await.map_err(|e| io_error("write an upload", e))?;
            file.sync_all().await.map_err(|e| io_error("sync an upload", e))?;
            drop(file);
            let target = root.join(blob_path(key));
            let dir = target.parent().expect("a blob path has a directory");
            tokio::fs::create_dir_all(dir).await.map_err(|e| io_error("create a blob directory", e))?;
            match tokio::fs::hard_link(&path, &target).await {
                Ok(()) => sync_dir(dir).await,
                // The same bytes are stored already: keep those.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(io_error("store a blob", e)),
            }
        }
        .await;
        let _ = tokio::fs::remove_file(&path).await;
        result
    }

    async fn abort(self: Box<Self>) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

/// Makes a new directory entry durable.
async fn sync_dir(dir: &Path) -> Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir).and_then(|d| d.sync_all()))
        .await
        .map_err(|e| Error::internal(format!("blob storage: sync task failed: {e}")))?
        .map_err(|e| io_error("sync a blob directory", e))
}
