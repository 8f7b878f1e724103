//! The Blobs conformance suite. An adapter's tests expand [`blobs_conformance_tests!`] with
//! an expression that builds the adapter: one `#[tokio::test]` per check, so a failure
//! names its check and the others still run. Every check writes random bytes, so checks
//! can share one bucket or directory.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed unwrap is a failed check

use std::time::Duration;

use bytes::Bytes;
use domain::{BlobKey, ErrorKind};
use futures::StreamExt;
use ports::{Blobs, DownloadHeaders};
use sha2::{Digest, Sha256};

pub use ports;

/// Expands to one test per check, each on the adapter built by `$make` (an expression,
/// which may `.await`, of a type that derefs to a `Blobs`).
#[macro_export]
macro_rules! blobs_conformance_tests {
    ($make:expr) => {
        $crate::__blobs_checks!($make;
            a_committed_blob_reads_back_whole_and_by_range,
            the_same_bytes_committed_twice_are_one_blob,
            a_blob_bigger_than_any_buffer_streams_in_and_out_intact,
            an_empty_blob_is_a_blob,
            an_absent_blob_has_no_size_and_reads_as_not_found,
            an_aborted_upload_stores_nothing,
            a_deleted_blob_is_gone_and_deleting_again_is_fine,
            a_download_url_serves_the_bytes_with_the_headers_asked_for,
            a_download_url_stops_working_when_it_expires,
            the_storage_answers_a_ping,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __blobs_checks {
    ($make:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let blobs = $make;
                $crate::$check(&*blobs).await;
            }
        )*
    };
}

fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

fn key_of(bytes: &[u8]) -> BlobKey {
    BlobKey::from_digest(&Sha256::digest(bytes).into())
}

/// Stages `bytes` in chunks of `chunk` and commits them under their key.
async fn store(blobs: &dyn Blobs, bytes: &[u8], chunk: usize) -> BlobKey {
    let key = key_of(bytes);
    let mut staged = blobs.stage().await.unwrap();
    for part in bytes.chunks(chunk.max(1)) {
        staged.write(Bytes::copy_from_slice(part)).await.unwrap();
    }
    staged.commit(&key).await.unwrap();
    key
}

async fn read_all(blobs: &dyn Blobs, key: &BlobKey, range: Option<std::ops::Range<u64>>) -> Vec<u8> {
    let mut stream = blobs.read(key, range).await.unwrap();
    let mut out = vec![];
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

pub async fn a_committed_blob_reads_back_whole_and_by_range(blobs: &dyn Blobs) {
    let bytes = random_bytes(100_000);
    let key = store(blobs, &bytes, 16 * 1024).await;
    assert_eq!(blobs.size(&key).await.unwrap(), Some(100_000));
    assert_eq!(read_all(blobs, &key, None).await, bytes);
    assert_eq!(read_all(blobs, &key, Some(1000..1010)).await, &bytes[1000..1010]);
    assert_eq!(read_all(blobs, &key, Some(99_990..100_000)).await, &bytes[99_990..]);
    assert_eq!(read_all(blobs, &key, Some(0..1)).await, &bytes[..1]);
}

pub async fn the_same_bytes_committed_twice_are_one_blob(blobs: &dyn Blobs) {
    let bytes = random_bytes(4096);
    let first = store(blobs, &bytes, 1000).await;
    let second = store(blobs, &bytes, 4096).await;
    assert_eq!(first, second);
    assert_eq!(blobs.size(&first).await.unwrap(), Some(4096));
    assert_eq!(read_all(blobs, &first, None).await, bytes);
    // One blob: deleting it once removes the content.
    blobs.delete(&first).await.unwrap();
    assert_eq!(blobs.size(&first).await.unwrap(), None);
}

pub async fn a_blob_bigger_than_any_buffer_streams_in_and_out_intact(blobs: &dyn Blobs) {
    // Above S3's 5 MiB part: the multipart path, with a last part of odd size.
    let bytes = random_bytes(12 * 1024 * 1024 + 12_345);
    let key = store(blobs, &bytes, 256 * 1024).await;
    assert_eq!(blobs.size(&key).await.unwrap(), Some(bytes.len() as u64));
    let back = read_all(blobs, &key, None).await;
    assert_eq!(back.len(), bytes.len());
    assert_eq!(key_of(&back), key, "the bytes read back hash to their key");
    let tail = bytes.len() as u64;
    assert_eq!(read_all(blobs, &key, Some(tail - 100..tail)).await, &bytes[bytes.len() - 100..]);
    blobs.delete(&key).await.unwrap();
}

pub async fn an_empty_blob_is_a_blob(blobs: &dyn Blobs) {
    let key = store(blobs, &[], 1).await;
    assert_eq!(key.as_str(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(blobs.size(&key).await.unwrap(), Some(0));
    assert!(read_all(blobs, &key, None).await.is_empty());
}

pub async fn an_absent_blob_has_no_size_and_reads_as_not_found(blobs: &dyn Blobs) {
    let key = key_of(&random_bytes(32));
    assert_eq!(blobs.size(&key).await.unwrap(), None);
    let error = match blobs.read(&key, None).await {
        Ok(_) => panic!("an absent blob read"),
        Err(e) => e,
    };
    assert_eq!(error.kind, ErrorKind::NotFound, "{error}");
}

pub async fn an_aborted_upload_stores_nothing(blobs: &dyn Blobs) {
    for size in [1000, 6 * 1024 * 1024] {
        let bytes = random_bytes(size);
        let mut staged = blobs.stage().await.unwrap();
        for part in bytes.chunks(512 * 1024) {
            staged.write(Bytes::copy_from_slice(part)).await.unwrap();
        }
        staged.abort().await;
        assert_eq!(blobs.size(&key_of(&bytes)).await.unwrap(), None, "{size} bytes");
    }
}

pub async fn a_deleted_blob_is_gone_and_deleting_again_is_fine(blobs: &dyn Blobs) {
    let bytes = random_bytes(2000);
    let key = store(blobs, &bytes, 2000).await;
    blobs.delete(&key).await.unwrap();
    assert_eq!(blobs.size(&key).await.unwrap(), None);
    blobs.delete(&key).await.unwrap();
    // And it can be stored again.
    store(blobs, &bytes, 700).await;
    assert_eq!(read_all(blobs, &key, None).await, bytes);
}

fn headers() -> DownloadHeaders {
    DownloadHeaders {
        content_type: "image/png".into(),
        content_disposition: "inline; filename=\"a b.png\"; filename*=UTF-8''a%20b.png".into(),
    }
}

/// Adapters without direct URLs (the server streams) pass by answering `None`.
pub async fn a_download_url_serves_the_bytes_with_the_headers_asked_for(blobs: &dyn Blobs) {
    let bytes = random_bytes(3000);
    let key = store(blobs, &bytes, 3000).await;
    let Some(url) = blobs.download_url(&key, Duration::from_secs(60), &headers()).await.unwrap() else {
        return;
    };
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.headers()["content-disposition"], headers().content_disposition.as_str());
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let ranged = reqwest::Client::new().get(&url).header("Range", "bytes=10-19").send().await.unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &bytes[10..20]);
}

pub async fn a_download_url_stops_working_when_it_expires(blobs: &dyn Blobs) {
    let bytes = random_bytes(100);
    let key = store(blobs, &bytes, 100).await;
    let Some(url) = blobs.download_url(&key, Duration::from_secs(1), &headers()).await.unwrap() else {
        return;
    };
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let status = reqwest::get(&url).await.unwrap().status();
    assert_eq!(status, 403, "an expired URL must be refused");
}

pub async fn the_storage_answers_a_ping(blobs: &dyn Blobs) {
    blobs.ping().await.unwrap();
}
