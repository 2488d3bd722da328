//! People and their sessions. Secrets arrive already protected: password hashes (argon2id),
//! TOTP secrets wrapped by the KEK, session tokens as SHA-256.

use sqlx::FromRow;
use time::OffsetDateTime;

use crate::db::Scope;
use crate::error::unique_violation;
use crate::timefmt::{from_ms, opt_from_ms, to_ms};
use crate::{Database, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub org_id: i64,
    pub org_code: String,
    pub login: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
    pub must_change_password: bool,
    /// Wrapped by the KEK; `None` until enrolled.
    pub totp_secret: Option<Vec<u8>>,
    pub totp_last_step: Option<u64>,
    /// JSON of the recovery code hashes.
    pub recovery_codes: Option<String>,
    /// JSON of the login throttle state.
    pub throttle: Option<String>,
    pub valid_from: Option<OffsetDateTime>,
    pub valid_until: Option<OffsetDateTime>,
    pub disabled_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl UserRecord {
    /// Whether the account may act at `now`: not disabled and within its validity dates.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.disabled_at.is_none()
            && self.valid_from.is_none_or(|from| from <= now)
            && self.valid_until.is_none_or(|until| now < until)
    }
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub org_id: i64,
    pub login: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
    pub valid_until: Option<OffsetDateTime>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: String,
    pub user_id: i64,
    pub created_at: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

const USER_SELECT: &str = "SELECT u.*, o.code AS org_code, \
     t.secret AS totp_secret, t.counter AS totp_last_step, r.codes AS recovery_codes \
     FROM users u JOIN orgs o ON o.id = u.org_id \
     LEFT JOIN user_factors t ON t.user_id = u.id AND t.kind = 'totp' \
     LEFT JOIN user_factors r ON r.user_id = u.id AND r.kind = 'recovery_codes'";

/// A row of `sessions`, as stored.
#[derive(sqlx::FromRow)]
struct SessionRow {
    token_hash: String,
    user_id: i64,
    created_at: i64,
    last_seen: i64,
    revoked_at: Option<i64>,
}

/// A row of `USER_SELECT`, as stored.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    org_id: i64,
    org_code: String,
    login: String,
    display_name: String,
    role: String,
    password_hash: String,
    must_change_password: i64,
    totp_secret: Option<Vec<u8>>,
    totp_last_step: Option<i64>,
    recovery_codes: Option<String>,
    throttle: Option<String>,
    valid_from: Option<i64>,
    valid_until: Option<i64>,
    disabled_at: Option<i64>,
    created_at: i64,
}

fn user_from_row(row: sqlx::any::AnyRow) -> Result<UserRecord, StoreError> {
    let row = UserRow::from_row(&row)?;
    Ok(UserRecord {
        id: row.id,
        org_id: row.org_id,
        org_code: row.org_code,
        login: row.login,
        display_name: row.display_name,
        role: row.role,
        password_hash: row.password_hash,
        must_change_password: row.must_change_password != 0,
        totp_secret: row.totp_secret,
        totp_last_step: row.totp_last_step.map(|s| s as u64),
        recovery_codes: row.recovery_codes,
        throttle: row.throttle,
        valid_from: opt_from_ms(row.valid_from),
        valid_until: opt_from_ms(row.valid_until),
        disabled_at: opt_from_ms(row.disabled_at),
        created_at: from_ms(row.created_at),
    })
}

impl Database {
    pub async fn create_user(
        &self,
        new: &NewUser,
        now: OffsetDateTime,
    ) -> Result<UserRecord, StoreError> {
        self.execute_write(sqlx::query(
            "INSERT INTO users (org_id, login, display_name, role, password_hash, valid_until, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new.org_id)
        .bind(&new.login)
        .bind(&new.display_name)
        .bind(&new.role)
        .bind(&new.password_hash)
        .bind(new.valid_until.map(to_ms))
        .bind(to_ms(now))
        )
        .await
        .map_err(|e| unique_violation(e, || format!("the login {} is taken", new.login)))?;
        self.user_by_login(&new.login)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn user_by_login(&self, login: &str) -> Result<Option<UserRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        sqlx::query(&format!("{USER_SELECT} WHERE u.login = $1"))
            .bind(login)
            .fetch_optional(&mut *rx)
            .await?
            .map(user_from_row)
            .transpose()
    }

    pub async fn user_by_id(&self, id: i64) -> Result<UserRecord, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        sqlx::query(&format!("{USER_SELECT} WHERE u.id = $1"))
            .bind(id)
            .fetch_optional(&mut *rx)
            .await?
            .ok_or(StoreError::NotFound)
            .and_then(user_from_row)
    }

    pub async fn list_users(&self, org_id: Option<i64>) -> Result<Vec<UserRecord>, StoreError> {
        let scope = org_id.map_or(Scope::System, Scope::Org);
        let mut rx = self.read_transaction(scope).await?;
        let rows = sqlx::query(&format!(
            "{USER_SELECT} WHERE ($1 IS NULL OR u.org_id = $1) ORDER BY o.code, u.login"
        ))
        .bind(org_id)
        .fetch_all(&mut *rx)
        .await?;
        rows.into_iter().map(user_from_row).collect()
    }

    pub async fn set_throttle(&self, user_id: i64, throttle: &str) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query("UPDATE users SET throttle = $1 WHERE id = $2")
                .bind(throttle)
                .bind(user_id),
        )
        .await?;
        Ok(())
    }

    pub async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
        must_change: bool,
    ) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query(
                "UPDATE users SET password_hash = $1, must_change_password = $2 WHERE id = $3",
            )
            .bind(password_hash)
            .bind(i64::from(must_change))
            .bind(user_id),
        )
        .await?;
        Ok(())
    }

    /// Enrols (or, with `None`, removes) the second factor; removal also forgets the last
    /// used step and the recovery codes.
    pub async fn set_totp(
        &self,
        user_id: i64,
        wrapped_secret: Option<&[u8]>,
        recovery_codes: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = to_ms(OffsetDateTime::now_utc());
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "DELETE FROM user_factors WHERE user_id = $1 AND kind IN ('totp', 'recovery_codes')",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        if let Some(secret) = wrapped_secret {
            sqlx::query(
                "INSERT INTO user_factors (user_id, kind, secret, created_at) VALUES ($1, 'totp', $2, $3)",
            )
            .bind(user_id)
            .bind(secret)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(codes) = recovery_codes {
            sqlx::query(
                "INSERT INTO user_factors (user_id, kind, codes, created_at) \
                 VALUES ($1, 'recovery_codes', $2, $3)",
            )
            .bind(user_id)
            .bind(codes)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A new set of recovery codes for a person (the old ones void); the TOTP secret stays.
    pub async fn replace_recovery_codes(
        &self,
        user_id: i64,
        codes: &str,
    ) -> Result<(), StoreError> {
        let now = to_ms(OffsetDateTime::now_utc());
        let mut tx = self.write_transaction().await?;
        sqlx::query("DELETE FROM user_factors WHERE user_id = $1 AND kind = 'recovery_codes'")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO user_factors (user_id, kind, codes, created_at) \
             VALUES ($1, 'recovery_codes', $2, $3)",
        )
        .bind(user_id)
        .bind(codes)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the recovery codes only if they are still `expected`, so that two requests
    /// racing with the same code cannot both spend it. Returns whether it replaced them.
    pub async fn swap_recovery_codes(
        &self,
        user_id: i64,
        expected: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let updated = self
            .execute_write(
                sqlx::query(
                    "UPDATE user_factors SET codes = $1 \
                 WHERE user_id = $2 AND kind = 'recovery_codes' AND codes = $3",
                )
                .bind(new)
                .bind(user_id)
                .bind(expected),
            )
            .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Moves the last used TOTP step forward, only forward: a code is accepted once even when
    /// two requests race (the second finds the step already taken).
    pub async fn advance_totp_step(&self, user_id: i64, step: u64) -> Result<bool, StoreError> {
        let updated = self
            .execute_write(
                sqlx::query(
                    "UPDATE user_factors SET counter = $1 \
             WHERE user_id = $2 AND kind = 'totp' AND (counter IS NULL OR counter < $3)",
                )
                .bind(step as i64)
                .bind(user_id)
                .bind(step as i64),
            )
            .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Disables (or re-enables) an account. Disabling revokes, in the same transaction, the
    /// person's sessions and every certificate issued to them, so it takes effect at the next
    /// request; returns the serials of the certificates revoked (re-enabling restores none).
    pub async fn set_user_disabled(
        &self,
        user_id: i64,
        disabled: bool,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
            .bind(disabled.then(|| to_ms(now)))
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let mut revoked = Vec::new();
        if disabled {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(to_ms(now))
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            revoked = sqlx::query_scalar(
                "UPDATE certificates SET revoked_at = $1, revocation_reason = 'affiliation-changed' \
                 WHERE user_id = $2 AND revoked_at IS NULL RETURNING serial",
            )
            .bind(to_ms(now))
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
            if !revoked.is_empty() {
                sqlx::query("UPDATE crl_state SET crl_number = crl_number + 1 WHERE id = 1")
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(revoked)
    }

    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        source: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.execute_write(sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen, source) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(source)
        )
        .await?;
        Ok(())
    }

    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        Ok(sqlx::query_as::<_, SessionRow>(
            "SELECT token_hash, user_id, created_at, last_seen, revoked_at FROM sessions \
             WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *rx)
        .await?
        .map(|row| SessionRecord {
            token_hash: row.token_hash,
            user_id: row.user_id,
            created_at: from_ms(row.created_at),
            last_seen: from_ms(row.last_seen),
            revoked_at: opt_from_ms(row.revoked_at),
        }))
    }

    pub async fn touch_session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query("UPDATE sessions SET last_seen = $1 WHERE token_hash = $2")
                .bind(to_ms(now))
                .bind(token_hash),
        )
        .await?;
        Ok(())
    }

    /// Ends every session of a person but `keep` (after the person changed their password:
    /// a session someone else opened with the old one ends too). Answers how many ended.
    pub async fn revoke_other_sessions(
        &self,
        user_id: i64,
        keep: &str,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        Ok(self
            .execute_write(
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 \
                     WHERE user_id = $2 AND token_hash <> $3 AND revoked_at IS NULL",
                )
                .bind(to_ms(now))
                .bind(user_id)
                .bind(keep),
            )
            .await?
            .rows_affected())
    }

    /// Ends every session of a person (after an administrator reset their password).
    pub async fn end_sessions(&self, user_id: i64, now: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(self
            .execute_write(
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
                )
                .bind(to_ms(now))
                .bind(user_id),
            )
            .await?
            .rows_affected())
    }

    /// The login before the session `current`: when it was and from where (the address the
    /// session was opened from), for "前回のログイン" on the person's home page.
    pub async fn previous_login(
        &self,
        user_id: i64,
        current: &str,
    ) -> Result<Option<(OffsetDateTime, Option<String>)>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows: Vec<(i64, Option<String>)> = sqlx::query_as(
            "SELECT created_at, source FROM sessions WHERE user_id = $1 AND token_hash <> $2 \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(user_id)
        .bind(current)
        .fetch_all(&mut *rx)
        .await?;
        Ok(rows
            .into_iter()
            .next()
            .map(|(at, source)| (from_ms(at), source)))
    }

    pub async fn revoke_session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
            )
            .bind(to_ms(now))
            .bind(token_hash),
        )
        .await?;
        Ok(())
    }
}
