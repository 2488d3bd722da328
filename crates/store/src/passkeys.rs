//! Passkeys a person registered as a second factor: the credential as the WebAuthn library
//! records it (JSON: public key, counter, backup state), a label the person chose, and when it
//! was made and last used.

use time::OffsetDateTime;

use crate::db::Scope;
use crate::timefmt::{from_ms, opt_from_ms, to_ms};
use crate::{Database, StoreError};

/// One registered passkey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// The credential id, base64url.
    pub id: String,
    pub user_id: i64,
    pub org_id: i64,
    pub label: String,
    /// The WebAuthn library's record of the credential, JSON.
    pub credential: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

type Row = (String, i64, i64, String, String, i64, Option<i64>);

fn record(
    (id, user_id, org_id, label, credential, created_at, last_used_at): Row,
) -> PasskeyRecord {
    PasskeyRecord {
        id,
        user_id,
        org_id,
        label,
        credential,
        created_at: from_ms(created_at),
        last_used_at: opt_from_ms(last_used_at),
    }
}

impl Database {
    /// A person's passkeys, oldest first (read at login, before any session: the system's view).
    pub async fn passkeys_of(&self, user_id: i64) -> Result<Vec<PasskeyRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, user_id, org_id, label, credential, created_at, last_used_at \
             FROM person_passkeys WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(&mut *rx)
        .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// Registers a passkey; `Conflict` when its credential id is registered already.
    pub async fn add_passkey(&self, passkey: &PasskeyRecord) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query(
                "INSERT INTO person_passkeys (id, user_id, org_id, label, credential, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&passkey.id)
            .bind(passkey.user_id)
            .bind(passkey.org_id)
            .bind(&passkey.label)
            .bind(&passkey.credential)
            .bind(to_ms(passkey.created_at)),
        )
        .await
        .map_err(|e| {
            crate::error::unique_violation(e, || "this passkey is registered already".into())
        })?;
        Ok(())
    }

    /// Stores a passkey's record after a use (its counter) and when it was used.
    pub async fn passkey_used(
        &self,
        id: &str,
        credential: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query(
                "UPDATE person_passkeys SET credential = $1, last_used_at = $2 WHERE id = $3",
            )
            .bind(credential)
            .bind(to_ms(at))
            .bind(id),
        )
        .await?;
        Ok(())
    }

    /// Removes one of person `user_id`'s passkeys; `NotFound` for another's.
    pub async fn remove_passkey(&self, user_id: i64, id: &str) -> Result<(), StoreError> {
        let done = self
            .execute_write(
                sqlx::query("DELETE FROM person_passkeys WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user_id),
            )
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Removes all of person `user_id`'s passkeys (their second factor is reset); returns how
    /// many.
    pub async fn remove_passkeys_of(&self, user_id: i64) -> Result<u64, StoreError> {
        Ok(self
            .execute_write(
                sqlx::query("DELETE FROM person_passkeys WHERE user_id = $1").bind(user_id),
            )
            .await?
            .rows_affected())
    }
}
