//! The conformance suite on a tantivy index in a temporary directory (one per process:
//! the checks share it, as a server's workers and requests do).

use std::sync::{Arc, OnceLock};

use search::TantivyIndex;
use search_conformance::search_conformance_tests;

fn shared() -> Arc<TantivyIndex> {
    static INDEX: OnceLock<(tempfile::TempDir, Arc<TantivyIndex>)> = OnceLock::new();
    INDEX
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let index = TantivyIndex::open(dir.path()).expect("open the index");
            (dir, Arc::new(index))
        })
        .1
        .clone()
}

search_conformance_tests!(shared());

#[tokio::test]
async fn an_index_reopened_keeps_its_messages() {
    use domain::{Id, ParsedQuery};
    use ports::{IndexedSignal, TextIndex, TextQuery};
    let dir = tempfile::tempdir().unwrap();
    let signal = IndexedSignal {
        chat_id: Id(7),
        signal_id: Id(8),
        author_id: Id(9),
        text: "kept across a restart".into(),
        has_attachment: false,
        has_link: false,
        revision: 1,
    };
    TantivyIndex::open(dir.path()).unwrap().index(std::slice::from_ref(&signal)).await.unwrap();
    let reopened = TantivyIndex::open(dir.path()).unwrap();
    let query = TextQuery::new(ParsedQuery::parse("restart").unwrap(), vec![Id(7)], 10);
    let hits = reopened.search(&query).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.signal_id).collect::<Vec<_>>(), vec![Id(8)]);
}
