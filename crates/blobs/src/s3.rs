//! Blobs on S3 with `object_store`. An upload is held in memory up to one part
//! ([`PART_SIZE`]): a file that fits is stored with one `PUT` under its content-addressed
//! key (unless that key is there already); a bigger one streams to a multipart upload
//! under `staging/`, which is copied to its key at the end (server-side) and removed.
//! Either way memory per upload stays within a few parts, whatever the file's size.
//!
//! Downloads are presigned `GET` URLs signed for the endpoint clients reach
//! (`public_endpoint`), carrying the response's `Content-Type` and `Content-Disposition`
//! (`response-content-*` parameters, part of the signature).

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use domain::{BlobKey, Error, ErrorCode, Result};
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use ports::{BlobBytes, Blobs, DownloadHeaders, StagedBlob};
use serde::{Deserialize, Serialize};

use crate::{blob_path, staging_name};

/// What an upload holds in memory before it streams to a multipart upload, and the size of
/// each part then (S3's smallest part is 5 MiB).
pub const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Where the S3 blobs are. Every key has a default but the bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Config {
    /// The S3 endpoint this server talks to (`http://127.0.0.1:8333` for the stack's
    /// SeaweedFS); unset for AWS, whose endpoint follows the region.
    pub endpoint: Option<String>,
    /// The endpoint as clients reach it, which presigned download URLs are signed for
    /// (e.g. `https://files.example.org`); unset, the same as `endpoint`.
    pub public_endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    /// Credentials; unset, `object_store` looks in the environment (`AWS_ACCESS_KEY_ID`…,
    /// instance metadata).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Every key under this prefix (e.g. `petit-chat/`), for a bucket shared with other
    /// data; unset, at the bucket's root.
    pub prefix: Option<String>,
    /// `https://<bucket>.<host>` rather than `https://<host>/<bucket>`: AWS wants it,
    /// SeaweedFS, MinIO and Garage usually do not.
    pub virtual_hosted_style: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: None,
            public_endpoint: None,
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key_id: None,
            secret_access_key: None,
            prefix: None,
            virtual_hosted_style: false,
        }
    }
}

impl S3Config {
    /// The URL presigned download URLs start with, which browsers are redirected to:
    /// `public_endpoint`, else `endpoint`, else AWS's for the bucket's region (as
    /// `object_store` builds it).
    pub fn download_base_url(&self) -> String {
        match (self.public_endpoint.as_ref().or(self.endpoint.as_ref()), self.virtual_hosted_style) {
            (Some(endpoint), _) => endpoint.clone(),
            (None, true) => format!("https://{}.s3.{}.amazonaws.com", self.bucket, self.region),
            (None, false) => format!("https://s3.{}.amazonaws.com", self.region),
        }
    }
}

#[derive(Debug, Clone)]
pub struct S3Blobs {
    store: Arc<AmazonS3>,
    /// The same bucket as clients reach it: signs download URLs, never sends a request.
    signer: Arc<AmazonS3>,
    /// Before every key: empty, or ending with `/`.
    prefix: String,
}

fn s3_error(what: &str, e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { .. } => {
            Error::not_found(ErrorCode::BlobNotFound, "the file's bytes are not stored")
        }
        e => Error::unavailable(format!("S3: cannot {what}: {e}")),
    }
}

impl S3Blobs {
    /// Builds the client (no request is made: see [`Blobs::ping`]).
    pub fn new(config: &S3Config) -> Result<Self> {
        if config.bucket.is_empty() {
            return Err(Error::invalid(ErrorCode::InvalidConfig, "blobs.bucket is required for S3"));
        }
        let build = |endpoint: Option<&String>| {
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(&config.bucket)
                .with_region(&config.region)
                .with_virtual_hosted_style_request(config.virtual_hosted_style);
            if let Some(endpoint) = endpoint {
                builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
            }
            if let Some(id) = &config.access_key_id {
                builder = builder.with_access_key_id(id);
            }
            if let Some(secret) = &config.secret_access_key {
                builder = builder.with_secret_access_key(secret);
            }
            builder.build().map_err(|e| Error::invalid(ErrorCode::InvalidConfig, format!("blobs: {e}")))
        };
        let store = build(config.endpoint.as_ref())?;
        let signer = build(config.public_endpoint.as_ref().or(config.endpoint.as_ref()))?;
        let prefix = match config.prefix.as_deref().map(|p| p.trim_matches('/')) {
            None | Some("") => String::new(),
            Some(p) => format!("{p}/"),
        };
        Ok(Self { store: Arc::new(store), signer: Arc::new(signer), prefix })
    }

    fn path(&self, key: &BlobKey) -> Path {
        Path::from(format!("{}{}", self.prefix, blob_path(key)))
    }

    /// Deletes every object under this adapter's key prefix (blobs and staging): what a
    /// test server removes when it stops. Refused without a prefix: that is the bucket.
    pub async fn delete_everything(&self) -> Result<()> {
        if self.prefix.is_empty() {
            return Err(Error::invalid(ErrorCode::InvalidConfig, "blobs: no key prefix: refusing to empty the bucket"));
        }
        let prefix = Path::from(self.prefix.as_str());
        let locations = self.store.list(Some(&prefix)).map(|meta| meta.map(|m| m.location)).boxed();
        let mut deleted = self.store.delete_stream(locations);
        while let Some(result) = deleted.next().await {
            result.map_err(|e| s3_error("delete blobs", e))?;
        }
        Ok(())
    }

    /// The keys of every stored blob (for tests and tools that count objects).
    pub async fn keys(&self) -> Result<Vec<String>> {
        let mut keys = vec![];
        let mut list = self.store.list(Some(&Path::from(format!("{}blobs", self.prefix))));
        while let Some(meta) = list.next().await {
            keys.push(meta.map_err(|e| s3_error("list blobs", e))?.location.to_string());
        }
        Ok(keys)
    }
}

#[async_trait]
impl Blobs for S3Blobs {
    async fn stage(&self) -> Result<Box<dyn StagedBlob>> {
        Ok(Box::new(S3Staged {
            store: self.store.clone(),
            prefix: self.prefix.clone(),
            staging: Path::from(format!("{}{}", self.prefix, staging_name())),
            held: BytesMut::new(),
            multipart: None,
        }))
    }

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>> {
        match self.store.head(&self.path(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(s3_error("read a blob's size", e)),
        }
    }

    async fn read(&self, key: &BlobKey, range: Option<Range<u64>>) -> Result<BlobBytes> {
        let options = GetOptions { range: range.map(GetRange::Bounded), ..GetOptions::default() };
        let result = self.store.get_opts(&self.path(key), options).await.map_err(|e| s3_error("read a blob", e))?;
        Ok(result.into_stream().map(|chunk| chunk.map_err(|e| s3_error("read a blob", e))).boxed())
    }

    async fn download_url(
        &self,
        key: &BlobKey,
        expires_in: Duration,
        headers: &DownloadHeaders,
    ) -> Result<Option<String>> {
        let options = SignedUrlOptions::default().with_query([
            ("response-content-type", headers.content_type.as_str()),
            ("response-content-disposition", headers.content_disposition.as_str()),
        ]);
        let url = self
            .signer
            .signed_url_opts(http::Method::GET, &self.path(key), expires_in, &options)
            .await
            .map_err(|e| s3_error("sign a download URL", e))?;
        Ok(Some(url.to_string()))
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(s3_error("delete a blob", e)),
        }
    }

    async fn ping(&self) -> Result<()> {
        match self.store.head(&Path::from(format!("{}ping", self.prefix))).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(s3_error("reach the bucket", e)),
        }
    }
}

struct S3Staged {
    store: Arc<AmazonS3>,
    prefix: String,
    /// Where the multipart upload goes, if the file outgrows one part.
    staging: Path,
    /// What came before the first part was started (all of a small file).
    held: BytesMut,
    /// Once the file outgrew one part: its multipart upload under `staging/`.
    multipart: Option<(Path, WriteMultipart)>,
}

impl S3Staged {
    async fn start_multipart(&mut self) -> Result<()> {
        let path = self.staging.clone();
        let upload = self.store.put_multipart(&path).await.map_err(|e| s3_error("start an upload", e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        writer.put(std::mem::take(&mut self.held).freeze());
        self.multipart = Some((path, writer));
        Ok(())
    }
}

#[async_trait]
impl StagedBlob for S3Staged {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        match &mut self.multipart {
            Some((_, writer)) => {
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(|e| s3_error("upload a part", e))?;
                writer.put(chunk);
            }
            None => {
                self.held.extend_from_slice(&chunk);
                if self.held.len() >= PART_SIZE {
                    self.start_multipart().await?;
                }
            }
        }
        Ok(())
    }

    async fn commit(self: Box<Self>, key: &BlobKey) -> Result<()> {
        let Self { store, prefix, held, multipart, .. } = *self;
        let target = Path::from(format!("{prefix}{}", blob_path(key)));
        let exists = || async {
            match store.head(&target).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(s3_error("look for a blob", e)),
            }
        };
        match multipart {
            None => {
                if !exists().await? {
                    store
                        .put(&target, PutPayload::from(held.freeze()))
                        .await
                        .map_err(|e| s3_error("store a blob", e))?;
                }
                Ok(())
            }
            Some((staged, writer)) => {
                let result = async {
                    writer.finish().await.map_err(|e| s3_error("finish an upload", e))?;
                    if !exists().await? {
                        store.copy(&staged, &target).await.map_err(|e| s3_error("store a blob", e))?;
                    }
                    Ok(())
                }
                .await;
                if let Err(e) = store.delete(&staged).await {
                    tracing::warn!(staged = %staged, error = %e, "S3: cannot remove a staged upload");
                }
                result
            }
        }
    }

    async fn abort(self: Box<Self>) {
        if let Some((staged, writer)) = self.multipart
            && let Err(e) = writer.abort().await
        {
            tracing::warn!(staged = %staged, error = %e, "S3: cannot abort a staged upload");
        }
    }
}
