//! The sender's side, as a caller asks for it: send a file, list and read one's submissions,
//! withdraw one, and where one may send to. Rights come from the permission matrix; another
//! organisation's submission is not found.

use bytes::Bytes;
use futures::Stream;
use kenshin_auth::{Action, Resource};
use kenshin_core::api::SubmissionView;
use kenshin_core::{EventKind, OrgCode, RouteMode, SubmissionId};
use kenshin_store::ListFilter;

use super::{ledger, relay, views, Caller, Error, Refusal};
use crate::state::AppState;

/// A file as a sender sends it.
pub struct Upload<'a, S> {
    /// The receiving organisation; `None`: converted and routed by 保険者番号.
    pub to: Option<&'a OrgCode>,
    /// The file's name (checked by `kenshin_core::validate::filename`).
    pub filename: &'a str,
    /// The file, streamed.
    pub body: S,
}

/// Receives a file from the caller; answers the sender's receipt (with its ledger receipt
/// when the ledger could give one).
pub async fn send<S, E>(
    state: &AppState,
    caller: &Caller,
    upload: Upload<'_, S>,
) -> Result<SubmissionView, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    require_sender(caller)?;
    let actor = caller.actor();
    let (submission, deliveries) = relay::submit(
        state,
        &caller.org,
        caller.cert_serial(),
        upload.to.map(OrgCode::as_str),
        upload.filename,
        upload.body,
        &actor,
    )
    .await?;
    tracing::info!(
        submission = %submission.id,
        sender = %caller.org.code,
        receiver = upload.to.map(OrgCode::as_str).unwrap_or("(by 保険者番号)"),
        size = submission.size,
        "submission received"
    );
    let mut view = views::submission(submission, deliveries, Vec::new());
    view.receipt = ledger::receipt(state, &view.id.to_string(), EventKind::Received).await;
    Ok(view)
}

/// Whether the caller may send at all: the role, and an organisation of a sending kind.
pub fn require_sender(caller: &Caller) -> Result<(), Error> {
    caller.require(Resource::Submission, Action::Create)?;
    if caller.org.kind.may_send() {
        Ok(())
    } else {
        Err(Refusal::CannotSend(caller.org.kind).into())
    }
}

/// A page of the caller's organisation's submissions, with their deliveries (one query for
/// the page, not one per row); and how many there are in all.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    filter: &ListFilter,
) -> Result<(Vec<SubmissionView>, u64), Error> {
    caller.require(Resource::Submission, Action::Read)?;
    let (records, total) = state.db.list_submissions(caller.org.id, filter).await?;
    let items = views::submissions_with_deliveries(&state.db, records).await?;
    Ok((items, total))
}

/// One of the caller's organisation's submissions, with its deliveries.
pub async fn show(
    state: &AppState,
    caller: &Caller,
    id: SubmissionId,
) -> Result<SubmissionView, Error> {
    caller.require(Resource::Submission, Action::Read)?;
    let record = state.db.submission(caller.org.id, id).await?;
    let mut views = views::submissions_with_deliveries(&state.db, vec![record]).await?;
    Ok(views.remove(0))
}

/// Withdraws one of the caller's organisation's submissions while nothing of it was
/// downloaded; its content is destroyed.
pub async fn withdraw(
    state: &AppState,
    caller: &Caller,
    id: SubmissionId,
) -> Result<SubmissionView, Error> {
    caller.require(Resource::Submission, Action::Delete)?;
    let record = relay::withdraw(state, &caller.org, id, &caller.actor()).await?;
    tracing::info!(submission = %id, sender = %caller.org.code, "submission withdrawn");
    let mut views = views::submissions_with_deliveries(&state.db, vec![record]).await?;
    Ok(views.remove(0))
}

/// Where the caller's organisation may send.
#[derive(Clone, Debug, Default)]
pub struct Destinations {
    /// Receivers of its pass-through routes: code and name.
    pub receivers: Vec<(OrgCode, String)>,
    /// Whether it has a convert route (files split by 保険者番号).
    pub convert: bool,
}

pub async fn destinations(state: &AppState, caller: &Caller) -> Result<Destinations, Error> {
    caller.require(Resource::Submission, Action::Create)?;
    let orgs = state.db.list_orgs().await?;
    let mut receivers = Vec::new();
    for route in state.db.list_routes().await? {
        if route.sender == caller.org.code && route.mode == RouteMode::PassThrough {
            if let Some(org) = orgs.iter().find(|o| o.code == route.receiver) {
                receivers.push((org.code.clone(), org.name.clone()));
            }
        }
    }
    let convert = state.db.has_convert_route(caller.org.id).await?;
    Ok(Destinations { receivers, convert })
}

/// The sender downloads a batch of records held for it (unrouted per 保険者番号, or rows
/// returned because they could not be identified): a stream of the batch's file, counted and
/// recorded in the ledger. Health data: the right to read conversion reports is required.
pub async fn held_content(
    state: &AppState,
    caller: &Caller,
    id: SubmissionId,
    batch: &str,
) -> Result<
    (
        kenshin_store::HeldRecord,
        impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ),
    Error,
> {
    caller.require(Resource::Report, Action::Read)?;
    let held = state.db.held_batch(caller.org.id, id, batch).await?;
    if held.state != kenshin_core::HeldState::Held {
        return Err(Refusal::NoLongerHeld(held.state).into());
    }
    let object = state.db.object(held.object_id).await?;
    let stream = state.vault.open_stream(&object).await?;
    state
        .db
        .record_held_download(&held, &caller.actor(), state.now())
        .await?;
    tracing::info!(submission = %id, sender = %caller.org.code, records = held.records, "held records downloaded by their sender");
    Ok((held, stream))
}
