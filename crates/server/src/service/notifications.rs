//! Who is told what: a person's address, language and chosen topics (their own to set), an
//! organisation's webhook endpoints (its admin's to manage, with a test send), the
//! organisation's recent notifications with every attempt, and the sweeps that find
//! reminders and expiring certificates. Sending itself is the jobs' (`jobs::notify`).

use kenshin_auth::{Action, Resource};
use kenshin_crypto::DataKey;
use kenshin_notify::webhook::Secret;
use kenshin_notify::{Language, Notice, NoticeOrg, Payload, Topic};
use kenshin_store::{
    NotificationAttempt, NotificationRecord, PersonNotifications, WebhookEndpoint,
};
use time::OffsetDateTime;

use super::{Caller, Error, NotificationProblem, Refusal};
use crate::jobs::new_job;
pub use crate::jobs::notify::default_topics;
use crate::jobs::notify::{notification, secret_context, Notify, Target};
use crate::state::AppState;

/// Endpoints an organisation may have.
pub const MAX_ENDPOINTS: usize = 10;
/// A certificate's holders are warned this many days before it expires (once each).
pub const CERTIFICATE_WARNING_DAYS: [u32; 2] = [30, 7];

fn problem(p: NotificationProblem) -> Error {
    Refusal::BadNotification(p).into()
}

/// Topics from names as a form or the API gives them.
pub fn parse_topics(names: &[String]) -> Result<Vec<Topic>, Error> {
    let mut topics = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let topic: Topic = name
            .parse()
            .map_err(|_| problem(NotificationProblem::Topic(name.to_owned())))?;
        if topic == Topic::WebhookTest {
            return Err(problem(NotificationProblem::Topic(name.to_owned())));
        }
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    topics.sort();
    Ok(topics)
}

/// A person's notification settings, as their page and the API show them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MySettings {
    pub email: Option<String>,
    pub language: Language,
    /// The topics that reach them (their choice, or their role's defaults).
    pub topics: Vec<Topic>,
    /// Whether `topics` are the role's defaults (never chosen).
    pub defaults: bool,
    /// Whether the relay sends e-mail at all (`smtp_host` set).
    pub email_enabled: bool,
}

fn person(caller: &Caller) -> Result<&kenshin_store::UserRecord, Error> {
    caller.person().ok_or_else(|| Refusal::PersonOnly.into())
}

/// The caller's own settings.
pub async fn my_settings(state: &AppState, caller: &Caller) -> Result<MySettings, Error> {
    let user = person(caller)?;
    let stored = state.db.person_notifications(user.org_id, user.id).await?;
    Ok(settings_view(state, &user.role, stored))
}

fn settings_view(state: &AppState, role: &str, stored: PersonNotifications) -> MySettings {
    let chosen = stored
        .topics
        .as_deref()
        .and_then(|t| Topic::parse_list(t).ok());
    MySettings {
        email: stored.email,
        language: Language::from_code(&stored.language),
        defaults: chosen.is_none(),
        topics: chosen.unwrap_or_else(|| default_topics(role)),
        email_enabled: state.notifier.mailer.is_some(),
    }
}

/// Checks an e-mail address as typed; empty means none.
pub fn check_email(text: &str) -> Result<Option<String>, Error> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let ok = text.len() <= 254
        && !text.contains(['<', '>', ',', ' ', '"'])
        && kenshin_notify::email::is_address(text);
    if ok {
        Ok(Some(text.to_owned()))
    } else {
        Err(problem(NotificationProblem::Email(
            text.chars().take(80).collect(),
        )))
    }
}

/// Sets the caller's own address, language and topics.
pub async fn set_my_settings(
    state: &AppState,
    caller: &Caller,
    email: &str,
    language: Language,
    topics: &[String],
) -> Result<MySettings, Error> {
    let user = person(caller)?;
    let settings = PersonNotifications {
        email: check_email(email)?,
        language: language.as_str().to_owned(),
        topics: Some(Topic::join(&parse_topics(topics)?)),
    };
    state
        .db
        .set_person_notifications(user.org_id, user.id, &settings, state.now())
        .await?;
    Ok(settings_view(state, &user.role, settings))
}

/// An endpoint as its organisation's admin sees it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub topics: Vec<Topic>,
    pub created_at: OffsetDateTime,
    pub created_by: String,
}

impl From<WebhookEndpoint> for EndpointView {
    fn from(e: WebhookEndpoint) -> EndpointView {
        EndpointView {
            topics: Topic::parse_list(&e.topics).unwrap_or_default(),
            id: e.id,
            url: e.url,
            created_at: e.created_at,
            created_by: e.created_by,
        }
    }
}

/// The caller's organisation's endpoints.
pub async fn endpoints(state: &AppState, caller: &Caller) -> Result<Vec<EndpointView>, Error> {
    caller.require(Resource::Org, Action::Read)?;
    Ok(state
        .db
        .webhook_endpoints(caller.org.id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Adds an endpoint; returns it and its secret, shown this once.
pub async fn add_endpoint(
    state: &AppState,
    caller: &Caller,
    url: &str,
    topics: &[String],
) -> Result<(EndpointView, Secret), Error> {
    caller.require(Resource::Org, Action::Update)?;
    let url = kenshin_notify::webhook::check_url(url)
        .map_err(|e| problem(NotificationProblem::Url(e.to_string())))?;
    let topics = parse_topics(topics)?;
    if topics.is_empty() {
        return Err(problem(NotificationProblem::NoTopic));
    }
    if state.db.webhook_endpoints(caller.org.id).await?.len() >= MAX_ENDPOINTS {
        return Err(problem(NotificationProblem::TooManyEndpoints(
            MAX_ENDPOINTS,
        )));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let key = DataKey::generate().map_err(|_| Error::Internal("webhook secret"))?;
    let secret =
        Secret::from_bytes(key.expose_secret()).map_err(|_| Error::Internal("webhook secret"))?;
    let wrapped = state
        .vault
        .keys()
        .wrap(&key, &secret_context(&id))
        .map_err(|_| Error::Internal("webhook secret"))?;
    let endpoint = WebhookEndpoint {
        id,
        org_id: caller.org.id,
        url: url.to_string(),
        topics: Topic::join(&topics),
        secret: wrapped.into_bytes(),
        created_at: state.now(),
        created_by: caller.actor(),
    };
    state.db.add_webhook_endpoint(&endpoint).await?;
    Ok((endpoint.into(), secret))
}

/// Stops sending to an endpoint of the caller's organisation.
pub async fn remove_endpoint(state: &AppState, caller: &Caller, id: &str) -> Result<(), Error> {
    caller.require(Resource::Org, Action::Update)?;
    state
        .db
        .remove_webhook_endpoint(caller.org.id, id, state.now())
        .await?;
    Ok(())
}

/// Sends a test notice to one of the caller's organisation's endpoints (in the background);
/// returns the notification's id, whose attempts the organisation's page shows.
pub async fn test_endpoint(state: &AppState, caller: &Caller, id: &str) -> Result<String, Error> {
    caller.require(Resource::Org, Action::Update)?;
    let endpoint = state
        .db
        .webhook_endpoints(caller.org.id)
        .await?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or(Error::NotFound)?;
    let payload = Payload {
        topic: Topic::WebhookTest,
        timestamp: state.now(),
        data: Notice {
            organisation: Some(NoticeOrg {
                code: caller.org.code.to_string(),
                name: caller.org.name.clone(),
            }),
            url: state.notifier.link("/organisation"),
            ..Notice::default()
        },
    };
    let payload = serde_json::to_string(&payload).map_err(|_| Error::Internal("payload"))?;
    let row = notification(
        caller.org.id,
        &format!("test:{}", uuid::Uuid::now_v7()),
        Topic::WebhookTest,
        Target::Endpoint(endpoint.id),
        &payload,
    );
    let id = row.id.clone();
    state.db.create_notifications(&[row], state.now()).await?;
    state.jobs.notify_one();
    Ok(id)
}

/// A notification with its attempts, as the organisation's page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationView {
    pub record: NotificationRecord,
    pub attempts: Vec<NotificationAttempt>,
}

/// The caller's organisation's latest notifications (at most `limit`), with their attempts.
pub async fn recent(
    state: &AppState,
    caller: &Caller,
    limit: u32,
) -> Result<Vec<NotificationView>, Error> {
    caller.require(Resource::Org, Action::Read)?;
    let mut views = Vec::new();
    for record in state
        .db
        .notifications_of(caller.org.id, None, limit.min(200))
        .await?
    {
        let attempts = state
            .db
            .notification_attempts(caller.org.id, &record.id)
            .await?;
        views.push(NotificationView { record, attempts });
    }
    Ok(views)
}

/// The reminder (one of `reminder_days`) due for a delivery destroyed at `expires_at`: the
/// smallest number of days that still reaches it, if any is shorter than the retention.
pub fn reminder_due(
    reminder_days: &[u32],
    retention_days: u32,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Option<u32> {
    let left = expires_at - now;
    if left <= time::Duration::ZERO {
        return None;
    }
    reminder_days
        .iter()
        .copied()
        .filter(|&d| d < retention_days && left <= time::Duration::days(i64::from(d)))
        .min()
}

/// Enqueues the reminders due at `now` (each delivery is reminded once per reminder day) and
/// the warnings for certificates expiring within 30 and within 7 days; returns how many were new.
pub async fn remind_due(state: &AppState, now: OffsetDateTime) -> Result<usize, Error> {
    let mut jobs = Vec::new();
    if let Some(&furthest) = state.config.reminder_days.iter().max() {
        let until = now + time::Duration::days(i64::from(furthest));
        for delivery in state.db.deliveries_expiring_by(until).await? {
            if let Some(days) = reminder_due(
                &state.config.reminder_days,
                state.config.retention_days,
                delivery.expires_at,
                now,
            ) {
                let job = Notify::Reminder {
                    delivery: delivery.id,
                    receiver: delivery.receiver_org_id,
                    days,
                };
                jobs.push(new_job(&job, Some(delivery.receiver_org_id)));
            }
        }
    }
    for cert in state.db.list_certs(None).await? {
        if cert.revoked_at.is_some() {
            continue;
        }
        // The validity is never shorter than a warning period here: every one applies.
        if let Some(days) = reminder_due(&CERTIFICATE_WARNING_DAYS, u32::MAX, cert.not_after, now) {
            let job = Notify::CertificateExpiring {
                serial: cert.serial,
                days,
            };
            jobs.push(new_job(&job, Some(cert.org_id)));
        }
    }
    let added = state.db.enqueue_jobs(&jobs, now).await?;
    if added > 0 {
        state.jobs.notify_one();
    }
    Ok(added)
}

/// Tells the person (and their organisation's admins) that their account was locked.
pub async fn account_locked(state: &AppState, user_id: i64, org_id: i64, until: OffsetDateTime) {
    let job = Notify::AccountLocked {
        user_id,
        until_ms: (until.unix_timestamp_nanos() / 1_000_000) as i64,
    };
    if let Err(err) = crate::jobs::enqueue(state, &job, Some(org_id)).await {
        tracing::warn!(error = %err, "could not enqueue the account-locked notice");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_smallest_reminder_that_reaches_the_expiry_is_due() {
        let now = datetime!(2026-12-01 00:00 UTC);
        let days = [7, 1];
        assert_eq!(
            reminder_due(&days, 30, now + time::Duration::days(10), now),
            None
        );
        assert_eq!(
            reminder_due(&days, 30, now + time::Duration::days(7), now),
            Some(7)
        );
        assert_eq!(
            reminder_due(&days, 30, now + time::Duration::days(2), now),
            Some(7)
        );
        assert_eq!(
            reminder_due(&days, 30, now + time::Duration::hours(23), now),
            Some(1)
        );
        assert_eq!(
            reminder_due(&days, 30, now - time::Duration::hours(1), now),
            None
        );
        // A reminder as long as the retention itself would come with the file: none.
        assert_eq!(
            reminder_due(&days, 5, now + time::Duration::days(4), now),
            None
        );
        assert_eq!(
            reminder_due(&[], 30, now + time::Duration::hours(1), now),
            None
        );
    }

    #[test]
    fn topics_parse_and_the_test_is_not_choosable() {
        let names = vec!["delivery.expired".to_owned(), "delivery.arrived".to_owned()];
        assert_eq!(
            parse_topics(&names).unwrap(),
            vec![Topic::DeliveryArrived, Topic::DeliveryExpired]
        );
        assert!(parse_topics(&["webhook.test".to_owned()]).is_err());
        assert!(parse_topics(&["nope".to_owned()]).is_err());
    }

    #[test]
    fn addresses_are_checked() {
        assert_eq!(check_email(" ").unwrap(), None);
        assert_eq!(
            check_email("tanaka@example.jp").unwrap().as_deref(),
            Some("tanaka@example.jp")
        );
        for bad in [
            "tanaka",
            "a b@example.jp",
            "<x@example.jp>",
            "x@example.jp, y@example.jp",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
