//! The access log: append-only rows of who did what, when, from where, with what result.

use sqlx::FromRow;
use time::OffsetDateTime;

use crate::db::Scope;
use crate::timefmt::{from_ms, to_ms};
use crate::{Database, StoreError};

/// One access to record. No field may carry examinee data; paths are stored without query
/// strings, objects are identifiers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessRow {
    /// Assigned by the database (0 before insertion).
    pub seq: i64,
    #[serde(with = "kenshin_core::api::timestamp")]
    pub at: OffsetDateTime,
    pub org: Option<String>,
    /// `user`, `certificate`, `system` or `anonymous`.
    pub actor_kind: String,
    pub actor: String,
    pub device: Option<String>,
    pub session: Option<String>,
    pub source: Option<String>,
    pub action: String,
    pub method: Option<String>,
    pub path: Option<String>,
    /// `kind:id` items.
    pub objects: Vec<String>,
    /// `success`, `denied`, `not_found` or `failed`.
    pub outcome: String,
    pub status: Option<u16>,
    pub bytes: Option<u64>,
    pub detail: Option<String>,
}

impl AccessRow {
    /// The canonical bytes of a row for the ledger digest: the row as a JSON array in a fixed
    /// field order (serde_json writes it deterministically).
    pub fn canonical(&self) -> Vec<u8> {
        serde_json::to_vec(&(
            self.seq,
            kenshin_core::api::timestamp::format(self.at),
            &self.org,
            &self.actor_kind,
            &self.actor,
            &self.device,
            &self.session,
            &self.source,
            &self.action,
            &self.method,
            &self.path,
            &self.objects,
            &self.outcome,
            self.status,
            self.bytes,
            &self.detail,
        ))
        .expect("a row always serialises")
    }
}

/// Search criteria; `org` scopes the search (an organisation only ever sees its own rows).
#[derive(Clone, Debug, Default)]
pub struct AccessFilter {
    pub org: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// An object id that must be among the row's objects.
    pub object: Option<String>,
    pub after_seq: i64,
    pub limit: u32,
}

/// A row of `access_log`, as stored.
#[derive(sqlx::FromRow)]
struct LogRow {
    seq: i64,
    at: i64,
    org: Option<String>,
    actor_kind: String,
    actor: String,
    device: Option<String>,
    session: Option<String>,
    source: Option<String>,
    action: String,
    method: Option<String>,
    path: Option<String>,
    objects: String,
    outcome: String,
    status: Option<i64>,
    bytes: Option<i64>,
    detail: Option<String>,
}

fn row_from(row: sqlx::any::AnyRow) -> Result<AccessRow, StoreError> {
    let row = LogRow::from_row(&row)?;
    Ok(AccessRow {
        seq: row.seq,
        at: from_ms(row.at),
        org: row.org,
        actor_kind: row.actor_kind,
        actor: row.actor,
        device: row.device,
        session: row.session,
        source: row.source,
        action: row.action,
        method: row.method,
        path: row.path,
        objects: row
            .objects
            .split(' ')
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect(),
        outcome: row.outcome,
        status: row.status.map(|s| s as u16),
        bytes: row.bytes.map(|b| b as u64),
        detail: row.detail,
    })
}

impl Database {
    /// Appends a batch of rows in one transaction.
    pub async fn append_access(&self, rows: &[AccessRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_transaction().await?;
        for row in rows {
            sqlx::query(
                "INSERT INTO access_log (at, org, actor_kind, actor, device, session, source, action, \
                 method, path, objects, outcome, status, bytes, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(to_ms(row.at))
            .bind(&row.org)
            .bind(&row.actor_kind)
            .bind(&row.actor)
            .bind(&row.device)
            .bind(&row.session)
            .bind(&row.source)
            .bind(&row.action)
            .bind(&row.method)
            .bind(&row.path)
            .bind(row.objects.join(" "))
            .bind(&row.outcome)
            .bind(row.status.map(i64::from))
            .bind(row.bytes.map(|b| b as i64))
            .bind(&row.detail)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The rows matching `filter`, oldest first, after `filter.after_seq` (for paging).
    pub async fn search_access(&self, filter: &AccessFilter) -> Result<Vec<AccessRow>, StoreError> {
        self.access_query(filter, "ORDER BY seq LIMIT $8").await
    }

    /// The latest rows matching `filter`, newest first (for a person's own activity page).
    pub async fn search_access_latest(
        &self,
        filter: &AccessFilter,
    ) -> Result<Vec<AccessRow>, StoreError> {
        self.access_query(filter, "ORDER BY seq DESC LIMIT $8")
            .await
    }

    async fn access_query(
        &self,
        filter: &AccessFilter,
        order: &str,
    ) -> Result<Vec<AccessRow>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let sql = format!(
            "SELECT * FROM access_log WHERE seq > $1 \
             AND ($2 IS NULL OR org = $2) AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR at < $4) \
             AND ($5 IS NULL OR actor = $5) AND ($6 IS NULL OR action = $6) \
             AND ($7 IS NULL OR (' ' || objects || ' ') LIKE '% ' || '%:' || $7 || ' %' \
                  OR (' ' || objects || ' ') LIKE '% ' || $7 || ' %') {order}"
        );
        let rows = sqlx::query(&sql)
            .bind(filter.after_seq)
            .bind(&filter.org)
            .bind(filter.from.map(to_ms))
            .bind(filter.to.map(to_ms))
            .bind(&filter.actor)
            .bind(&filter.action)
            .bind(&filter.object)
            .bind(i64::from(filter.limit.clamp(1, 100_000)))
            .fetch_all(&mut *rx)
            .await?;
        rows.into_iter().map(row_from).collect()
    }

    /// Counts of the rows since `from` that security alerts watch: failed logins, uses of a
    /// revoked certificate, and not-found answers to authenticated callers. One aggregate
    /// over the time index, whatever the number of rows.
    pub async fn alert_counts(&self, from: OffsetDateTime) -> Result<[u64; 3], StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let (failed_logins, revoked, probes): (i64, i64, i64) = sqlx::query_as(
            "SELECT \
               COALESCE(SUM(CASE WHEN action = 'login_failed' THEN 1 ELSE 0 END), 0) AS failed_logins, \
               COALESCE(SUM(CASE WHEN detail = 'certificate_revoked' THEN 1 ELSE 0 END), 0) AS revoked, \
               COALESCE(SUM(CASE WHEN outcome = 'not_found' AND actor_kind <> 'anonymous' THEN 1 ELSE 0 END), 0) AS probes \
             FROM access_log WHERE at >= $1",
        )
        .bind(to_ms(from))
        .fetch_one(&mut *rx)
        .await?;
        let count = |n: i64| n.max(0) as u64;
        Ok([count(failed_logins), count(revoked), count(probes)])
    }

    /// Rows `[first, last]` in order (for digests).
    pub async fn access_range(&self, first: i64, last: i64) -> Result<Vec<AccessRow>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows = sqlx::query("SELECT * FROM access_log WHERE seq BETWEEN $1 AND $2 ORDER BY seq")
            .bind(first)
            .bind(last)
            .fetch_all(&mut *rx)
            .await?;
        rows.into_iter().map(row_from).collect()
    }

    pub async fn max_access_seq(&self) -> Result<i64, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM access_log")
            .fetch_one(&mut *rx)
            .await?;
        Ok(max.unwrap_or(0))
    }

    /// The digests anchored so far: `(first, last, digest)`, in order.
    pub async fn access_digests(&self) -> Result<Vec<(i64, i64, String)>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        Ok(sqlx::query_as(
            "SELECT digest_first, digest_last, digest FROM events WHERE kind = 'access_log_digest' ORDER BY seq",
        )
        .fetch_all(&mut *rx)
        .await?)
    }

    /// Records a digest of access rows `[first, last]` as an event, which the ledger takes over.
    pub async fn append_access_digest(
        &self,
        first: i64,
        last: i64,
        digest: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query(
                "INSERT INTO events (at, kind, actor, digest_first, digest_last, digest) \
             VALUES ($1, 'access_log_digest', 'system:access-log', $2, $3, $4)",
            )
            .bind(to_ms(now))
            .bind(first)
            .bind(last)
            .bind(digest),
        )
        .await?;
        Ok(())
    }

    /// How far the access log has been expired: rows up to this `seq` may be gone.
    pub async fn access_expired_through(&self) -> Result<i64, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        Ok(
            sqlx::query_scalar("SELECT expired_through FROM access_log_expiry WHERE id = 1")
                .fetch_one(&mut *rx)
                .await?,
        )
    }

    /// What expiry at `cutoff` would remove: the rows after the current mark up to the end of
    /// the last digested batch lying wholly before `cutoff`. Rows not yet digested are never
    /// candidates. `None` when nothing is due.
    pub async fn access_expiry_plan(
        &self,
        cutoff: OffsetDateTime,
    ) -> Result<Option<AccessExpiryPlan>, StoreError> {
        let after = self.access_expired_through().await?;
        let mut rx = self.read_transaction(Scope::System).await?;
        let first_kept: Option<i64> =
            sqlx::query_scalar("SELECT MIN(seq) FROM access_log WHERE at >= $1")
                .bind(to_ms(cutoff))
                .fetch_one(&mut *rx)
                .await?;
        let batch: Option<(i64, String)> = sqlx::query_as(
            "SELECT digest_last, digest FROM events \
             WHERE kind = 'access_log_digest' AND digest_last <= $1 \
             ORDER BY digest_last DESC LIMIT 1",
        )
        .bind(first_kept.map_or(i64::MAX, |seq| seq - 1))
        .fetch_optional(&mut *rx)
        .await?;
        Ok(batch
            .filter(|(through, _)| *through > after)
            .map(|(through, digest)| AccessExpiryPlan {
                after,
                through,
                digest,
            }))
    }

    /// Carries out `plan`: raises the mark, deletes the rows and records an
    /// `access_log_expired` event naming the range and the chained digest at its end, in one
    /// transaction, so rows never leave the log without the ledger saying so.
    pub async fn expire_access_log(
        &self,
        plan: &AccessExpiryPlan,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write_transaction().await?;
        let current: i64 =
            sqlx::query_scalar("SELECT expired_through FROM access_log_expiry WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
        if current != plan.after {
            return Err(StoreError::Conflict(
                "the access log was expired concurrently".into(),
            ));
        }
        sqlx::query("UPDATE access_log_expiry SET expired_through = $1 WHERE id = 1")
            .bind(plan.through)
            .execute(&mut *tx)
            .await?;
        let removed = sqlx::query("DELETE FROM access_log WHERE seq <= $1")
            .bind(plan.through)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "INSERT INTO events (at, kind, actor, reason, size, digest_first, digest_last, digest) \
             VALUES ($1, 'access_log_expired', 'system:retention', 'retention', $2, $3, $4, $5)",
        )
        .bind(to_ms(now))
        .bind(removed as i64)
        .bind(plan.after + 1)
        .bind(plan.through)
        .bind(&plan.digest)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(removed)
    }
}

/// Access-log rows due for removal: `(after, through]`, ending a digested batch whose chained
/// digest is `digest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessExpiryPlan {
    pub after: i64,
    pub through: i64,
    pub digest: String,
}
