//! The operator's directory, metadata only: organisations (with their first admin, whose
//! one-time password is shown once), routes (create, change pass-through ↔ convert, delete)
//! and insurers' delegation to agents. One set of rules for the operator console and the
//! admin CLI (the `_in` functions take the database; the others check the caller first). A
//! change that may give held records their receiver releases them at once.

use kenshin_auth::{Action, Resource};
use kenshin_core::{InsurerNumber, OrgCode, OrgKind, RouteMode};
use kenshin_store::{Database, NewOrg, Org, Route, StoreError, UserRecord};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{Caller, DirectoryProblem, Error, Refusal};
use crate::state::AppState;

fn problem(p: DirectoryProblem) -> Error {
    Refusal::Directory(p).into()
}

/// Only the operator's staff with the right manage the directory.
fn operator(caller: &Caller, resource: Resource, action: Action) -> Result<(), Error> {
    if caller.org.kind != OrgKind::Operator {
        return Err(Error::NotPermitted { resource, action });
    }
    caller.require(resource, action)
}

/// A new organisation as a form or the CLI gives it.
#[derive(Clone, Debug, Default)]
pub struct OrgForm {
    pub code: String,
    pub kind: String,
    pub name: String,
    /// 保険者番号 (insurers only), separated by commas, spaces or new lines.
    pub insurer_numbers: String,
}

/// Checks a new organisation.
pub fn parse_org(form: &OrgForm) -> Result<NewOrg, Error> {
    let code: OrgCode = form
        .code
        .trim()
        .parse()
        .map_err(|_| problem(DirectoryProblem::Code(form.code.trim().to_owned())))?;
    let kind: OrgKind = form
        .kind
        .trim()
        .parse()
        .map_err(|_| problem(DirectoryProblem::Kind(form.kind.trim().to_owned())))?;
    if kind == OrgKind::Operator {
        return Err(problem(DirectoryProblem::Kind(form.kind.trim().to_owned())));
    }
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(problem(DirectoryProblem::Name));
    }
    let mut insurer_numbers: Vec<InsurerNumber> = Vec::new();
    for text in form
        .insurer_numbers
        .split(|c: char| c == ',' || c == '、' || c.is_whitespace())
        .filter(|t| !t.is_empty())
    {
        let number: InsurerNumber = text
            .parse()
            .map_err(|_| problem(DirectoryProblem::InsurerNumber(text.to_owned())))?;
        if !insurer_numbers.contains(&number) {
            insurer_numbers.push(number);
        }
    }
    if !insurer_numbers.is_empty() && kind != OrgKind::Insurer {
        return Err(problem(DirectoryProblem::NumbersOnlyForInsurers));
    }
    Ok(NewOrg {
        code,
        kind,
        name: name.to_owned(),
        insurer_numbers,
    })
}

/// Creates an organisation (codes are unique).
pub async fn create_org_in(db: &Database, new: &NewOrg, now: OffsetDateTime) -> Result<Org, Error> {
    if db.org_by_code(new.code.as_str()).await.is_ok() {
        return Err(problem(DirectoryProblem::Exists(new.code.to_string())));
    }
    Ok(db.create_org(new, now).await?)
}

/// A new organisation and its first admin (`None` when none was asked for) with the admin's
/// one-time password.
pub struct CreatedOrg {
    pub org: Org,
    pub admin: Option<(UserRecord, Zeroizing<String>)>,
}

/// Creates an organisation and, when `admin` (login, name) is given, its first admin.
pub async fn create_org(
    state: &AppState,
    caller: &Caller,
    form: &OrgForm,
    admin: Option<(&str, &str)>,
) -> Result<CreatedOrg, Error> {
    operator(caller, Resource::Org, Action::Create)?;
    let new = parse_org(form)?;
    // Everything about the admin is checked before the organisation exists, so a refusal
    // leaves nothing half made.
    if let Some((login, name)) = admin {
        operator(caller, Resource::User, Action::Create)?;
        super::accounts::check_login_and_name(login, name)?;
        if state.db.user_by_login(login).await?.is_some() {
            return Err(problem(DirectoryProblem::LoginTaken(login.to_owned())));
        }
    }
    let org = create_org_in(&state.db, &new, state.now()).await?;
    let admin = match admin {
        Some((login, name)) => Some(
            super::accounts::create_account(&state.db, &org, login, name, "admin", None).await?,
        ),
        None => None,
    };
    release(state).await;
    Ok(CreatedOrg { org, admin })
}

async fn org(db: &Database, code: &str) -> Result<Org, Error> {
    db.org_by_code(code.trim()).await.map_err(|e| match e {
        StoreError::NotFound => problem(DirectoryProblem::NoSuchOrg(code.trim().to_owned())),
        other => other.into(),
    })
}

/// Creates a route; sender and receiver must be organisations that send and receive.
pub async fn create_route_in(
    db: &Database,
    from: &str,
    to: &str,
    mode: RouteMode,
    now: OffsetDateTime,
) -> Result<Route, Error> {
    let (sender, receiver) = (org(db, from).await?, org(db, to).await?);
    if !sender.kind.may_send() {
        return Err(problem(DirectoryProblem::NotASender(
            sender.code.to_string(),
        )));
    }
    if !receiver.kind.may_receive() {
        return Err(problem(DirectoryProblem::NotAReceiver(
            receiver.code.to_string(),
        )));
    }
    if sender.id == receiver.id {
        return Err(problem(DirectoryProblem::SameOrg));
    }
    if db
        .route_between(sender.id, receiver.code.as_str())
        .await?
        .is_some()
    {
        return Err(problem(DirectoryProblem::RouteExists {
            from: sender.code.to_string(),
            to: receiver.code.to_string(),
        }));
    }
    Ok(db
        .create_route(&sender.code, &receiver.code, mode, now)
        .await?)
}

fn no_route<'a>(from: &'a str, to: &'a str) -> impl FnOnce(StoreError) -> Error + 'a {
    move |e| match e {
        StoreError::NotFound => problem(DirectoryProblem::NoRoute {
            from: from.trim().to_owned(),
            to: to.trim().to_owned(),
        }),
        other => other.into(),
    }
}

/// Changes a route's mode.
pub async fn update_route_in(
    db: &Database,
    from: &str,
    to: &str,
    mode: RouteMode,
) -> Result<Route, Error> {
    let (sender, receiver) = (org(db, from).await?, org(db, to).await?);
    db.update_route(&sender.code, &receiver.code, mode)
        .await
        .map_err(no_route(from, to))
}

/// Deletes a route (files already delivered keep their own lifecycle).
pub async fn delete_route_in(db: &Database, from: &str, to: &str) -> Result<(), Error> {
    let (sender, receiver) = (org(db, from).await?, org(db, to).await?);
    db.delete_route(&sender.code, &receiver.code)
        .await
        .map_err(no_route(from, to))
}

/// Lets agent `agent` receive for insurer `insurer`.
pub async fn delegate_in(
    db: &Database,
    insurer: &str,
    agent: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let (insurer, agent) = (org(db, insurer).await?, org(db, agent).await?);
    if insurer.kind != OrgKind::Insurer || agent.kind != OrgKind::Agent {
        return Err(problem(DirectoryProblem::Delegation));
    }
    Ok(db.delegate(insurer.id, agent.id, now).await?)
}

pub async fn create_route(
    state: &AppState,
    caller: &Caller,
    from: &str,
    to: &str,
    mode: RouteMode,
) -> Result<Route, Error> {
    operator(caller, Resource::Route, Action::Create)?;
    let route = create_route_in(&state.db, from, to, mode, state.now()).await?;
    release(state).await;
    Ok(route)
}

pub async fn update_route(
    state: &AppState,
    caller: &Caller,
    from: &str,
    to: &str,
    mode: RouteMode,
) -> Result<Route, Error> {
    operator(caller, Resource::Route, Action::Update)?;
    let route = update_route_in(&state.db, from, to, mode).await?;
    release(state).await;
    Ok(route)
}

pub async fn delete_route(
    state: &AppState,
    caller: &Caller,
    from: &str,
    to: &str,
) -> Result<(), Error> {
    operator(caller, Resource::Route, Action::Delete)?;
    delete_route_in(&state.db, from, to).await
}

pub async fn delegate(
    state: &AppState,
    caller: &Caller,
    insurer: &str,
    agent: &str,
) -> Result<(), Error> {
    operator(caller, Resource::Org, Action::Update)?;
    delegate_in(&state.db, insurer, agent, state.now()).await?;
    release(state).await;
    Ok(())
}

/// Held records a new organisation, route or delegation now takes are released at once (the
/// retention sweep would otherwise do it at its next run).
async fn release(state: &AppState) {
    if let Err(err) = super::relay::release_held(state, state.now()).await {
        tracing::warn!(error = %err, "held records not released now; the retention sweep will");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(code: &str, kind: &str, name: &str, numbers: &str) -> OrgForm {
        OrgForm {
            code: code.into(),
            kind: kind.into(),
            name: name.into(),
            insurer_numbers: numbers.into(),
        }
    }

    #[test]
    fn new_organisations_are_checked_with_the_value_in_the_refusal() {
        let ok = parse_org(&form(
            " ins-0002 ",
            "insurer",
            "あおば健保",
            "06999903、06999904 06999903",
        ))
        .unwrap();
        assert_eq!(ok.code.as_str(), "ins-0002");
        assert_eq!(ok.insurer_numbers.len(), 2);
        for (bad, shown) in [
            (form("コード", "insurer", "x", ""), "コード"),
            (form("ins-x", "bank", "x", ""), "bank"),
            (form("ins-x", "operator", "x", ""), "operator"),
            (form("ins-x", "insurer", "x", "1234"), "1234"),
        ] {
            let err = parse_org(&bad).unwrap_err();
            assert!(err.to_string().contains(shown), "{err}");
        }
        assert!(parse_org(&form("ins-x", "insurer", "  ", "")).is_err());
        assert!(parse_org(&form("inst-x", "institution", "x", "06999903")).is_err());
    }
}
