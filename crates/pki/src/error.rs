//! The single error type of this crate.
//!
//! Messages are written for the administrator running the CLI: they say what was
//! wrong and, where it helps, what to do instead. They never contain private key
//! material or passwords; user-supplied names are echoed only when they are short
//! enough to be useful (overlong values are described by their length instead).

use time::OffsetDateTime;

/// Everything that can go wrong while creating, loading or using the CA.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum PkiError {
    /// The organisation code does not match `[A-Za-z0-9_-]{1,32}`.
    #[error(
        "invalid organisation code: {reason} (expected 1 to 32 characters from A-Z, a-z, 0-9, '_' and '-')"
    )]
    InvalidOrgCode {
        /// Why the code was rejected.
        reason: String,
    },

    /// The device name is empty, too long or contains characters that cannot
    /// appear in a certificate subject.
    #[error("invalid device name: {reason}")]
    InvalidDeviceName {
        /// Why the name was rejected.
        reason: String,
    },

    /// The CA common name is empty, too long or contains unusable characters.
    #[error("invalid CA common name: {reason}")]
    InvalidCommonName {
        /// Why the name was rejected.
        reason: String,
    },

    /// `issue_server` was called without any host name or IP address.
    #[error("no server names given: at least one DNS name or IP address is required")]
    NoServerNames,

    /// A server name is neither an IP address nor a valid DNS name.
    #[error("invalid server name {name:?}: {reason}")]
    InvalidServerName {
        /// The rejected name (truncated if very long).
        name: String,
        /// Why the name was rejected.
        reason: String,
    },

    /// A validity period of zero days was requested.
    #[error("{what} validity must be at least one day")]
    ZeroValidity {
        /// What the validity was for ("certificate", "CRL").
        what: &'static str,
    },

    /// The requested validity cannot be represented as a date.
    #[error("a validity of {days} days ends beyond the representable date range")]
    ValidityOutOfRange {
        /// The requested number of days.
        days: u32,
    },

    /// The requested certificate would outlive the CA certificate, which clients
    /// would reject once the CA expires anyway.
    #[error(
        "requested validity ends {requested}, after the CA certificate expires ({ca_not_after}); \
         choose fewer days or renew the CA"
    )]
    ValidityExceedsCa {
        /// The end of the requested validity.
        requested: OffsetDateTime,
        /// The end of the CA certificate's validity.
        ca_not_after: OffsetDateTime,
    },

    /// Generating a fresh key pair failed.
    #[error("generating an ECDSA P-256 key pair failed")]
    KeyGeneration(#[source] rcgen::Error),

    /// rcgen refused to build or sign a certificate or CRL.
    #[error("signing the {what} failed")]
    Signing {
        /// What was being signed.
        what: &'static str,
        /// The underlying rcgen error.
        #[source]
        source: rcgen::Error,
    },

    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,

    /// A PEM input could not be decoded.
    #[error("invalid {what} PEM: {reason}")]
    InvalidPem {
        /// What the PEM was supposed to contain.
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },

    /// A DER certificate could not be parsed.
    #[error("invalid {what}: {reason}")]
    InvalidCertificate {
        /// Which certificate ("CA certificate", "client certificate", ...).
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },

    /// A private key could not be parsed or uses an unsupported algorithm.
    #[error("invalid {what}: {reason}")]
    InvalidPrivateKey {
        /// Which key ("CA private key", "certificate private key").
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },

    /// The private key does not correspond to the certificate's public key.
    #[error("the private key does not belong to the {what}")]
    KeyMismatch {
        /// Which certificate the key was checked against.
        what: &'static str,
    },

    /// The certificate given as CA is not usable for issuing certificates and CRLs.
    #[error("the certificate cannot be used as the relay CA: {reason}")]
    NotACa {
        /// Which requirement is not met.
        reason: String,
    },

    /// A certificate was not issued by the CA it is being bundled or checked with.
    #[error("the certificate was not issued by the given CA certificate: {reason}")]
    IssuerMismatch {
        /// Which check failed (name or signature).
        reason: String,
    },

    /// A serial number given for revocation is not usable.
    #[error("invalid serial number {serial:?}: {reason}")]
    InvalidSerial {
        /// The rejected input (truncated if very long).
        serial: String,
        /// Why it was rejected.
        reason: String,
    },

    /// The same certificate appears more than once in a revocation list.
    #[error("serial number {serial_hex} is listed more than once in the revocation list")]
    DuplicateRevokedSerial {
        /// The normalised serial number.
        serial_hex: String,
    },

    /// A revocation reason name is not one of the supported kebab-case names.
    #[error("unknown revocation reason {given:?}; expected one of: {expected}")]
    UnknownRevocationReason {
        /// The rejected input (truncated if very long).
        given: String,
        /// The accepted names, comma separated.
        expected: &'static str,
    },

    /// The PKCS#12 friendly name cannot be encoded.
    #[error("invalid PKCS#12 friendly name: {reason}")]
    InvalidFriendlyName {
        /// Why the name was rejected.
        reason: String,
    },

    /// An empty PKCS#12 password was given.
    #[error("the PKCS#12 password must not be empty")]
    EmptyPassword,

    /// Encoding the PKCS#12 bundle failed.
    #[error("encoding the PKCS#12 bundle failed")]
    Pkcs12(#[source] p12_keystore::error::Error),

    /// A certificate carries a `urn:kenshin-relay:` SAN URI that does not follow
    /// the format this CA issues.
    #[error("malformed kenshin-relay identity URI in certificate: {reason}")]
    MalformedIdentityUri {
        /// What is wrong with it.
        reason: String,
    },
}

/// Shortens user input echoed in error messages so a multi-kilobyte value cannot
/// flood logs; the character count is kept so the admin still sees the problem.
pub(crate) fn excerpt(value: &str) -> String {
    const MAX_CHARS: usize = 80;
    let count = value.chars().count();
    if count <= MAX_CHARS {
        value.to_owned()
    } else {
        let head: String = value.chars().take(MAX_CHARS).collect();
        format!("{head}… ({count} characters)")
    }
}
