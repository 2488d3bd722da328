use sqlx::FromRow;
use time::OffsetDateTime;

use crate::db::Scope;
use crate::error::unique_violation;
use crate::timefmt::{from_ms, opt_from_ms, to_ms};
use crate::{Database, StoreError};

/// A client certificate to register (the certificate itself is handed to its device, not kept).
#[derive(Clone, Debug)]
pub struct NewCert {
    pub serial: String,
    pub fingerprint: String,
    pub org_id: i64,
    pub device: String,
    /// The person the certificate was issued to, if it is not a device's.
    pub user_id: Option<i64>,
    /// A device certificate's roles, comma-separated (`sender,receiver`); `None` for a
    /// person's certificate, which acts with the person's role.
    pub roles: Option<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertRecord {
    pub serial: String,
    pub fingerprint: String,
    pub org_id: i64,
    pub org_code: String,
    pub device: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub issued_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub revocation_reason: Option<String>,
    pub user_id: Option<i64>,
    /// See [`NewCert::roles`].
    pub roles: Option<String>,
}

const CERT_SELECT: &str =
    "SELECT c.serial, c.fingerprint, c.org_id, o.code AS org_code, c.device, \
     c.not_before, c.not_after, c.issued_at, c.revoked_at, c.revocation_reason, c.user_id, c.roles \
     FROM certificates c JOIN orgs o ON o.id = c.org_id";

/// A row of `CERT_SELECT`, as stored.
#[derive(sqlx::FromRow)]
struct CertRow {
    serial: String,
    fingerprint: String,
    org_id: i64,
    org_code: String,
    device: String,
    not_before: i64,
    not_after: i64,
    issued_at: i64,
    revoked_at: Option<i64>,
    revocation_reason: Option<String>,
    user_id: Option<i64>,
    roles: Option<String>,
}

fn cert_from_row(row: sqlx::any::AnyRow) -> Result<CertRecord, StoreError> {
    let row = CertRow::from_row(&row)?;
    Ok(CertRecord {
        serial: row.serial,
        fingerprint: row.fingerprint,
        org_id: row.org_id,
        org_code: row.org_code,
        device: row.device,
        not_before: from_ms(row.not_before),
        not_after: from_ms(row.not_after),
        issued_at: from_ms(row.issued_at),
        revoked_at: opt_from_ms(row.revoked_at),
        revocation_reason: row.revocation_reason,
        user_id: row.user_id,
        roles: row.roles,
    })
}

impl Database {
    pub async fn insert_cert(
        &self,
        cert: &NewCert,
        now: OffsetDateTime,
    ) -> Result<CertRecord, StoreError> {
        self.execute_write(sqlx::query(
            "INSERT INTO certificates (serial, fingerprint, org_id, device, user_id, roles, not_before, not_after, issued_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&cert.serial)
        .bind(&cert.fingerprint)
        .bind(cert.org_id)
        .bind(&cert.device)
        .bind(cert.user_id)
        .bind(&cert.roles)
        .bind(to_ms(cert.not_before))
        .bind(to_ms(cert.not_after))
        .bind(to_ms(now))
        )
        .await
        .map_err(|e| unique_violation(e, || format!("certificate {} is already registered", cert.serial)))?;
        self.cert_by_serial(&cert.serial).await
    }

    pub async fn cert_by_serial(&self, serial: &str) -> Result<CertRecord, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        sqlx::query(&format!("{CERT_SELECT} WHERE c.serial = $1"))
            .bind(serial.to_ascii_lowercase())
            .fetch_optional(&mut *rx)
            .await?
            .ok_or(StoreError::NotFound)
            .and_then(cert_from_row)
    }

    /// The certificate a TLS peer presented, by the SHA-256 fingerprint of its DER encoding.
    pub async fn cert_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<CertRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        sqlx::query(&format!("{CERT_SELECT} WHERE c.fingerprint = $1"))
            .bind(fingerprint)
            .fetch_optional(&mut *rx)
            .await?
            .map(cert_from_row)
            .transpose()
    }

    pub async fn list_certs(&self, org_code: Option<&str>) -> Result<Vec<CertRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows = match org_code {
            Some(code) => {
                sqlx::query(&format!(
                    "{CERT_SELECT} WHERE o.code = $1 ORDER BY c.issued_at"
                ))
                .bind(code)
                .fetch_all(&mut *rx)
                .await?
            }
            None => {
                sqlx::query(&format!("{CERT_SELECT} ORDER BY o.code, c.issued_at"))
                    .fetch_all(&mut *rx)
                    .await?
            }
        };
        rows.into_iter().map(cert_from_row).collect()
    }

    /// Marks a certificate revoked and returns the next CRL number, in one transaction, so two
    /// revocations can never publish CRLs with the same number.
    pub async fn revoke_cert(
        &self,
        serial: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<(CertRecord, u64), StoreError> {
        let serial = serial.to_ascii_lowercase();
        let mut tx = self.write_transaction().await?;
        let updated = sqlx::query(
            "UPDATE certificates SET revoked_at = $1, revocation_reason = $2 \
             WHERE serial = $3 AND revoked_at IS NULL",
        )
        .bind(to_ms(now))
        .bind(reason)
        .bind(&serial)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM certificates WHERE serial = $1")
                    .bind(&serial)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match exists {
                Some(_) => {
                    StoreError::InvalidState(format!("certificate {serial} is already revoked"))
                }
                None => StoreError::NotFound,
            });
        }
        let number: i64 = sqlx::query_scalar(
            "UPDATE crl_state SET crl_number = crl_number + 1 WHERE id = 1 RETURNING crl_number",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((self.cert_by_serial(&serial).await?, number as u64))
    }

    /// Takes the next CRL number without revoking anything (for the initial, empty CRL and for
    /// re-publishing before the previous CRL's nextUpdate).
    pub async fn next_crl_number(&self) -> Result<u64, StoreError> {
        let mut tx = self.write_transaction().await?;
        let number: i64 = sqlx::query_scalar(
            "UPDATE crl_state SET crl_number = crl_number + 1 WHERE id = 1 RETURNING crl_number",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(number as u64)
    }

    pub async fn revoked_certs(&self) -> Result<Vec<CertRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows = sqlx::query(&format!(
            "{CERT_SELECT} WHERE c.revoked_at IS NOT NULL ORDER BY c.revoked_at"
        ))
        .fetch_all(&mut *rx)
        .await?;
        rows.into_iter().map(cert_from_row).collect()
    }
}
