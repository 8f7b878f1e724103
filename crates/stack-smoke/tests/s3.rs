//! S3 (SeaweedFS) through `object_store`'s `aws` store: put, get, presigned GET via reqwest.
mod common;

use anyhow::Context as _;
use common::{env, http, unique, within};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::Signer as _;
use object_store::{ObjectStoreExt as _, PutPayload};
use std::time::Duration;

fn store() -> anyhow::Result<AmazonS3> {
    AmazonS3Builder::new()
        .with_endpoint(env("S3_ENDPOINT", "http://127.0.0.1:8333"))
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_bucket_name(env("S3_BUCKET", "petit-chat"))
        .with_region(env("S3_REGION", "us-east-1"))
        .with_access_key_id(env("S3_ACCESS_KEY_ID", "petit-chat-dev-access-key"))
        .with_secret_access_key(env("S3_SECRET_ACCESS_KEY", "petit-chat-dev-secret-key-NOT-FOR-PRODUCTION"))
        .build()
        .context("build S3 store")
}

#[tokio::test]
async fn s3_put_get_and_presigned_get() {
    within("S3", 60, async {
        let store = store()?;
        let path = Path::from(format!("smoke/{}.txt", unique("blob")));
        let body = b"petit chat attachment bytes \x00\x01\x02".to_vec();
        store.put(&path, PutPayload::from(body.clone())).await.context("put")?;
        let got = store.get(&path).await.context("get")?.bytes().await?;
        assert_eq!(got.as_ref(), body.as_slice());

        let url = store.signed_url(reqwest::Method::GET, &path, Duration::from_secs(300)).await.context("presign")?;
        let resp = http().get(url.as_str()).send().await.context("fetch presigned URL")?;
        assert!(resp.status().is_success(), "presigned GET: HTTP {}", resp.status());
        assert_eq!(resp.bytes().await?.as_ref(), body.as_slice());

        // Without the signature the object is not public.
        let mut bare = url.clone();
        bare.set_query(None);
        let resp = http().get(bare.as_str()).send().await?;
        assert!(resp.status().is_client_error(), "unsigned GET should be refused, got {}", resp.status());

        store.delete(&path).await.context("delete")?;
        Ok(())
    })
    .await;
}
