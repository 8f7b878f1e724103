//! The Blobs conformance suite on S3: the SeaweedFS gateway `scripts/stack up s3` runs

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check
//! (`PETIT_CHAT_STACK_S3_*`, defaults for the stack). Without it these tests fail; they
//! never pass silently.

use blobs::{S3Blobs, S3Config};

fn env(key: &str, default: &str) -> String {
    std::env::var(format!("PETIT_CHAT_STACK_S3_{key}")).unwrap_or_else(|_| default.into())
}

pub fn config() -> S3Config {
    S3Config {
        endpoint: Some(env("ENDPOINT", "http://127.0.0.1:8333")),
        bucket: env("BUCKET", "petit-chat"),
        region: env("REGION", "us-east-1"),
        access_key_id: Some(env("ACCESS_KEY_ID", "petit-chat-dev-access-key")),
        secret_access_key: Some(env("SECRET_ACCESS_KEY", "petit-chat-dev-secret-key-NOT-FOR-PRODUCTION")),
        prefix: Some("blobs-conformance".into()),
        ..S3Config::default()
    }
}

mod conformance {
    blobs_conformance::blobs_conformance_tests!(Box::new(super::S3Blobs::new(&super::config()).unwrap()));
}

#[tokio::test]
async fn download_urls_are_signed_for_the_public_endpoint() {
    let blobs =
        S3Blobs::new(&S3Config { public_endpoint: Some("https://files.example.org".into()), ..config() }).unwrap();
    let headers =
        ports::DownloadHeaders { content_type: "text/plain".into(), content_disposition: "attachment".into() };
    let key = domain::BlobKey::parse(&"a".repeat(64)).unwrap();
    let url =
        ports::Blobs::download_url(&blobs, &key, std::time::Duration::from_secs(300), &headers).await.unwrap().unwrap();
    assert!(
        url.starts_with(&format!("https://files.example.org/petit-chat/blobs-conformance/blobs/aa/{key}?")),
        "{url}"
    );
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    assert!(url.contains("response-content-disposition=attachment"), "{url}");
}

#[test]
fn a_bucket_is_required() {
    let error = S3Blobs::new(&S3Config { bucket: String::new(), ..config() }).unwrap_err();
    assert_eq!(error.code, domain::ErrorCode::InvalidConfig);
}

#[tokio::test]
async fn a_prefix_keeps_every_key_under_it() {
    use ports::Blobs as _;
    let prefix = format!("prefix-test-{:x}", rand::random::<u64>());
    let blobs = S3Blobs::new(&S3Config { prefix: Some(format!("/{prefix}/")), ..config() }).unwrap();
    let mut staged = blobs.stage().await.unwrap();
    staged.write(bytes::Bytes::from_static(b"under a prefix")).await.unwrap();
    let key = domain::BlobKey::from_digest(&<sha2::Sha256 as sha2::Digest>::digest(b"under a prefix").into());
    staged.commit(&key).await.unwrap();
    assert_eq!(blobs.keys().await.unwrap(), [format!("{prefix}/blobs/{}/{key}", &key.as_str()[..2])]);
    blobs.delete(&key).await.unwrap();
    assert!(blobs.keys().await.unwrap().is_empty());
}
