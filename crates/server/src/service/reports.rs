//! Conversion reports: what a conversion found in a sender's export, kept sealed beside the
//! submission. Only the sender's roles that may read reports see them (never the operator).

use kenshin_core::SubmissionId;

use super::{Error, Refusal};
use crate::state::AppState;

/// The conversion report of one of `org`'s submissions (JSON), decrypted. The caller has
/// checked the right to read reports; another organisation's submission is not found.
pub async fn read_report(
    state: &AppState,
    org: &kenshin_store::Org,
    id: SubmissionId,
) -> Result<Vec<u8>, Error> {
    let object = state
        .db
        .submission_report(org.id, id)
        .await?
        .ok_or(Refusal::NoReport)?;
    if object.wrapped_key.is_none() {
        return Err(Refusal::ReportDestroyed.into());
    }
    let vault = state.vault.clone();
    // Reports are small (findings are capped): read whole, authenticated, then answer.
    let bytes =
        tokio::task::spawn_blocking(move || -> Result<Vec<u8>, crate::vault::VaultError> {
            let mut reader = vault.open_reader(&object)?;
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut reader, &mut bytes)
                .map_err(|e| crate::vault::VaultError::Integrity(e.to_string()))?;
            Ok(bytes)
        })
        .await
        .map_err(|_| Error::Internal("reading a report"))??;
    Ok(bytes)
}

/// Every finding of one of `org`'s conversions, when they were kept (conversions since the
/// complete list exists): a reader of JSON lines, decrypted as it is read — to be read on a
/// blocking thread. `None` for older conversions, whose report holds the first findings only.
pub async fn all_findings(
    state: &AppState,
    org: &kenshin_store::Org,
    id: SubmissionId,
) -> Result<Option<Box<dyn std::io::BufRead + Send>>, Error> {
    let Some(object) = state.db.submission_findings(org.id, id).await? else {
        return Ok(None);
    };
    if object.wrapped_key.is_none() {
        return Err(Refusal::ReportDestroyed.into());
    }
    let reader = state.vault.open_reader(&object)?;
    Ok(Some(Box::new(std::io::BufReader::with_capacity(
        64 * 1024,
        reader,
    ))))
}
