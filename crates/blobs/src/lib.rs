//! The [`ports::Blobs`] port on two kinds of storage: a local directory ([`LocalBlobs`],
//! the embedded shape, under the data directory) and any S3 service ([`S3Blobs`], the
//! cluster shape: the stack's SeaweedFS, or AWS, MinIO, Garage… by configuration).
//!
//! Both lay blobs out the same way: `blobs/<first two hex digits>/<sha256>`, and uploads in
//! progress under `staging/`.

mod local;
mod s3;

pub use local::LocalBlobs;
pub use s3::{S3Blobs, S3Config};

use domain::BlobKey;

/// Where blob `key` lives, relative to the storage's root.
fn blob_path(key: &BlobKey) -> String {
    format!("blobs/{}/{}", &key.as_str()[..2], key.as_str())
}

/// A fresh name for a staged upload.
fn staging_name() -> String {
    format!("staging/{:032x}", rand::random::<u128>())
}
