//! Reading certificates: fingerprints, client identities and signature checks.

use aws_lc_rs::{digest, signature};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::OID_SIG_ECDSA_WITH_SHA256;

use crate::error::PkiError;
use crate::names::{parse_identity_uri, IdentityUri};

/// Lower-case hex SHA-256 of a DER certificate, the form stored in the database and
/// shown to administrators (no colons, so it can be compared with `==`).
pub fn fingerprint_sha256(der: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, der))
}

/// Facts about a client certificate that the server cross-checks against the
/// database row of the device before accepting an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertInfo {
    /// Organisation code from the identity URI, `None` if the certificate has none.
    pub org_code: Option<String>,
    /// Device name from the identity URI, `None` if the certificate has none.
    pub device: Option<String>,
    /// Lower-case hex of the serial number's DER content octets (as in [`crate::IssuedCert::serial_hex`]).
    pub serial_hex: String,
    /// Lower-case hex SHA-256 of the certificate DER.
    pub fingerprint_sha256: String,
    /// End of the certificate's validity.
    pub not_after: OffsetDateTime,
}

/// Extracts the identity and bookkeeping facts from a client certificate (DER).
///
/// Organisation and device come only from the `urn:kenshin-relay:` SAN URI this CA
/// writes, never from the subject, so there is exactly one place a certificate can
/// claim an identity. A certificate without such a URI yields `None` for both; one
/// with a malformed or duplicated identity URI is an error rather than a guess.
///
/// This function does not verify the chain: call it on certificates that rustls has
/// already accepted.
pub fn client_cert_info(der: &[u8]) -> Result<ClientCertInfo, PkiError> {
    let cert = parse_der(der, "client certificate")?;
    let mut identity: Option<(String, String)> = None;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| PkiError::InvalidCertificate {
            what: "client certificate",
            reason: format!("unreadable subjectAltName extension: {e}"),
        })?;
    if let Some(san) = san {
        for name in &san.value.general_names {
            let GeneralName::URI(uri) = name else {
                continue;
            };
            if let IdentityUri::Identity { org_code, device } = parse_identity_uri(uri)? {
                if identity.is_some() {
                    return Err(PkiError::MalformedIdentityUri {
                        reason: "the certificate carries more than one identity URI".to_owned(),
                    });
                }
                identity = Some((org_code, device));
            }
        }
    }
    let (org_code, device) = match identity {
        Some((org, device)) => (Some(org), Some(device)),
        None => (None, None),
    };
    Ok(ClientCertInfo {
        org_code,
        device,
        serial_hex: hex::encode(cert.raw_serial()),
        fingerprint_sha256: fingerprint_sha256(der),
        not_after: cert.validity().not_after.to_datetime(),
    })
}

/// Parses exactly one DER certificate; trailing bytes are rejected because they
/// would mean the caller handed over something other than what it thinks.
pub(crate) fn parse_der<'a>(
    der: &'a [u8],
    what: &'static str,
) -> Result<X509Certificate<'a>, PkiError> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| PkiError::InvalidCertificate {
            what,
            reason: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(PkiError::InvalidCertificate {
            what,
            reason: format!("{} unexpected bytes after the certificate", rest.len()),
        });
    }
    Ok(cert)
}

/// Checks that `cert` carries a valid ECDSA-with-SHA-256 signature by the P-256 key
/// whose raw public point is `issuer_public_key`. That is the only algorithm this CA
/// ever signs with, so nothing else needs to be accepted.
pub(crate) fn verify_p256_signature(
    cert: &X509Certificate<'_>,
    issuer_public_key: &[u8],
) -> Result<(), String> {
    if cert.signature_algorithm.algorithm != OID_SIG_ECDSA_WITH_SHA256 {
        return Err(format!(
            "signature algorithm {} is not ecdsa-with-SHA256",
            cert.signature_algorithm.algorithm
        ));
    }
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, issuer_public_key)
        .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .map_err(|_| "the signature does not verify with the CA public key".to_owned())
}
