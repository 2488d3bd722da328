//! The built-in CA at work: issuing client certificates to devices and people, revoking
//! them, and publishing the CRL that the TLS layer reloads. One implementation for the admin
//! CLI and an organisation admin's web pages.
//!
//! The CA's key lives in the data directory (`pki/ca.key`, 0600) beside the KEK; a process
//! that can read the data directory can issue. It is read only when needed, never kept in
//! memory between operations.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use kenshin_pki::{CertificateAuthority, IssuedCert};
use kenshin_store::{CertRecord, Database, NewCert, Org, UserRecord};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::config::DataDir;

/// Days until a published CRL's nextUpdate; every revocation publishes a new one.
const CRL_DAYS: u32 = 30;

/// Who a client certificate is for.
#[derive(Clone, Copy, Debug)]
pub enum CertHolder<'a> {
    /// A device or batch job, with its own roles (`None`: the organisation kind's defaults).
    Device { roles: Option<&'a str> },
    /// One person of the organisation, acting with that person's role.
    Person(&'a UserRecord),
}

/// A certificate issued but not yet registered: its files can be written (or handed to a
/// browser) first, so that a certificate whose delivery failed is never usable.
pub struct Prepared {
    pub issued: IssuedCert,
    /// PKCS#12 bundle of the key, the certificate and the CA.
    pub pkcs12: Vec<u8>,
    pub password: Zeroizing<String>,
    new: NewCert,
}

/// Loads the CA from the data directory.
pub fn load_ca(data: &DataDir) -> anyhow::Result<CertificateAuthority> {
    let cert = fs::read_to_string(data.ca_cert_path())
        .with_context(|| format!("cannot read {}", data.ca_cert_path().display()))?;
    let key = fs::read_to_string(data.ca_key_path()).with_context(|| {
        format!(
            "cannot read the CA key {} (issuing and revoking need the data directory's CA key)",
            data.ca_key_path().display()
        )
    })?;
    Ok(CertificateAuthority::load(&cert, &key)?)
}

/// Issues a certificate for `holder` of `org` named `device`, valid `days`, bundled with
/// `password` (or a generated one). Checks the holder: a person of this organisation who is
/// active; a device's roles valid for the organisation's kind.
pub fn prepare(
    ca: &CertificateAuthority,
    org: &Org,
    device: &str,
    holder: CertHolder<'_>,
    days: u32,
    password: Option<Zeroizing<String>>,
) -> anyhow::Result<Prepared> {
    let device = device.trim();
    anyhow::ensure!(
        !device.is_empty() && device.chars().count() <= 64,
        "a device name is 1 to 64 characters"
    );
    anyhow::ensure!((1..=825).contains(&days), "days must be between 1 and 825");
    let (user_id, roles) = match holder {
        CertHolder::Person(person) => {
            anyhow::ensure!(
                person.org_id == org.id,
                "{} belongs to {}, not {}",
                person.login,
                person.org_code,
                org.code
            );
            anyhow::ensure!(
                person.is_active(OffsetDateTime::now_utc()),
                "{} is disabled or outside its validity dates",
                person.login
            );
            (Some(person.id), None)
        }
        CertHolder::Device { roles } => (None, Some(crate::accounts::machine_roles(org, roles)?)),
    };
    let issued = ca.issue_client(org.code.as_str(), device, days)?;
    let password = password.unwrap_or_else(kenshin_pki::generate_password);
    anyhow::ensure!(!password.is_empty(), "the PKCS#12 password is empty");
    let pkcs12 = kenshin_pki::pkcs12(&issued, &ca.cert_der(), device, &password)?;
    let new = NewCert {
        serial: issued.serial_hex.clone(),
        fingerprint: issued.fingerprint_sha256.clone(),
        org_id: org.id,
        device: device.to_owned(),
        user_id,
        roles,
        not_before: issued.not_before,
        not_after: issued.not_after,
    };
    Ok(Prepared {
        issued,
        pkcs12,
        password,
        new,
    })
}

/// Registers a prepared certificate: from now on it is accepted.
pub async fn register(db: &Database, prepared: &Prepared) -> anyhow::Result<CertRecord> {
    Ok(db
        .insert_cert(&prepared.new, OffsetDateTime::now_utc())
        .await?)
}

/// Revokes a certificate and publishes the new CRL: refused at the next request at once,
/// and at the handshake once the server reloads the CRL.
pub async fn revoke(
    db: &Database,
    data: &DataDir,
    serial: &str,
    reason: &str,
) -> anyhow::Result<(CertRecord, u64)> {
    let ca = load_ca(data)?;
    let (cert, number) = db
        .revoke_cert(serial.trim(), reason, OffsetDateTime::now_utc())
        .await
        .map_err(|e| match e {
            kenshin_store::StoreError::NotFound => {
                anyhow::anyhow!("no certificate with serial {serial}")
            }
            other => other.into(),
        })?;
    write_crl(db, &ca, data, number).await?;
    Ok((cert, number))
}

/// Writes a CRL listing every revoked certificate, under a fresh CRL number.
pub async fn publish_crl(db: &Database, data: &DataDir) -> anyhow::Result<()> {
    let ca = load_ca(data)?;
    let number = db.next_crl_number().await?;
    write_crl(db, &ca, data, number).await
}

/// Writes the CRL under `number` (from the revocation's own transaction).
pub async fn write_crl(
    db: &Database,
    ca: &CertificateAuthority,
    data: &DataDir,
    number: u64,
) -> anyhow::Result<()> {
    let revoked = db
        .revoked_certs()
        .await?
        .into_iter()
        .map(|cert| kenshin_pki::RevokedEntry {
            serial_hex: cert.serial,
            revoked_at: cert.revoked_at.unwrap_or_else(OffsetDateTime::now_utc),
            reason: cert
                .revocation_reason
                .as_deref()
                .unwrap_or("unspecified")
                .parse()
                .unwrap_or(kenshin_pki::RevocationReason::Unspecified),
        })
        .collect::<Vec<_>>();
    let pem = ca.crl_pem(&revoked, number, CRL_DAYS)?;
    replace_private(&data.crl_path(), pem.as_bytes())
}

/// Replaces a file atomically (write beside, fsync, rename, fsync the directory): the server
/// reloading the CRL sees the old or the new one, never half of one. Owner-only, like every
/// file of the data directory (the published CRL is served from the database's view, not
/// from this file).
fn replace_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temp = path.with_extension("tmp");
    let _ = fs::remove_file(&temp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .with_context(|| format!("cannot create {}", temp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", temp.display()))?;
    fs::rename(&temp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}
