//! Typed, documented configuration. Sources, later ones winning: defaults, the TOML file
//! given with `--config`, environment variables `PETIT_CHAT__<SECTION>__<KEY>` (for example
//! `PETIT_CHAT__SERVER__LISTEN=0.0.0.0:8080`), then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub server: ServerConfig,
    pub limits: LimitsConfig,
    pub store: StoreConfig,
    pub bus: BusConfig,
    pub identity: IdentityConfig,
    pub workers: WorkersConfig,
    pub blobs: BlobsConfig,
    pub notifications: NotificationsConfig,
    pub search: SearchConfig,
    pub calls: CallsConfig,
}

/// Calls: how long they ring, and the STUN/TURN servers clients connect through.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CallsConfig {
    /// Seconds a call rings before, unanswered, it ends as missed.
    pub ring_secs: u64,
    /// `stun:host:port` URLs handed to clients.
    pub stun_urls: Vec<String>,
    /// `turn:host:port?transport=udp` (or `turns:`) URLs sharing `turn_secret`.
    pub turn_urls: Vec<String>,
    /// The secret shared with the TURN servers (coturn's `static-auth-secret` with
    /// `use-auth-secret`): credentials are made from it per user, never stored.
    pub turn_secret: Option<String>,
    /// Seconds a TURN credential stays good for.
    pub credential_ttl_secs: u64,
    /// Milliseconds between two sweeps of the `calls` role for calls nobody answered.
    pub sweep_interval_ms: u64,
    /// Tells clients to relay every call through the TURN servers (`iceTransportPolicy:
    /// "relay"`): people never learn each other's addresses, at the TURN servers' cost.
    pub relay_only: bool,
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self {
            ring_secs: (domain::call::DEFAULT_RING_MS / 1000) as u64,
            stun_urls: vec![],
            turn_urls: vec![],
            turn_secret: None,
            credential_ttl_secs: 3600,
            sweep_interval_ms: 2000,
            relay_only: false,
        }
    }
}

impl CallsConfig {
    pub fn ice_settings(&self) -> service::calls::IceSettings {
        service::calls::IceSettings {
            stun_urls: self.stun_urls.clone(),
            turn_urls: self.turn_urls.clone(),
            turn_secret: self.turn_secret.clone(),
            credential_ttl: std::time::Duration::from_secs(self.credential_ttl_secs.max(60)),
            relay_only: self.relay_only,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchKind {
    /// tantivy in process, the index in a directory (embedded shape).
    Tantivy,
    /// An OpenSearch (or Elasticsearch) cluster (cluster shape).
    OpenSearch,
}

/// Where messages are indexed for search.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchConfig {
    pub kind: SearchKind,
    /// `tantivy`: the index's directory; unset, `search` in the data directory.
    pub dir: Option<PathBuf>,
    /// `opensearch`: url, index (the alias), shards, replicas, username, password,
    /// request_timeout_ms, refresh_interval_ms (see `search::OpenSearchConfig`).
    #[serde(flatten)]
    pub opensearch: search::OpenSearchConfig,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self { kind: SearchKind::Tantivy, dir: None, opensearch: search::OpenSearchConfig::default() }
    }
}

/// Push notifications: who is told, when, and through what.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationsConfig {
    /// Seconds a member with a live stream open has to read a message before it is pushed.
    pub delay_secs: u64,
    /// How much a notification shows: `full` (chat, sender, text), `sender_only`, `none`.
    pub preview: service::Preview,
    /// Attempts per push target before a job becomes a dead letter.
    pub attempts: u32,
    /// Milliseconds before the first retry; each next doubles (with jitter), up to 8 s.
    pub retry_base_ms: u64,
    /// Seconds a gateway may keep a notification for an unreachable device (Web Push `TTL`).
    pub ttl_secs: u64,
    /// Timeout of one request to a gateway, in milliseconds.
    pub timeout_ms: u64,
    /// The operator's contact in the VAPID token (`mailto:` or `https:` URL), which push
    /// services use to reach whoever runs the server.
    pub vapid_subject: String,
    /// Development only: push targets on loopback (HTTP too) and private addresses. Never
    /// in production: users could make the server call its own network.
    pub allow_private_targets: bool,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        let d = service::PushSettings::default();
        Self {
            delay_secs: service::WorkerSettings::default().notify_delay.as_secs(),
            preview: d.preview,
            attempts: d.attempts,
            retry_base_ms: d.retry_base.as_millis() as u64,
            ttl_secs: d.ttl.as_secs(),
            timeout_ms: 5_000,
            vapid_subject: "mailto:admin@localhost".into(),
            allow_private_targets: false,
        }
    }
}

impl NotificationsConfig {
    pub fn push_settings(&self) -> service::PushSettings {
        service::PushSettings {
            preview: self.preview,
            attempts: self.attempts.max(1),
            retry_base: std::time::Duration::from_millis(self.retry_base_ms),
            ttl: std::time::Duration::from_secs(self.ttl_secs),
        }
    }

    pub fn push_config(&self) -> push::PushConfig {
        push::PushConfig {
            allow_private: self.allow_private_targets,
            timeout: std::time::Duration::from_millis(self.timeout_ms.max(1)),
            vapid_subject: self.vapid_subject.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobsKind {
    /// A directory (embedded shape).
    Local,
    /// An S3 bucket: SeaweedFS, MinIO, Garage, AWS… (cluster shape).
    S3,
}

/// Where attachments' bytes are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BlobsConfig {
    pub kind: BlobsKind,
    /// `local`: the directory; unset, `blobs` in the data directory.
    pub dir: Option<PathBuf>,
    /// Seconds a presigned download URL of the object store stays valid (`s3`).
    pub url_expiry_secs: u64,
    /// `s3`: endpoint, public endpoint, bucket, region, credentials, key prefix (see
    /// `blobs::S3Config`).
    #[serde(flatten)]
    pub s3: blobs::S3Config,
}

impl Default for BlobsConfig {
    fn default() -> Self {
        Self { kind: BlobsKind::Local, dir: None, url_expiry_secs: 300, s3: blobs::S3Config::default() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkersConfig {
    /// The worker roles `serve` runs beside the API, comma-separated (`fanout`, `presence`;
    /// `all`), or `none` for an API-only node of a cluster whose roles run in
    /// `petit-chat worker` processes. The embedded shape (local bus) runs them all.
    pub roles: String,
    /// Chat events one consumer-group worker handles at the same time (of different chats).
    pub concurrency: usize,
    /// The longest side of an image's thumbnail, in pixels (`thumbnails` role).
    pub thumbnail_side: u32,
    /// Seconds an upload may wait for the message that sends it; then the `collector`
    /// role deletes it (and its bytes, if nothing else holds them).
    pub upload_grace_secs: u64,
    /// Seconds between two passes of the `collector` role.
    pub collect_interval_secs: u64,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        let d = service::WorkerSettings::default();
        Self {
            roles: "all".into(),
            concurrency: d.concurrency,
            thumbnail_side: d.thumbnail_side,
            upload_grace_secs: d.upload_grace.as_secs(),
            collect_interval_secs: d.collect_interval.as_secs(),
        }
    }
}

impl WorkersConfig {
    /// The roles of `roles`.
    pub fn roles(&self) -> anyhow::Result<Vec<service::WorkerRole>> {
        if self.roles.trim() == "none" {
            return Ok(vec![]);
        }
        service::WorkerRole::parse_list(&self.roles).map_err(|e| anyhow::anyhow!("workers.roles: {}", e.detail))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the embedded shape keeps its database and keys.
    pub data_dir: PathBuf,
    /// This process's id generator node (0..=1023). Give each process of a cluster its own;
    /// unset, a random one is picked (fine for the single process of the embedded shape).
    pub node_id: Option<u16>,
    /// Seconds between SSE heartbeat comments.
    pub sse_heartbeat_secs: u64,
    /// The built web client (`index.html`, `assets/`), served at `/`. Unset, `web/dist` in
    /// the working directory if there is one (a checkout with the client built); an empty
    /// path serves none.
    pub web_dir: Option<PathBuf>,
    /// Origins (`https://chat.example.com`) whose pages may call the API from a browser.
    /// Empty (the default): no CORS headers, only the server's own pages may.
    pub cors_origins: Vec<String>,
    /// Sends `Strict-Transport-Security` with this max-age (seconds) when above 0: set it
    /// when every client reaches the server over HTTPS (a TLS proxy in front).
    pub hsts_max_age_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            node_id: None,
            sse_heartbeat_secs: 15,
            web_dir: None,
            cors_origins: Vec::new(),
            hsts_max_age_secs: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Longest message, in characters.
    pub max_text_chars: usize,
    /// Largest group, creator included.
    pub max_group_members: usize,
    /// Largest JSON request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest uploaded file, in bytes (25 MiB).
    pub max_upload_bytes: u64,
    /// Most event streams one user may have open at once (tabs, devices).
    pub max_streams_per_user: usize,
    /// Most event streams open on this node in total.
    pub max_streams: usize,
    /// How long a client may take to send a request's headers, and how long an idle
    /// connection stays open, in seconds.
    pub header_timeout_secs: u64,
    /// How long a request body may pause between two of its chunks, in seconds.
    pub body_idle_timeout_secs: u64,
    /// Request rates per user and per client address, by budget.
    pub rate: api::limits::RateLimitConfig,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let d = domain::Limits::default();
        Self {
            max_text_chars: d.max_text_chars,
            max_group_members: d.max_group_members,
            max_body_bytes: 64 * 1024,
            max_upload_bytes: d.max_upload_bytes,
            max_streams_per_user: 32,
            max_streams: 50_000,
            header_timeout_secs: 30,
            body_idle_timeout_secs: 30,
            rate: api::limits::RateLimitConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// An SQLite file in the data directory (embedded shape).
    Sqlite,
    /// ScyllaDB / Cassandra over CQL (cluster shape).
    Cql,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreConfig {
    pub kind: StoreKind,
    /// SQLite: `full` (an acknowledged write survives a power cut) or `normal` (faster;
    /// survives a process crash).
    pub sqlite_durability: String,
    /// CQL: contact points, keyspace, datacenter, replication, credentials, consistency,
    /// timeouts (see `store_cql::CqlConfig`).
    #[serde(flatten)]
    pub cql: store_cql::CqlConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { kind: StoreKind::Sqlite, sqlite_durability: "full".into(), cql: store_cql::CqlConfig::default() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    /// In-process (embedded shape: one process).
    Local,
    /// NATS JetStream (cluster shape).
    Nats,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BusConfig {
    pub kind: BusKind,
    /// Events kept per user for `Last-Event-ID` replay (local bus).
    pub replay_per_user: usize,
    /// NATS: servers, credentials, TLS, stream prefix, retention (see `bus_nats::NatsConfig`).
    #[serde(flatten)]
    pub nats: bus_nats::NatsConfig,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self { kind: BusKind::Local, replay_per_user: 1024, nats: bus_nats::NatsConfig::default() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityKind {
    /// Dev login, loopback only (embedded shape).
    Dev,
    /// OpenID Connect (Keycloak).
    Oidc,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityConfig {
    pub kind: IdentityKind,
    /// Lifetime of dev-login tokens, in hours.
    pub dev_token_hours: u64,
    /// Lifetime of the single-use tickets of `POST /api/v1/events/ticket`, in seconds.
    pub event_ticket_secs: u64,
    /// Benchmarks only: allow the dev login with the NATS bus. The nodes must then share
    /// one data directory (the dev key); anyone on loopback can log in as anyone.
    pub dev_login_in_cluster: bool,
    /// OIDC: issuer, audience, algorithms, key refresh, the login client told to apps, the
    /// user-sync client (see `identity_oidc::OidcConfig`).
    #[serde(flatten)]
    pub oidc: identity_oidc::OidcConfig,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            kind: IdentityKind::Dev,
            dev_token_hours: 24 * 7,
            event_ticket_secs: 30,
            dev_login_in_cluster: false,
            oidc: identity_oidc::OidcConfig::default(),
        }
    }
}

/// Command-line values that override the other sources.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    /// `--roles`: the worker roles to run.
    pub roles: Option<String>,
    /// `--web-dir`: the built web client's directory.
    pub web_dir: Option<PathBuf>,
}

impl Config {
    /// Loads defaults, then `file`, then the environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                anyhow::bail!("config file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("PETIT_CHAT__").split("__"));
        let mut value: figment::value::Value = figment.extract()?;
        read_secret_files(&mut value, "")?;
        let mut config: Config = Figment::from(Serialized::defaults(value)).extract()?;
        if let Some(listen) = overrides.listen {
            config.server.listen = listen;
        }
        if let Some(dir) = &overrides.data_dir {
            config.server.data_dir = dir.clone();
        }
        if let Some(roles) = &overrides.roles {
            config.workers.roles = roles.clone();
        }
        if let Some(dir) = &overrides.web_dir {
            config.server.web_dir = Some(dir.clone());
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.limits.max_text_chars == 0 || self.limits.max_group_members < 2 {
            anyhow::bail!("limits: max_text_chars must be ≥ 1 and max_group_members ≥ 2");
        }
        for origin in &self.server.cors_origins {
            let parsed = origin.parse::<axum::http::Uri>().ok().filter(|u| {
                matches!(u.scheme_str(), Some("http" | "https"))
                    && u.authority().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
                    && !origin.ends_with('/')
            });
            if parsed.is_none() {
                anyhow::bail!("server.cors_origins: {origin:?} is not an origin like https://chat.example.com");
            }
        }
        if self.limits.max_streams_per_user == 0 || self.limits.max_streams == 0 {
            anyhow::bail!("limits: max_streams_per_user and max_streams must be ≥ 1");
        }
        if self.limits.header_timeout_secs == 0 || self.limits.body_idle_timeout_secs == 0 {
            anyhow::bail!("limits: header_timeout_secs and body_idle_timeout_secs must be ≥ 1");
        }
        if let Some(node) = self.server.node_id
            && node > domain::id::MAX_NODE_ID
        {
            anyhow::bail!("server.node_id must be between 0 and {}", domain::id::MAX_NODE_ID);
        }
        if !matches!(self.store.sqlite_durability.as_str(), "full" | "normal") {
            anyhow::bail!("store.sqlite_durability is `full` or `normal`");
        }
        if self.identity.kind == IdentityKind::Oidc {
            self.identity.oidc.validate()?;
        }
        if self.bus.kind == BusKind::Nats
            && self.identity.kind == IdentityKind::Dev
            && !self.identity.dev_login_in_cluster
        {
            anyhow::bail!(
                "the cluster shape (bus.kind = \"nats\") needs identity.kind = \"oidc\": the dev login is for \
                 one embedded process only"
            );
        }
        if self.bus.kind == BusKind::Nats && self.search.kind == SearchKind::Tantivy {
            anyhow::bail!(
                "the cluster shape (bus.kind = \"nats\") needs search.kind = \"opensearch\": a tantivy index lives \
                 in one process, and each node would index only the messages its own workers took"
            );
        }
        if !(100..=60_000).contains(&self.search.opensearch.refresh_interval_ms) {
            anyhow::bail!("search.opensearch.refresh_interval_ms must be between 100 and 60000");
        }
        let roles = self.workers.roles()?;
        if self.bus.kind == BusKind::Local && roles.len() != service::WorkerRole::ALL.len() {
            anyhow::bail!(
                "workers.roles: the embedded shape (bus.kind = \"local\") runs every worker role in its one process"
            );
        }
        if !(16..=4096).contains(&self.workers.thumbnail_side) {
            anyhow::bail!("workers.thumbnail_side must be between 16 and 4096");
        }
        if self.workers.collect_interval_secs == 0 {
            anyhow::bail!("workers.collect_interval_secs must be at least 1");
        }
        if !(1..=4096).contains(&self.workers.concurrency) {
            anyhow::bail!("workers.concurrency must be between 1 and 4096");
        }
        if !(1..=7 * 24 * 3600).contains(&self.blobs.url_expiry_secs) {
            anyhow::bail!("blobs.url_expiry_secs must be between 1 and 604800 (S3 signs for at most 7 days)");
        }
        if self.limits.max_upload_bytes == 0 {
            anyhow::bail!("limits.max_upload_bytes must be at least 1");
        }
        if !(1..=600).contains(&self.identity.event_ticket_secs) {
            anyhow::bail!("identity.event_ticket_secs must be between 1 and 600");
        }
        Ok(())
    }

    /// The tantivy index's directory: `search.dir`, else `search` in the data directory.
    pub fn search_dir(&self) -> PathBuf {
        self.search.dir.clone().unwrap_or_else(|| self.server.data_dir.join("search"))
    }

    /// The web client's directory: `server.web_dir` (none if empty), else `web/dist` in the
    /// working directory if it is a directory.
    pub fn web_dir(&self) -> Option<PathBuf> {
        match &self.server.web_dir {
            Some(dir) if dir.as_os_str().is_empty() => None,
            Some(dir) => Some(dir.clone()),
            None => Some(PathBuf::from("web/dist")).filter(|dir| dir.is_dir()),
        }
    }

    /// The local blob directory: `blobs.dir`, else `blobs` in the data directory.
    pub fn blobs_dir(&self) -> PathBuf {
        self.blobs.dir.clone().unwrap_or_else(|| self.server.data_dir.join("blobs"))
    }

    pub fn domain_limits(&self) -> domain::Limits {
        domain::Limits {
            max_text_chars: self.limits.max_text_chars,
            max_group_members: self.limits.max_group_members,
            max_upload_bytes: self.limits.max_upload_bytes,
            download_url_secs: self.blobs.url_expiry_secs,
            call_ring_ms: i64::try_from(self.calls.ring_secs.saturating_mul(1000)).unwrap_or(i64::MAX).max(1000),
            ..domain::Limits::default()
        }
    }
}

/// The keys that hold secrets; each may instead be given as `<key>_file`, naming a file
/// whose content is the secret (e.g. a mounted Kubernetes Secret or Docker secret).
const SECRET_KEYS: [&str; 6] =
    ["password", "token", "sync_client_secret", "turn_secret", "secret_access_key", "access_key_id"];

/// Replaces every `<secret>_file` key (see [`SECRET_KEYS`]) by `<secret>`, read from the
/// file it names (a final newline dropped), so secrets stay out of the configuration file
/// and the environment. A file that cannot be read stops the start.
fn read_secret_files(value: &mut figment::value::Value, at: &str) -> anyhow::Result<()> {
    use figment::value::Value;
    let Value::Dict(_, dict) = value else { return Ok(()) };
    let is_secret_file = |key: &str| key.strip_suffix("_file").is_some_and(|secret| SECRET_KEYS.contains(&secret));
    let files: Vec<String> = dict
        .iter()
        .filter(|(key, v)| is_secret_file(key) && v.as_str().is_some())
        .map(|(key, _)| key.clone())
        .collect();
    for key in files {
        let Some(Value::String(tag, path)) = dict.remove(&key) else { continue };
        let content =
            std::fs::read_to_string(&path).with_context(|| format!("{at}{key}: cannot read the secret file {path}"))?;
        let content = content.strip_suffix('\n').map(|c| c.strip_suffix('\r').unwrap_or(c)).unwrap_or(&content);
        let secret = key.trim_end_matches("_file").to_string();
        dict.insert(secret, Value::String(tag, content.to_string()));
    }
    for (key, v) in dict.iter_mut() {
        read_secret_files(v, &format!("{at}{key}."))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("config.toml");
        std::fs::write(&file, toml.replace("DIR", &dir.path().display().to_string())).expect("write");
        std::fs::write(dir.path().join("secret"), "s3cr3t\n").expect("write");
        Config::load(Some(&file), &Overrides::default())
    }

    #[test]
    fn secrets_are_read_from_files_and_other_file_keys_are_left_alone() {
        let config = load(
            "[store]\npassword_file = \"DIR/secret\"\n[calls]\nturn_secret_file = \"DIR/secret\"\n\
             [bus]\ntls_ca_file = \"DIR/ca.pem\"\n",
        )
        .expect("config");
        assert_eq!(config.store.cql.password.as_deref(), Some("s3cr3t"));
        assert_eq!(config.calls.turn_secret.as_deref(), Some("s3cr3t"));
        assert!(config.bus.nats.tls_ca_file.as_ref().is_some_and(|p| p.ends_with("ca.pem")));
        let missing = load("[store]\npassword_file = \"DIR/nowhere\"\n").expect_err("a missing secret file");
        assert!(format!("{missing:#}").contains("store.password_file"), "{missing:#}");
    }

    #[test]
    fn the_search_refresh_interval_is_read_and_bounded() {
        assert_eq!(load("").expect("defaults").search.opensearch.refresh_interval_ms, 500);
        let config = load("[search]\nrefresh_interval_ms = 2000\n").expect("config");
        assert_eq!(config.search.opensearch.refresh_interval_ms, 2000);
        for bad in [0, 99, 60_001] {
            let refused = load(&format!("[search]\nrefresh_interval_ms = {bad}\n")).expect_err("out of range");
            assert!(format!("{refused:#}").contains("refresh_interval_ms"), "{refused:#}");
        }
    }

    #[test]
    fn cors_origins_must_be_origins() {
        let config = load("[server]\ncors_origins = [\"https://chat.example.com\", \"http://localhost:5173\"]\n");
        assert_eq!(config.expect("origins").server.cors_origins.len(), 2);
        for bad in ["https://chat.example.com/", "chat.example.com", "https://x.com/app", "ftp://x.com", "*"] {
            assert!(load(&format!("[server]\ncors_origins = [\"{bad}\"]\n")).is_err(), "{bad}");
        }
    }
}
