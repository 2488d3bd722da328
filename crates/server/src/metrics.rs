//! Prometheus metrics (`GET /metrics`, text exposition format): request rates and latencies
//! by route template, conversion jobs and their durations, and — read at scrape time — queue
//! depth, ledger size and free storage. Labels are route templates and status codes only:
//! never an id, an organisation or a file name, so the endpoint carries no tenant data.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    jobs: Family<OutcomeLabels, Counter>,
    job_seconds: Histogram,
    queue_depth: Gauge,
    notice_queue_depth: Gauge,
    jobs_dead: Gauge,
    ledger_entries: Gauge,
    storage_free_bytes: Gauge<u64, AtomicU64>,
    /// Connections open now (TLS handshakes in progress included).
    pub connections_open: Gauge,
    connections_refused: Family<ReasonLabels, Counter>,
    /// Connections closed after `idle_timeout_seconds` without a request.
    pub connections_idle_closed: Counter,
    handshakes_failed: Family<ReasonLabels, Counter>,
    logins_throttled: Family<ReasonLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kenshin_relay");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route template and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by method and route template",
            latency.clone(),
        );
        let jobs = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "conversion_jobs",
            "Conversion jobs run, by outcome",
            jobs.clone(),
        );
        let job_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        registry.register(
            "conversion_job_duration_seconds",
            "Duration of conversion jobs",
            job_seconds.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Conversions and releases of held records queued or running",
            queue_depth.clone(),
        );
        let notice_queue_depth = Gauge::default();
        registry.register(
            "notice_queue_depth",
            "Notifications to prepare or send, queued or running",
            notice_queue_depth.clone(),
        );
        let jobs_dead = Gauge::default();
        registry.register(
            "jobs_dead",
            "Background jobs given up (dead letters: `kenshin-relay admin jobs` says why)",
            jobs_dead.clone(),
        );
        let ledger_entries = Gauge::default();
        registry.register(
            "ledger_entries",
            "Entries in the transparency ledger",
            ledger_entries.clone(),
        );
        let storage_free_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "storage_free_bytes",
            "Free bytes on the blob store's file system",
            storage_free_bytes.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "Connections open now, TLS handshakes in progress included",
            connections_open.clone(),
        );
        let connections_refused = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections closed before the TLS handshake, by reason (total: max_connections; source: max_connections_per_source; accept_failed: the operating system refused, e.g. no file descriptors)",
            connections_refused.clone(),
        );
        let connections_idle_closed = Counter::default();
        registry.register(
            "connections_idle_closed",
            "Connections closed after idle_timeout_seconds without a request",
            connections_idle_closed.clone(),
        );
        let handshakes_failed = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "tls_handshakes_failed",
            "TLS handshakes that failed, by reason (refused, timeout)",
            handshakes_failed.clone(),
        );
        let logins_throttled = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "logins_throttled",
            "Login attempts refused unverified because their source (address or network) is throttled",
            logins_throttled.clone(),
        );
        Metrics {
            registry,
            connections_open,
            connections_refused,
            connections_idle_closed,
            handshakes_failed,
            logins_throttled,
            requests,
            latency,
            jobs,
            job_seconds,
            queue_depth,
            notice_queue_depth,
            jobs_dead,
            ledger_entries,
            storage_free_bytes,
        }
    }

    /// One finished request (`route` is the matched template, never a concrete path).
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// One conversion job (`converted`, `failed`).
    pub fn observe_job(&self, outcome: &str, seconds: f64) {
        self.jobs
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
        self.job_seconds.observe(seconds);
    }

    /// A connection closed before its handshake (`total`, `source`, `accept_failed`).
    pub fn connection_refused(&self, reason: &str) {
        self.connections_refused
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A failed TLS handshake (`refused`, `timeout`).
    pub fn handshake_failed(&self, reason: &str) {
        self.handshakes_failed
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A login refused because its source is throttled (`address`, `prefix`).
    pub fn login_throttled(&self, reason: &str) {
        self.logins_throttled
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The exposition text, with the gauges read now; `lanes` are the job kinds of the
    /// worker's two lanes (files, notices), counted apart.
    pub async fn render(
        &self,
        db: &kenshin_store::Database,
        blobs: &kenshin_store::BlobStore,
        lanes: [&[&str]; 2],
    ) -> String {
        if let Ok(depth) = db.queue_depth(lanes[0]).await {
            self.queue_depth.set(depth as i64);
        }
        if let Ok(depth) = db.queue_depth(lanes[1]).await {
            self.notice_queue_depth.set(depth as i64);
        }
        if let Ok(dead) = db.dead_job_count().await {
            self.jobs_dead.set(dead as i64);
        }
        if let Ok(size) = db.ledger_size().await {
            self.ledger_entries.set(size as i64);
        }
        let blobs = blobs.clone();
        if let Ok(Ok(Some(free))) = tokio::task::spawn_blocking(move || blobs.free_bytes()).await {
            self.storage_free_bytes.set(free);
        }
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}
