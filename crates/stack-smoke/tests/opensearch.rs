//! OpenSearch over its REST API with reqwest: create an index, index with refresh, search.
mod common;

use anyhow::Context as _;
use common::{env, http, unique, within};
use serde_json::json;

#[tokio::test]
async fn opensearch_index_and_search() {
    within("OpenSearch", 60, async {
        let base = env("OPENSEARCH_URL", "http://127.0.0.1:9200");
        let client = http();
        let index = unique("smoke-signals").to_lowercase();
        client
            .put(format!("{base}/{index}"))
            .json(&json!({
                "settings": { "number_of_shards": 1, "number_of_replicas": 0 },
                "mappings": { "properties": {
                    "chat_id": { "type": "keyword" },
                    "text": { "type": "text" }
                }}
            }))
            .send()
            .await
            .with_context(|| format!("create index at {base}"))?
            .error_for_status()
            .context("create index")?;
        client
            .put(format!("{base}/{index}/_doc/1?refresh=true"))
            .json(&json!({ "chat_id": "42", "text": "On se retrouve au café demain matin" }))
            .send()
            .await?
            .error_for_status()
            .context("index document")?;
        let found: serde_json::Value = client
            .post(format!("{base}/{index}/_search"))
            .json(&json!({ "query": { "bool": {
                "must": { "match": { "text": "café" } },
                "filter": { "term": { "chat_id": "42" } }
            }}}))
            .send()
            .await?
            .error_for_status()
            .context("search")?
            .json()
            .await?;
        assert_eq!(found["hits"]["total"]["value"], 1, "search result: {found}");
        assert_eq!(found["hits"]["hits"][0]["_id"], "1");
        client.delete(format!("{base}/{index}")).send().await?.error_for_status().context("delete index")?;
        Ok(())
    })
    .await;
}
