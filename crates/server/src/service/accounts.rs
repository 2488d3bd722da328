//! People's accounts: created with a one-time initial password, disabled the day someone
//! leaves, enabled again, their second factor reset when a phone is lost. One implementation
//! for the admin CLI, the API and the web pages.
//!
//! Only a person may manage accounts: a client certificate is a batch interface, and letting
//! it mint logins would turn a stolen machine key into a stolen person. Every operation is
//! confined to the caller's own organisation; another organisation's login is "not found".

use kenshin_auth::{Action, Resource, Role};
use kenshin_store::{Database, NewUser, Org, StoreError, UserRecord};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::roles::org_kind;
use super::{AccountProblem, Caller, Error, Principal, Refusal};
use crate::state::AppState;

/// Creating an account failed: the request, or the store.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Invalid(#[from] AccountProblem),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the password could not be hashed")]
    Hashing,
}

impl From<AccountError> for Error {
    fn from(err: AccountError) -> Error {
        match err {
            AccountError::Invalid(problem) => Error::Account(problem),
            AccountError::Store(store) => Error::Store(store),
            AccountError::Hashing => Error::Internal("password hashing"),
        }
    }
}

/// Whether a login id and a person's name may be used (1–64 of A-Z a-z 0-9 . _ - @; a name of
/// 1–100 characters).
pub fn check_login_and_name(login: &str, name: &str) -> Result<(), AccountProblem> {
    if login.is_empty()
        || login.len() > 64
        || !login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
    {
        return Err(AccountProblem::Login);
    }
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 100 {
        return Err(AccountProblem::Name);
    }
    Ok(())
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
    check_login_and_name(login, name)?;
    let trimmed = name.trim();
    let parsed: Role = role.parse().map_err(|_| AccountProblem::Role)?;
    if !parsed.org_kinds().contains(org_kind(org.kind)) {
        return Err(AccountProblem::RoleNotInKind {
            role: role.to_owned(),
            kind: org.kind,
        }
        .into());
    }
    let (initial, hash) = one_time_password().await?;
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

/// A person's account, as their organisation's administrator sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    pub login: String,
    pub name: String,
    pub role: String,
    pub totp_enrolled: bool,
    pub must_change_password: bool,
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

impl From<&UserRecord> for AccountView {
    fn from(user: &UserRecord) -> Self {
        AccountView {
            login: user.login.clone(),
            name: user.display_name.clone(),
            role: user.role.clone(),
            totp_enrolled: user.totp_secret.is_some(),
            must_change_password: user.must_change_password,
            disabled: user.disabled_at.is_some(),
            valid_until: user.valid_until.and_then(|t| t.format(&Rfc3339).ok()),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub login: String,
    pub name: String,
    pub role: String,
    /// Last day the account may be used (`YYYY-MM-DD`, inclusive), e.g. a contract's end.
    pub valid_until: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedAccount {
    #[serde(flatten)]
    pub account: AccountView,
    /// Shown once; the person must change it at first login.
    pub initial_password: String,
}

/// A change an administrator makes to another person's account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountChange {
    Disable,
    Enable,
    ResetTotp,
}

fn person_only(caller: &Caller) -> Result<&UserRecord, Error> {
    match &caller.principal {
        Principal::Person { user, .. } => Ok(user),
        Principal::Certificate(_) => Err(Refusal::PersonOnly.into()),
    }
}

/// A login of the caller's own organisation; others are indistinguishable from absent ones.
async fn own_account(state: &AppState, caller: &Caller, login: &str) -> Result<UserRecord, Error> {
    match state.db.user_by_login(login).await? {
        Some(user) if user.org_id == caller.org.id => Ok(user),
        _ => Err(Error::NotFound),
    }
}

/// The people of the caller's organisation.
pub async fn accounts_of(state: &AppState, caller: &Caller) -> Result<Vec<AccountView>, Error> {
    person_only(caller)?;
    caller.require(Resource::User, Action::Read)?;
    let users = state.db.list_users(Some(caller.org.id)).await?;
    Ok(users.iter().map(AccountView::from).collect())
}

/// Creates an account in the caller's organisation; the initial password is in the answer
/// only.
pub async fn create_in(
    state: &AppState,
    caller: &Caller,
    new: NewAccount,
) -> Result<CreatedAccount, Error> {
    person_only(caller)?;
    caller.require(Resource::User, Action::Create)?;
    let valid_until = new
        .valid_until
        .as_deref()
        .map(|day| parse_last_day(day).ok_or(Error::Refused(Refusal::LastDay)))
        .transpose()?;
    let (user, initial) = create_account(
        &state.db,
        &caller.org,
        &new.login,
        &new.name,
        &new.role,
        valid_until,
    )
    .await?;
    tracing::info!(org = %caller.org.code, by = %caller.actor(), role = %user.role, "account created");
    Ok(CreatedAccount {
        account: AccountView::from(&user),
        initial_password: initial.to_string(),
    })
}

/// Applies `what` to another person of the caller's organisation. Changing oneself is
/// refused: locking oneself out or voiding one's own factor is never what an administrator
/// meant, and could leave an organisation with no one to undo it.
pub async fn change(
    state: &AppState,
    caller: &Caller,
    login: &str,
    what: AccountChange,
) -> Result<AccountView, Error> {
    let me = person_only(caller)?;
    caller.require(Resource::User, Action::Update)?;
    let user = own_account(state, caller, login).await?;
    if user.id == me.id {
        return Err(Refusal::OwnAccount.into());
    }
    let applied = apply_change(&state.db, &state.data, user.id, what, state.now()).await?;
    if let Err(err) = applied.crl {
        // The database refuses the certificates from now on; only the handshake lags.
        tracing::error!(error = %err, "revoked a disabled person's certificates but could not publish the CRL");
    }
    Ok(AccountView::from(&state.db.user_by_id(user.id).await?))
}

/// An administrator resets another person's password: a new one-time password, shown to
/// the administrator once, which the person must change at their next login (their second
/// factor stays); every session of the person ends at once.
pub async fn reset_password(
    state: &AppState,
    caller: &Caller,
    login: &str,
) -> Result<CreatedAccount, Error> {
    let me = person_only(caller)?;
    caller.require(Resource::User, Action::Update)?;
    let user = own_account(state, caller, login).await?;
    if user.id == me.id {
        return Err(Refusal::OwnAccount.into());
    }
    let (initial, ended) = reset_password_of(&state.db, user.id, state.now()).await?;
    tracing::info!(login = %user.login, by = %me.login, sessions_ended = ended, "password reset by an administrator");
    Ok(CreatedAccount {
        account: AccountView::from(&state.db.user_by_id(user.id).await?),
        initial_password: initial,
    })
}

/// A random one-time password and its hash (argon2id, on a blocking thread).
async fn one_time_password() -> Result<(zeroize::Zeroizing<String>, String), AccountError> {
    let initial = kenshin_pki::generate_password();
    let password = initial.clone();
    let hash = tokio::task::spawn_blocking(move || kenshin_auth::hash_password(&password))
        .await
        .map_err(|_| AccountError::Hashing)?
        .map_err(|_| AccountError::Hashing)?;
    Ok((initial, hash))
}

/// The reset itself, whoever asked (an administrator's use case after its checks, or the
/// operator's command line): a new one-time password, to be changed at next login, and every
/// session of the person ended. Answers the password and how many sessions ended.
pub async fn reset_password_of(
    db: &Database,
    user_id: i64,
    now: OffsetDateTime,
) -> Result<(String, u64), Error> {
    let (initial, hash) = one_time_password().await?;
    db.set_password(user_id, &hash, true).await?;
    let ended = db.end_sessions(user_id, now).await?;
    Ok((initial.to_string(), ended))
}

/// What changing an account did.
pub struct Applied {
    /// Serials of the person's certificates revoked (disabling).
    pub revoked: Vec<String>,
    /// Whether the new CRL was published, when certificates were revoked.
    pub crl: anyhow::Result<()>,
}

/// Applies `what` to account `user_id`, whoever asked: an administrator's use case
/// ([`change`]) after its checks, or the operator's command line. Disabling ends the person's
/// sessions and revokes their certificates at once (the database is consulted on every
/// request), then publishes the new CRL so that their handshakes fail too.
pub async fn apply_change(
    db: &Database,
    data: &crate::config::DataDir,
    user_id: i64,
    what: AccountChange,
    now: OffsetDateTime,
) -> Result<Applied, Error> {
    let mut applied = Applied {
        revoked: Vec::new(),
        crl: Ok(()),
    };
    match what {
        AccountChange::Disable => {
            applied.revoked = db.set_user_disabled(user_id, true, now).await?;
            if !applied.revoked.is_empty() {
                applied.crl = super::certificates::publish_crl(db, data).await;
            }
        }
        AccountChange::Enable => db.set_user_disabled(user_id, false, now).await.map(drop)?,
        // The second factor is reset as a whole: a lost phone may hold a passkey too.
        AccountChange::ResetTotp => {
            db.set_totp(user_id, None, None).await?;
            db.remove_passkeys_of(user_id).await?;
        }
    }
    Ok(applied)
}
