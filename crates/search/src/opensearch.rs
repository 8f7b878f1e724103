//! `TextIndex` on OpenSearch (or Elasticsearch) over its REST API (the cluster shape).
//!
//! At start an index template `<index>` (settings: shards, replicas, refresh interval, the
//! folding analyzer; strict mappings) covers the indices `<index>-*`, and the alias `<index>` names the one
//! in use (`<index>-1` at first), so an operator can build another and swap the alias.
//! Documents are routed by chat id: a chat's messages live on one shard, and a search in
//! one chat asks only that shard. Writes are `_bulk` requests whose documents carry the
//! message's revision as an external version (`external_gte`): an older revision arriving
//! late is refused, and a removal writes a tombstone (no text, so never found) that refuses
//! them too, for as long as the index lives (where a delete's tombstone would last only
//! `index.gc_deletes`). A person's words only ever go in `match` queries as values (and a
//! prefix query's value), never in a query string.

use std::time::Duration;

use async_trait::async_trait;
use domain::search::{TYPO_MIN_CHARS, fold, words};
use domain::{ChatId, Error, Id, QueryPart, Result, SearchHas, SearchOrder, SignalId};
use ports::{IndexedSignal, RemovedSignal, TextHit, TextIndex, TextQuery};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Where and how the index lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenSearchConfig {
    /// The cluster's URL (any node, or a load balancer in front of them).
    pub url: String,
    /// The alias searches and writes use; the template covers `<index>-*`. Lower case.
    pub index: String,
    /// Primary shards of a new index.
    pub shards: u32,
    /// Replicas of each shard.
    pub replicas: u32,
    pub username: Option<String>,
    pub password: Option<String>,
    pub request_timeout_ms: u64,
    /// How often the index makes what was written searchable (its refresh), applied to the
    /// indices behind the alias at every start. Half OpenSearch's own default (1 s): a
    /// message is searchable about twice as soon (post -> searchable p99 0.9 s against 1.5–1.7
    /// s at 200 msgs/s in bench/README.md), for no OpenSearch CPU measurable there.
    pub refresh_interval_ms: u64,
}

impl Default for OpenSearchConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:9200".into(),
            index: "petit_chat_signals".into(),
            shards: 3,
            replicas: 1,
            username: None,
            password: None,
            request_timeout_ms: 10_000,
            refresh_interval_ms: 500,
        }
    }
}

/// An OpenSearch index of messages.
#[derive(Debug, Clone)]
pub struct OpenSearchIndex {
    http: reqwest::Client,
    config: OpenSearchConfig,
    base: String,
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("search cluster: {e}"))
}

impl OpenSearchIndex {
    /// Connects, and makes sure the template, the first index and its alias exist.
    pub async fn connect(config: &OpenSearchConfig) -> Result<Self> {
        let index = &config.index;
        if index.is_empty() || index.chars().any(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')) {
            return Err(Error::invalid(
                domain::ErrorCode::InvalidConfig,
                format!("search index name {index:?}: lower-case letters, digits and _ only"),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.request_timeout_ms))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(unavailable)?;
        let this = Self { http, config: config.clone(), base: config.url.trim_end_matches('/').to_string() };
        this.ensure_index().await?;
        Ok(this)
    }

    /// Deletes the alias's indices and its template: everything this configuration's index
    /// holds (tests clean up with it).
    pub async fn delete_everything(config: &OpenSearchConfig) -> Result<()> {
        let this = Self::connect(config).await?;
        let alias = &config.index;
        this.call(this.request(reqwest::Method::DELETE, &format!("{alias}-*"))).await?;
        this.call(this.request(reqwest::Method::DELETE, &format!("_index_template/{alias}"))).await.map(drop)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}/{path}", self.base));
        match &self.config.username {
            Some(user) => request.basic_auth(user, self.config.password.as_deref()),
            None => request,
        }
    }

    /// Sends a request; a 2xx answer's JSON, else an error (5xx and transport failures:
    /// unavailable).
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value> {
        let response = request.send().await.map_err(unavailable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unavailable)?;
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let reason = value["error"]["reason"]
            .as_str()
            .map_or_else(|| String::from_utf8_lossy(&body).into_owned(), str::to_string);
        if status.is_server_error() || status.as_u16() == 429 {
            Err(unavailable(format!("{status}: {reason}")))
        } else {
            Err(Error::internal(format!("search cluster refused a request ({status}): {reason}")))
        }
    }

    async fn ensure_index(&self) -> Result<()> {
        let alias = &self.config.index;
        let template = json!({
            "index_patterns": [format!("{alias}-*")],
            "template": {
                "settings": {
                    "number_of_shards": self.config.shards,
                    "number_of_replicas": self.config.replicas,
                    "refresh_interval": self.refresh_interval(),
                    "analysis": {
                        // As the embedded index: split on what is not a letter or a digit,
                        // lower case, fold to ASCII.
                        "tokenizer": { "words": { "type": "pattern", "pattern": "[^\\p{L}\\p{N}]+" } },
                        "analyzer": { "folded": {
                            "type": "custom", "tokenizer": "words", "filter": ["lowercase", "asciifolding"]
                        } }
                    }
                },
                "mappings": {
                    "dynamic": "strict",
                    "_routing": { "required": true },
                    "properties": {
                        "chat_id": { "type": "long" },
                        "signal_id": { "type": "long" },
                        "author_id": { "type": "long" },
                        "text": { "type": "text", "analyzer": "folded" },
                        "has_attachment": { "type": "boolean" },
                        "has_link": { "type": "boolean" }
                    }
                }
            }
        });
        self.call(self.request(reqwest::Method::PUT, &format!("_index_template/{alias}")).json(&template)).await?;
        let exists =
            self.request(reqwest::Method::HEAD, &format!("_alias/{alias}")).send().await.map_err(unavailable)?;
        if exists.status().is_success() {
            // A refresh interval changed in the configuration applies to the indices
            // already there too (the template only to the next).
            let settings = json!({ "index": { "refresh_interval": self.refresh_interval() } });
            return self
                .call(self.request(reqwest::Method::PUT, &format!("{alias}/_settings")).json(&settings))
                .await
                .map(drop);
        }
        let first = json!({ "aliases": { alias: { "is_write_index": true } } });
        match self.call(self.request(reqwest::Method::PUT, &format!("{alias}-1")).json(&first)).await {
            Ok(_) => Ok(()),
            // Another node created it meanwhile.
            Err(e) if e.detail.contains("resource_already_exists") || e.detail.contains("already exists") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The action line of a write of a message's `revision`: the index keeps it only if it
    /// holds no higher one (external versions; an equal one replaces).
    fn versioned_write(&self, chat: ChatId, signal: SignalId, revision: u64) -> Value {
        json!({ "index": {
            "_index": self.config.index,
            "_id": signal.to_string(),
            "routing": chat.to_string(),
            "version": revision,
            "version_type": "external_gte",
        } })
    }

    fn refresh_interval(&self) -> String {
        format!("{}ms", self.config.refresh_interval_ms)
    }

    /// Sends the `_bulk` of `lines`. An item refused because the index holds a higher
    /// revision of its message (409) is done.
    async fn bulk(&self, lines: Vec<Value>) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut body = String::new();
        for line in lines {
            body.push_str(&line.to_string());
            body.push('\n');
        }
        let answer = self
            .call(
                self.request(reqwest::Method::POST, "_bulk")
                    .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
                    .body(body),
            )
            .await?;
        if answer["errors"].as_bool() != Some(true) {
            return Ok(());
        }
        let failed = answer["items"].as_array().into_iter().flatten().find_map(|item| {
            let (action, outcome) = item.as_object()?.iter().next()?;
            let status = outcome["status"].as_u64().unwrap_or(500);
            let ok = status < 300 || (status == 409 && action == "index");
            (!ok).then(|| (status, outcome["error"]["reason"].as_str().unwrap_or("").to_string()))
        });
        match failed {
            None => Ok(()),
            Some((status, reason)) if status >= 500 || status == 429 => {
                Err(unavailable(format!("a bulk item failed ({status}): {reason}")))
            }
            Some((status, reason)) => Err(Error::internal(format!("a bulk item was refused ({status}): {reason}"))),
        }
    }

    /// The clause of one part: `None` when it has no word (punctuation only).
    fn part_clause(part: &QueryPart, prefix: bool) -> Option<Value> {
        let (text, phrase) = match part {
            QueryPart::Word(w) => (w, false),
            QueryPart::Phrase(p) => (p, true),
        };
        let pieces: Vec<&str> = words(text).map(|(_, w)| w).collect();
        match pieces.as_slice() {
            [] => None,
            [word] if !phrase => {
                let typo = if fold(word).chars().count() >= TYPO_MIN_CHARS { "1" } else { "0" };
                let exact = json!({ "match": { "text": { "query": word, "boost": 2.0 } } });
                let typo = json!({ "match": { "text": { "query": word, "fuzziness": typo, "prefix_length": 0 } } });
                let mut any = vec![exact, typo];
                if prefix {
                    any.push(json!({ "prefix": { "text": { "value": fold(word), "boost": 0.5 } } }));
                }
                Some(json!({ "bool": { "should": any, "minimum_should_match": 1 } }))
            }
            pieces => Some(json!({ "match_phrase": { "text": { "query": pieces.join(" ") } } })),
        }
    }

    fn search_body(q: &TextQuery) -> Option<Value> {
        let last = q.query.parts.len().saturating_sub(1);
        let must: Vec<Value> = q
            .query
            .parts
            .iter()
            .enumerate()
            .filter_map(|(i, part)| Self::part_clause(part, q.query.prefix_last && i == last))
            .collect();
        if must.is_empty() {
            return None;
        }
        let chats: Vec<i64> = q.chats.iter().map(|c| c.as_i64()).collect();
        let mut filter = vec![json!({ "terms": { "chat_id": chats } })];
        if let Some(author) = q.from {
            filter.push(json!({ "term": { "author_id": author.as_i64() } }));
        }
        match q.has {
            Some(SearchHas::Attachment) => filter.push(json!({ "term": { "has_attachment": true } })),
            Some(SearchHas::Link) => filter.push(json!({ "term": { "has_link": true } })),
            None => {}
        }
        if q.after.is_some() || q.before.is_some() {
            let mut range = serde_json::Map::new();
            if let Some(after) = q.after {
                range.insert("gt".into(), json!(after.as_i64()));
            }
            if let Some(before) = q.before {
                range.insert("lt".into(), json!(before.as_i64()));
            }
            filter.push(json!({ "range": { "signal_id": range } }));
        }
        let sort = match q.order {
            SearchOrder::Relevance => json!(["_score", { "signal_id": "desc" }]),
            SearchOrder::Recent => json!([{ "signal_id": "desc" }]),
        };
        Some(json!({
            "from": q.offset,
            "size": q.limit,
            "track_total_hits": false,
            "_source": ["chat_id", "signal_id"],
            "sort": sort,
            "query": { "bool": { "must": must, "filter": filter } }
        }))
    }
}

fn id_of(value: &Value) -> Option<Id> {
    value.as_i64().map(Id::from_i64).or_else(|| value.as_u64().map(Id))
}

#[async_trait]
impl TextIndex for OpenSearchIndex {
    async fn index(&self, signals: &[IndexedSignal]) -> Result<()> {
        let mut lines = Vec::with_capacity(signals.len() * 2);
        for s in signals {
            lines.push(self.versioned_write(s.chat_id, s.signal_id, s.revision));
            lines.push(json!({
                "chat_id": s.chat_id.as_i64(),
                "signal_id": s.signal_id.as_i64(),
                "author_id": s.author_id.as_i64(),
                "text": s.text,
                "has_attachment": s.has_attachment,
                "has_link": s.has_link,
            }));
        }
        self.bulk(lines).await
    }

    async fn remove(&self, signals: &[RemovedSignal]) -> Result<()> {
        let mut lines = Vec::with_capacity(signals.len() * 2);
        for s in signals {
            // A tombstone: the ids and no text, so no query finds it.
            lines.push(self.versioned_write(s.chat_id, s.signal_id, s.revision));
            lines.push(json!({ "chat_id": s.chat_id.as_i64(), "signal_id": s.signal_id.as_i64() }));
        }
        self.bulk(lines).await
    }

    async fn search(&self, q: &TextQuery) -> Result<Vec<TextHit>> {
        if q.chats.is_empty() || q.limit == 0 {
            return Ok(vec![]);
        }
        let Some(body) = Self::search_body(q) else { return Ok(vec![]) };
        let mut path = format!("{}/_search", self.config.index);
        if let [chat] = q.chats.as_slice() {
            path.push_str(&format!("?routing={chat}"));
        }
        let answer = self.call(self.request(reqwest::Method::POST, &path).json(&body)).await?;
        answer["hits"]["hits"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|hit| match (id_of(&hit["_source"]["chat_id"]), id_of(&hit["_source"]["signal_id"])) {
                (Some(chat_id), Some(signal_id)) => Ok(TextHit { chat_id, signal_id }),
                _ => Err(Error::internal(format!("search cluster: a hit without its ids: {hit}"))),
            })
            .collect()
    }

    async fn ping(&self) -> Result<()> {
        self.call(self.request(reqwest::Method::GET, &format!("_alias/{}", self.config.index))).await.map(drop)
    }
}
