//! The access log in the service: a middleware records every request — who (certificate,
//! organisation), when, from where, what (an action named from the route), which objects,
//! the result and the bytes — and background work records its own actions. Rows go through
//! a bounded channel to a writer that appends them in batches, so a request never waits for
//! the log's disk write; the writer drains the channel on shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use kenshin_store::{AccessRow, Database};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::tls::PeerInfo;

/// Rows in flight between requests and the writer.
const CHANNEL: usize = 10_000;
/// The writer appends at least this often.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

#[derive(Clone)]
pub struct AccessLog {
    tx: mpsc::Sender<Message>,
}

enum Message {
    Row(Box<AccessRow>),
    /// Write everything received so far, then answer.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Who the request turned out to be, filled in by the `Caller` extractor.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// `certificate` or `user`.
    pub kind: Option<&'static str>,
    pub org: Option<String>,
    pub actor: Option<String>,
    pub device: Option<String>,
}

/// A slot in the request's extensions that authentication fills and the logger reads.
#[derive(Clone, Default)]
pub struct IdentitySlot(pub Arc<Mutex<Identity>>);

/// Tells the access log who made this request (organisation, `user` or `certificate`, and
/// the login or serial), once authentication knows.
pub fn identify(parts: &axum::http::request::Parts, org: &str, kind: &'static str, actor: &str) {
    if let Some(slot) = parts.extensions.get::<IdentitySlot>() {
        if let Ok(mut identity) = slot.0.lock() {
            identity.org = Some(org.to_owned());
            identity.kind = Some(kind);
            identity.actor = Some(actor.to_owned());
        }
    }
}

impl AccessLog {
    /// Starts the writer, which runs until every handle is gone and the channel is drained.
    pub fn start(db: Database) -> AccessLog {
        let (tx, mut rx) = mpsc::channel::<Message>(CHANNEL);
        tokio::spawn(async move {
            let mut batch = Vec::new();
            loop {
                let mut waiting = Vec::new();
                match tokio::time::timeout(FLUSH_EVERY, rx.recv()).await {
                    Ok(Some(message)) => {
                        let mut next = Some(message);
                        while let Some(message) = next.take() {
                            match message {
                                Message::Row(row) => batch.push(*row),
                                Message::Flush(done) => waiting.push(done),
                            }
                            if batch.len() < 1000 {
                                next = rx.try_recv().ok();
                            }
                        }
                    }
                    Ok(None) => {
                        flush(&db, &mut batch).await;
                        return;
                    }
                    Err(_) => {}
                }
                if !batch.is_empty() {
                    flush(&db, &mut batch).await;
                }
                for done in waiting {
                    let _ = done.send(());
                }
            }
        });
        AccessLog { tx }
    }

    pub async fn record(&self, row: AccessRow) {
        if self.tx.send(Message::Row(Box::new(row))).await.is_err() {
            tracing::error!("access log writer is gone; a row was not recorded");
        }
    }

    /// Waits until every row recorded so far is in the database.
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Records an action of background work (retention, conversion, shredding).
    pub async fn system(&self, task: &str, action: &str, objects: Vec<String>, outcome: &str) {
        let mut row = system_row(task, action, outcome);
        row.objects = objects;
        self.record(row).await;
    }
}

async fn flush(db: &Database, batch: &mut Vec<AccessRow>) {
    // Retried: an access log that silently loses rows is worse than a slow one.
    for attempt in 0..5 {
        match db.append_access(batch).await {
            Ok(()) => {
                batch.clear();
                return;
            }
            Err(err) => {
                tracing::error!(error = %err, attempt, rows = batch.len(), "access log append failed");
                tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
            }
        }
    }
    tracing::error!(rows = batch.len(), "access log rows could not be written");
    batch.clear();
}

/// The action each route stands for — stable names for search and export — from the route
/// tables: the API's handlers declare theirs (`x-access-action` in their `#[utoipa::path]`),
/// the pages' table names each page's.
#[derive(Clone, Debug, Default)]
pub struct Actions(std::collections::HashMap<String, Vec<(String, String)>>);

impl Actions {
    /// From `(method, route template, action)` entries.
    pub fn new(entries: impl IntoIterator<Item = (http::Method, String, String)>) -> Actions {
        let mut table: std::collections::HashMap<String, Vec<(String, String)>> =
            std::collections::HashMap::new();
        for (method, route, action) in entries {
            table
                .entry(route)
                .or_default()
                .push((method.as_str().to_owned(), action));
        }
        Actions(table)
    }

    /// The action of `method` on the route template `route`: a page not in a table is a
    /// `page_view`, anything else `other`.
    pub fn of<'a>(&'a self, method: &str, route: &str) -> &'a str {
        self.0
            .get(route)
            .and_then(|methods| methods.iter().find(|(m, _)| m == method))
            .map(|(_, action)| action.as_str())
            .unwrap_or(if method == "GET" {
                "page_view"
            } else {
                "other"
            })
    }
}

/// The objects named in a path: `/api/v1/submissions/<id>/…` → `submission:<id>`.
fn objects_of(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('/').collect();
    let mut objects = Vec::new();
    for window in parts.windows(2) {
        let kind = match window[0] {
            "submissions" => "submission",
            "deliveries" => "delivery",
            "entries" => "ledger_entry",
            "maps" => "map",
            "users" | "people" => "user",
            "certificates" => "certificate",
            _ => continue,
        };
        let decoded = percent_encoding::percent_decode_str(window[1]).decode_utf8_lossy();
        let id = decoded.as_ref();
        if !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._@".contains(&b))
        {
            objects.push(format!("{kind}:{id}"));
        }
    }
    objects
}

/// What the access-log middleware writes to: the log and the request metrics.
#[derive(Clone)]
pub struct Recorder {
    pub log: AccessLog,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The action names of the routes.
    pub actions: std::sync::Arc<Actions>,
}

/// The middleware: times the request, lets authentication fill the identity, records a row.
pub async fn record(State(state): State<Recorder>, mut request: Request, next: Next) -> Response {
    let at = OffsetDateTime::now_utc();
    let method = request.method().as_str().to_owned();
    // The path only: query strings may carry a file name, which may carry a name.
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let peer = request.extensions().get::<PeerInfo>().cloned();
    let uploaded = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let slot = IdentitySlot::default();
    request.extensions_mut().insert(slot.clone());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state.metrics.observe_request(
        &method,
        matched.as_deref().unwrap_or("unmatched"),
        status,
        started.elapsed().as_secs_f64(),
    );
    let error_code = response
        .extensions()
        .get::<kenshin_core::api::ErrorCode>()
        .map(|code| code.as_str().to_owned());
    let identity = slot.0.lock().map(|i| i.clone()).unwrap_or_default();
    let downloaded = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let outcome = match status {
        200..=399 => "success",
        401 | 403 => "denied",
        404 | 410 => "not_found",
        _ => "failed",
    };
    let (actor_kind, actor) = match identity.actor {
        Some(actor) => (identity.kind.unwrap_or("certificate"), actor),
        None => ("anonymous", String::from("-")),
    };
    let row = AccessRow {
        seq: 0,
        at,
        org: identity.org,
        actor_kind: actor_kind.into(),
        actor,
        device: identity.device,
        session: None,
        source: peer.map(|p| p.addr.to_string()),
        action: state.actions.of(&method, &route).into(),
        method: Some(method.clone()),
        path: Some(path.clone()),
        objects: objects_of(&path),
        outcome: outcome.into(),
        status: Some(status),
        bytes: if method == "POST" {
            uploaded
        } else {
            downloaded
        },
        detail: error_code,
    };
    state.log.record(row).await;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_come_from_the_path() {
        assert_eq!(
            objects_of("/api/v1/deliveries/0190f000-0000-7000-8000-000000000001/content"),
            vec!["delivery:0190f000-0000-7000-8000-000000000001"]
        );
        assert!(objects_of("/api/v1/deliveries").is_empty());
        assert!(objects_of("/api/v1/submissions/<script>").is_empty());
    }

    #[test]
    fn actions_come_from_the_table_with_page_views_and_other_besides() {
        let actions = Actions::new([
            (
                http::Method::GET,
                "/api/v1/deliveries/{id}/content".to_owned(),
                "delivery_download".to_owned(),
            ),
            (
                http::Method::POST,
                "/people".to_owned(),
                "user_create".to_owned(),
            ),
            (
                http::Method::GET,
                "/people".to_owned(),
                "user_list".to_owned(),
            ),
        ]);
        assert_eq!(
            actions.of("GET", "/api/v1/deliveries/{id}/content"),
            "delivery_download"
        );
        assert_eq!(actions.of("POST", "/people"), "user_create");
        assert_eq!(actions.of("GET", "/people"), "user_list");
        assert_eq!(actions.of("GET", "/somewhere"), "page_view");
        assert_eq!(actions.of("DELETE", "/people"), "other");
    }
}

/// What the last 15 minutes of the access log look like, for alerts and the health endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlertCounts {
    pub failed_logins: u64,
    pub revoked_certificate_uses: u64,
    pub not_found_probes: u64,
}

/// Thresholds above which the window is an alert.
const FAILED_LOGINS_ALERT: u64 = 10;
const NOT_FOUND_ALERT: u64 = 50;

impl AlertCounts {
    pub async fn recent(
        db: &Database,
        now: OffsetDateTime,
    ) -> Result<AlertCounts, kenshin_store::StoreError> {
        let [failed_logins, revoked_certificate_uses, not_found_probes] =
            db.alert_counts(now - time::Duration::minutes(15)).await?;
        Ok(AlertCounts {
            failed_logins,
            revoked_certificate_uses,
            not_found_probes,
        })
    }

    /// The reasons this window is an alert (empty when it is not).
    pub fn reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.failed_logins >= FAILED_LOGINS_ALERT {
            reasons.push(format!(
                "{} failed logins in 15 minutes",
                self.failed_logins
            ));
        }
        if self.revoked_certificate_uses > 0 {
            reasons.push(format!(
                "{} uses of revoked certificates in 15 minutes",
                self.revoked_certificate_uses
            ));
        }
        if self.not_found_probes >= NOT_FOUND_ALERT {
            reasons.push(format!(
                "{} requests for objects that are not the caller's in 15 minutes",
                self.not_found_probes
            ));
        }
        reasons
    }
}

/// Every minute, records a `security_alert` row when the last 15 minutes cross a threshold
/// (once per distinct set of reasons), so alerts are in the log that customers export.
/// The last alert count for `/health`: when it began, and its reasons.
pub type AlertCache = tokio::sync::Mutex<Option<(tokio::time::Instant, Vec<String>)>>;

/// The current alert reasons for `/health`, which anyone may call: concurrent calls share one
/// count (a request waits for a count begun after it arrived, never for an older one), so a
/// flood of health checks costs one aggregate query at a time.
pub async fn current_alerts(db: &Database, cache: &AlertCache) -> Vec<String> {
    let arrived = tokio::time::Instant::now();
    let mut latest = cache.lock().await;
    if let Some((counted, reasons)) = latest.as_ref() {
        if *counted >= arrived {
            return reasons.clone();
        }
    }
    let started = tokio::time::Instant::now();
    let reasons = AlertCounts::recent(db, OffsetDateTime::now_utc())
        .await
        .map(|counts| counts.reasons())
        .unwrap_or_default();
    *latest = Some((started, reasons.clone()));
    reasons
}

/// Every minute: counts the last 15 minutes and writes a `security_alert` row when the
/// reasons change.
pub fn spawn_alerts(db: Database, log: AccessLog) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last: Vec<String> = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Ok(counts) = AlertCounts::recent(&db, OffsetDateTime::now_utc()).await else {
                continue;
            };
            let reasons = counts.reasons();
            if !reasons.is_empty() && reasons != last {
                tracing::warn!(reasons = %reasons.join("; "), "security alert");
                let mut row = system_row("system:alerts", "security_alert", "failed");
                row.detail = Some(reasons.join("; "));
                log.record(row).await;
            }
            last = reasons;
        }
    })
}

fn system_row(task: &str, action: &str, outcome: &str) -> AccessRow {
    AccessRow {
        seq: 0,
        at: OffsetDateTime::now_utc(),
        org: None,
        actor_kind: "system".into(),
        actor: task.into(),
        device: None,
        session: None,
        source: None,
        action: action.into(),
        method: None,
        path: None,
        objects: Vec::new(),
        outcome: outcome.into(),
        status: None,
        bytes: None,
        detail: None,
    }
}
