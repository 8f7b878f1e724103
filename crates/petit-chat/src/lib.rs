//! The petit-chat binary's library half: configuration and the wiring of adapters to
//! ports for each shape. The only crate that names every adapter.

pub mod admin;
pub mod config;
pub mod http;
mod sync;

pub use sync::{SyncReport, sync_users};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use api::{ApiSettings, AppState, AuthConfig, DevTokenIssuer, Metrics, WebSettings};
use axum::Router;
use blobs::{LocalBlobs, S3Blobs};
use bus_local::{LocalBus, LocalBusConfig};
use bus_nats::NatsBus;
use domain::IdGenerator;
use identity_dev::DevIdentity;
use identity_oidc::OidcIdentity;
use ports::{Blobs, Bus, Identity, NonceFence, PushGateway, Store, TextIndex};
use service::membership_cache::MembershipCache;
use service::{ChatService, DeliveryTracker, WorkerPorts, WorkerRole, WorkerSettings, WorkerStats, Workers};
use store_cql::CqlStore;
use store_sqlite::{Durability, SqliteStore};
use tokio_util::sync::CancellationToken;

use crate::config::{BlobsKind, BusKind, Config, IdentityKind, SearchKind, StoreKind};

/// A built application: the router and what runs beside it.
pub struct App {
    pub router: Router,
    pub state: AppState,
    pub shutdown: CancellationToken,
    /// The worker roles this process runs; [`Workers::stop`] drains them.
    pub workers: Workers,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// Opens the adapters the configuration names, starts the workers and builds the router.
pub async fn build(config: &Config) -> anyhow::Result<App> {
    let data_dir = &config.server.data_dir;
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create data dir {}", data_dir.display()))?;

    let web = web_settings(config)?;
    let bus = open_bus(config).await?;
    let store = open_store(config, Some(bus.clone())).await?;
    let blobs = open_blobs(config)?;
    // A tantivy index made just now (a first start, or its directory deleted) is rebuilt
    // from the store in the background while the server serves; one its last session did
    // not close (the process died) gets the messages of its last minutes again.
    let new_index = config.search.kind == SearchKind::Tantivy && !config.search_dir().join("meta.json").exists();
    // A server restarting in this process (tests) may still be letting the index go.
    let (index, unfinished) = open_index_noting_crash(config, Duration::from_secs(10)).await?;
    let since = unfinished.as_ref().and_then(|t| t.unfinished_since()).filter(|_| !new_index);
    if new_index || since.is_some() {
        let (store, index) = (store.clone(), index.clone());
        tokio::spawn(async move {
            let done = match since {
                None => service::reindex::reindex(store, index, None, |_| {}).await,
                Some(since) => service::reindex::catch_up(store, index, since).await,
            };
            match done {
                Ok(done) => {
                    if let Some(tantivy) = unfinished {
                        tantivy.caught_up();
                    }
                    if done.messages > 0 {
                        tracing::info!(
                            chats = done.chats_done,
                            messages = done.messages,
                            ?since,
                            "search index rebuilt"
                        );
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "rebuilding the search index failed; run `petit-chat admin reindex`")
                }
            }
        });
    }
    let (identity, dev_login, auth_config): (Arc<dyn Identity>, Option<DevTokenIssuer>, AuthConfig) =
        match config.identity.kind {
            IdentityKind::Dev => {
                let lifetime = Duration::from_secs(config.identity.dev_token_hours * 3600);
                let dev =
                    Arc::new(DevIdentity::load_or_create(data_dir, lifetime).context("cannot load the dev login key")?);
                let issuer = dev.clone();
                let issue: DevTokenIssuer = Arc::new(move |username: &str| issuer.issue(username));
                let auth = AuthConfig { mode: "dev".into(), issuer: None, client_id: None, scopes: vec![] };
                (dev, Some(issue), auth)
            }
            IdentityKind::Oidc => {
                let oidc = &config.identity.oidc;
                let identity = Arc::new(OidcIdentity::new(oidc).context("identity")?);
                // Keycloak may start after this node: keys are fetched again at the first token.
                match identity.warm_up().await {
                    Ok(keys) => tracing::info!(issuer = %identity.issuer(), keys, "identity provider reachable"),
                    Err(error) => {
                        tracing::warn!(issuer = %identity.issuer(), %error, "identity provider not reachable yet")
                    }
                }
                let auth = AuthConfig {
                    mode: "oidc".into(),
                    issuer: Some(identity.issuer().to_string()),
                    client_id: Some(oidc.client_id.clone()),
                    scopes: oidc.scopes.clone(),
                };
                (identity, None, auth)
            }
        };

    let ids = Arc::new(config.server.node_id.map_or_else(IdGenerator::with_random_node, IdGenerator::new));
    let push = open_push(config, &store).await?;
    let shutdown = CancellationToken::new();
    // Senders' roles and chats' members are remembered while this node hears of
    // membership changes.
    let membership = MembershipCache::followed(bus.clone(), shutdown.child_token());
    let service = ChatService::new(store.clone(), bus.clone(), blobs.clone(), ids, config.domain_limits())
        .with_push(push.clone())
        .with_search(index.clone())
        .with_membership_cache(membership.clone());
    if config.search.kind == SearchKind::Tantivy {
        // `petit-chat admin reindex` asks this server, which holds the index, to rebuild it.
        let reindexer = admin::Reindexer::new(store.clone(), index.clone());
        if let Err(error) = admin::listen(&admin::socket_path(data_dir), reindexer, shutdown.clone()) {
            tracing::warn!(
                error = format!("{error:#}"),
                "no admin socket: `petit-chat admin reindex` cannot reach this server"
            );
        }
    }
    let stats = Arc::new(WorkerStats::default());
    let ports = WorkerPorts { store, bus, blobs, push, index, membership };
    let workers = start_workers(config, ports, stats.clone(), shutdown.child_token()).await?;
    let delivery = DeliveryTracker::start(service.clone(), Duration::from_millis(250));
    let sync_every = config.identity.oidc.sync_interval_secs;
    if config.identity.kind == IdentityKind::Oidc && sync_every > 0 && config.identity.oidc.sync_client_id.is_some() {
        let interval = Duration::from_secs(sync_every);
        tokio::spawn(sync::run_periodic(service.clone(), config.clone(), interval, shutdown.clone()));
    }
    let state = AppState {
        service,
        identity,
        dev_login,
        auth_config: Arc::new(auth_config),
        delivery,
        metrics: Arc::new(Metrics::new(stats)),
        limits: Arc::new(api::limits::Limits::new(
            config.limits.rate.clone(),
            config.limits.max_streams_per_user,
            config.limits.max_streams,
        )),
        settings: ApiSettings {
            max_body_bytes: config.limits.max_body_bytes,
            sse_heartbeat: Duration::from_secs(config.server.sse_heartbeat_secs.max(1)),
            event_ticket: Duration::from_secs(config.identity.event_ticket_secs),
            ice: config.calls.ice_settings(),
            web,
            body_idle_timeout: Duration::from_secs(config.limits.body_idle_timeout_secs),
            cors_origins: config.server.cors_origins.iter().filter_map(|o| o.parse().ok()).collect(),
            hsts_max_age: (config.server.hsts_max_age_secs > 0)
                .then(|| Duration::from_secs(config.server.hsts_max_age_secs)),
        },
        shutdown: shutdown.clone(),
    };
    Ok(App { router: api::router(state.clone()), state, shutdown, workers })
}

/// The web client to serve at `/`, if there is one, and the other origins its
/// content security policy names: the identity provider's, the object store's.
fn web_settings(config: &Config) -> anyhow::Result<Option<WebSettings>> {
    let Some(dir) = config.web_dir() else {
        tracing::info!("no web client served: server.web_dir is unset and there is no web/dist here, or it is empty");
        return Ok(None);
    };
    let dir = std::fs::canonicalize(&dir)
        .ok()
        .filter(|dir| dir.is_dir())
        .with_context(|| format!("server.web_dir {} is not a directory", dir.display()))?;
    if dir.join("index.html").is_file() {
        tracing::info!(dir = %dir.display(), "serving the web client at /");
    } else {
        tracing::warn!(dir = %dir.display(), "serving the web client at /, but its directory has no index.html");
    }
    Ok(Some(WebSettings {
        dir,
        oidc_issuer: (config.identity.kind == IdentityKind::Oidc).then(|| config.identity.oidc.issuer.clone()),
        blob_endpoint: (config.blobs.kind == BlobsKind::S3).then(|| config.blobs.s3.download_base_url()),
    }))
}

/// Opens the configured bus and declares every consumer group, whichever roles this
/// process runs, so no group misses an event published before its workers start.
async fn open_bus(config: &Config) -> anyhow::Result<Arc<dyn Bus>> {
    let bus: Arc<dyn Bus> = match config.bus.kind {
        BusKind::Local => Arc::new(LocalBus::new(LocalBusConfig {
            replay_per_user: config.bus.replay_per_user,
            ..LocalBusConfig::default()
        })),
        BusKind::Nats => Arc::new(NatsBus::connect(&config.bus.nats).await.context("cannot connect to NATS")?),
    };
    for role in WorkerRole::ALL {
        let Some(group) = role.group() else { continue };
        bus.declare_group(group, role.spec())
            .await
            .with_context(|| format!("cannot declare consumer group {group}"))?;
    }
    Ok(bus)
}

async fn start_workers(
    config: &Config,
    ports: WorkerPorts,
    stats: Arc<WorkerStats>,
    shutdown: CancellationToken,
) -> anyhow::Result<Workers> {
    let roles = config.workers.roles()?;
    let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
    tracing::info!(roles = ?names, "starting workers");
    let settings = WorkerSettings {
        concurrency: config.workers.concurrency,
        thumbnail_side: config.workers.thumbnail_side,
        max_image_bytes: config.limits.max_upload_bytes,
        upload_grace: std::time::Duration::from_secs(config.workers.upload_grace_secs),
        collect_interval: std::time::Duration::from_secs(config.workers.collect_interval_secs),
        notify_delay: std::time::Duration::from_secs(config.notifications.delay_secs),
        push: config.notifications.push_settings(),
        call_sweep_interval: std::time::Duration::from_millis(config.calls.sweep_interval_ms.max(100)),
        ..WorkerSettings::default()
    };
    Ok(Workers::start(&roles, ports, stats, settings, shutdown).await?)
}

/// The push gateways, signing Web Push with the deployment's VAPID key: generated by the
/// first node that needs one and kept in the store, so every node signs with the same.
async fn open_push(config: &Config, store: &Arc<dyn Store>) -> anyhow::Result<Arc<dyn PushGateway>> {
    let candidate = push::generate_vapid_pkcs8()?;
    let key = store.server_key(push::VAPID_KEY_NAME, &candidate).await.context("cannot read the VAPID key")?;
    Ok(Arc::new(push::Gateways::new(&config.notifications.push_config(), &key)?))
}

/// `petit-chat worker`: runs the configured worker roles without the HTTP API (cluster
/// shape), with `/healthz` and `/metrics` on `metrics_listen` if given, until Ctrl-C or
/// SIGTERM; then drains: events in hand are finished and acknowledged.
pub async fn run_workers(config: Config, metrics_listen: Option<SocketAddr>) -> anyhow::Result<()> {
    if config.bus.kind == BusKind::Local {
        anyhow::bail!(
            "`petit-chat worker` needs the cluster shape's bus (bus.kind = \"nats\"): the embedded shape runs its \
             workers inside `petit-chat serve`"
        );
    }
    if config.workers.roles()?.is_empty() {
        anyhow::bail!("`petit-chat worker` needs at least one role (--roles fanout,presence)");
    }
    let bus = open_bus(&config).await?;
    let store = open_store(&config, Some(bus.clone())).await?;
    let stats = Arc::new(WorkerStats::default());
    let blobs = open_blobs(&config)?;
    let push = open_push(&config, &store).await?;
    let index: Arc<dyn TextIndex> = if config.workers.roles()?.contains(&WorkerRole::Index) {
        open_index(&config, Duration::ZERO).await?
    } else {
        Arc::new(service::indexer::NoTextIndex)
    };
    let membership = MembershipCache::followed(bus.clone(), CancellationToken::new());
    let ports = WorkerPorts { store, bus: bus.clone(), blobs, push, index, membership };
    let workers = start_workers(&config, ports, stats.clone(), CancellationToken::new()).await?;
    let mut metrics_note = String::new();
    if let Some(addr) = metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let router = api::worker_router(Arc::new(Metrics::new(stats)), bus);
        metrics_note = format!("  (metrics: http://{}/metrics)", listener.local_addr()?);
        tokio::spawn(http::serve(listener, router, http::HEADER_READ_TIMEOUT, std::future::pending()));
    }
    let names: Vec<&str> = config.workers.roles()?.iter().map(|r| r.name()).collect();
    println!("Petit chat workers are up: {}{metrics_note}", names.join(","));
    wait_for_signal().await;
    tracing::info!("shutting down: draining the workers");
    workers.stop().await;
    Ok(())
}

/// Opens the configured store (the SQLite file in the data directory, or the CQL cluster).
/// A process that sends messages passes its bus's nonce fence (see
/// [`CqlStore::with_nonce_fence`]); one-off commands, which send none, pass `None`.
async fn open_store(config: &Config, fence: Option<Arc<dyn NonceFence>>) -> anyhow::Result<Arc<dyn Store>> {
    let data_dir = &config.server.data_dir;
    Ok(match config.store.kind {
        StoreKind::Sqlite => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
            let durability =
                if config.store.sqlite_durability == "normal" { Durability::Normal } else { Durability::Full };
            let path = data_dir.join("petit-chat.db");
            Arc::new(SqliteStore::open(&path, durability).with_context(|| format!("cannot open {}", path.display()))?)
        }
        StoreKind::Cql => {
            let store = CqlStore::connect(&config.store.cql).await.context("cannot open the CQL store")?;
            Arc::new(match fence {
                Some(fence) => store.with_nonce_fence(fence),
                None => store,
            })
        }
    })
}

/// Opens the configured blob storage (a directory, by default `blobs` in the data
/// directory, or an S3 bucket; S3 is not reached before the first upload).
pub fn open_blobs(config: &Config) -> anyhow::Result<Arc<dyn Blobs>> {
    Ok(match config.blobs.kind {
        BlobsKind::Local => {
            let dir = config.blobs_dir();
            Arc::new(
                LocalBlobs::open(&dir).with_context(|| format!("cannot open the blob directory {}", dir.display()))?,
            )
        }
        BlobsKind::S3 => Arc::new(S3Blobs::new(&config.blobs.s3).context("cannot set up the S3 blob storage")?),
    })
}

/// Opens the configured text index: tantivy in `search_dir` (embedded), or the OpenSearch
/// cluster (its template, first index and alias made if need be). One process at a time
/// writes a tantivy index: one held elsewhere is waited for up to `patience`.
pub async fn open_index(config: &Config, patience: Duration) -> anyhow::Result<Arc<dyn TextIndex>> {
    Ok(open_index_noting_crash(config, patience).await?.0)
}

/// [`open_index`], and the tantivy index itself when its last session did not close it
/// (see [`search::TantivyIndex::unfinished_since`]).
async fn open_index_noting_crash(
    config: &Config,
    patience: Duration,
) -> anyhow::Result<(Arc<dyn TextIndex>, Option<search::TantivyIndex>)> {
    Ok(match config.search.kind {
        SearchKind::Tantivy => {
            let dir = config.search_dir();
            let deadline = std::time::Instant::now() + patience;
            loop {
                match search::TantivyIndex::open(&dir) {
                    Ok(index) => {
                        let unfinished = index.unfinished_since().map(|_| index.clone());
                        break (Arc::new(index), unfinished);
                    }
                    Err(e) if e.kind == domain::ErrorKind::Unavailable && std::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot open the search index in {}", dir.display()));
                    }
                }
            }
        }
        SearchKind::OpenSearch => (
            Arc::new(
                search::OpenSearchIndex::connect(&config.search.opensearch)
                    .await
                    .with_context(|| format!("cannot open the search index at {}", config.search.opensearch.url))?,
            ),
            None,
        ),
    })
}

/// `petit-chat admin reindex`: rebuilds the text index from the store (one chat's
/// messages, or every chat's), reporting progress after each chat. An embedded index held
/// by a running server is rebuilt by that server, asked on its admin socket.
pub async fn reindex(
    config: &Config,
    chat: Option<domain::ChatId>,
    progress: impl FnMut(service::reindex::ReindexProgress),
) -> anyhow::Result<service::reindex::ReindexProgress> {
    let index = match open_index(config, Duration::ZERO).await {
        Ok(index) => index,
        Err(held)
            if config.search.kind == SearchKind::Tantivy
                && held.downcast_ref::<domain::Error>().is_some_and(|e| e.kind == domain::ErrorKind::Unavailable) =>
        {
            let socket = admin::socket_path(&config.server.data_dir);
            tracing::info!(socket = %socket.display(), "the search index is held by another process: asking the server");
            return match admin::request_reindex(&socket, chat, progress).await? {
                Some(done) => Ok(done),
                None => Err(held.context(format!("no server answers on {} to rebuild the index", socket.display()))),
            };
        }
        Err(e) => return Err(e),
    };
    let store = open_store(config, None).await?;
    Ok(service::reindex::reindex(store, index, chat, progress).await?)
}

/// `petit-chat sync-users`: one user sync against the configured store, then exit.
pub async fn sync_users_once(config: &Config) -> anyhow::Result<SyncReport> {
    let store = open_store(config, None).await?;
    let bus: Arc<dyn Bus> = Arc::new(LocalBus::new(LocalBusConfig::default()));
    let ids = Arc::new(config.server.node_id.map_or_else(IdGenerator::with_random_node, IdGenerator::new));
    let service = ChatService::new(store, bus, open_blobs(config)?, ids, config.domain_limits());
    sync_users(&service, config).await
}

/// `petit-chat dead-letters`: the latest `limit` dead letters of the configured store,
/// newest first.
pub async fn dead_letters(config: &Config, limit: usize) -> anyhow::Result<Vec<domain::DeadLetter>> {
    Ok(open_store(config, None).await?.dead_letters(limit).await?)
}

/// Runs the server until Ctrl-C or SIGTERM, then drains: live streams end, requests in
/// flight finish.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let app = build(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    announce(&config, addr);
    let shutdown = app.shutdown.clone();
    http::serve(listener, app.router.clone(), Duration::from_secs(config.limits.header_timeout_secs), async move {
        wait_for_signal().await;
        tracing::info!("shutting down: closing live streams, finishing requests, draining workers");
        shutdown.cancel();
    })
    .await;
    if !app.state.service.finish_background(Duration::from_secs(5)).await {
        tracing::warn!("background work still running after 5 s; leaving it");
    }
    app.workers.stop().await;
    Ok(())
}

fn announce(config: &Config, addr: SocketAddr) {
    tracing::info!(%addr, data_dir = %config.server.data_dir.display(), "petit chat is listening");
    if config.identity.kind == IdentityKind::Dev {
        let banner = "DEV LOGIN IS ON: anyone who reaches this server from the loopback address can log in \
                      as any username (POST /api/v1/dev/login). It answers only on loopback. Use Keycloak \
                      (identity.kind = \"oidc\") for real users.";
        tracing::warn!("{banner}");
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "listening beyond loopback: the dev login still refuses non-loopback clients");
        }
    }
    println!("Petit chat is up: http://{addr}  (API docs: http://{addr}/docs)");
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Applies pending migrations of the configured store.
pub fn migrate(config: &Config) -> anyhow::Result<()> {
    match config.store.kind {
        StoreKind::Sqlite => {
            std::fs::create_dir_all(&config.server.data_dir)?;
            let path = config.server.data_dir.join("petit-chat.db");
            let applied = SqliteStore::migrate(&path)?;
            if applied.is_empty() {
                println!("{}: schema is up to date", path.display());
            } else {
                println!("{}: applied migrations {applied:?}", path.display());
            }
            Ok(())
        }
        StoreKind::Cql => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let applied = runtime.block_on(CqlStore::migrate(&config.store.cql))?;
            if applied.is_empty() {
                println!("keyspace {}: schema is up to date", config.store.cql.keyspace);
            } else {
                println!("keyspace {}: applied migrations {applied:?}", config.store.cql.keyspace);
            }
            Ok(())
        }
    }
}
