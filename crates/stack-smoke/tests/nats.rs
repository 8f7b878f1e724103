//! NATS JetStream through `async-nats`: stream, publish with ack, durable pull consumer.
mod common;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull, stream};
use common::{env, unique, within};
use futures::StreamExt as _;
use std::time::Duration;

#[tokio::test]
async fn jetstream_publish_and_durable_pull() {
    within("JetStream", 60, async {
        let url = env("NATS_URL", "nats://127.0.0.1:4222");
        let client = async_nats::connect(&url).await.with_context(|| format!("connect to {url}"))?;
        let js = jetstream::new(client);
        let name = unique("SMOKE");
        let subject = format!("smoke.{name}");
        let stream = js
            .create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![format!("{subject}.>")],
                max_age: Duration::from_secs(600),
                ..Default::default()
            })
            .await
            .context("create stream")?;
        for i in 0..3 {
            js.publish(format!("{subject}.chat"), format!("signal {i}").into()).await?.await.context("publish ack")?;
        }
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: Some("fanout".to_owned()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .context("create durable consumer")?;
        let mut messages = consumer.fetch().max_messages(3).expires(Duration::from_secs(5)).messages().await?;
        let mut got = Vec::new();
        while let Some(msg) = messages.next().await {
            let msg = msg.map_err(|e| anyhow::anyhow!("{e}"))?;
            got.push(String::from_utf8(msg.payload.to_vec())?);
            msg.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        }
        assert_eq!(got, vec!["signal 0", "signal 1", "signal 2"]);
        // The durable consumer remembers its position: nothing is left to deliver.
        let info = stream.consumer_info("fanout").await?;
        assert_eq!(info.config.durable_name.as_deref(), Some("fanout"));
        assert_eq!(info.num_pending, 0, "consumer info: {info:?}");
        js.delete_stream(&name).await.context("delete stream")?;
        Ok(())
    })
    .await;
}
