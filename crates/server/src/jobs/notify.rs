//! Notifications as jobs: [`Notify`] turns one matter (a ledger event, a reminder, an expiring
//! certificate, a locked account) into one notification per person and endpoint that chose
//! its topic, each with a [`SendNotification`] job of its own; that job sends it once, retried
//! with the queue's backoff, every attempt recorded (`notification_attempts`).
//!
//! The store enqueues [`Notify::Event`] in the transaction of every event that may concern
//! someone (`kenshin_store::NOTICE_JOB_KIND`); the retention sweep enqueues reminders and
//! certificate warnings, the login enqueues account locks. A notice carries identifiers,
//! organisation names, counts, states, times and a link, never personal data or anything of a
//! file (`kenshin_notify::Notice` has no field for it).

use kenshin_core::{DeliveryState, EventKind};
use kenshin_crypto::WrappedKey;
use kenshin_notify::webhook::Secret;
use kenshin_notify::{Counts, Language, Notice, NoticeOrg, Payload, SendError, Topic};
use kenshin_store::{ClaimedJob, NewNotification, NotificationRecord, StoreError, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{new_job, BackgroundJob, JobError};
use crate::state::AppState;

/// One matter to tell people about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    /// A ledger event (its sequence number): arrivals, conversions, held and rejected
    /// records, downloads, receipts, expiries. The store enqueues these.
    Event(i64),
    /// An unconfirmed delivery to organisation `receiver` is destroyed within `days` days.
    Reminder {
        delivery: String,
        receiver: i64,
        days: u32,
    },
    /// A certificate expires within `days` days (30, then 7).
    CertificateExpiring { serial: String, days: u32 },
    /// A person's account was locked until `until` (Unix milliseconds).
    AccountLocked { user_id: i64, until_ms: i64 },
}

impl BackgroundJob for Notify {
    const KIND: &'static str = kenshin_store::NOTICE_JOB_KIND;

    fn subject(&self) -> Option<String> {
        Some(match self {
            Notify::Event(seq) => format!("event:{seq}"),
            Notify::Reminder { delivery, days, .. } => format!("reminder:{delivery}:{days}"),
            Notify::CertificateExpiring { serial, days } => format!("certificate:{serial}:{days}"),
            Notify::AccountLocked { user_id, until_ms } => format!("locked:{user_id}:{until_ms}"),
        })
    }

    async fn run(self, state: &AppState, _job: &ClaimedJob) -> Result<(), JobError> {
        let key = self.subject().unwrap_or_default();
        let notices = match self.notices(state).await {
            Ok(notices) => notices,
            // What it was about is gone (a destroyed delivery's row stays, so this is rare):
            // nobody is left to tell.
            Err(StoreError::NotFound) => return Ok(()),
            Err(err) => return Err(err.into()),
        };
        let now = state.now();
        let mut rows = Vec::new();
        for told in notices {
            let payload = Payload {
                topic: told.topic,
                timestamp: now,
                data: told.notice,
            };
            let payload = serde_json::to_string(&payload)?;
            let notice_key = format!("{key}:{}", told.org_id);
            for target in people_to_tell(state, told.org_id, told.topic, told.person).await? {
                rows.push(notification(
                    told.org_id,
                    &notice_key,
                    told.topic,
                    target,
                    &payload,
                ));
            }
        }
        let created = state.db.create_notifications(&rows, now).await?;
        if created > 0 {
            state.jobs.notify_one();
        }
        Ok(())
    }
}

/// Where one notification goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A person, by e-mail.
    Person(i64),
    /// A webhook endpoint.
    Endpoint(String),
}

/// The notification row for `target` and its send job.
pub fn notification(
    org_id: i64,
    notice_key: &str,
    topic: Topic,
    target: Target,
    payload: &str,
) -> NewNotification {
    let id = uuid::Uuid::now_v7().to_string();
    let (channel, target) = match target {
        Target::Person(user) => ("email", format!("user:{user}")),
        Target::Endpoint(endpoint) => ("webhook", format!("endpoint:{endpoint}")),
    };
    let job = new_job(&SendNotification { id: id.clone() }, Some(org_id));
    NewNotification {
        id,
        org_id: Some(org_id),
        notice_key: notice_key.to_owned(),
        topic: topic.as_str().to_owned(),
        channel,
        target,
        payload: payload.to_owned(),
        job,
    }
}

/// Whole days left until `at` (at least one: a reminder is never about "0 days").
fn days_until(at: OffsetDateTime, now: OffsetDateTime) -> u32 {
    ((at - now).whole_hours().max(0) as u32).div_ceil(24).max(1)
}

/// One organisation told one thing (and, for a locked account, the person it is about).
struct Told {
    org_id: i64,
    topic: Topic,
    notice: Notice,
    person: Option<i64>,
}

async fn org_ref(state: &AppState, code: &str) -> Result<(i64, NoticeOrg), StoreError> {
    let org = state.db.org_by_code(code).await?;
    Ok((
        org.id,
        NoticeOrg {
            code: org.code.to_string(),
            name: org.name,
        },
    ))
}

impl Notify {
    async fn notices(&self, state: &AppState) -> Result<Vec<Told>, StoreError> {
        let link = |path: String| state.notifier.link(&path);
        match self {
            Notify::Event(seq) => {
                let event = state.db.event(*seq).await?;
                let sender = match &event.sender_org {
                    Some(code) => Some(org_ref(state, code).await?),
                    None => None,
                };
                let receiver = match &event.receiver_org {
                    Some(code) => Some(org_ref(state, code).await?),
                    None => None,
                };
                let mut base = Notice {
                    event_seq: Some(event.seq),
                    submission_id: event.submission_id.clone(),
                    delivery_id: event.delivery_id.clone(),
                    sender: sender.as_ref().map(|(_, o)| o.clone()),
                    receiver: receiver.as_ref().map(|(_, o)| o.clone()),
                    counts: event.counts.map(|c| Counts {
                        records_in: c.records_in,
                        records_out: c.records_out,
                        records_rejected: c.records_rejected,
                        records_unrouted: c.records_unrouted,
                    }),
                    reason: event.reason.clone(),
                    ..Notice::default()
                };
                if let (Some((receiver_id, _)), Some(delivery)) = (&receiver, &event.delivery_id) {
                    if let Ok(id) = delivery.parse() {
                        let d = state.db.delivery(*receiver_id, id).await?;
                        base.format = d.format.clone();
                        base.insurer_number = d.insurer_number.clone();
                        base.size = Some(d.sealed_content.map_or(d.size, |c| c.size));
                        base.expires_at = Some(d.expires_at);
                    }
                }
                let to_receiver = |topic: Topic, notice: &Notice| {
                    receiver.as_ref().map(|(id, org)| Told {
                        org_id: *id,
                        topic,
                        notice: Notice {
                            organisation: Some(org.clone()),
                            url: link(format!(
                                "/deliveries/{}",
                                notice.delivery_id.clone().unwrap_or_default()
                            )),
                            ..notice.clone()
                        },
                        person: None,
                    })
                };
                let to_sender = |topic: Topic, notice: &Notice| {
                    sender.as_ref().map(|(id, org)| Told {
                        org_id: *id,
                        topic,
                        notice: Notice {
                            organisation: Some(org.clone()),
                            url: link(match &notice.submission_id {
                                Some(id) => format!("/submissions/{id}"),
                                None => "/submissions".into(),
                            }),
                            ..notice.clone()
                        },
                        person: None,
                    })
                };
                let told = match event.kind {
                    EventKind::Delivered | EventKind::Released => {
                        vec![to_receiver(Topic::DeliveryArrived, &base)]
                    }
                    EventKind::Converted => vec![to_sender(Topic::ConversionFinished, &base)],
                    EventKind::Rejected => vec![to_sender(Topic::ConversionFailed, &base)],
                    EventKind::Held => vec![to_sender(Topic::RecordsHeld, &base)],
                    EventKind::Downloaded => vec![to_sender(Topic::DeliveryDownloaded, &base)],
                    EventKind::Confirmed => vec![to_sender(Topic::DeliveryConfirmed, &base)],
                    EventKind::Expired if base.delivery_id.is_some() => vec![
                        to_receiver(Topic::DeliveryExpired, &base),
                        to_sender(Topic::DeliveryExpired, &base),
                    ],
                    _ => Vec::new(),
                };
                Ok(told.into_iter().flatten().collect())
            }
            Notify::Reminder {
                delivery, receiver, ..
            } => {
                let id = delivery.parse().map_err(|_| StoreError::NotFound)?;
                let d = state.db.delivery(*receiver, id).await?;
                if !matches!(d.state, DeliveryState::Ready | DeliveryState::Downloaded) {
                    // Confirmed (or destroyed) meanwhile: no reminder is due.
                    return Ok(Vec::new());
                }
                Ok(vec![Told {
                    org_id: d.receiver_org_id,
                    topic: Topic::DeliveryExpiring,
                    notice: Notice {
                        organisation: Some(NoticeOrg {
                            code: d.receiver_code.clone(),
                            name: d.receiver_name.clone(),
                        }),
                        submission_id: Some(d.submission_id.to_string()),
                        delivery_id: Some(d.id.to_string()),
                        sender: Some(NoticeOrg {
                            code: d.sender_code.clone(),
                            name: d.sender_name.clone(),
                        }),
                        format: d.format.clone(),
                        insurer_number: d.insurer_number.clone(),
                        size: Some(d.sealed_content.map_or(d.size, |c| c.size)),
                        expires_at: Some(d.expires_at),
                        days_left: Some(days_until(d.expires_at, state.now())),
                        url: link(format!("/deliveries/{}", d.id)),
                        ..Notice::default()
                    },
                    person: None,
                }])
            }
            Notify::CertificateExpiring { serial, .. } => {
                let cert = state.db.cert_by_serial(serial).await?;
                if cert.revoked_at.is_some() {
                    return Ok(Vec::new());
                }
                let org = state.db.org_by_id(cert.org_id).await?;
                Ok(vec![Told {
                    org_id: org.id,
                    topic: Topic::CertificateExpiring,
                    notice: Notice {
                        organisation: Some(NoticeOrg {
                            code: org.code.to_string(),
                            name: org.name,
                        }),
                        certificate_serial: Some(cert.serial),
                        person_id: cert.user_id,
                        days_left: Some(days_until(cert.not_after, state.now())),
                        expires_at: Some(cert.not_after),
                        url: link("/certificates".into()),
                        ..Notice::default()
                    },
                    person: cert.user_id,
                }])
            }
            Notify::AccountLocked { user_id, until_ms } => {
                let user = state.db.user_by_id(*user_id).await?;
                let org = state.db.org_by_id(user.org_id).await?;
                let until =
                    OffsetDateTime::from_unix_timestamp_nanos(i128::from(*until_ms) * 1_000_000)
                        .map_err(|_| StoreError::NotFound)?;
                Ok(vec![Told {
                    org_id: org.id,
                    topic: Topic::AccountLocked,
                    notice: Notice {
                        organisation: Some(NoticeOrg {
                            code: org.code.to_string(),
                            name: org.name,
                        }),
                        person_id: Some(user.id),
                        locked_until: Some(until),
                        url: link("/people".into()),
                        ..Notice::default()
                    },
                    person: Some(user.id),
                }])
            }
        }
    }
}

/// Sends one notification; the queue retries it after a refused or failed attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendNotification {
    pub id: String,
}

impl BackgroundJob for SendNotification {
    const KIND: &'static str = "notification_send";
    /// 10 s doubling to 15 min between attempts: about an hour and a half in all.
    const MAX_ATTEMPTS: u32 = 10;

    fn subject(&self) -> Option<String> {
        Some(self.id.clone())
    }

    async fn run(self, state: &AppState, job: &ClaimedJob) -> Result<(), JobError> {
        let record = state.db.notification(&self.id).await?;
        if record.state != "pending" {
            return Ok(());
        }
        let outcome = send(state, &record).await;
        let now = state.now();
        let (outcome_text, detail, next_state) = match &outcome {
            Ok(detail) => ("sent", detail.clone(), "sent"),
            Err(err) if err.is_transient() && job.attempt < job.max_attempts => {
                ("failed", err.to_string(), "pending")
            }
            Err(err) => ("failed", err.to_string(), "failed"),
        };
        state
            .db
            .record_notification_attempt(
                &record.id,
                job.attempt,
                outcome_text,
                &detail,
                next_state,
                now,
            )
            .await?;
        state
            .access
            .system(
                "system:notify",
                "notification_send",
                vec![format!("notification:{}", record.id)],
                if outcome.is_ok() { "success" } else { "failed" },
            )
            .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(err) if err.is_transient() => Err(JobError::Retry(anyhow::anyhow!("{err}"))),
            Err(err) => Err(JobError::Fatal(err.to_string())),
        }
    }

    async fn give_up(self, state: &AppState, reason: &str) {
        // A worker that died on every attempt never recorded the end: do it here.
        if let Ok(record) = state.db.notification(&self.id).await {
            if record.state == "pending" {
                let _ = state
                    .db
                    .record_notification_attempt(
                        &record.id,
                        record.attempts + 1,
                        "failed",
                        reason,
                        "failed",
                        state.now(),
                    )
                    .await;
            }
        }
    }
}

/// One attempt; `Ok` carries what the other side answered.
async fn send(state: &AppState, record: &NotificationRecord) -> Result<String, SendError> {
    let payload: Payload = serde_json::from_str(&record.payload)
        .map_err(|e| SendError::Setting(format!("the stored notice is not readable: {e}")))?;
    let org_id = record
        .org_id
        .ok_or_else(|| SendError::Setting("the notification has no organisation".into()))?;
    if let Some(user) = record.target.strip_prefix("user:") {
        let user: i64 = user
            .parse()
            .map_err(|_| SendError::Setting("a malformed target".into()))?;
        let mailer =
            state.notifier.mailer.clone().ok_or_else(|| {
                SendError::Setting("no mail server is configured (smtp_host)".into())
            })?;
        let settings = state
            .db
            .person_notifications(org_id, user)
            .await
            .map_err(|e| SendError::Unreachable(format!("database: {e}")))?;
        let address = settings.email.ok_or_else(|| {
            SendError::NotAllowed("the person has no e-mail address any more".into())
        })?;
        let email = kenshin_notify::email::compose(
            payload.topic,
            &payload.data,
            Language::from_code(&settings.language),
            &state.notifier.link("/account"),
        );
        mailer.send(&address, &email, &record.id).await?;
        Ok("accepted by the mail server".into())
    } else if let Some(endpoint) = record.target.strip_prefix("endpoint:") {
        let endpoint = match state.db.webhook_endpoint(endpoint).await {
            Ok(endpoint) => endpoint,
            Err(StoreError::NotFound) => {
                return Err(SendError::NotAllowed("the endpoint was removed".into()))
            }
            Err(e) => return Err(SendError::Unreachable(format!("database: {e}"))),
        };
        let secret = unwrap_secret(state, &endpoint)
            .map_err(|e| SendError::Setting(format!("the endpoint's secret: {e}")))?;
        let status = state
            .notifier
            .webhooks
            .send(
                &endpoint.url,
                &secret,
                &record.id,
                // The signature's timestamp guards against replays: the wall clock, not the
                // business clock rules about retention read.
                time::OffsetDateTime::now_utc(),
                record.payload.as_bytes(),
            )
            .await?;
        Ok(format!("HTTP {status}"))
    } else {
        Err(SendError::Setting("a malformed target".into()))
    }
}

/// The topics a role is told about until the person chooses.
pub fn default_topics(role: &str) -> Vec<Topic> {
    use Topic::*;
    match role {
        "admin" => Topic::CHOOSABLE.to_vec(),
        "sender" => vec![
            ConversionFinished,
            ConversionFailed,
            DeliveryConfirmed,
            DeliveryExpired,
        ],
        "receiver" => vec![DeliveryArrived, DeliveryExpiring, DeliveryExpired],
        "ops_admin" => vec![CertificateExpiring, AccountLocked],
        _ => Vec::new(),
    }
}

/// Where a notice of `topic` for organisation `org_id` goes: its people who chose it (or
/// whose role has it by default) and have an address, its endpoints that chose it, and
/// `person` (the one it is about, for a locked account) whatever they chose.
pub async fn people_to_tell(
    state: &AppState,
    org_id: i64,
    topic: Topic,
    person: Option<i64>,
) -> Result<Vec<Target>, StoreError> {
    let mut targets = Vec::new();
    if state.notifier.mailer.is_some() {
        for recipient in state.db.mail_recipients(org_id, state.now()).await? {
            let topics = recipient
                .topics
                .as_deref()
                .and_then(|t| Topic::parse_list(t).ok())
                .unwrap_or_else(|| default_topics(&recipient.role));
            let about_them = person == Some(recipient.user_id) && topic == Topic::AccountLocked;
            if topics.contains(&topic) || about_them {
                targets.push(Target::Person(recipient.user_id));
            }
        }
    }
    for endpoint in state.db.webhook_endpoints(org_id).await? {
        if Topic::parse_list(&endpoint.topics).is_ok_and(|t| t.contains(&topic)) {
            targets.push(Target::Endpoint(endpoint.id));
        }
    }
    Ok(targets)
}

/// What an endpoint's wrapped secret is bound to.
pub fn secret_context(id: &str) -> Vec<u8> {
    format!("webhook:{id}").into_bytes()
}

/// The signing secret of a stored endpoint.
pub fn unwrap_secret(state: &AppState, endpoint: &WebhookEndpoint) -> Result<Secret, String> {
    let key = state
        .vault
        .keys()
        .unwrap(
            &WrappedKey::from_bytes(endpoint.secret.clone()),
            &secret_context(&endpoint.id),
        )
        .map_err(|e| e.to_string())?;
    Secret::from_bytes(key.expose_secret()).map_err(|e| e.to_string())
}
