//! CA creation and loading, certificate contents, client identities, CRL contents
//! and input validation.

use kenshin_pki::{
    client_cert_info, fingerprint_sha256, CertificateAuthority, PkiError, RevocationReason,
    RevokedEntry,
};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).expect("valid DER");
    assert!(rest.is_empty());
    cert
}

fn pem_body(pem: &str, label: &str) -> Vec<u8> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
    assert_eq!(block.label, label);
    block.contents
}

fn test_ca() -> CertificateAuthority {
    CertificateAuthority::generate("Kenshin Relay Test CA").unwrap()
}

#[test]
fn types_can_be_shared_between_threads_and_errors_boxed() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<CertificateAuthority>();
    assert_send_sync::<kenshin_pki::IssuedCert>();
    assert_send_sync::<PkiError>();
    let _: Box<dyn std::error::Error + Send + Sync> = Box::new(PkiError::NoServerNames);
}

#[test]
fn generated_ca_has_the_required_profile() {
    let ca = test_ca();
    let der = ca.cert_der();
    assert_eq!(pem_body(&ca.cert_pem(), "CERTIFICATE"), der);
    let cert = parse(&der);

    assert_eq!(
        cert.subject().to_string(),
        "O=Kenshin Relay, CN=Kenshin Relay Test CA"
    );
    assert_eq!(cert.issuer().as_raw(), cert.subject().as_raw());
    assert_eq!(
        cert.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.10045.4.3.2",
        "ecdsa-with-SHA256"
    );
    assert_eq!(
        cert.public_key().algorithm.algorithm.to_id_string(),
        "1.2.840.10045.2.1"
    );
    assert_eq!(
        cert.public_key().subject_public_key.data.len(),
        65,
        "P-256 point"
    );

    let bc = cert.basic_constraints().unwrap().expect("basicConstraints");
    assert!(bc.critical);
    assert!(bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let ku = cert.key_usage().unwrap().expect("keyUsage");
    assert!(ku.value.key_cert_sign() && ku.value.crl_sign() && ku.value.digital_signature());
    assert!(!ku.value.key_encipherment());

    assert_eq!(cert.raw_serial().len(), 16);
    assert!(cert.raw_serial()[0] < 0x80, "positive without padding");

    let validity = cert.validity();
    let now = OffsetDateTime::now_utc();
    assert!(validity.not_before.to_datetime() <= now);
    let lifetime = validity.not_after.to_datetime() - now;
    assert!(lifetime > Duration::days(3650) && lifetime <= Duration::days(3653));
    assert_eq!(ca.not_after(), validity.not_after.to_datetime());

    let key_pem = ca.key_pem();
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(
        !format!("{ca:?}").contains("PRIVATE"),
        "Debug must not leak the key"
    );
}

#[test]
fn load_round_trips_and_detects_wrong_inputs() {
    let ca = test_ca();
    let reloaded = CertificateAuthority::load(&ca.cert_pem(), &ca.key_pem()).unwrap();
    assert_eq!(reloaded.cert_der(), ca.cert_der());
    assert_eq!(reloaded.cert_pem(), ca.cert_pem());
    assert_eq!(*reloaded.key_pem(), *ca.key_pem());

    // CRLF line endings and explanatory text around the block are accepted.
    let crlf_cert = format!("CA certificate\r\n{}", ca.cert_pem().replace('\n', "\r\n"));
    CertificateAuthority::load(&crlf_cert, &ca.key_pem()).unwrap();

    let other = test_ca();
    let err = CertificateAuthority::load(&ca.cert_pem(), &other.key_pem()).unwrap_err();
    assert!(matches!(err, PkiError::KeyMismatch { .. }), "{err}");

    // Certificate and key swapped.
    let err = CertificateAuthority::load(&ca.key_pem(), &ca.cert_pem()).unwrap_err();
    assert!(matches!(err, PkiError::InvalidPem { .. }), "{err}");

    // Two certificates in the CA file.
    let bundle = format!("{}{}", ca.cert_pem(), other.cert_pem());
    let err = CertificateAuthority::load(&bundle, &ca.key_pem()).unwrap_err();
    assert!(err.to_string().contains("exactly one"), "{err}");

    // An end-entity certificate with its own (matching) key is not a CA.
    let leaf = ca.issue_client("ORG", "pc", 30).unwrap();
    let err = CertificateAuthority::load(&leaf.cert_pem, &leaf.key_pem).unwrap_err();
    assert!(matches!(err, PkiError::NotACa { .. }), "{err}");

    // Corrupted key bytes.
    let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    let err = CertificateAuthority::load(&ca.cert_pem(), garbage).unwrap_err();
    assert!(matches!(err, PkiError::InvalidPrivateKey { .. }), "{err}");
    assert!(!err.to_string().contains("AAAA"));
}

#[test]
fn server_certificate_profile() {
    let ca = test_ca();
    let names: Vec<String> = [
        "relay.example.jp",
        "localhost",
        "127.0.0.1",
        "::1",
        "localhost",
    ]
    .map(String::from)
    .to_vec();
    let issued = ca.issue_server(&names, 397).unwrap();
    let cert = parse(&issued.cert_der);

    assert_eq!(
        cert.subject().to_string(),
        "O=Kenshin Relay, CN=relay.example.jp"
    );
    assert_eq!(
        cert.issuer().as_raw(),
        parse(&ca.cert_der()).subject().as_raw()
    );
    let san = cert.subject_alternative_name().unwrap().expect("SAN");
    let listed: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(dns) => format!("dns:{dns}"),
            GeneralName::IPAddress(ip) => format!("ip:{}", hex::encode(ip)),
            other => panic!("unexpected SAN {other:?}"),
        })
        .collect();
    assert_eq!(
        listed,
        [
            "dns:relay.example.jp",
            "dns:localhost",
            "ip:7f000001",
            "ip:00000000000000000000000000000001"
        ]
    );
    let eku = cert.extended_key_usage().unwrap().expect("EKU").value;
    assert!(eku.server_auth && !eku.client_auth);
    let ku = cert.key_usage().unwrap().expect("keyUsage").value;
    assert!(ku.digital_signature() && !ku.key_cert_sign());
    assert!(!cert.is_ca());

    assert_eq!(
        issued.not_after - issued.not_before,
        Duration::days(397) + Duration::minutes(5)
    );
    assert_eq!(
        issued.fingerprint_sha256,
        fingerprint_sha256(&issued.cert_der)
    );
    assert_eq!(issued.serial_hex, hex::encode(cert.raw_serial()));
    assert_eq!(issued.serial_hex.len(), 32);
    assert!(issued.key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(!format!("{issued:?}").contains("PRIVATE KEY"));
    let has_aki = cert.iter_extensions().any(|ext| {
        matches!(
            ext.parsed_extension(),
            ParsedExtension::AuthorityKeyIdentifier(_)
        )
    });
    assert!(has_aki);
}

#[test]
fn client_cert_info_matches_issued_certificate() {
    let ca = test_ca();
    for (org, device) in [
        ("1312345678", "健診システム1号機"),
        ("ORG_b-2", "reception PC: desk #3"),
        ("X", "𠮷野家端末"),
    ] {
        let issued = ca.issue_client(org, device, 365).unwrap();
        let info = client_cert_info(&issued.cert_der).unwrap();
        assert_eq!(info.org_code.as_deref(), Some(org));
        assert_eq!(info.device.as_deref(), Some(device));
        assert_eq!(info.serial_hex, issued.serial_hex);
        assert_eq!(info.fingerprint_sha256, issued.fingerprint_sha256);
        assert_eq!(info.not_after, issued.not_after);

        let cert = parse(&issued.cert_der);
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap();
        let o = cert
            .subject()
            .iter_organization()
            .next()
            .unwrap()
            .as_str()
            .unwrap();
        assert_eq!((o, cn), (org, device));
        let eku = cert.extended_key_usage().unwrap().expect("EKU").value;
        assert!(eku.client_auth && !eku.server_auth);
    }

    let issued = ca.issue_client("ORG", "健診 1", 30).unwrap();
    let cert = parse(&issued.cert_der);
    let san = cert.subject_alternative_name().unwrap().expect("SAN");
    assert_eq!(
        san.value.general_names,
        vec![GeneralName::URI(
            "urn:kenshin-relay:org:ORG:device:%E5%81%A5%E8%A8%BA%201"
        )]
    );
}

#[test]
fn client_cert_info_without_identity_and_on_garbage() {
    let ca = test_ca();
    let server = ca.issue_server(&["localhost".to_owned()], 30).unwrap();
    let info = client_cert_info(&server.cert_der).unwrap();
    assert_eq!((info.org_code, info.device), (None, None));
    assert_eq!(info.serial_hex, server.serial_hex);

    let err = client_cert_info(b"not a certificate").unwrap_err();
    assert!(matches!(err, PkiError::InvalidCertificate { .. }), "{err}");
    let mut trailing = server.cert_der.clone();
    trailing.push(0);
    assert!(client_cert_info(&trailing).is_err());
}

#[test]
fn serials_are_random_positive_and_sixteen_bytes() {
    let ca = test_ca();
    let mut serials = std::collections::HashSet::new();
    for i in 0..20 {
        let issued = ca.issue_client("ORG", &format!("pc-{i}"), 30).unwrap();
        assert_eq!(issued.serial_hex.len(), 32);
        assert!(issued
            .serial_hex
            .chars()
            .all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert!(u8::from_str_radix(&issued.serial_hex[..2], 16).unwrap() < 0x80);
        assert!(serials.insert(issued.serial_hex));
    }
}

#[test]
fn crl_contents() {
    let ca = test_ca();
    let a = ca.issue_client("ORG", "a", 30).unwrap();
    let b = ca.issue_client("ORG", "b", 30).unwrap();
    let revoked_at = OffsetDateTime::now_utc() - Duration::hours(1);
    let pem = ca
        .crl_pem(
            &[
                RevokedEntry {
                    serial_hex: a.serial_hex.clone(),
                    revoked_at,
                    reason: RevocationReason::KeyCompromise,
                },
                RevokedEntry {
                    serial_hex: b.serial_hex.clone(),
                    revoked_at,
                    reason: RevocationReason::Unspecified,
                },
            ],
            42,
            7,
        )
        .unwrap();
    assert!(pem.starts_with("-----BEGIN X509 CRL-----\n"));
    let der = pem_body(&pem, "X509 CRL");
    let (rest, crl) = CertificateRevocationList::from_der(&der).unwrap();
    assert!(rest.is_empty());

    assert_eq!(
        crl.issuer().as_raw(),
        parse(&ca.cert_der()).subject().as_raw()
    );
    assert_eq!(
        crl.crl_number().map(|n| n.to_string()),
        Some("42".to_owned())
    );
    let next_update = crl.next_update().expect("nextUpdate").to_datetime();
    let ahead = next_update - OffsetDateTime::now_utc();
    assert!(ahead > Duration::days(7) - Duration::minutes(1) && ahead <= Duration::days(7));

    let entries: Vec<_> = crl.iter_revoked_certificates().collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(hex::encode(entries[0].raw_serial()), a.serial_hex);
    assert_eq!(
        entries[0].revocation_date.to_datetime().unix_timestamp(),
        revoked_at.unix_timestamp()
    );
    assert_eq!(
        entries[0].reason_code().map(|(_, r)| r.0),
        Some(1),
        "keyCompromise"
    );
    assert_eq!(hex::encode(entries[1].raw_serial()), b.serial_hex);
    assert!(
        entries[1].reason_code().is_none(),
        "unspecified has no reasonCode"
    );

    let ca_der = ca.cert_der();
    let ca_cert = parse(&ca_der);
    crl.verify_signature(ca_cert.public_key())
        .expect("CRL signed by the CA key");
}

#[test]
fn crl_input_errors() {
    let ca = test_ca();
    let entry = |serial: &str| RevokedEntry {
        serial_hex: serial.to_owned(),
        revoked_at: OffsetDateTime::now_utc(),
        reason: RevocationReason::Superseded,
    };
    assert!(matches!(
        ca.crl_pem(&[], 1, 0),
        Err(PkiError::ZeroValidity { what: "CRL" })
    ));
    assert!(matches!(
        ca.crl_pem(&[entry("zz")], 1, 1),
        Err(PkiError::InvalidSerial { .. })
    ));
    let err = ca
        .crl_pem(&[entry("4a0b"), entry("4A:0B")], 1, 1)
        .unwrap_err();
    assert!(
        matches!(err, PkiError::DuplicateRevokedSerial { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("4a0b"));
}

#[test]
fn validation_errors() {
    let ca = test_ca();
    for bad_org in ["", "has space", "コード", "a:b", "a/b", &"A".repeat(33)] {
        let err = ca.issue_client(bad_org, "pc", 30).unwrap_err();
        assert!(
            matches!(err, PkiError::InvalidOrgCode { .. }),
            "{bad_org:?}: {err}"
        );
    }
    ca.issue_client(&"A".repeat(32), "pc", 30).unwrap();

    for bad_device in ["", " pc", "pc ", "pc\n1", "pc\u{0}", &"健".repeat(65)] {
        let err = ca.issue_client("ORG", bad_device, 30).unwrap_err();
        assert!(
            matches!(err, PkiError::InvalidDeviceName { .. }),
            "{bad_device:?}: {err}"
        );
    }
    ca.issue_client("ORG", &"健".repeat(64), 30).unwrap();

    let err = ca.issue_client("ORG", &"x".repeat(5000), 30).unwrap_err();
    assert!(
        err.to_string().len() < 300,
        "overlong input is not echoed: {err}"
    );

    assert!(matches!(
        ca.issue_client("ORG", "pc", 0),
        Err(PkiError::ZeroValidity { .. })
    ));
    assert!(matches!(
        ca.issue_client("ORG", "pc", 3653),
        Err(PkiError::ValidityExceedsCa { .. })
    ));
    assert!(matches!(
        ca.issue_client("ORG", "pc", u32::MAX),
        Err(PkiError::ValidityOutOfRange { .. } | PkiError::ValidityExceedsCa { .. })
    ));

    assert!(matches!(
        ca.issue_server(&[], 30),
        Err(PkiError::NoServerNames)
    ));
    for bad_name in ["", "bad name", "host:8443", "例え.jp", "a..b", "https://x"] {
        let err = ca.issue_server(&[bad_name.to_owned()], 30).unwrap_err();
        assert!(
            matches!(err, PkiError::InvalidServerName { .. }),
            "{bad_name:?}: {err}"
        );
    }
    let long_first = format!("{}.example.jp", "a".repeat(60));
    assert!(matches!(
        ca.issue_server(std::slice::from_ref(&long_first), 30),
        Err(PkiError::InvalidServerName { .. })
    ));
    ca.issue_server(&["relay.example.jp".to_owned(), long_first], 30)
        .unwrap();

    for bad_cn in ["", " CA", "CA\t", &"c".repeat(65)] {
        assert!(matches!(
            CertificateAuthority::generate(bad_cn),
            Err(PkiError::InvalidCommonName { .. })
        ));
    }
}
