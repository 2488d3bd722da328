//! The ledger as its users ask for it: the public checkpoint, a party's entries and proofs,
//! the receipt that goes with an answer, and a file's history proven against the current
//! checkpoint. Entries are shown to the parties of a file only; to anyone else an entry is
//! not found.

use kenshin_auth::{Action, Resource};
use kenshin_core::{DeliveryId, EventKind, SubmissionId};
use kenshin_ledger::Hash;
use kenshin_store::LedgerEntry;
use time::OffsetDateTime;

use super::{Caller, Error, Refusal};
use crate::state::AppState;

/// The latest signed checkpoint (a C2SP tlog-checkpoint note), sequencing first when the
/// ledger has none yet.
pub async fn checkpoint(state: &AppState) -> Result<String, Error> {
    if let Some(checkpoint) = state.ledger.checkpoint().await? {
        return Ok(checkpoint.note);
    }
    state.ledger.sequence().await?;
    state
        .ledger
        .checkpoint()
        .await?
        .map(|c| c.note)
        .ok_or(Error::Internal("no checkpoint after sequencing"))
}

/// The verifier key, `<name>+<key id>+<base64 key>`: public, like the checkpoint.
pub fn verifier_key(state: &AppState) -> String {
    state.ledger.verifier_text()
}

/// The ledger receipt for an answer. A ledger failure must not undo a stored upload or a
/// confirmation: it is logged, and the answer goes out without its receipt (the entry will be
/// in the ledger; `ledger verify` proves it later).
pub async fn receipt(state: &AppState, submission: &str, kind: EventKind) -> Option<String> {
    match state.ledger.receipt(submission, kind).await {
        Ok(receipt) => Some(receipt),
        Err(err) => {
            tracing::error!(error = %err, %submission, "no ledger receipt");
            None
        }
    }
}

fn is_party(caller: &Caller, entry: &LedgerEntry) -> bool {
    let code = caller.org.code.as_str();
    entry.sender_org.as_deref() == Some(code) || entry.receiver_org.as_deref() == Some(code)
}

/// The entries of one file the caller's organisation is a party to, or its organisation's
/// entries after index `after` (at most `limit`).
pub async fn entries(
    state: &AppState,
    caller: &Caller,
    submission: Option<&str>,
    after: Option<u64>,
    limit: u32,
) -> Result<Vec<LedgerEntry>, Error> {
    caller.require(Resource::Ledger, Action::Read)?;
    match submission {
        Some(submission) => {
            let entries = state.db.ledger_entries_for_submission(submission).await?;
            // Not a party to this file: the same answer as for a file that does not exist.
            if !entries.iter().any(|e| is_party(caller, e)) {
                return Err(Error::NotFound);
            }
            Ok(entries
                .into_iter()
                .filter(|e| is_party(caller, e))
                .collect())
        }
        None => Ok(state
            .db
            .ledger_entries_for_org(caller.org.code.as_str(), after, limit)
            .await?),
    }
}

/// One entry, to a party of it.
pub async fn entry(state: &AppState, caller: &Caller, index: u64) -> Result<LedgerEntry, Error> {
    caller.require(Resource::Ledger, Action::Read)?;
    let entry = state.db.ledger_entry(index).await?;
    if !is_party(caller, &entry) {
        return Err(Error::NotFound);
    }
    Ok(entry)
}

async fn latest_size(state: &AppState) -> Result<u64, Error> {
    Ok(state
        .ledger
        .checkpoint()
        .await?
        .map(|c| c.size)
        .unwrap_or(0))
}

fn check_size(size: u64, latest: u64) -> Result<(), Error> {
    if size > latest {
        return Err(Refusal::NoCheckpointOfSize { size, latest }.into());
    }
    Ok(())
}

/// That entry `index` is in the tree of `size` (a checkpoint's), to a party of the entry.
pub async fn inclusion_proof(
    state: &AppState,
    caller: &Caller,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, Error> {
    entry(state, caller, index).await?;
    check_size(size, latest_size(state).await?)?;
    if index >= size {
        return Err(Refusal::IndexNotBelowSize.into());
    }
    Ok(state.ledger.inclusion_proof(index, size).await?)
}

/// That the tree of size `to` extends the tree of size `from`.
pub async fn consistency_proof(
    state: &AppState,
    caller: &Caller,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, Error> {
    caller.require(Resource::Ledger, Action::Read)?;
    check_size(to, latest_size(state).await?)?;
    if from > to {
        return Err(Refusal::FromAboveTo.into());
    }
    Ok(state.ledger.consistency_proof(from, to).await?)
}

/// One event of a file's history whose entry is proven in the current checkpoint.
#[derive(Clone, Debug)]
pub struct ProvenEvent {
    pub index: u64,
    pub at: OffsetDateTime,
    pub kind: EventKind,
}

/// A file's history as its party sees it — a receiver only the file's own entries and those
/// of its `delivery` — each entry checked against the current checkpoint (an entry not yet in
/// it, or whose proof does not verify, is left out); and the checkpoint's note.
pub async fn proven_history(
    state: &AppState,
    submission: SubmissionId,
    delivery: Option<DeliveryId>,
) -> Result<(Vec<ProvenEvent>, Option<String>), Error> {
    let Some(checkpoint) = state.ledger.checkpoint().await? else {
        return Ok((Vec::new(), None));
    };
    let mut history = Vec::new();
    for event in state.db.events_for_submission(submission).await? {
        if let (Some(wanted), Some(of)) = (delivery, &event.delivery_id) {
            if of != &wanted.to_string() {
                continue;
            }
        }
        let index = (event.seq - 1) as u64;
        if index >= checkpoint.size {
            continue;
        }
        let entry = state.db.ledger_entry(index).await?;
        let proof = state.ledger.inclusion_proof(index, checkpoint.size).await?;
        let leaf = kenshin_ledger::leaf_hash(&entry.entry);
        if kenshin_ledger::verify_inclusion(&leaf, index, checkpoint.size, &proof, &checkpoint.root)
            .is_ok()
        {
            history.push(ProvenEvent {
                index,
                at: event.at,
                kind: event.kind,
            });
        }
    }
    Ok((history, Some(checkpoint.note)))
}
