use kenshin_core::{InsurerNumber, OrgCode, OrgKind, RouteMode};
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::db::Scope;
use crate::error::unique_violation;
use crate::timefmt::{from_ms, parse, to_ms};
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

const ORG_SELECT: &str =
    "SELECT id, code, kind, name, created_at, browser_certificate_required FROM orgs";

/// A row of `orgs`, as stored.
#[derive(sqlx::FromRow)]
struct OrgRow {
    id: i64,
    code: String,
    kind: String,
    name: String,
    created_at: i64,
    browser_certificate_required: i64,
}

impl OrgRow {
    fn into_org(self, numbers: Vec<String>) -> Result<Org, StoreError> {
        Ok(Org {
            id: self.id,
            code: parse("orgs", self.code)?,
            kind: parse("orgs", self.kind)?,
            name: self.name,
            created_at: from_ms(self.created_at),
            browser_certificate_required: self.browser_certificate_required != 0,
            insurer_numbers: numbers
                .into_iter()
                .map(|n| parse("insurer_numbers", n))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The 保険者番号 of one organisation, or of all, by organisation, in order — read in the
/// caller's transaction (a second one would need a second connection while the first is held).
async fn insurer_numbers_of(
    rx: &mut sqlx::AnyConnection,
    org: Option<i64>,
) -> Result<std::collections::HashMap<i64, Vec<String>>, StoreError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT org_id, number FROM insurer_numbers WHERE $1 IS NULL OR org_id = $1 \
         ORDER BY org_id, number",
    )
    .bind(org)
    .fetch_all(&mut *rx)
    .await?;
    let mut by_org: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    for (org_id, number) in rows {
        by_org.entry(org_id).or_default().push(number);
    }
    Ok(by_org)
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
        let row = sqlx::query_as::<_, OrgRow>(&format!("{ORG_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *rx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut numbers = insurer_numbers_of(&mut rx, Some(row.id)).await?;
        let own = numbers.remove(&row.id).unwrap_or_default();
        row.into_org(own)
    }

    pub async fn org_by_code(&self, code: &str) -> Result<Org, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let row = sqlx::query_as::<_, OrgRow>(&format!("{ORG_SELECT} WHERE code = $1"))
            .bind(code)
            .fetch_optional(&mut *rx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut numbers = insurer_numbers_of(&mut rx, Some(row.id)).await?;
        let own = numbers.remove(&row.id).unwrap_or_default();
        row.into_org(own)
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

    /// Every organisation with its 保険者番号: two queries, whatever their number.
    pub async fn list_orgs(&self) -> Result<Vec<Org>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows = sqlx::query_as::<_, OrgRow>(&format!("{ORG_SELECT} ORDER BY code"))
            .fetch_all(&mut *rx)
            .await?;
        let mut numbers = insurer_numbers_of(&mut rx, None).await?;
        rows.into_iter()
            .map(|row| {
                let own = numbers.remove(&row.id).unwrap_or_default();
                row.into_org(own)
            })
            .collect()
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

    /// Changes a route's mode (pass-through ↔ convert). `NotFound` when there is no route
    /// between the two.
    pub async fn update_route(
        &self,
        sender: &OrgCode,
        receiver: &OrgCode,
        mode: RouteMode,
    ) -> Result<Route, StoreError> {
        let from = self.org_by_code(sender.as_str()).await?;
        let to = self.org_by_code(receiver.as_str()).await?;
        let changed = self
            .execute_write(
                sqlx::query(
                    "UPDATE routes SET mode = $1 WHERE sender_org_id = $2 AND receiver_org_id = $3",
                )
                .bind(mode.as_str())
                .bind(from.id)
                .bind(to.id),
            )
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.route_between(from.id, receiver.as_str())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Removes a route: the sender can no longer send to the receiver (files already
    /// delivered keep their own lifecycle). `NotFound` when there is none.
    pub async fn delete_route(
        &self,
        sender: &OrgCode,
        receiver: &OrgCode,
    ) -> Result<(), StoreError> {
        let from = self.org_by_code(sender.as_str()).await?;
        let to = self.org_by_code(receiver.as_str()).await?;
        let removed = self
            .execute_write(
                sqlx::query("DELETE FROM routes WHERE sender_org_id = $1 AND receiver_org_id = $2")
                    .bind(from.id)
                    .bind(to.id),
            )
            .await?
            .rows_affected();
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
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

/// A row of `ROUTE_SELECT`, as stored.
#[derive(sqlx::FromRow)]
struct RouteRow {
    id: i64,
    sender: String,
    receiver: String,
    receiver_id: i64,
    mode: String,
    created_at: i64,
}

fn route_from_row(row: sqlx::any::AnyRow) -> Result<Route, StoreError> {
    let row = RouteRow::from_row(&row)?;
    Ok(Route {
        id: row.id,
        sender: parse("routes", row.sender)?,
        receiver: parse("routes", row.receiver)?,
        receiver_id: row.receiver_id,
        mode: parse("routes", row.mode)?,
        created_at: from_ms(row.created_at),
    })
}

/// How organisations stand to each other: 親機関 and 子機関, 保険者 and their 代行機関.
impl Database {
    /// Makes `child` a 子機関 of `parent` (it uses the parent's map when it has none).
    pub async fn set_parent(&self, child: i64, parent: i64) -> Result<(), StoreError> {
        if child == parent {
            return Err(StoreError::Conflict(
                "an organisation cannot be its own parent".into(),
            ));
        }
        self.execute_write(
            sqlx::query("UPDATE orgs SET parent_org_id = $1 WHERE id = $2")
                .bind(parent)
                .bind(child),
        )
        .await?;
        Ok(())
    }

    /// The insurer's records go to the agent (代行機関) instead.
    pub async fn delegate(
        &self,
        insurer: i64,
        agent: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.execute_write(sqlx::query(
            "INSERT INTO delegations (insurer_org_id, agent_org_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (insurer_org_id) DO UPDATE SET agent_org_id = excluded.agent_org_id",
        )
        .bind(insurer)
        .bind(agent)
        .bind(to_ms(now))
        )
        .await?;
        Ok(())
    }
}
