//! The certificate authority: creation, loading, issuance and CRLs.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PublicKeyData, RevokedCertParams, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::ParsedExtension;
use zeroize::Zeroizing;

use crate::error::{excerpt, PkiError};
use crate::inspect::{fingerprint_sha256, parse_der, verify_p256_signature};
use crate::names::{
    identity_uri, validate_common_name, validate_device_name, validate_dns_name, validate_org_code,
    MAX_COMMON_NAME_CHARS,
};
use crate::revocation::{parse_serial_hex, RevokedEntry};
use crate::{pem, random};

/// Organisation written into the CA and server certificate subjects.
const ORGANISATION: &str = "Kenshin Relay";

/// CA lifetime: ten years, counting the leap days such a span contains.
const CA_VALIDITY: Duration = Duration::days(3652);

/// Certificates start this long before "now" so that a freshly issued certificate is
/// not rejected as "not yet valid" by an institution PC whose clock runs behind.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::minutes(5);

/// The relay's own certificate authority.
///
/// Holds the CA certificate and its private key. It is `Send + Sync`, so the server
/// and CLI can share one instance; all operations take `&self`.
pub struct CertificateAuthority {
    /// rcgen's view of the CA: subject name, key identifier and signing key.
    issuer: Issuer<'static, KeyPair>,
    cert_der: Vec<u8>,
    cert_pem: String,
    /// DER of the CA subject; every issued certificate's issuer must equal it byte
    /// for byte, or TLS path building fails.
    subject_raw: Vec<u8>,
    /// Key identifier for the CRL's authorityKeyIdentifier, taken from the CA's
    /// subjectKeyIdentifier so both always agree.
    key_id_method: KeyIdMethod,
    not_after: OffsetDateTime,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("fingerprint_sha256", &fingerprint_sha256(&self.cert_der))
            .field("not_after", &self.not_after)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

/// A freshly issued certificate with its private key.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate, PEM encoded.
    pub cert_pem: String,
    /// The certificate, DER encoded.
    pub cert_der: Vec<u8>,
    /// The certificate's private key as PKCS#8 PEM; wiped on drop.
    pub key_pem: Zeroizing<String>,
    /// Lower-case hex of the serial number's DER content octets, no separators.
    pub serial_hex: String,
    /// Lower-case hex SHA-256 of `cert_der`.
    pub fingerprint_sha256: String,
    /// Start of validity, exactly as encoded in the certificate.
    pub not_before: OffsetDateTime,
    /// End of validity, exactly as encoded in the certificate.
    pub not_after: OffsetDateTime,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("serial_hex", &self.serial_hex)
            .field("fingerprint_sha256", &self.fingerprint_sha256)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Creates a new self-signed CA: ECDSA P-256 with SHA-256, valid for ten years,
    /// `basicConstraints` CA:TRUE with pathLen 0 (it only ever signs end-entity
    /// certificates), `keyUsage` keyCertSign + cRLSign + digitalSignature, subject
    /// `O=Kenshin Relay, CN=<common_name>` and a random 16-byte serial.
    pub fn generate(common_name: &str) -> Result<Self, PkiError> {
        validate_common_name(common_name)?;
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(PkiError::KeyGeneration)?;

        let now = now();
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(&[
            (DnType::OrganizationName, ORGANISATION),
            (DnType::CommonName, common_name),
        ]);
        params.serial_number = Some(SerialNumber::from_slice(&random::serial_number()?));
        params.not_before = now - CLOCK_SKEW_ALLOWANCE;
        params.not_after = now + CA_VALIDITY;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        // SHA-256 based subjectKeyIdentifier (RFC 7093 method 1); a self-signed root
        // needs no authorityKeyIdentifier.
        params.key_identifier_method = KeyIdMethod::Sha256;
        params.use_authority_key_identifier_extension = false;

        let cert = params
            .self_signed(&key)
            .map_err(|source| PkiError::Signing {
                what: "CA certificate",
                source,
            })?;
        // Go through the same checks as `load` so a generated CA and a reloaded one
        // are indistinguishable.
        Self::from_parts(cert.der().to_vec(), key)
    }

    /// Loads a CA from its certificate PEM and PKCS#8 private key PEM.
    ///
    /// Checks that the key is ECDSA P-256 and belongs to the certificate, that the
    /// certificate is a self-signed CA allowed to sign certificates and CRLs, and
    /// that its self-signature verifies. Each failure has its own error so a wrong
    /// file is easy to spot.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let cert_der = pem::decode_single(cert_pem, "CERTIFICATE", "CA certificate")?;
        let key_der = pem::decode_single(key_pem, "PRIVATE KEY", "CA private key")?;
        let key =
            KeyPair::try_from(key_der.as_slice()).map_err(|e| PkiError::InvalidPrivateKey {
                what: "CA private key",
                reason: e.to_string(),
            })?;
        Self::from_parts(cert_der.to_vec(), key)
    }

    fn from_parts(cert_der: Vec<u8>, key: KeyPair) -> Result<Self, PkiError> {
        if key.algorithm() != &PKCS_ECDSA_P256_SHA256 {
            return Err(PkiError::InvalidPrivateKey {
                what: "CA private key",
                reason: "the key is not an ECDSA P-256 key".to_owned(),
            });
        }
        let cert = parse_der(&cert_der, "CA certificate")?;
        let not_ca = |reason: &str| PkiError::NotACa {
            reason: reason.to_owned(),
        };

        if key.subject_public_key_info() != cert.tbs_certificate.subject_pki.raw {
            return Err(PkiError::KeyMismatch {
                what: "CA certificate",
            });
        }
        let is_ca = cert
            .basic_constraints()
            .map_err(|e| not_ca(&format!("unreadable basicConstraints: {e}")))?
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(not_ca("basicConstraints does not say CA:TRUE"));
        }
        let key_usage = cert
            .key_usage()
            .map_err(|e| not_ca(&format!("unreadable keyUsage: {e}")))?
            .ok_or_else(|| not_ca("it has no keyUsage extension"))?;
        if !key_usage.value.key_cert_sign() || !key_usage.value.crl_sign() {
            return Err(not_ca("keyUsage lacks keyCertSign or cRLSign"));
        }
        if cert.tbs_certificate.issuer.as_raw() != cert.tbs_certificate.subject.as_raw() {
            return Err(not_ca(
                "it is not self-signed (issuer differs from subject); only root CAs are supported",
            ));
        }
        verify_p256_signature(&cert, key.public_key_raw())
            .map_err(|reason| not_ca(&format!("its self-signature is invalid: {reason}")))?;

        // rcgen re-encodes the subject as issuer name of every certificate it signs.
        // It keeps order and string types but merges repeated attribute types and
        // cannot hold multi-valued RDNs; refuse such subjects up front.
        let mut seen_types = HashSet::new();
        for rdn in cert.tbs_certificate.subject.iter() {
            let mut attributes = rdn.iter();
            let (Some(attribute), None) = (attributes.next(), attributes.next()) else {
                return Err(not_ca(
                    "its subject has a multi-valued RDN, which cannot be reproduced as issuer name",
                ));
            };
            if !seen_types.insert(attribute.attr_type().to_id_string()) {
                return Err(not_ca(
                    "its subject repeats an attribute type, which cannot be reproduced as issuer name",
                ));
            }
        }

        let key_id_method = cert
            .iter_extensions()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => {
                    Some(KeyIdMethod::PreSpecified(id.0.to_vec()))
                }
                _ => None,
            })
            .unwrap_or(KeyIdMethod::Sha256);
        let not_after = cert.validity().not_after.to_datetime();
        let subject_raw = cert.tbs_certificate.subject.as_raw().to_vec();
        drop(cert);

        let issuer = Issuer::from_ca_cert_der(&cert_der.as_slice().into(), key).map_err(|e| {
            PkiError::NotACa {
                reason: format!("rcgen cannot use it as issuer: {e}"),
            }
        })?;
        Ok(Self {
            issuer,
            cert_pem: pem::encode("CERTIFICATE", &cert_der),
            cert_der,
            subject_raw,
            key_id_method,
            not_after,
        })
    }

    /// The CA certificate as PEM (LF line endings, 64-character lines).
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// The CA certificate as DER, e.g. for a rustls `RootCertStore`.
    pub fn cert_der(&self) -> Vec<u8> {
        self.cert_der.clone()
    }

    /// The CA private key as PKCS#8 PEM, for storing next to the certificate.
    pub fn key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem::encode(
            "PRIVATE KEY",
            self.issuer.key().serialized_der(),
        ))
    }

    /// End of the CA certificate's validity; no certificate is issued beyond it.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Issues the relay server's TLS certificate.
    ///
    /// The subject is `O=Kenshin Relay, CN=<first name>`. Every name becomes a SAN:
    /// an IP address SAN if it parses as an IPv4/IPv6 address, a DNS SAN otherwise
    /// (validated, wildcards only as first label). Exact duplicates are listed once.
    /// EKU serverAuth, keyUsage digitalSignature, fresh ECDSA P-256 key, random
    /// serial, valid for `days` from now (and at most until the CA expires).
    pub fn issue_server(&self, names: &[String], days: u32) -> Result<IssuedCert, PkiError> {
        let first = names.first().ok_or(PkiError::NoServerNames)?;
        if first.chars().count() > MAX_COMMON_NAME_CHARS {
            return Err(PkiError::InvalidServerName {
                name: excerpt(first),
                reason: format!(
                    "the first name becomes the subject common name, which is limited to \
                     {MAX_COMMON_NAME_CHARS} characters; list a shorter name first"
                ),
            });
        }
        let mut seen = HashSet::new();
        let mut sans = Vec::with_capacity(names.len());
        for name in names {
            if !seen.insert(name.as_str()) {
                continue;
            }
            let san = match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => {
                    validate_dns_name(name)?;
                    let ia5 = name.as_str().try_into().map_err(|e: rcgen::Error| {
                        PkiError::InvalidServerName {
                            name: excerpt(name),
                            reason: e.to_string(),
                        }
                    })?;
                    SanType::DnsName(ia5)
                }
            };
            sans.push(san);
        }

        let mut params = self.end_entity_params(days)?;
        params.distinguished_name = subject(&[
            (DnType::OrganizationName, ORGANISATION),
            (DnType::CommonName, first),
        ]);
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// Issues the client certificate of one device of one organisation.
    ///
    /// Subject `O=<org_code>, CN=<device>` (UTF-8, Japanese allowed), SAN URI
    /// `urn:kenshin-relay:org:<org_code>:device:<percent-encoded device>` from which
    /// the server reads the identity, EKU clientAuth, keyUsage digitalSignature,
    /// fresh ECDSA P-256 key, random positive 16-byte serial, valid for `days`.
    ///
    /// `org_code` must match `[A-Za-z0-9_-]{1,32}`; `device` must be 1 to 64
    /// characters without control characters or leading/trailing whitespace.
    pub fn issue_client(
        &self,
        org_code: &str,
        device: &str,
        days: u32,
    ) -> Result<IssuedCert, PkiError> {
        validate_org_code(org_code)?;
        validate_device_name(device)?;
        let uri = identity_uri(org_code, device);
        // The URI is pure ASCII by construction, so the IA5String conversion only
        // fails if that invariant is broken.
        let uri =
            uri.as_str()
                .try_into()
                .map_err(|e: rcgen::Error| PkiError::InvalidDeviceName {
                    reason: format!("cannot be encoded into the identity URI: {e}"),
                })?;

        let mut params = self.end_entity_params(days)?;
        params.distinguished_name = subject(&[
            (DnType::OrganizationName, org_code),
            (DnType::CommonName, device),
        ]);
        params.subject_alt_names = vec![SanType::URI(uri)];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    /// Signs a CRL listing `revoked`, with the given `crl_number`, thisUpdate = now
    /// and nextUpdate = now + `next_update_days`; returns it as PEM ("X509 CRL").
    ///
    /// The caller keeps `crl_number` strictly increasing (RFC 5280 §5.2.3). Serial
    /// numbers are accepted in the forms described on [`RevokedEntry::serial_hex`];
    /// an unparsable or duplicated serial is an error, so an inconsistent revocation
    /// list is noticed instead of being published half-way. Entries with reason
    /// "unspecified" carry no reasonCode, as RFC 5280 §5.3.1 recommends.
    pub fn crl_pem(
        &self,
        revoked: &[RevokedEntry],
        crl_number: u64,
        next_update_days: u32,
    ) -> Result<String, PkiError> {
        if next_update_days == 0 {
            return Err(PkiError::ZeroValidity { what: "CRL" });
        }
        let this_update = now();
        let next_update = this_update
            .checked_add(Duration::days(i64::from(next_update_days)))
            .ok_or(PkiError::ValidityOutOfRange {
                days: next_update_days,
            })?;

        let mut seen = HashSet::new();
        let mut revoked_certs = Vec::with_capacity(revoked.len());
        for entry in revoked {
            let serial = parse_serial_hex(&entry.serial_hex)?;
            if !seen.insert(serial.clone()) {
                return Err(PkiError::DuplicateRevokedSerial {
                    serial_hex: hex::encode(&serial),
                });
            }
            revoked_certs.push(RevokedCertParams {
                serial_number: SerialNumber::from(serial),
                revocation_time: entry.revoked_at,
                reason_code: entry.reason.to_rcgen(),
                invalidity_date: None,
            });
        }

        let crl = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: self.key_id_method.clone(),
        }
        .signed_by(&self.issuer)
        .map_err(|source| PkiError::Signing {
            what: "CRL",
            source,
        })?;
        Ok(pem::encode("X509 CRL", crl.der()))
    }

    /// Parameters shared by all end-entity certificates.
    fn end_entity_params(&self, days: u32) -> Result<CertificateParams, PkiError> {
        if days == 0 {
            return Err(PkiError::ZeroValidity {
                what: "certificate",
            });
        }
        let now = now();
        let not_after = now
            .checked_add(Duration::days(i64::from(days)))
            .ok_or(PkiError::ValidityOutOfRange { days })?;
        if not_after > self.not_after {
            return Err(PkiError::ValidityExceedsCa {
                requested: not_after,
                ca_not_after: self.not_after,
            });
        }
        let mut params = CertificateParams::default();
        params.serial_number = Some(SerialNumber::from_slice(&random::serial_number()?));
        params.not_before = now - CLOCK_SKEW_ALLOWANCE;
        params.not_after = not_after;
        // CA:FALSE is written explicitly (and makes rcgen emit the
        // subjectKeyIdentifier); the authorityKeyIdentifier helps path building.
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.key_identifier_method = KeyIdMethod::Sha256;
        params.use_authority_key_identifier_extension = true;
        Ok(params)
    }

    /// Generates the subject key, signs `params` and reads the result back, so the
    /// reported serial and validity are exactly what the certificate contains.
    fn sign(&self, params: CertificateParams) -> Result<IssuedCert, PkiError> {
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(PkiError::KeyGeneration)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|source| PkiError::Signing {
                what: "certificate",
                source,
            })?;
        let cert_der = cert.der().to_vec();
        let parsed = parse_der(&cert_der, "issued certificate")?;
        if parsed.tbs_certificate.issuer.as_raw() != self.subject_raw.as_slice() {
            return Err(PkiError::IssuerMismatch {
                reason: "rcgen encoded the issuer name differently from the CA subject".to_owned(),
            });
        }
        let serial_hex = hex::encode(parsed.raw_serial());
        let not_before = parsed.validity().not_before.to_datetime();
        let not_after = parsed.validity().not_after.to_datetime();
        drop(parsed);

        Ok(IssuedCert {
            cert_pem: pem::encode("CERTIFICATE", &cert_der),
            fingerprint_sha256: fingerprint_sha256(&cert_der),
            cert_der,
            key_pem: Zeroizing::new(pem::encode("PRIVATE KEY", key.serialized_der())),
            serial_hex,
            not_before,
            not_after,
        })
    }
}

/// Current time truncated to whole seconds, the resolution of X.509 time fields.
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().truncate_to_second()
}

/// Builds a subject in the given attribute order (most general first). Values are
/// written as UTF8String, which RFC 5280 requires for new certificates.
fn subject(attributes: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (ty, value) in attributes {
        dn.push(ty.clone(), *value);
    }
    dn
}
