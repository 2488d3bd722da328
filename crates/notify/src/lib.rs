//! Notifications: what the relay tells people and systems, and how.
//!
//! - [`Topic`]: the kinds of notice (a delivery arrived, a conversion finished, a reminder
//!   before destruction, …), with the stable names webhooks carry in `type` and people choose
//!   from;
//! - [`Notice`]: one notice's content — identifiers, organisation names, counts, states, times
//!   and a link to the page, never personal data or anything of a file (not even its name);
//!   [`Payload`] is the JSON a webhook receives (`type`, `timestamp`, `data`), a stable schema;
//! - [`webhook`]: the Standard Webhooks signature (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature`: HMAC-SHA256 over `id.timestamp.body`) and the HTTPS sender, which
//!   refuses private addresses unless allowed;
//! - [`email`]: the message texts in Japanese and English ([`email::compose`]) and the SMTP
//!   sender over STARTTLS or implicit TLS with authentication ([`email::Mailer`], `lettre`).
//!
//! It knows nothing of storage, of who is told (the service decides), or of retries (the
//! job queue's).

pub mod email;
mod notice;
pub mod webhook;

pub use notice::{Counts, Language, Notice, NoticeOrg, Payload, Topic};

/// Why one attempt to send a notification failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The other side answered and refused (an HTTP status other than 2xx, an SMTP reply
    /// other than 2xx): worth another attempt later.
    #[error("refused: {0}")]
    Refused(String),
    /// The other side refused for good (an SMTP 5xx reply: no such mailbox, authentication
    /// refused): not retried; the attempt is recorded as failed.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The other side could not be reached or the connection failed (DNS, TCP, TLS).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The destination may not be used (not HTTPS, a private address, a malformed address):
    /// the same every time.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The relay's own settings are incomplete or wrong (no SMTP server, a bad CA file).
    #[error("setting: {0}")]
    Setting(String),
}

impl SendError {
    /// Whether another attempt could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Refused(_) | SendError::Unreachable(_))
    }
}

/// Extra trust anchors (PEM) for the senders' TLS, besides the public web roots: a private
/// CA a mail server or a receiver's endpoint uses.
pub(crate) fn extra_roots(
    pem: Option<&[u8]>,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, SendError> {
    use rustls_pki_types::pem::PemObject;
    let Some(pem) = pem else {
        return Ok(Vec::new());
    };
    let roots = rustls_pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SendError::Setting(format!("the CA file is not PEM certificates: {e}")))?;
    if roots.is_empty() {
        return Err(SendError::Setting(
            "the CA file holds no certificate".into(),
        ));
    }
    Ok(roots)
}

/// An error with its causes, `outer: inner: …`, as the attempt's record keeps it.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
