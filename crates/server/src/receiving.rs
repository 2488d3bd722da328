//! What stored receiving settings mean, for the use cases and the jobs alike (below both): the
//! output formats an organisation chose, and the age recipients its deliveries are sealed to.

use std::sync::Arc;

use kenshin_convert::OutputFormat;
use kenshin_seal::Recipients;

/// A stored recipient no longer parses: never a reason to deliver unsealed.
#[derive(Debug, thiserror::Error)]
#[error("a stored age recipient no longer parses")]
pub struct UnusableRecipient;

/// The recipients of stored settings, parsed; `None` when there are none.
pub fn sealing(recipients: &[String]) -> Result<Option<Arc<Recipients>>, UnusableRecipient> {
    if recipients.is_empty() {
        return Ok(None);
    }
    Recipients::parse(recipients)
        .map(|r| Some(Arc::new(r)))
        .map_err(|_| UnusableRecipient)
}

/// The formats of stored settings; unknown codes (written by a newer version) are skipped,
/// and the standard CSV stands in when none is left.
pub fn formats(stored: &[String]) -> Vec<OutputFormat> {
    let known: Vec<OutputFormat> = stored.iter().filter_map(|c| c.parse().ok()).collect();
    if known.is_empty() {
        vec![OutputFormat::StdCsv]
    } else {
        known
    }
}
