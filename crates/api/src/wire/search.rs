//! Wire types of search: the query's enums and a result.

use domain::{Id, SearchHas, SearchOrder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::SignalOut;

wire_enum! {
    /// How results are ordered.
    SearchOrderWire <=> SearchOrder {
        /// Best match first.
        Relevance,
        /// Newest first.
        Recent,
    }
}

wire_enum! {
    /// What a found message must carry.
    SearchHasWire <=> SearchHas {
        /// At least one attachment.
        Attachment,
        /// A web link in its text.
        Link,
    }
}

/// A message a search found.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHitOut {
    #[schema(value_type = String)]
    pub chat_id: Id,
    pub signal: SignalOut,
    /// The message's text, HTML-escaped, with the matched words in `<mark>…</mark>`; a long
    /// text is cut around its first match, `…` marking the cuts.
    pub highlight: String,
}

impl From<service::search::SearchHit> for SearchHitOut {
    fn from(hit: service::search::SearchHit) -> Self {
        Self { chat_id: hit.chat_id, signal: hit.signal.into(), highlight: hit.highlight }
    }
}
