//! Creating and changing people's accounts: one implementation for the admin CLI and the API.

use kenshin_auth::{OrgKindLite, Role};
use kenshin_core::OrgKind;
use kenshin_store::{Database, NewUser, Org, StoreError, UserRecord};
use time::OffsetDateTime;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) fn org_kind(kind: OrgKind) -> OrgKindLite {
    match kind {
        OrgKind::Institution => OrgKindLite::Institution,
        OrgKind::Insurer => OrgKindLite::Insurer,
        OrgKind::Agent => OrgKindLite::Agent,
        OrgKind::Clinic => OrgKindLite::Clinic,
        OrgKind::Operator => OrgKindLite::Operator,
    }
}

/// Creates an account with a random initial password, which must be changed at first login
/// (where the person also enrols TOTP). Returns the account and the initial password, which
/// is shown once and stored only as its argon2id hash.
pub async fn create_account(
    db: &Database,
    org: &Org,
    login: &str,
    name: &str,
    role: &str,
    valid_until: Option<OffsetDateTime>,
) -> Result<(UserRecord, Zeroizing<String>), AccountError> {
    let invalid = |m: &str| AccountError::Invalid(m.to_owned());
    if login.is_empty()
        || login.len() > 64
        || !login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
    {
        return Err(invalid(
            "a login id is 1 to 64 characters of A-Z a-z 0-9 . _ - @",
        ));
    }
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 100 {
        return Err(invalid("a name is 1 to 100 characters"));
    }
    let parsed: Role = role
        .parse()
        .map_err(|_| invalid("role: admin, sender, receiver, viewer, ops_admin or auditor"))?;
    if !parsed.org_kinds().contains(org_kind(org.kind)) {
        return Err(AccountError::Invalid(format!(
            "the role {role} does not exist in organisations of kind {}",
            org.kind
        )));
    }
    let initial = kenshin_pki::generate_password();
    let password = initial.clone();
    let hash = tokio::task::spawn_blocking(move || kenshin_auth::hash_password(&password))
        .await
        .map_err(|e| AccountError::Invalid(e.to_string()))?
        .map_err(|e| AccountError::Invalid(e.to_string()))?;
    let user = db
        .create_user(
            &NewUser {
                org_id: org.id,
                login: login.to_owned(),
                display_name: trimmed.to_owned(),
                role: role.to_owned(),
                password_hash: hash,
                valid_until,
            },
            OffsetDateTime::now_utc(),
        )
        .await?;
    Ok((user, initial))
}

/// A last day of validity, `YYYY-MM-DD` and inclusive: the account ends at the following
/// midnight UTC.
pub fn parse_last_day(day: &str) -> Option<OffsetDateTime> {
    time::Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
    .map(|d| d.next_day().unwrap_or(d).midnight().assume_utc())
}

/// The roles of a device certificate: `requested` (comma-separated) or, when absent, what an
/// organisation of this kind exchanges. Returns them in their stored form.
pub fn machine_roles(org: &Org, requested: Option<&str>) -> Result<String, AccountError> {
    let kind = org_kind(org.kind);
    let roles: Vec<Role> = match requested {
        None => Role::machine_defaults(kind).to_vec(),
        Some(text) => text
            .split(',')
            .map(|name| {
                name.trim().parse::<Role>().map_err(|_| {
                    AccountError::Invalid(format!(
                        "role {:?}: a device certificate may be sender, receiver or viewer",
                        name.trim()
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    if roles.is_empty() {
        return Err(AccountError::Invalid(format!(
            "a device certificate of a {} organisation needs at least one role",
            org.kind
        )));
    }
    for role in &roles {
        if !role.is_machine_role() {
            return Err(AccountError::Invalid(format!(
                "role {role}: a device certificate may be sender, receiver or viewer; \
                 managing people and certificates is for named persons"
            )));
        }
        if !role.org_kinds().contains(kind) {
            return Err(AccountError::Invalid(format!(
                "the role {role} does not exist in organisations of kind {}",
                org.kind
            )));
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
