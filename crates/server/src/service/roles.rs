//! Roles in organisations: an organisation's kind as the permission matrix knows it, and the
//! roles a device certificate may carry.

use kenshin_auth::{OrgKindLite, Role};
use kenshin_core::OrgKind;
use kenshin_store::Org;

use super::AccountProblem;

pub fn org_kind(kind: OrgKind) -> OrgKindLite {
    match kind {
        OrgKind::Institution => OrgKindLite::Institution,
        OrgKind::Insurer => OrgKindLite::Insurer,
        OrgKind::Agent => OrgKindLite::Agent,
        OrgKind::Clinic => OrgKindLite::Clinic,
        OrgKind::Operator => OrgKindLite::Operator,
    }
}

/// The roles of a device certificate: `requested` (comma-separated) or, when absent, what an
/// organisation of this kind exchanges. Returns them in their stored form.
pub fn machine_roles(org: &Org, requested: Option<&str>) -> Result<String, AccountProblem> {
    let kind = org_kind(org.kind);
    let roles: Vec<Role> = match requested {
        None => Role::machine_defaults(kind).to_vec(),
        Some(text) => text
            .split(',')
            .map(|name| {
                name.trim()
                    .parse::<Role>()
                    .map_err(|_| AccountProblem::DeviceRoleUnknown(name.trim().to_owned()))
            })
            .collect::<Result<_, _>>()?,
    };
    if roles.is_empty() {
        return Err(AccountProblem::DeviceWithoutRole(org.kind));
    }
    for role in &roles {
        if !role.is_machine_role() {
            return Err(AccountProblem::PersonRoleOnDevice(*role));
        }
        if !role.org_kinds().contains(kind) {
            return Err(AccountProblem::RoleNotInKind {
                role: role.to_string(),
                kind: org.kind,
            });
        }
    }
    let mut names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    Ok(names.join(","))
}

/// The roles stored on a certificate, parsed; unknown names are dropped (default deny).
pub fn stored_roles(text: &str) -> Vec<Role> {
    text.split(',')
        .filter_map(|name| name.trim().parse().ok())
        .collect()
}
