//! The conformance suite on the stack's OpenSearch (`scripts/stack up`;
//! `PETIT_CHAT_STACK_OPENSEARCH_URL` names another). Every run uses the index
//! `petit_chat_conformance`, as the store's suite uses one keyspace: checks work in chats of
//! fresh ids. Each check connects on its own (an HTTP client belongs to its test's runtime).

use search::{OpenSearchConfig, OpenSearchIndex};
use search_conformance::search_conformance_tests;

async fn connect() -> Box<OpenSearchIndex> {
    let config = OpenSearchConfig {
        url: std::env::var("PETIT_CHAT_STACK_OPENSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9200".into()),
        index: "petit_chat_conformance".into(),
        shards: 2,
        replicas: 0,
        ..OpenSearchConfig::default()
    };
    Box::new(OpenSearchIndex::connect(&config).await.expect("the stack's OpenSearch (scripts/stack up)"))
}

search_conformance_tests!(connect().await);

/// The refresh interval of the configuration goes to a new index and, at the next start,
/// to the one already there.
#[tokio::test]
async fn the_refresh_interval_applies_to_new_and_existing_indices() {
    let base = OpenSearchConfig {
        url: std::env::var("PETIT_CHAT_STACK_OPENSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9200".into()),
        index: format!(
            "petit_chat_refresh_{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ),
        shards: 1,
        replicas: 0,
        ..OpenSearchConfig::default()
    };
    let interval = |config: &OpenSearchConfig| {
        let url = format!("{}/{}/_settings", config.url, config.index);
        async move {
            let settings: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            let (_, index) = settings.as_object().unwrap().iter().next().unwrap();
            index["settings"]["index"]["refresh_interval"].as_str().map(str::to_string)
        }
    };
    let first = OpenSearchConfig { refresh_interval_ms: 700, ..base.clone() };
    OpenSearchIndex::connect(&first).await.unwrap();
    assert_eq!(interval(&first).await.as_deref(), Some("700ms"));
    let changed = OpenSearchConfig { refresh_interval_ms: 250, ..base.clone() };
    OpenSearchIndex::connect(&changed).await.unwrap();
    assert_eq!(interval(&changed).await.as_deref(), Some("250ms"));
    OpenSearchIndex::delete_everything(&base).await.unwrap();
}
