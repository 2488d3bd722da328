//! The built-in certificate authority of Kenshin Relay.
//!
//! The MHLW security guideline asks for mutually authenticated TLS between
//! institutions and insurers. Rather than making every institution buy certificates,
//! the relay runs its own small CA, and this crate is all of it:
//!
//! * [`CertificateAuthority::generate`] / [`CertificateAuthority::load`] create or
//!   reopen the CA (ECDSA P-256, ten years, root only, `pathLen` 0).
//! * [`CertificateAuthority::issue_server`] issues the relay's TLS server certificate.
//! * [`CertificateAuthority::issue_client`] issues one client certificate per device
//!   of an organisation; the identity is carried in a SAN URI read back by
//!   [`client_cert_info`].
//! * [`CertificateAuthority::crl_pem`] publishes revocations as a CRL that the server
//!   feeds to rustls' `WebPkiClientVerifier`.
//! * [`pkcs12`] packs a certificate, its key and the CA certificate into a PKCS#12
//!   file using only modern algorithms, protected by a [`generate_password`] password.
//!
//! All randomness (keys, serials, passwords) comes from aws-lc-rs. Private keys
//! handed out by this crate are wrapped in [`zeroize::Zeroizing`], and no error
//! message ever contains key material or passwords.

mod ca;
mod error;
mod inspect;
mod names;
mod pem;
mod pkcs12;
mod random;
mod revocation;

pub use ca::{CertificateAuthority, IssuedCert};
pub use error::PkiError;
pub use inspect::{client_cert_info, fingerprint_sha256, ClientCertInfo};
pub use pkcs12::pkcs12;
pub use random::generate_password;
pub use revocation::{RevocationReason, RevokedEntry};
