//! The attachment benchmark (see bench/README.md, "Attachments"). Against a running Petit
//! chat server with the dev login:
//!
//! - upload throughput through the API (`POST …/attachments`, multipart) against direct
//!   `PUT`s of the same sizes to the same S3 bucket with the same HTTP stack
//!   (`object_store`'s S3 client), side by side in one run, as MB/s, uploads/s and a ratio;
//! - time to the first byte of a download (`GET …/content`, the S3 redirect followed);
//! - the server's memory (`VmRSS` of `--server-pid`) while `--big-uploads` uploads of
//!   `--big-mb` MB stream at once.
//!
//! Every uploaded file is fresh random bytes, so deduplication never shortcuts a store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use futures::StreamExt;
use hdrhistogram::Histogram;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    api: String,
    /// The S3 endpoint of the direct PUTs (the server's bucket); none: skip them.
    #[arg(long)]
    s3_endpoint: Option<String>,
    #[arg(long, default_value = "petit-chat")]
    s3_bucket: String,
    #[arg(long, default_value = "us-east-1")]
    s3_region: String,
    #[arg(long, env = "S3_ACCESS_KEY_ID", default_value = "petit-chat-dev-access-key")]
    s3_access_key_id: String,
    #[arg(long, env = "S3_SECRET_ACCESS_KEY", default_value = "petit-chat-dev-secret-key-NOT-FOR-PRODUCTION")]
    s3_secret_access_key: String,
    /// Concurrent uploads in the throughput phases.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Uploads of 100 KB, and of 10 MB, per throughput phase.
    #[arg(long, default_value_t = 400)]
    small_count: usize,
    #[arg(long, default_value_t = 24)]
    large_count: usize,
    /// Downloads timed to their first byte.
    #[arg(long, default_value_t = 100)]
    downloads: usize,
    /// The server's process, whose memory is sampled during the big uploads; none: skip.
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, default_value_t = 10)]
    big_uploads: usize,
    #[arg(long, default_value_t = 100)]
    big_mb: usize,
}

struct Client {
    http: reqwest::Client,
    api: String,
    token: String,
    chat: String,
}

impl Client {
    async fn login(api: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        let login = |name: &str| {
            let (http, api) = (http.clone(), api.to_string());
            let name = name.to_string();
            async move {
                let v: Value = http
                    .post(format!("{api}/api/v1/dev/login"))
                    .json(&json!({ "username": name }))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                anyhow::Ok((v["token"].as_str().context("token")?.to_string(), v["user"]["id"].clone()))
            }
        };
        let suffix = format!("{:x}", rand::random::<u32>());
        let (token, _) = login(&format!("blobbench-a-{suffix}")).await?;
        let (_, other) = login(&format!("blobbench-b-{suffix}")).await?;
        let chat: Value = http
            .post(format!("{api}/api/v1/chats"))
            .bearer_auth(&token)
            .json(&json!({ "kind": "group", "title": "blobbench", "members": [other] }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let chat = chat["id"].as_str().context("chat id")?.to_string();
        Ok(Self { http, api: api.to_string(), token, chat })
    }

    async fn upload(&self, body: reqwest::Body) -> anyhow::Result<Value> {
        let part = reqwest::multipart::Part::stream(body).file_name("bench.bin");
        let resp = self
            .http
            .post(format!("{}/api/v1/chats/{}/attachments", self.api, self.chat))
            .bearer_auth(&self.token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await?;
        if resp.status() != 201 {
            bail!("upload: HTTP {} {}", resp.status(), resp.text().await.unwrap_or_default());
        }
        Ok(resp.json().await?)
    }

    async fn send(&self, attachment: &Value) -> anyhow::Result<()> {
        let body = json!({ "kind": "msg", "attachments": [attachment["id"]], "nonce": format!("b-{:x}", rand::random::<u64>()) });
        self.http
            .post(format!("{}/api/v1/chats/{}/signals", self.api, self.chat))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

fn random_bytes(n: usize) -> Bytes {
    let mut v = vec![0u8; n];
    for chunk in v.chunks_mut(8) {
        let r = rand::random::<u64>().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    Bytes::from(v)
}

/// Runs `count` jobs, `concurrency` at a time; returns the wall time and each job's time.
async fn run<F, Fut>(count: usize, concurrency: usize, job: F) -> anyhow::Result<(Duration, Histogram<u64>)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut latencies = Histogram::<u64>::new(3)?;
    let started = Instant::now();
    let mut jobs = futures::stream::iter((0..count).map(|i| {
        let fut = job(i);
        async move {
            let t = Instant::now();
            fut.await.map(|()| t.elapsed())
        }
    }))
    .buffer_unordered(concurrency);
    while let Some(took) = jobs.next().await {
        latencies.record(took?.as_micros() as u64)?;
    }
    Ok((started.elapsed(), latencies))
}

fn report(what: &str, size: usize, count: usize, wall: Duration, lat: &Histogram<u64>) -> f64 {
    let mb_s = (size * count) as f64 / 1e6 / wall.as_secs_f64();
    println!(
        "{what:<28} {:>8.1} MB/s {:>8.1} uploads/s   p50 {:>7.1} ms  p99 {:>7.1} ms   ({count} × {} KB, {:.1} s)",
        mb_s,
        count as f64 / wall.as_secs_f64(),
        lat.value_at_quantile(0.5) as f64 / 1000.0,
        lat.value_at_quantile(0.99) as f64 / 1000.0,
        size / 1000,
        wall.as_secs_f64()
    );
    mb_s
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = Arc::new(Client::login(&args.api).await?);
    let s3 = match &args.s3_endpoint {
        Some(endpoint) => Some(Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(endpoint)
                .with_allow_http(true)
                .with_virtual_hosted_style_request(false)
                .with_bucket_name(&args.s3_bucket)
                .with_region(&args.s3_region)
                .with_access_key_id(&args.s3_access_key_id)
                .with_secret_access_key(&args.s3_secret_access_key)
                .build()?,
        )),
        None => None,
    };
    println!("# uploads ({} at a time), fresh random bytes each", args.concurrency);
    for (size, count) in [(100_000, args.small_count), (10_000_000, args.large_count)] {
        let files: Arc<Vec<Bytes>> = Arc::new((0..count).map(|_| random_bytes(size)).collect());
        // Twice each, alternating, so neither side gets the warm-up alone.
        let mut ratios = vec![];
        for round in 0..2 {
            let api = {
                let (client, files) = (client.clone(), files.clone());
                let (wall, lat) = run(count, args.concurrency, move |i| {
                    let (client, body) = (client.clone(), files[i].clone());
                    async move { client.upload(reqwest::Body::from(body)).await.map(drop) }
                })
                .await?;
                report(&format!("API        round {round}"), size, count, wall, &lat)
            };
            if let Some(s3) = &s3 {
                let (s3, files) = (s3.clone(), files.clone());
                let (wall, lat) = run(count, args.concurrency, move |i| {
                    let (s3, body) = (s3.clone(), files[i].clone());
                    async move {
                        let path = Path::from(format!("blobbench/{:032x}", rand::random::<u128>()));
                        s3.put(&path, PutPayload::from(body)).await?;
                        anyhow::Ok(())
                    }
                })
                .await?;
                let direct = report(&format!("direct PUT round {round}"), size, count, wall, &lat);
                ratios.push(api / direct);
            }
        }
        if !ratios.is_empty() {
            let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
            println!(
                "{:<28} {:.2} (API MB/s / direct MB/s, mean of the rounds)",
                format!("ratio at {} KB", size / 1000),
                mean
            );
        }
        if let Some(s3) = &s3 {
            let mut listed = s3.list(Some(&Path::from("blobbench")));
            while let Some(meta) = listed.next().await {
                s3.delete(&meta?.location).await?;
            }
        }
    }

    println!("# downloads: time to the first byte (a 1 MB file; the S3 redirect followed)");
    let file = client.upload(reqwest::Body::from(random_bytes(1_000_000))).await?;
    client.send(&file).await?;
    let url = format!(
        "{}/api/v1/chats/{}/attachments/{}/content",
        client.api,
        client.chat,
        file["id"].as_str().context("id")?
    );
    let follow = reqwest::Client::new();
    let mut ttfb = Histogram::<u64>::new(3)?;
    let mut redirected = false;
    for _ in 0..args.downloads {
        let t = Instant::now();
        let resp = client.http.get(&url).bearer_auth(&client.token).send().await?;
        let mut resp = if resp.status() == 302 {
            redirected = true;
            follow.get(resp.headers()["location"].to_str()?).send().await?
        } else {
            resp
        };
        if !resp.status().is_success() {
            bail!("download: HTTP {}", resp.status());
        }
        resp.chunk().await?.context("an empty download")?;
        ttfb.record(t.elapsed().as_micros() as u64)?;
        while resp.chunk().await?.is_some() {}
    }
    println!(
        "time to first byte ({})   p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} downloads)",
        if redirected { "302 + S3" } else { "streamed by the server" },
        ttfb.value_at_quantile(0.5) as f64 / 1000.0,
        ttfb.value_at_quantile(0.99) as f64 / 1000.0,
        ttfb.max() as f64 / 1000.0,
        args.downloads
    );

    if let Some(pid) = args.server_pid {
        println!("# memory: {} uploads of {} MB at once", args.big_uploads, args.big_mb);
        let before = rss_kib(pid).context("the server's VmRSS")?;
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
        let sampling = {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    if let Some(rss) = rss_kib(pid) {
                        peak.fetch_max(rss, std::sync::atomic::Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        let big_mb = args.big_mb;
        let (wall, _) = run(args.big_uploads, args.big_uploads, |_| {
            let client = client.clone();
            async move {
                // Generated as it is sent: the load generator holds 1 MB per upload.
                let chunks =
                    futures::stream::iter((0..big_mb).map(|_| Ok::<_, std::io::Error>(random_bytes(1_000_000))));
                client.upload(reqwest::Body::wrap_stream(chunks)).await.map(drop)
            }
        })
        .await?;
        sampling.abort();
        let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "server RSS before {:.1} MiB, peak {:.1} MiB (+{:.1} MiB for {} × {} MB in flight, {:.1} s, {:.1} MB/s)",
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            (peak - before) as f64 / 1024.0,
            args.big_uploads,
            big_mb,
            wall.as_secs_f64(),
            (args.big_uploads * big_mb) as f64 / wall.as_secs_f64()
        );
    }
    Ok(())
}
