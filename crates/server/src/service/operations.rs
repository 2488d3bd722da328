//! What the operator's staff see and the organisations see of themselves: metadata only,
//! never content — usage by month, organisations, routes, the map versions in use, health,
//! the queue and the ledger's size; an organisation's own details and routes.

use kenshin_auth::{Action, Resource};
use kenshin_core::api::Health;
use kenshin_core::OrgKind;
use kenshin_store::{MapRecord, Org, Route, UsageRow};

use super::{Caller, Error, Refusal};
use crate::state::AppState;

/// The operator console's figures.
pub struct Console {
    pub usage: Vec<UsageRow>,
    pub orgs: Vec<Org>,
    pub routes: Vec<Route>,
    /// Every sending institution's map versions (publication state and digest only).
    pub maps: Vec<(Org, MapRecord)>,
    pub health: Health,
    /// Conversions and releases waiting or running.
    pub queue_depth: u64,
    /// Notifications waiting to be prepared or sent.
    pub notice_queue_depth: u64,
    pub ledger_size: u64,
}

/// The operator console: the operator's own staff with the right to read usage.
pub async fn console(state: &AppState, caller: &Caller) -> Result<Console, Error> {
    let refused = Error::NotPermitted {
        resource: Resource::Usage,
        action: Action::Read,
    };
    if caller.org.kind != OrgKind::Operator {
        return Err(refused);
    }
    caller.require(Resource::Usage, Action::Read)?;
    let orgs = state.db.list_orgs().await?;
    let mut maps = Vec::new();
    for org in orgs.iter().filter(|o| o.kind.may_send()) {
        for map in state.db.list_maps(org.id).await? {
            maps.push((org.clone(), map));
        }
    }
    Ok(Console {
        usage: state.db.usage(None).await?,
        routes: state.db.list_routes().await?,
        maps,
        orgs,
        health: super::health::report(state).await,
        queue_depth: state.db.queue_depth(crate::jobs::FILE_KINDS).await?,
        notice_queue_depth: state.db.queue_depth(crate::jobs::NOTICE_KINDS).await?,
        ledger_size: state.db.ledger_size().await?,
    })
}

/// The caller's organisation as it is now, with the routes it sends or receives on, each with
/// the other party's name.
pub struct OwnOrganisation {
    pub org: Org,
    /// A route, the sender's name and the receiver's name.
    pub routes: Vec<(Route, String, String)>,
    /// Whether its people must present their own client certificate.
    pub certificate_required: bool,
}

pub async fn own_organisation(state: &AppState, caller: &Caller) -> Result<OwnOrganisation, Error> {
    caller.require(Resource::Org, Action::Read)?;
    let org = state.db.org_by_id(caller.org.id).await?;
    let orgs = state.db.list_orgs().await?;
    let name_of = |code: &str| {
        orgs.iter()
            .find(|o| o.code.as_str() == code)
            .map(|o| o.name.clone())
            .unwrap_or_default()
    };
    let routes = state
        .db
        .list_routes()
        .await?
        .into_iter()
        .filter(|r| r.sender == org.code || r.receiver == org.code)
        .map(|r| {
            let (from, to) = (name_of(r.sender.as_str()), name_of(r.receiver.as_str()));
            (r, from, to)
        })
        .collect();
    let certificate_required = super::sessions::person_certificate_required(state, &org);
    Ok(OwnOrganisation {
        org,
        routes,
        certificate_required,
    })
}

/// Requires (or stops requiring) the caller's organisation's people to present their own
/// client certificate. Turning it on is refused ([`Refusal::PersonCertificateRequired`])
/// unless the caller presents theirs right now (`certificate`: the TLS peer's), so nobody
/// locks their own organisation out by mistake.
pub async fn set_certificate_policy(
    state: &AppState,
    caller: &Caller,
    require: bool,
    certificate: Option<&[u8]>,
) -> Result<(), Error> {
    caller.require(Resource::Org, Action::Update)?;
    if require {
        let Some(user) = caller.person() else {
            return Err(Refusal::PersonOnly.into());
        };
        let mut strict = caller.org.clone();
        strict.browser_certificate_required = true;
        super::sessions::check_person_certificate(state, certificate, user, &strict).await?;
    }
    state
        .db
        .set_browser_certificate_required(caller.org.id, require)
        .await?;
    Ok(())
}
