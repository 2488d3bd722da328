//! Usage for billing: converted records per receiving organisation per month, counted in the
//! transaction that delivers them.

use crate::db::Scope;
use crate::{Database, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRow {
    pub org_code: String,
    pub org_name: String,
    pub month: String,
    pub records: u64,
}

/// Converted records counted for billing: per receiver per month.
pub(crate) async fn count_usage(
    conn: &mut sqlx::AnyConnection,
    receiver_org_id: i64,
    month: &str,
    records: u64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO usage (receiver_org_id, month, records) VALUES ($1, $2, $3) \
         ON CONFLICT (receiver_org_id, month) DO UPDATE SET records = usage.records + excluded.records",
    )
    .bind(receiver_org_id)
    .bind(month)
    .bind(records as i64)
    .execute(conn)
    .await?;
    Ok(())
}

impl Database {
    /// Converted records per receiver per month (for billing), optionally one month.
    pub async fn usage(&self, month: Option<&str>) -> Result<Vec<UsageRow>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT o.code, o.name, u.month, u.records FROM usage u JOIN orgs o ON o.id = u.receiver_org_id \
             WHERE $1 IS NULL OR u.month = $1 ORDER BY u.month, o.code",
        )
        .bind(month)
        .fetch_all(&mut *rx)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(org_code, org_name, month, records)| UsageRow {
                org_code,
                org_name,
                month,
                records: records.max(0) as u64,
            })
            .collect())
    }
}
