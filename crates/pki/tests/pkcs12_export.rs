//! PKCS#12 export: readable by p12-keystore, and by the system OpenSSL 3 without the
//! legacy provider. Also cross-checks chain and CRL with `openssl verify`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kenshin_pki::{
    generate_password, pkcs12, CertificateAuthority, IssuedCert, PkiError, RevocationReason,
    RevokedEntry,
};
use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use rcgen::{KeyPair, PublicKeyData};
use time::OffsetDateTime;

/// A per-test scratch directory under cargo's target tmpdir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("kenshin-pki-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, file: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(file);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Returns `None` (after printing why) when no usable `openssl` binary exists.
fn openssl_available() -> Option<String> {
    match Command::new("openssl").arg("version").output() {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => {
            // Written to the stderr handle directly: the test harness only captures
            // the print macros, so this line shows up even in a normal `cargo test`.
            let _ = std::io::stderr()
                .write_all(b"skipping: openssl not found; OpenSSL interoperability not checked\n");
            None
        }
    }
}

fn openssl(args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    if let Some(password) = password {
        // Passed through the environment rather than argv so it does not show
        // up in process listings.
        cmd.env("KENSHIN_P12_PASS", password);
    }
    let out = cmd.output().expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn issue(ca: &CertificateAuthority) -> IssuedCert {
    ca.issue_client("1312345678", "健診システム1号機", 365)
        .unwrap()
}

/// Public key (SPKI DER) of the first PKCS#8 key in `pem`.
fn spki_of_key_pem(pem: &str) -> Vec<u8> {
    let start = pem
        .find("-----BEGIN PRIVATE KEY-----")
        .expect("PKCS#8 key in output");
    let end = pem.find("-----END PRIVATE KEY-----").expect("end of key") + 25;
    KeyPair::from_pem(&pem[start..end])
        .expect("parsable key")
        .subject_public_key_info()
}

fn spki_of_cert(der: &[u8]) -> Vec<u8> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.tbs_certificate.subject_pki.raw.to_vec()
}

#[test]
fn bundle_round_trips_through_p12_keystore() {
    let ca = CertificateAuthority::generate("Kenshin Relay Test CA").unwrap();
    let issued = issue(&ca);
    let password = generate_password();
    let p12 = pkcs12(&issued, &ca.cert_der(), "健診システム1号機", &password).unwrap();

    let store = KeyStore::from_pkcs12(&p12, &password, Pkcs12ImportPolicy::Strict).unwrap();
    let (alias, chain) = store.private_key_chain().expect("key entry");
    assert_eq!(alias, "健診システム1号機");
    let certs: Vec<&[u8]> = chain.certs().iter().map(|c| c.as_der()).collect();
    assert_eq!(
        certs,
        vec![issued.cert_der.as_slice(), ca.cert_der().as_slice()]
    );
    let key = KeyPair::try_from(chain.key().as_der()).unwrap();
    assert_eq!(
        key.subject_public_key_info(),
        spki_of_cert(&issued.cert_der)
    );

    assert!(KeyStore::from_pkcs12(&p12, "wrong password", Pkcs12ImportPolicy::Strict).is_err());
}

#[test]
fn bundle_is_read_by_openssl_without_legacy_provider() {
    let Some(version) = openssl_available() else {
        return;
    };
    println!("using {}", version.trim());
    let ca = CertificateAuthority::generate("Kenshin Relay Test CA").unwrap();
    let issued = issue(&ca);
    let password = generate_password();
    let p12 = pkcs12(&issued, &ca.cert_der(), "reception-pc", &password).unwrap();

    let scratch = Scratch::new("p12");
    let file = scratch.write("bundle.p12", &p12);
    let file = file.to_str().unwrap();
    let pass = Some(password.as_str());

    let info = openssl(
        &[
            "pkcs12",
            "-in",
            file,
            "-passin",
            "env:KENSHIN_P12_PASS",
            "-info",
            "-noout",
        ],
        pass,
    );
    let info =
        String::from_utf8_lossy(&info.stderr).into_owned() + &String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("MAC: sha256"), "{info}");
    assert!(info.contains("PBES2, PBKDF2, AES-256-CBC"), "{info}");
    assert!(info.contains("hmacWithSHA256"), "{info}");
    assert!(!info.contains("RC2") && !info.contains("3DES"), "{info}");

    let certs = openssl(
        &[
            "pkcs12",
            "-in",
            file,
            "-passin",
            "env:KENSHIN_P12_PASS",
            "-nokeys",
        ],
        pass,
    );
    // Lossy: OpenSSL 3.0 prints BMPString friendly names (here the subject with the
    // Japanese device name) byte-wise, which is not valid UTF-8.
    let certs = String::from_utf8_lossy(&certs.stdout).into_owned();
    assert!(
        certs.contains(issued.cert_pem.trim()),
        "leaf certificate missing:\n{certs}"
    );
    assert!(
        certs.contains(ca.cert_pem().trim()),
        "CA certificate missing:\n{certs}"
    );
    assert!(!certs.contains("PRIVATE KEY"));

    let keys = openssl(
        &[
            "pkcs12",
            "-in",
            file,
            "-passin",
            "env:KENSHIN_P12_PASS",
            "-nocerts",
            "-nodes",
        ],
        pass,
    );
    let keys = String::from_utf8_lossy(&keys.stdout).into_owned();
    assert!(keys.contains("friendlyName: reception-pc"), "{keys}");
    assert_eq!(spki_of_key_pem(&keys), spki_of_cert(&issued.cert_der));
    assert!(!keys.contains("BEGIN CERTIFICATE"));
}

#[test]
fn openssl_verifies_chain_and_crl() {
    if openssl_available().is_none() {
        return;
    }
    let ca = CertificateAuthority::generate("Kenshin Relay Test CA").unwrap();
    let good = issue(&ca);
    let revoked = ca.issue_client("1312345678", "old-pc", 365).unwrap();
    let server = ca
        .issue_server(&["localhost".to_owned(), "127.0.0.1".to_owned()], 30)
        .unwrap();
    let crl = ca
        .crl_pem(
            &[RevokedEntry {
                serial_hex: revoked.serial_hex.clone(),
                revoked_at: OffsetDateTime::now_utc(),
                reason: RevocationReason::CessationOfOperation,
            }],
            3,
            7,
        )
        .unwrap();

    let scratch = Scratch::new("verify");
    let ca_file = scratch.write("ca.pem", ca.cert_pem());
    let crl_file = scratch.write("crl.pem", &crl);
    let good_file = scratch.write("good.pem", &good.cert_pem);
    let revoked_file = scratch.write("revoked.pem", &revoked.cert_pem);
    let server_file = scratch.write("server.pem", &server.cert_pem);
    let path = |p: &PathBuf| p.to_str().unwrap().to_owned();

    let verify = |leaf: &PathBuf, purpose: &str| {
        Command::new("openssl")
            .args([
                "verify",
                "-x509_strict",
                "-purpose",
                purpose,
                "-CAfile",
                &path(&ca_file),
                "-crl_check",
                "-CRLfile",
                &path(&crl_file),
                &path(leaf),
            ])
            .output()
            .expect("run openssl verify")
    };
    let out = verify(&good_file, "sslclient");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = verify(&server_file, "sslserver");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = verify(&revoked_file, "sslclient");
    assert!(!out.status.success());
    let report = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(report.contains("revoked"), "{report}");

    let crl_text = openssl(&["crl", "-in", &path(&crl_file), "-noout", "-text"], None);
    let crl_text = String::from_utf8(crl_text.stdout).unwrap();
    assert!(crl_text.contains("Cessation Of Operation"), "{crl_text}");
    assert!(
        crl_text
            .to_lowercase()
            .contains(&revoked.serial_hex.to_lowercase()),
        "{crl_text}"
    );
}

#[test]
fn export_rejects_mismatched_inputs() {
    let ca = CertificateAuthority::generate("Kenshin Relay Test CA").unwrap();
    let other_ca = CertificateAuthority::generate("Other CA").unwrap();
    let issued = issue(&ca);
    let other = issue(&ca);

    assert!(matches!(
        pkcs12(&issued, &ca.cert_der(), "pc", ""),
        Err(PkiError::EmptyPassword)
    ));
    assert!(matches!(
        pkcs12(&issued, &other_ca.cert_der(), "pc", "pw"),
        Err(PkiError::IssuerMismatch { .. })
    ));
    // Same CA name, different key: caught by the signature check.
    let twin = CertificateAuthority::generate("Kenshin Relay Test CA").unwrap();
    assert!(matches!(
        pkcs12(&issued, &twin.cert_der(), "pc", "pw"),
        Err(PkiError::IssuerMismatch { .. })
    ));

    let mut swapped = issued.clone();
    swapped.key_pem = other.key_pem.clone();
    assert!(matches!(
        pkcs12(&swapped, &ca.cert_der(), "pc", "pw"),
        Err(PkiError::KeyMismatch { .. })
    ));

    for bad in ["", "𠮷野家", "a\nb"] {
        assert!(matches!(
            pkcs12(&issued, &ca.cert_der(), bad, "pw"),
            Err(PkiError::InvalidFriendlyName { .. })
        ));
    }
}
