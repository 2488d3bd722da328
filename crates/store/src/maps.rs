//! Map files (変換テーブル): an institution's immutable map versions, at most one active —
//! its own, or its 親機関's.

use sqlx::FromRow;
use time::OffsetDateTime;

use crate::db::Scope;
use crate::error::unique_violation;
use crate::timefmt::{from_ms, opt_from_ms, to_ms};
use crate::{Database, StoreError};

/// One version of an institution's map file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapRecord {
    pub org_id: i64,
    pub org_code: String,
    pub map_id: String,
    pub version: String,
    pub content: Vec<u8>,
    pub sha256: String,
    pub created_at: OffsetDateTime,
    pub activated_at: Option<OffsetDateTime>,
    pub retired_at: Option<OffsetDateTime>,
}

impl MapRecord {
    pub fn is_active(&self) -> bool {
        self.activated_at.is_some() && self.retired_at.is_none()
    }
}

const MAP_SELECT: &str = "SELECT m.org_id, o.code AS org_code, m.map_id, m.version, m.content, \
     m.sha256, m.created_at, m.activated_at, m.retired_at FROM maps m JOIN orgs o ON o.id = m.org_id";

/// A row of `MAP_SELECT`, as stored.
#[derive(sqlx::FromRow)]
struct MapRow {
    org_id: i64,
    org_code: String,
    map_id: String,
    version: String,
    content: Vec<u8>,
    sha256: String,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
}

fn map_from_row(row: sqlx::any::AnyRow) -> Result<MapRecord, StoreError> {
    let row = MapRow::from_row(&row)?;
    Ok(MapRecord {
        org_id: row.org_id,
        org_code: row.org_code,
        map_id: row.map_id,
        version: row.version,
        content: row.content,
        sha256: row.sha256,
        created_at: from_ms(row.created_at),
        activated_at: opt_from_ms(row.activated_at),
        retired_at: opt_from_ms(row.retired_at),
    })
}

impl Database {
    /// Stores a new map version (inactive). Versions are unique per organisation and map id.
    pub async fn insert_map(
        &self,
        org_id: i64,
        map_id: &str,
        version: &str,
        content: &[u8],
        sha256: &str,
        now: OffsetDateTime,
    ) -> Result<MapRecord, StoreError> {
        self.execute_write(sqlx::query(
            "INSERT INTO maps (org_id, map_id, version, content, sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org_id)
        .bind(map_id)
        .bind(version)
        .bind(content)
        .bind(sha256)
        .bind(to_ms(now))
        )
        .await
        .map_err(|e| {
            unique_violation(e, || {
                format!("map {map_id} version {version} already exists; map versions are immutable, give the new one another version")
            })
        })?;
        self.map_version(org_id, map_id, version).await
    }

    pub async fn map_version(
        &self,
        org_id: i64,
        map_id: &str,
        version: &str,
    ) -> Result<MapRecord, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        sqlx::query(&format!(
            "{MAP_SELECT} WHERE m.org_id = $1 AND m.map_id = $2 AND m.version = $3"
        ))
        .bind(org_id)
        .bind(map_id)
        .bind(version)
        .fetch_optional(&mut *rx)
        .await?
        .ok_or(StoreError::NotFound)
        .and_then(map_from_row)
    }

    /// Makes a version the organisation's active map, retiring the previous one.
    pub async fn activate_map(
        &self,
        org_id: i64,
        map_id: &str,
        version: &str,
        now: OffsetDateTime,
    ) -> Result<MapRecord, StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "UPDATE maps SET retired_at = $1 WHERE org_id = $2 AND activated_at IS NOT NULL AND retired_at IS NULL",
        )
        .bind(to_ms(now))
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        let updated = sqlx::query(
            "UPDATE maps SET activated_at = $1, retired_at = NULL WHERE org_id = $2 AND map_id = $3 AND version = $4",
        )
        .bind(to_ms(now))
        .bind(org_id)
        .bind(map_id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        self.map_version(org_id, map_id, version).await
    }

    /// The map that applies to an institution: its own active one, else its parent's.
    pub async fn active_map(&self, org_id: i64) -> Result<Option<MapRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let own = sqlx::query(&format!(
            "{MAP_SELECT} WHERE m.org_id = $1 AND m.activated_at IS NOT NULL AND m.retired_at IS NULL"
        ))
        .bind(org_id)
        .fetch_optional(&mut *rx)
        .await?;
        if let Some(row) = own {
            return map_from_row(row).map(Some);
        }
        let parent = sqlx::query(&format!(
            "{MAP_SELECT} WHERE m.org_id = (SELECT parent_org_id FROM orgs WHERE id = $1) \
             AND m.activated_at IS NOT NULL AND m.retired_at IS NULL"
        ))
        .bind(org_id)
        .fetch_optional(&mut *rx)
        .await?;
        parent.map(map_from_row).transpose()
    }

    pub async fn list_maps(&self, org_id: i64) -> Result<Vec<MapRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::Org(org_id)).await?;
        let rows = sqlx::query(&format!(
            "{MAP_SELECT} WHERE m.org_id = $1 ORDER BY m.created_at"
        ))
        .bind(org_id)
        .fetch_all(&mut *rx)
        .await?;
        rows.into_iter().map(map_from_row).collect()
    }
}
