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

/// `GET /submissions/{id}/report.csv`: the findings, UTF-8 with a BOM so Excel opens it.
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
        let lang = person.lang;
        let t = |key: &str| kenshin_ui::text(lang, key).to_owned();
        let mut out = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
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
        out.write_record(&header)
            .map_err(|_| ApiError::internal())?;
        // Values come from the sender's export: a cell a spreadsheet would run as a formula is
        // neutralised, as in the access-log export.
        let guard = |cell: String| kenshin_audit::guard_cell(&cell).into_owned();
        for finding in &report.findings {
            let rule = serde_json::to_value(finding.rule)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let severity = serde_json::to_value(finding.severity)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
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
            )
            .map_err(|_| ApiError::internal())?;
        }
        let bytes = out.into_inner().map_err(|_| ApiError::internal())?;
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"report-{id}.csv\""),
                ),
            ],
            bytes,
        )
            .into_response())
    }
    .await;
    page_or_error(&state, &person, result)
}
