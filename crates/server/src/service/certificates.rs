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

use super::{AccountProblem, Caller, Error};
use crate::config::DataDir;
use crate::state::AppState;

/// What is wrong with a request for a certificate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateProblem {
    #[error("a device name is 1 to 64 characters")]
    DeviceName,
    #[error("days must be between 1 and 825")]
    Days,
    #[error("{login} belongs to {holder_org}, not {org}")]
    HolderOfAnotherOrg {
        login: String,
        holder_org: String,
        org: String,
    },
    #[error("{0} is disabled or outside its validity dates")]
    HolderInactive(String),
    #[error(transparent)]
    Roles(#[from] AccountProblem),
    #[error("the PKCS#12 password is empty")]
    EmptyPassword,
    #[error("no certificate with serial {0}")]
    NoSuchSerial(String),
}

/// Issuing or revoking failed: the request, the CA, the store or the files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    #[error(transparent)]
    Problem(#[from] CertificateProblem),
    #[error(transparent)]
    Pki(#[from] kenshin_pki::PkiError),
    #[error(transparent)]
    Store(#[from] kenshin_store::StoreError),
    /// The CA's files or the CRL could not be read or written.
    #[error("{0:#}")]
    Files(anyhow::Error),
}

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
) -> Result<Prepared, CertificateError> {
    let device = device.trim();
    if device.is_empty() || device.chars().count() > 64 {
        return Err(CertificateProblem::DeviceName.into());
    }
    if !(1..=825).contains(&days) {
        return Err(CertificateProblem::Days.into());
    }
    let (user_id, roles) = match holder {
        CertHolder::Person(person) => {
            if person.org_id != org.id {
                return Err(CertificateProblem::HolderOfAnotherOrg {
                    login: person.login.clone(),
                    holder_org: person.org_code.clone(),
                    org: org.code.to_string(),
                }
                .into());
            }
            if !person.is_active(OffsetDateTime::now_utc()) {
                return Err(CertificateProblem::HolderInactive(person.login.clone()).into());
            }
            (Some(person.id), None)
        }
        CertHolder::Device { roles } => (
            None,
            Some(
                crate::service::roles::machine_roles(org, roles)
                    .map_err(CertificateProblem::Roles)?,
            ),
        ),
    };
    let issued = ca.issue_client(org.code.as_str(), device, days)?;
    let password = password.unwrap_or_else(kenshin_pki::generate_password);
    if password.is_empty() {
        return Err(CertificateProblem::EmptyPassword.into());
    }
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
pub async fn register(db: &Database, prepared: &Prepared) -> Result<CertRecord, CertificateError> {
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
) -> Result<(CertRecord, u64), CertificateError> {
    let ca = load_ca(data).map_err(CertificateError::Files)?;
    let (cert, number) = db
        .revoke_cert(serial.trim(), reason, OffsetDateTime::now_utc())
        .await
        .map_err(|e| match e {
            kenshin_store::StoreError::NotFound => {
                CertificateProblem::NoSuchSerial(serial.to_owned()).into()
            }
            other => CertificateError::from(other),
        })?;
    write_crl(db, &ca, data, number)
        .await
        .map_err(CertificateError::Files)?;
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

/// What a caller asks to be issued.
pub struct IssueRequest<'a> {
    /// The device's (or the browser's) name.
    pub name: &'a str,
    /// A person of the caller's organisation, by login; `None`: a device.
    pub person: Option<&'a str>,
    /// A device's roles, comma-separated (`None`: the organisation kind's defaults).
    pub roles: Option<&'a str>,
    pub days: u32,
}

/// A certificate issued to the caller's organisation: registered, with its PKCS#12 bundle
/// and that bundle's one-time password (shown once).
pub struct Issued {
    pub record: CertRecord,
    pub prepared: Prepared,
    /// The person it was issued to, if any.
    pub person: Option<String>,
}

/// Issues a client certificate of the caller's organisation, to one of its people or to a
/// device. Another organisation's login is not found.
pub async fn issue(
    state: &AppState,
    caller: &Caller,
    request: IssueRequest<'_>,
) -> Result<Issued, Error> {
    caller.require(
        kenshin_auth::Resource::Certificate,
        kenshin_auth::Action::Create,
    )?;
    let person = match request.person {
        Some(login) => match state.db.user_by_login(login.trim()).await? {
            Some(user) if user.org_id == caller.org.id => Some(user),
            _ => return Err(Error::NotFound),
        },
        None => None,
    };
    let holder = match &person {
        Some(user) => CertHolder::Person(user),
        None => CertHolder::Device {
            roles: request.roles,
        },
    };
    let ca = load_ca(&state.data).map_err(CertificateError::Files)?;
    let prepared = prepare(&ca, &caller.org, request.name, holder, request.days, None)?;
    let record = register(&state.db, &prepared).await?;
    tracing::info!(org = %caller.org.code, serial = %record.serial, by = %caller.actor(), "client certificate issued");
    Ok(Issued {
        record,
        prepared,
        person: person.map(|u| u.login),
    })
}

/// Revokes one of the caller's organisation's certificates (another's serial is not found)
/// and publishes the new CRL.
pub async fn revoke_own(
    state: &AppState,
    caller: &Caller,
    serial: &str,
    reason: kenshin_pki::RevocationReason,
) -> Result<CertRecord, Error> {
    caller.require(
        kenshin_auth::Resource::Certificate,
        kenshin_auth::Action::Delete,
    )?;
    match state.db.cert_by_serial(serial).await {
        Ok(cert) if cert.org_id == caller.org.id => {}
        Ok(_) | Err(kenshin_store::StoreError::NotFound) => return Err(Error::NotFound),
        Err(err) => return Err(err.into()),
    }
    let (cert, _) = revoke(&state.db, &state.data, serial, reason.as_str()).await?;
    Ok(cert)
}

/// The caller's organisation's certificates (oldest first) and its people (to name the
/// holders of personal ones).
pub async fn of_organisation(
    state: &AppState,
    caller: &Caller,
) -> Result<(Vec<CertRecord>, Vec<UserRecord>), Error> {
    caller.require(
        kenshin_auth::Resource::Certificate,
        kenshin_auth::Action::Read,
    )?;
    let people = state.db.list_users(Some(caller.org.id)).await?;
    let certs = state.db.list_certs(Some(caller.org.code.as_str())).await?;
    Ok((certs, people))
}
