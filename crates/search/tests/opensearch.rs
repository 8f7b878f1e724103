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
