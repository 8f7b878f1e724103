//! Prometheus metrics, owned by the app state (no global registry): request counts and
//! latencies by route, open live streams, signals posted, and the workers' consumer groups
//! (processed, failed, redelivered, lag) and restarts.

use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::Arc;

use ports::Bus;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use service::workers::GroupSnapshot;
use service::{WorkerRole, WorkerStats};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    workers: Arc<WorkerCollector>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pub live_streams: Gauge,
    pub events_sent: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(Arc::default())
    }
}

impl Metrics {
    /// Metrics that include the counts of this process's workers.
    pub fn new(worker_stats: Arc<WorkerStats>) -> Self {
        let mut registry = Registry::with_prefix("petit_chat");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
        });
        let live_streams = Gauge::default();
        let events_sent = Counter::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        registry.register("live_streams", "Open SSE streams on this node", live_streams.clone());
        registry.register("live_events_sent", "Events written to SSE streams", events_sent.clone());
        let workers = Arc::new(WorkerCollector { stats: worker_stats, lag: Mutex::default() });
        registry.register_collector(Box::new(workers.clone()));
        Self { registry: Mutex::new(registry), workers, requests, latency, live_streams, events_sent }
    }

    /// Reads the lag of every consumer group from the bus, then encodes.
    pub async fn encode_with_lag(&self, bus: &dyn Bus) -> String {
        let mut lags = BTreeMap::new();
        for group in WorkerRole::ALL.iter().filter_map(|r| r.group()) {
            match bus.group_lag(group).await {
                Ok(lag) => {
                    lags.insert(group, lag);
                }
                Err(error) => tracing::warn!(group, %error, "metrics: cannot read a consumer group's lag"),
            }
        }
        *self.workers.lag.lock().unwrap_or_else(|e| e.into_inner()) = lags;
        self.encode()
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// Middleware: counts and times every request by its route template.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    metrics.requests.get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status }).inc();
    metrics.latency.get_or_create(&RouteLabels { method, route }).observe(start.elapsed().as_secs_f64());
    response
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: String,
}

/// The workers' counts, read at each scrape; the lag as last read from the bus.
#[derive(Debug)]
struct WorkerCollector {
    stats: Arc<WorkerStats>,
    lag: Mutex<BTreeMap<&'static str, u64>>,
}

impl Collector for WorkerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let groups = self.stats.groups();
        type Read = fn(&GroupSnapshot) -> u64;
        let counters: [(&str, &str, Read); 3] = [
            ("group_events_processed", "Chat events a consumer group handled and acknowledged", |g| g.processed),
            ("group_events_failed", "Attempts of a consumer group that failed (the event comes again)", |g| g.failed),
            ("group_events_redelivered", "Chat events a consumer group received again", |g| g.redelivered),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(0u64);
            let mut family = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            for group in &groups {
                let labels = GroupLabels { group: group.group.to_string() };
                ConstCounter::new(value(group)).encode(family.encode_family(&labels)?)?;
            }
        }
        let lag = self.lag.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let gauge = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "group_lag",
            "Chat events of a consumer group not acknowledged yet (every worker, every node)",
            None,
            gauge.metric_type(),
        )?;
        for (group, lag) in lag {
            let labels = GroupLabels { group: group.to_string() };
            ConstGauge::new(i64::try_from(lag).unwrap_or(i64::MAX)).encode(family.encode_family(&labels)?)?;
        }
        let counter = ConstCounter::new(0u64);
        let mut family =
            encoder.encode_descriptor("worker_restarts", "Restarts of a failed worker", None, counter.metric_type())?;
        for (role, n) in self.stats.restarts() {
            ConstCounter::new(n).encode(family.encode_family(&RoleLabels { role: role.to_string() })?)?;
        }
        let push = &self.stats.push;
        let pushes: [(&str, &str, &std::sync::atomic::AtomicU64); 5] = [
            ("push_sent", "Notifications a push gateway took", &push.sent),
            ("push_retried", "Push attempts that failed and were retried", &push.retried),
            ("push_targets_gone", "Push targets deleted because their gateway said they are gone", &push.gone),
            ("push_dead_letters", "Notification jobs given up on for a target (see the dead letters)", &push.dead),
            ("push_skipped", "Notification jobs with nothing to send any more (read, muted, deleted)", &push.skipped),
        ];
        for (name, help, value) in pushes {
            let counter = ConstCounter::new(value.load(std::sync::atomic::Ordering::Relaxed));
            let family = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(family)?;
        }
        IndexLag(&self.stats.index).encode(encoder.encode_descriptor(
            "index_lag_seconds",
            "Time from a message being sent to its being written to the search index",
            None,
            MetricType::Histogram,
        )?)
    }
}

/// The indexer's lag histogram, from its counts.
struct IndexLag<'a>(&'a service::indexer::IndexStats);

impl IndexLag<'_> {
    fn encode(&self, mut encoder: prometheus_client::encoding::MetricEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = self.0;
        let count = stats.indexed.load(Relaxed);
        let mut buckets: Vec<(f64, u64)> = service::indexer::INDEX_LAG_BUCKETS
            .iter()
            .zip(&stats.lag_buckets)
            .map(|(bound, n)| (*bound, n.load(Relaxed)))
            .collect();
        let within: u64 = buckets.iter().map(|b| b.1).sum();
        buckets.push((f64::MAX, count.saturating_sub(within)));
        let sum = stats.lag_ms_sum.load(Relaxed) as f64 / 1000.0;
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)
    }
}
