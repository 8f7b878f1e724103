//! The `TextIndex` port's adapters: tantivy in process with the index in a directory (the
//! embedded shape) and OpenSearch over REST (the cluster shape; Elasticsearch speaks the
//! same API). Both pass `search-conformance`.

mod opensearch;
mod tantivy_index;

pub use opensearch::{OpenSearchConfig, OpenSearchIndex};
pub use tantivy_index::TantivyIndex;
