use kenshin_core::{InsurerNumber, OrgCode, OrgKind, RouteMode};
use sqlx::Row;
use time::OffsetDateTime;

use crate::db::Scope;
use crate::error::unique_violation;
use crate::timefmt::{from_ms, to_ms};
use crate::{Database, StoreError};

#[derive(Clone, Debug)]
pub struct NewOrg {
    pub code: OrgCode,
    pub kind: OrgKind,
    pub name: String,
    pub insurer_numbers: Vec<InsurerNumber>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Org {
    pub id: i64,
    pub code: OrgCode,
    pub kind: OrgKind,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub insurer_numbers: Vec<InsurerNumber>,
    /// Its people must present their own client certificate, in the browser too.
    pub browser_certificate_required: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub id: i64,
    pub sender: OrgCode,
    pub receiver: OrgCode,
    pub receiver_id: i64,
    pub mode: RouteMode,
    pub created_at: OffsetDateTime,
}

impl Database {
    pub async fn create_org(&self, new: &NewOrg, now: OffsetDateTime) -> Result<Org, StoreError> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(StoreError::Conflict(
                "organisation name must be 1 to 200 characters".into(),
            ));
        }
        if !new.insurer_numbers.is_empty() && new.kind != OrgKind::Insurer {
            return Err(StoreError::Conflict(format!(
                "only insurer organisations hold 保険者番号, not {}",
                new.kind
            )));
        }
        let mut tx = self.write_transaction().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO orgs (code, kind, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(new.code.as_str())
        .bind(new.kind.as_str())
        .bind(name)
        .bind(to_ms(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            unique_violation(e, || {
                format!("an organisation with code {} already exists", new.code)
            })
        })?;
        for number in &new.insurer_numbers {
            sqlx::query("INSERT INTO insurer_numbers (number, org_id) VALUES ($1, $2)")
                .bind(number.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    unique_violation(e, || {
                        format!("保険者番号 {number} already belongs to an organisation")
                    })
                })?;
        }
        tx.commit().await?;
        self.org_by_id(id).await
    }

    pub async fn org_by_id(&self, id: i64) -> Result<Org, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let row = sqlx::query("SELECT id, code, kind, name, created_at, browser_certificate_required FROM orgs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *rx)
            .await?
            .ok_or(StoreError::NotFound)?;
        Self::org_from_row(&mut rx, row).await
    }

    pub async fn org_by_code(&self, code: &str) -> Result<Org, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let row = sqlx::query("SELECT id, code, kind, name, created_at, browser_certificate_required FROM orgs WHERE code = $1")
            .bind(code)
            .fetch_optional(&mut *rx)
            .await?
            .ok_or(StoreError::NotFound)?;
        Self::org_from_row(&mut rx, row).await
    }

    /// Sets whether the organisation's people must present their own client certificate.
    pub async fn set_browser_certificate_required(
        &self,
        org_id: i64,
        required: bool,
    ) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query("UPDATE orgs SET browser_certificate_required = $1 WHERE id = $2")
                .bind(i64::from(required))
                .bind(org_id),
        )
        .await?;
        Ok(())
    }

    pub async fn list_orgs(&self) -> Result<Vec<Org>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows = sqlx::query("SELECT id, code, kind, name, created_at, browser_certificate_required FROM orgs ORDER BY code")
            .fetch_all(&mut *rx)
            .await?;
        let mut orgs = Vec::with_capacity(rows.len());
        for row in rows {
            orgs.push(Self::org_from_row(&mut rx, row).await?);
        }
        Ok(orgs)
    }

    /// An organisation from its row and its 保険者番号, read in the caller's transaction (a
    /// second one would need a second connection while the first is held).
    async fn org_from_row(
        rx: &mut sqlx::AnyConnection,
        row: sqlx::any::AnyRow,
    ) -> Result<Org, StoreError> {
        let id: i64 = row.get("id");
        let code: String = row.get("code");
        let kind: String = row.get("kind");
        let numbers: Vec<String> = sqlx::query_scalar(
            "SELECT number FROM insurer_numbers WHERE org_id = $1 ORDER BY number",
        )
        .bind(id)
        .fetch_all(&mut *rx)
        .await?;
        Ok(Org {
            id,
            code: code.parse().map_err(|e| StoreError::corrupt("orgs", e))?,
            kind: kind.parse().map_err(|e| StoreError::corrupt("orgs", e))?,
            name: row.get("name"),
            created_at: from_ms(row.get("created_at")),
            browser_certificate_required: row.get::<i64, _>("browser_certificate_required") != 0,
            insurer_numbers: numbers
                .into_iter()
                .map(|n| {
                    n.parse()
                        .map_err(|e| StoreError::corrupt("insurer_numbers", e))
                })
                .collect::<Result<_, _>>()?,
        })
    }

    /// Creates a route. Senders must be kinds that send and receivers kinds that receive.
    pub async fn create_route(
        &self,
        sender: &OrgCode,
        receiver: &OrgCode,
        mode: RouteMode,
        now: OffsetDateTime,
    ) -> Result<Route, StoreError> {
        let from = self
            .org_by_code(sender.as_str())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => StoreError::Conflict(format!("no organisation {sender}")),
                other => other,
            })?;
        let to = self
            .org_by_code(receiver.as_str())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => StoreError::Conflict(format!("no organisation {receiver}")),
                other => other,
            })?;
        if !from.kind.may_send() {
            return Err(StoreError::Conflict(format!(
                "{} is an organisation of kind {}, which does not send files",
                from.code, from.kind
            )));
        }
        if !to.kind.may_receive() {
            return Err(StoreError::Conflict(format!(
                "{} is an organisation of kind {}, which does not receive files",
                to.code, to.kind
            )));
        }
        if from.id == to.id {
            return Err(StoreError::Conflict(
                "a route needs two different organisations".into(),
            ));
        }
        self.execute_write(sqlx::query(
            "INSERT INTO routes (sender_org_id, receiver_org_id, mode, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(from.id)
        .bind(to.id)
        .bind(mode.as_str())
        .bind(to_ms(now))
        )
        .await
        .map_err(|e| {
            unique_violation(e, || format!("a route from {sender} to {receiver} already exists"))
        })?;
        self.route_between(from.id, receiver.as_str())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The route from the sending organisation to the organisation with code `receiver`, if any.
    pub async fn route_between(
        &self,
        sender_org_id: i64,
        receiver: &str,
    ) -> Result<Option<Route>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let row = sqlx::query(ROUTE_SELECT_WHERE_SENDER_AND_RECEIVER)
            .bind(sender_org_id)
            .bind(receiver)
            .fetch_optional(&mut *rx)
            .await?;
        row.map(route_from_row).transpose()
    }

    pub async fn list_routes(&self) -> Result<Vec<Route>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows = sqlx::query(&format!("{ROUTE_SELECT} ORDER BY s.code, r.code"))
            .fetch_all(&mut *rx)
            .await?;
        rows.into_iter().map(route_from_row).collect()
    }
}

const ROUTE_SELECT: &str = "SELECT routes.id, s.code AS sender, r.code AS receiver, r.id AS receiver_id, \
     routes.mode, routes.created_at \
     FROM routes JOIN orgs s ON s.id = routes.sender_org_id JOIN orgs r ON r.id = routes.receiver_org_id";
const ROUTE_SELECT_WHERE_SENDER_AND_RECEIVER: &str = "SELECT routes.id, s.code AS sender, r.code AS receiver, r.id AS receiver_id, \
     routes.mode, routes.created_at \
     FROM routes JOIN orgs s ON s.id = routes.sender_org_id JOIN orgs r ON r.id = routes.receiver_org_id \
     WHERE routes.sender_org_id = $1 AND r.code = $2";

fn route_from_row(row: sqlx::any::AnyRow) -> Result<Route, StoreError> {
    let sender: String = row.get("sender");
    let receiver: String = row.get("receiver");
    let mode: String = row.get("mode");
    Ok(Route {
        id: row.get("id"),
        sender: sender
            .parse()
            .map_err(|e| StoreError::corrupt("routes", e))?,
        receiver: receiver
            .parse()
            .map_err(|e| StoreError::corrupt("routes", e))?,
        receiver_id: row.get("receiver_id"),
        mode: mode.parse().map_err(|e| StoreError::corrupt("routes", e))?,
        created_at: from_ms(row.get("created_at")),
    })
}
