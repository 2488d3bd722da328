//! PKCS#12 export of issued certificates for batch jobs and browsers.

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use rcgen::{KeyPair, PublicKeyData};

use crate::error::PkiError;
use crate::inspect::{parse_der, verify_p256_signature};
use crate::pem;
use crate::IssuedCert;

/// PBKDF2 and MAC iteration count. OWASP's current figure for PBKDF2-HMAC-SHA256;
/// generated passwords do not need it, but admins may type their own. It stays below
/// the 1,000,000 that p12-keystore accepts when reading.
const ITERATIONS: u32 = 600_000;

/// Builds a password-protected PKCS#12 bundle holding the certificate, its private
/// key and the CA certificate (as the chain's root).
///
/// Certificates and key are encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC)
/// and the file is authenticated with an HMAC-SHA256 MAC, so OpenSSL 3, current
/// Windows and browsers read it without legacy providers.
///
/// `friendly_name` labels the key in browsers and certificate stores. It is stored
/// as a BMPString, so it may contain Japanese but no characters outside the Basic
/// Multilingual Plane. The certificate's own bag is labelled with its subject by
/// p12-keystore.
///
/// Before bundling, the key is checked to belong to the certificate and the
/// certificate to be signed by `ca_cert_der`, so a mixed-up export fails here rather
/// than at the institution.
pub fn pkcs12(
    issued: &IssuedCert,
    ca_cert_der: &[u8],
    friendly_name: &str,
    password: &str,
) -> Result<Vec<u8>, PkiError> {
    if password.is_empty() {
        return Err(PkiError::EmptyPassword);
    }
    validate_friendly_name(friendly_name)?;

    let leaf = parse_der(&issued.cert_der, "certificate to export")?;
    let ca = parse_der(ca_cert_der, "CA certificate")?;
    if leaf.tbs_certificate.issuer.as_raw() != ca.tbs_certificate.subject.as_raw() {
        return Err(PkiError::IssuerMismatch {
            reason: format!(
                "the certificate's issuer is \"{}\" but the CA certificate's subject is \"{}\"",
                leaf.tbs_certificate.issuer, ca.tbs_certificate.subject
            ),
        });
    }
    verify_p256_signature(
        &leaf,
        &ca.tbs_certificate.subject_pki.subject_public_key.data,
    )
    .map_err(|reason| PkiError::IssuerMismatch { reason })?;

    let key_der = pem::decode_single(&issued.key_pem, "PRIVATE KEY", "certificate private key")?;
    let key_pair =
        KeyPair::try_from(key_der.as_slice()).map_err(|e| PkiError::InvalidPrivateKey {
            what: "certificate private key",
            reason: e.to_string(),
        })?;
    if key_pair.subject_public_key_info() != leaf.tbs_certificate.subject_pki.raw {
        return Err(PkiError::KeyMismatch {
            what: "certificate to export",
        });
    }

    let key = PrivateKey::from_der(&key_der).map_err(PkiError::Pkcs12)?;
    let leaf_cert = Certificate::from_der(&issued.cert_der).map_err(PkiError::Pkcs12)?;
    let ca_cert = Certificate::from_der(ca_cert_der).map_err(PkiError::Pkcs12)?;
    // The localKeyId links key bag and certificate bag; any unique octets work and
    // the certificate hash is unique per certificate.
    let local_key_id = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &issued.cert_der)
        .as_ref()
        .to_vec();
    let chain = PrivateKeyChain::new(local_key_id, key, [leaf_cert, ca_cert]);

    let mut store = KeyStore::new();
    store.add_entry(friendly_name, KeyStoreEntry::PrivateKeyChain(chain));
    // Every algorithm is set explicitly instead of relying on the writer's defaults,
    // which a dependency update could change.
    store
        .writer(password)
        .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
        .encryption_iterations(ITERATIONS)
        .mac_algorithm(MacAlgorithm::HmacSha256)
        .mac_iterations(ITERATIONS)
        .write()
        .map_err(PkiError::Pkcs12)
}

fn validate_friendly_name(name: &str) -> Result<(), PkiError> {
    let fail = |reason: String| PkiError::InvalidFriendlyName { reason };
    if name.is_empty() {
        return Err(fail("it is empty".to_owned()));
    }
    if let Some(c) = name.chars().find(|c| u32::from(*c) > 0xffff) {
        return Err(fail(format!(
            "U+{:X} lies outside the Basic Multilingual Plane, which PKCS#12 BMPString cannot hold",
            u32::from(c)
        )));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(fail(format!(
            "it contains the control character U+{:04X}",
            u32::from(c)
        )));
    }
    Ok(())
}
