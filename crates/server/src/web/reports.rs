//! The sender's conversion report: counts, findings by item and rule (with a chart), the
//! first examples with their values (the sender owns the data), and a CSV for Excel.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use kenshin_auth::{Action, Resource};
use kenshin_convert::Report;
use kenshin_core::SubmissionId;
use kenshin_ui::chart::{bar_chart, Bar};

use super::{html, page_or_error, WebPerson};
use crate::error::ApiError;
use crate::state::AppState;

async fn load(
    state: &AppState,
    person: &WebPerson,
    id: &str,
) -> Result<(SubmissionId, Report), ApiError> {
    let id: SubmissionId = id.parse().map_err(|_| ApiError::not_found())?;
    let bytes = crate::service::reports::read_report(state, &person.caller.org, id).await?;
    let report = serde_json::from_slice(&bytes).map_err(|e| {
        tracing::error!(error = %e, submission = %id, "stored report does not parse");
        ApiError::internal()
    })?;
    Ok((id, report))
}

/// Findings per rule, in the rules' order of appearance.
fn by_rule(report: &Report) -> Vec<(String, u64)> {
    let mut totals: Vec<(String, u64)> = Vec::new();
    for count in &report.finding_counts {
        let rule = serde_json::to_value(count.rule)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        match totals.iter_mut().find(|(r, _)| *r == rule) {
            Some((_, total)) => *total += count.count,
            None => totals.push((rule, count.count)),
        }
    }
    totals
}

/// `GET /submissions/{id}/report`
pub async fn report(
    State(state): State<AppState>,
    person: WebPerson,
    Path(id): Path<String>,
) -> Response {
    if !person.may(Resource::Report, Action::Read) {
        return person.forbidden(&state);
    }
    let result = async {
        let (id, report) = load(&state, &person, &id).await?;
        let rules = by_rule(&report);
        let bars: Vec<Bar> = rules
            .iter()
            .map(|(rule, count)| Bar {
                label: kenshin_ui::text(person.lang, &format!("rule.{rule}")).to_owned(),
                value: *count,
            })
            .collect();
        let mut context = person.context(&state, "page.report");
        context["id"] = id.to_string().into();
        context["r"] = serde_json::to_value(&report).unwrap_or_default();
        context["chart"] =
            bar_chart(kenshin_ui::text(person.lang, "report.chart_title"), &bars).into();
        Ok(html(
            &state,
            StatusCode::OK,
            "report.html",
            person.lang,
            context,
        ))
    }
    .await;
    page_or_error(&state, &person, result)
}

/// `GET /submissions/{id}/report.csv`: every finding, UTF-8 with a BOM so Excel opens it,
/// streamed (a conversion may have millions): from the complete list the conversion kept,
/// or, for conversions from before it existed, the report's first findings.
pub async fn report_csv(
    State(state): State<AppState>,
    person: WebPerson,
    Path(id): Path<String>,
) -> Response {
    if !person.may(Resource::Report, Action::Download) {
        return person.forbidden(&state);
    }
    let result = async {
        let (id, report) = load(&state, &person, &id).await?;
        let all = crate::service::reports::all_findings(&state, &person.caller.org, id).await?;
        let lang = person.lang;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(8);
        tokio::task::spawn_blocking(move || {
            let failed = tx.clone();
            if let Err(err) = write_findings_csv(lang, report, all, ChannelWriter::new(tx)) {
                tracing::error!(error = %err, "the findings CSV was cut short");
                let _ = failed.blocking_send(Err(err));
            }
        });
        let body =
            axum::body::Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            }));
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"report-{id}.csv\""),
                ),
            ],
            body,
        )
            .into_response())
    }
    .await;
    page_or_error(&state, &person, result)
}

/// The findings as CSV rows in `lang` (headers, rule and severity names); the messages are
/// the converter's own. Values come from the sender's export: a cell a spreadsheet would run
/// as a formula is neutralised, as in the access-log export.
fn write_findings_csv(
    lang: kenshin_ui::Lang,
    report: Report,
    all: Option<Box<dyn std::io::BufRead + Send>>,
    mut sink: ChannelWriter,
) -> std::io::Result<()> {
    let t = |key: &str| kenshin_ui::text(lang, key).to_owned();
    // The byte order mark Excel needs to read UTF-8.
    std::io::Write::write_all(&mut sink, "\u{FEFF}".as_bytes())?;
    let mut out = csv::Writer::from_writer(sink);
    let header = [
        "report.record",
        "report.line",
        "report.column",
        "report.item",
        "report.rule",
        "report.severity",
        "report.message",
        "report.value",
    ]
    .map(t);
    out.write_record(&header)?;
    let guard = |cell: String| kenshin_audit::guard_cell(&cell).into_owned();
    let mut row = |finding: &kenshin_convert::Finding| -> std::io::Result<()> {
        let name = |v: serde_json::Value| v.as_str().map(str::to_owned).unwrap_or_default();
        let rule = name(serde_json::to_value(finding.rule).unwrap_or_default());
        let severity = name(serde_json::to_value(finding.severity).unwrap_or_default());
        out.write_record(
            [
                finding.record.to_string(),
                finding.line.to_string(),
                finding.column.clone().unwrap_or_default(),
                finding
                    .item_name
                    .clone()
                    .or_else(|| finding.item.clone())
                    .unwrap_or_default(),
                t(&format!("rule.{rule}")),
                t(&format!("severity.{severity}")),
                finding.message.clone(),
                finding.value.clone().unwrap_or_default(),
            ]
            .map(guard),
        )?;
        Ok(())
    };
    match all {
        Some(lines) => {
            for line in std::io::BufRead::lines(lines) {
                let line = line?;
                let finding: kenshin_convert::Finding =
                    serde_json::from_str(&line).map_err(std::io::Error::other)?;
                row(&finding)?;
            }
        }
        None => {
            for finding in &report.findings {
                row(finding)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Bytes to a response body through a channel, 64 KiB at a time (memory stays flat).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn new(tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>) -> ChannelWriter {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(64 * 1024),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
