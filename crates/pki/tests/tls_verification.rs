//! The certificates and CRLs must be accepted (and rejected) by exactly the rustls
//! verifiers the server and client use.

use std::net::IpAddr;
use std::sync::Arc;

use kenshin_pki::{CertificateAuthority, IssuedCert, RevocationReason, RevokedEntry};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, RootCertStore};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use time::OffsetDateTime;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn roots(ca: &CertificateAuthority) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca.cert_der()))
        .expect("CA certificate accepted as trust anchor");
    Arc::new(roots)
}

fn crl_der(pem: &str) -> CertificateRevocationListDer<'static> {
    let (rest, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("CRL PEM");
    assert_eq!(block.label, "X509 CRL");
    assert!(rest.iter().all(u8::is_ascii_whitespace));
    CertificateRevocationListDer::from(block.contents)
}

fn client_verifier(
    ca: &CertificateAuthority,
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> Arc<dyn ClientCertVerifier> {
    WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
        .with_crls(crls)
        .build()
        .expect("client verifier")
}

fn verify_client(
    verifier: &dyn ClientCertVerifier,
    cert: &IssuedCert,
) -> Result<(), rustls::Error> {
    verifier
        .verify_client_cert(
            &CertificateDer::from(cert.cert_der.clone()),
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
}

fn verify_server(
    ca: &CertificateAuthority,
    cert: &IssuedCert,
    name: ServerName<'_>,
) -> Result<(), rustls::Error> {
    WebPkiServerVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .expect("server verifier")
        .verify_server_cert(
            &CertificateDer::from(cert.cert_der.clone()),
            &[],
            &name,
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn client_certificates_are_accepted_by_webpki_client_verifier() {
    let ca = CertificateAuthority::generate("Kenshin Relay Test CA").unwrap();
    let client = ca
        .issue_client("1312345678", "健診システム1号機", 365)
        .unwrap();
    let verifier = client_verifier(&ca, Vec::new());
    verify_client(verifier.as_ref(), &client).expect("client cert accepted");
}

#[test]
fn revoked_client_certificate_is_rejected_while_others_pass() {
    let ca = CertificateAuthority::generate("Kenshin Relay Test CA").unwrap();
    let revoked = ca.issue_client("ORG-A", "reception-pc", 365).unwrap();
    let still_good = ca.issue_client("ORG-A", "lab-pc", 365).unwrap();
    let also_revoked = ca.issue_client("ORG-B", "old-pc", 365).unwrap();

    let crl = ca
        .crl_pem(
            &[
                RevokedEntry {
                    serial_hex: revoked.serial_hex.clone(),
                    revoked_at: OffsetDateTime::now_utc(),
                    reason: RevocationReason::KeyCompromise,
                },
                RevokedEntry {
                    // Upper case with colons, as copied from `openssl x509 -serial`
                    // style output, must revoke the same certificate.
                    serial_hex: also_revoked
                        .serial_hex
                        .to_uppercase()
                        .as_bytes()
                        .chunks(2)
                        .map(|pair| std::str::from_utf8(pair).unwrap())
                        .collect::<Vec<_>>()
                        .join(":"),
                    revoked_at: OffsetDateTime::now_utc(),
                    reason: RevocationReason::Unspecified,
                },
            ],
            1,
            7,
        )
        .unwrap();
    let verifier = client_verifier(&ca, vec![crl_der(&crl)]);

    for cert in [&revoked, &also_revoked] {
        let err = verify_client(verifier.as_ref(), cert).unwrap_err();
        assert_eq!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::Revoked),
            "{err:?}"
        );
    }
    verify_client(verifier.as_ref(), &still_good).expect("unrevoked cert still accepted");
}

#[test]
fn empty_crl_is_accepted_and_revokes_nothing() {
    let ca = CertificateAuthority::generate("Kenshin Relay Test CA").unwrap();
    let client = ca.issue_client("ORG", "pc", 30).unwrap();
    let crl = ca.crl_pem(&[], 1, 1).unwrap();
    let verifier = client_verifier(&ca, vec![crl_der(&crl)]);
    verify_client(verifier.as_ref(), &client).expect("accepted with empty CRL");
}

#[test]
fn client_certificate_from_another_ca_is_rejected() {
    let ca = CertificateAuthority::generate("Kenshin Relay Test CA").unwrap();
    // Same subject name, different key: must still be rejected.
    let other = CertificateAuthority::generate("Kenshin Relay Test CA").unwrap();
    let foreign = other.issue_client("ORG", "pc", 30).unwrap();
    let verifier = client_verifier(&ca, Vec::new());
    let err = verify_client(verifier.as_ref(), &foreign).unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature
            )
        ),
        "{err:?}"
    );
}

#[test]
fn certificates_are_only_valid_for_their_purpose() {
    let ca = CertificateAuthority::generate("Kenshin Relay Test CA").unwrap();
    let server = ca.issue_server(&names(&["localhost"]), 30).unwrap();
    let client = ca.issue_client("ORG", "pc", 30).unwrap();
    let verifier = client_verifier(&ca, Vec::new());
    assert!(
        verify_client(verifier.as_ref(), &server).is_err(),
        "server cert must not authenticate a client"
    );
    assert!(
        verify_server(&ca, &client, ServerName::try_from("localhost").unwrap()).is_err(),
        "client cert must not authenticate a server"
    );
}

#[test]
fn server_certificate_is_accepted_for_its_names_only() {
    let ca = CertificateAuthority::generate("Kenshin Relay Test CA").unwrap();
    let server = ca
        .issue_server(&names(&["localhost", "127.0.0.1", "::1"]), 90)
        .unwrap();

    verify_server(&ca, &server, ServerName::try_from("localhost").unwrap())
        .expect("valid for localhost");
    verify_server(
        &ca,
        &server,
        ServerName::IpAddress("127.0.0.1".parse::<IpAddr>().unwrap().into()),
    )
    .expect("valid for 127.0.0.1");
    verify_server(
        &ca,
        &server,
        ServerName::IpAddress("::1".parse::<IpAddr>().unwrap().into()),
    )
    .expect("valid for ::1");

    for wrong in ["relay.example.jp", "127.0.0.2"] {
        let err = verify_server(&ca, &server, ServerName::try_from(wrong).unwrap()).unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{wrong}: {err:?}"
        );
    }
}

#[test]
fn reloaded_ca_issues_certificates_that_chain_to_the_original() {
    let ca = CertificateAuthority::generate("Kenshin Relay Test CA").unwrap();
    let reloaded = CertificateAuthority::load(&ca.cert_pem(), &ca.key_pem()).unwrap();
    let client = reloaded.issue_client("ORG", "pc", 30).unwrap();
    let verifier = client_verifier(&ca, Vec::new());
    verify_client(verifier.as_ref(), &client).expect("accepted");

    // A CRL from the reloaded CA is accepted against the original trust anchor.
    let crl = reloaded
        .crl_pem(
            &[RevokedEntry {
                serial_hex: client.serial_hex.clone(),
                revoked_at: OffsetDateTime::now_utc(),
                reason: RevocationReason::Superseded,
            }],
            2,
            1,
        )
        .unwrap();
    let verifier = client_verifier(&ca, vec![crl_der(&crl)]);
    assert_eq!(
        verify_client(verifier.as_ref(), &client).unwrap_err(),
        rustls::Error::InvalidCertificate(CertificateError::Revoked)
    );
}
