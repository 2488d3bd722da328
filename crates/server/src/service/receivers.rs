//! What a receiving organisation is given: the formats of its converted outputs and the age
//! recipients its deliveries are sealed to. The organisation's admin sets them in the web or the
//! API, the operator from the command line (`admin org output`, `admin org recipient`); the
//! rules are here once. A change of recipients is a ledger event the organisation sees.

use std::sync::Arc;

use kenshin_auth::{Action, Resource};
use kenshin_convert::OutputFormat;
use kenshin_seal::{RecipientKind, Recipients, SealError};
use kenshin_store::{Database, Org, RecipientRecord, StoreError};
use time::OffsetDateTime;

use super::error::RecipientProblem;
use super::{Caller, Error, Refusal};
use crate::state::AppState;

/// An organisation's receiving settings, as its pages and the API show them.
#[derive(Clone, Debug)]
pub struct ReceiverOutputs {
    pub formats: Vec<OutputFormat>,
    pub recipients: Vec<RecipientRecord>,
    /// The kind of its recipients (all are of one kind), when it has any.
    pub kind: Option<RecipientKind>,
}

/// The recipients a delivery to `org_id` is sealed to; `None` when it registered none. A
/// stored recipient that no longer parses is an error, never a reason to deliver unsealed.
pub async fn recipients_of(
    state: &AppState,
    org_id: i64,
) -> Result<Option<Arc<Recipients>>, Error> {
    let settings = state.db.receiver_settings(org_id).await?;
    sealing(&settings.recipients)
}

/// The recipients of stored settings, parsed (see [`recipients_of`]).
pub fn sealing(recipients: &[String]) -> Result<Option<Arc<Recipients>>, Error> {
    crate::receiving::sealing(recipients)
        .map_err(|_| Error::Internal("a stored age recipient no longer parses"))
}

pub use crate::receiving::formats;

/// The caller's organisation's receiving settings.
pub async fn outputs(state: &AppState, caller: &Caller) -> Result<ReceiverOutputs, Error> {
    caller.require(Resource::Org, Action::Read)?;
    outputs_in(&state.db, &caller.org).await
}

pub async fn outputs_in(db: &Database, org: &Org) -> Result<ReceiverOutputs, Error> {
    let settings = db.receiver_settings(org.id).await?;
    let recipients = db.recipients(org.id).await?;
    let kind = recipients
        .first()
        .and_then(|r| kenshin_seal::Recipient::parse(&r.recipient).ok())
        .map(|r| r.kind());
    Ok(ReceiverOutputs {
        formats: formats(&settings.formats),
        recipients,
        kind,
    })
}

/// Sets the caller's organisation's output formats.
pub async fn set_formats(state: &AppState, caller: &Caller, codes: &[String]) -> Result<(), Error> {
    caller.require(Resource::Org, Action::Update)?;
    set_formats_in(&state.db, &caller.org, codes).await
}

/// Checks and sets an organisation's output formats (codes in the order chosen; repeats
/// count once).
pub async fn set_formats_in(db: &Database, org: &Org, codes: &[String]) -> Result<(), Error> {
    require_receiver(org)?;
    let mut chosen: Vec<OutputFormat> = Vec::new();
    for code in codes.iter().flat_map(|c| c.split(',')).map(str::trim) {
        if code.is_empty() {
            continue;
        }
        let format: OutputFormat = code
            .parse()
            .map_err(|_| Refusal::UnknownOutputFormat(code.to_owned()))?;
        if !chosen.contains(&format) {
            chosen.push(format);
        }
    }
    if chosen.is_empty() {
        return Err(Refusal::NoOutputFormat.into());
    }
    let codes: Vec<String> = chosen.iter().map(|f| f.code().to_owned()).collect();
    db.set_output_formats(org.id, &codes).await?;
    Ok(())
}

/// Adds an age recipient to the caller's organisation.
pub async fn add_recipient(
    state: &AppState,
    caller: &Caller,
    recipient: &str,
    label: &str,
) -> Result<RecipientRecord, Error> {
    caller.require(Resource::Org, Action::Update)?;
    add_recipient_in(
        &state.db,
        &caller.org,
        recipient,
        label,
        &caller.actor(),
        state.now(),
    )
    .await
}

/// Checks and adds an age recipient: a public key of a known kind, of the same kind as the
/// organisation's others, within the limit. Recorded in the ledger.
pub async fn add_recipient_in(
    db: &Database,
    org: &Org,
    recipient: &str,
    label: &str,
    actor: &str,
    now: OffsetDateTime,
) -> Result<RecipientRecord, Error> {
    require_receiver(org)?;
    let recipient = recipient.trim();
    let mut all: Vec<String> = db
        .recipients(org.id)
        .await?
        .into_iter()
        .map(|r| r.recipient)
        .collect();
    if all.iter().any(|r| r == recipient) {
        return Err(Refusal::BadRecipient(RecipientProblem::Duplicate).into());
    }
    all.push(recipient.to_owned());
    Recipients::parse(&all).map_err(|err| {
        Refusal::BadRecipient(match err {
            SealError::MixedKinds => RecipientProblem::MixedKinds,
            SealError::TooMany => RecipientProblem::TooMany,
            _ => RecipientProblem::NotARecipient,
        })
    })?;
    let label: String = label.trim().chars().take(200).collect();
    match db
        .add_recipient(org.id, recipient, &label, actor, now)
        .await
    {
        Err(StoreError::Conflict(_)) => {
            Err(Refusal::BadRecipient(RecipientProblem::Duplicate).into())
        }
        other => Ok(other?),
    }
}

/// Removes one of the caller's organisation's recipients (by its id or the key itself).
pub async fn remove_recipient(state: &AppState, caller: &Caller, which: &str) -> Result<(), Error> {
    caller.require(Resource::Org, Action::Update)?;
    remove_recipient_in(&state.db, &caller.org, which, &caller.actor(), state.now()).await
}

pub async fn remove_recipient_in(
    db: &Database,
    org: &Org,
    which: &str,
    actor: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    require_receiver(org)?;
    match db.remove_recipient(org.id, which.trim(), actor, now).await {
        Err(StoreError::NotFound) => Err(Error::NotFound),
        other => Ok(other?),
    }
}

fn require_receiver(org: &Org) -> Result<(), Error> {
    if org.kind.may_receive() {
        Ok(())
    } else {
        Err(Refusal::NotAReceiver(org.kind).into())
    }
}
