//! Notifications: what reaches each person, an organisation's webhook endpoints, and each
//! notification with every attempt to send it.
//!
//! A notification is one notice to one target (`user:<id>` by e-mail, `endpoint:<id>` by
//! webhook), unique per notice key, channel and target, so a notice reaches each target once
//! however often it is enqueued. It is created together with the job that sends it. The
//! payload is the notice as JSON: identifiers, organisation names, counts, states and times,
//! never an examinee's data or anything of a file.

use sqlx::FromRow;
use time::OffsetDateTime;

use crate::db::Scope;
use crate::jobs::{enqueue_in_tx, NewJob};
use crate::timefmt::{from_ms, opt_from_ms, to_ms};
use crate::{Database, StoreError};

/// The job kind the store enqueues for each event people may be told about (see
/// [`notifiable`]); its payload is `{"event": <seq>}` and its subject `event:<seq>`.
pub const NOTICE_JOB_KIND: &str = "notify";

/// Events that may concern someone beyond the actor: arrivals, conversions, held and
/// rejected records, downloads, receipts and expiries.
pub(crate) fn notifiable(kind: kenshin_core::EventKind) -> bool {
    use kenshin_core::EventKind::*;
    matches!(
        kind,
        Delivered | Released | Converted | Rejected | Held | Downloaded | Confirmed | Expired
    )
}

/// The notice job for event `seq`.
pub(crate) fn event_notice_job(seq: i64) -> NewJob {
    NewJob {
        kind: NOTICE_JOB_KIND.to_owned(),
        subject: Some(format!("event:{seq}")),
        org_id: None,
        payload: format!("{{\"event\":{seq}}}"),
        max_attempts: 5,
    }
}

/// What reaches one person.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonNotifications {
    pub email: Option<String>,
    /// `ja` or `en`.
    pub language: String,
    /// Comma list of topics; `None`: the defaults of the person's role.
    pub topics: Option<String>,
}

/// A person who can be told by e-mail: active, with an address.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct MailRecipient {
    pub user_id: i64,
    pub org_id: i64,
    pub role: String,
    pub email: String,
    pub language: String,
    pub topics: Option<String>,
}

/// An organisation's webhook endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: String,
    pub org_id: i64,
    pub url: String,
    /// Comma list of topics.
    pub topics: String,
    /// The signing secret, wrapped by the KEK (bound to the endpoint's id).
    pub secret: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub created_by: String,
}

#[derive(FromRow)]
struct EndpointRow {
    id: String,
    org_id: i64,
    url: String,
    topics: String,
    secret: Vec<u8>,
    created_at: i64,
    created_by: String,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(row: EndpointRow) -> WebhookEndpoint {
        WebhookEndpoint {
            id: row.id,
            org_id: row.org_id,
            url: row.url,
            topics: row.topics,
            secret: row.secret,
            created_at: from_ms(row.created_at),
            created_by: row.created_by,
        }
    }
}

/// A notification to create, with the job that sends it.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub id: String,
    pub org_id: Option<i64>,
    pub notice_key: String,
    pub topic: String,
    /// `email` or `webhook`.
    pub channel: &'static str,
    /// `user:<id>` or `endpoint:<id>`.
    pub target: String,
    pub payload: String,
    pub job: NewJob,
}

/// A notification and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: String,
    pub org_id: Option<i64>,
    pub notice_key: String,
    pub topic: String,
    pub channel: String,
    pub target: String,
    pub payload: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub sent_at: Option<OffsetDateTime>,
}

#[derive(FromRow)]
struct NotificationRow {
    id: String,
    org_id: Option<i64>,
    notice_key: String,
    topic: String,
    channel: String,
    target: String,
    payload: String,
    state: String,
    attempts: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

impl From<NotificationRow> for NotificationRecord {
    fn from(row: NotificationRow) -> NotificationRecord {
        NotificationRecord {
            id: row.id,
            org_id: row.org_id,
            notice_key: row.notice_key,
            topic: row.topic,
            channel: row.channel,
            target: row.target,
            payload: row.payload,
            state: row.state,
            attempts: row.attempts.max(0) as u32,
            last_error: row.last_error,
            created_at: from_ms(row.created_at),
            sent_at: opt_from_ms(row.sent_at),
        }
    }
}

/// One attempt to send a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationAttempt {
    pub attempt: u32,
    pub at: OffsetDateTime,
    /// `sent` or `failed`.
    pub outcome: String,
    pub detail: String,
}

/// An unconfirmed delivery and when it is destroyed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiringDelivery {
    pub id: String,
    pub receiver_org_id: i64,
    pub expires_at: OffsetDateTime,
}

const NOTIFICATION_SELECT: &str = "SELECT id, org_id, notice_key, topic, channel, target, \
     payload, state, attempts, last_error, created_at, sent_at FROM notifications";

impl Database {
    /// What reaches person `user_id` (defaults when never set).
    pub async fn person_notifications(
        &self,
        org_id: i64,
        user_id: i64,
    ) -> Result<PersonNotifications, StoreError> {
        let mut rx = self.read_transaction(Scope::Org(org_id)).await?;
        let row: Option<(Option<String>, String, Option<String>)> = sqlx::query_as(
            "SELECT email, language, topics FROM person_notifications WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&mut *rx)
        .await?;
        Ok(match row {
            Some((email, language, topics)) => PersonNotifications {
                email,
                language,
                topics,
            },
            None => PersonNotifications {
                language: "ja".into(),
                ..PersonNotifications::default()
            },
        })
    }

    /// Sets what reaches person `user_id` of organisation `org_id`.
    pub async fn set_person_notifications(
        &self,
        org_id: i64,
        user_id: i64,
        settings: &PersonNotifications,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query(
                "INSERT INTO person_notifications (user_id, org_id, email, language, topics, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, \
                 language = excluded.language, topics = excluded.topics, \
                 updated_at = excluded.updated_at",
            )
            .bind(user_id)
            .bind(org_id)
            .bind(settings.email.as_deref())
            .bind(&settings.language)
            .bind(settings.topics.as_deref())
            .bind(to_ms(now)),
        )
        .await?;
        Ok(())
    }

    /// The people of organisation `org_id` who can be told by e-mail (active, with an address),
    /// and person `user_id` wherever they are (for notices about them).
    pub async fn mail_recipients(
        &self,
        org_id: i64,
        now: OffsetDateTime,
    ) -> Result<Vec<MailRecipient>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows = sqlx::query_as::<_, MailRecipient>(
            "SELECT u.id AS user_id, u.org_id, u.role, p.email, p.language, p.topics \
             FROM users u JOIN person_notifications p ON p.user_id = u.id \
             WHERE u.org_id = $1 AND p.email IS NOT NULL AND u.disabled_at IS NULL \
               AND (u.valid_until IS NULL OR u.valid_until > $2) ORDER BY u.id",
        )
        .bind(org_id)
        .bind(to_ms(now))
        .fetch_all(&mut *rx)
        .await?;
        Ok(rows)
    }

    /// Registers a webhook endpoint (its secret already wrapped).
    pub async fn add_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query(
                "INSERT INTO webhook_endpoints (id, org_id, url, topics, secret, created_at, \
                 created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&endpoint.id)
            .bind(endpoint.org_id)
            .bind(&endpoint.url)
            .bind(&endpoint.topics)
            .bind(&endpoint.secret)
            .bind(to_ms(endpoint.created_at))
            .bind(&endpoint.created_by),
        )
        .await?;
        Ok(())
    }

    /// An organisation's endpoints in use, oldest first.
    pub async fn webhook_endpoints(&self, org_id: i64) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let mut rx = self.read_transaction(Scope::Org(org_id)).await?;
        let rows = sqlx::query_as::<_, EndpointRow>(
            "SELECT id, org_id, url, topics, secret, created_at, created_by \
             FROM webhook_endpoints WHERE org_id = $1 AND removed_at IS NULL \
             ORDER BY created_at, id",
        )
        .bind(org_id)
        .fetch_all(&mut *rx)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// One endpoint in use, for the sender (`NotFound` once removed).
    pub async fn webhook_endpoint(&self, id: &str) -> Result<WebhookEndpoint, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        sqlx::query_as::<_, EndpointRow>(
            "SELECT id, org_id, url, topics, secret, created_at, created_by \
             FROM webhook_endpoints WHERE id = $1 AND removed_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *rx)
        .await?
        .map(Into::into)
        .ok_or(StoreError::NotFound)
    }

    /// Stops using an endpoint of organisation `org_id`; `NotFound` for another's or a removed one.
    pub async fn remove_webhook_endpoint(
        &self,
        org_id: i64,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let done = self
            .execute_write(
                sqlx::query(
                    "UPDATE webhook_endpoints SET removed_at = $1 \
                     WHERE id = $2 AND org_id = $3 AND removed_at IS NULL",
                )
                .bind(to_ms(now))
                .bind(id)
                .bind(org_id),
            )
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Creates the notifications not made before (same notice key, channel and target) and
    /// enqueues each new one's job, in one transaction. Returns how many were new.
    pub async fn create_notifications(
        &self,
        notifications: &[NewNotification],
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        if notifications.is_empty() {
            return Ok(0);
        }
        let mut tx = self.write_transaction().await?;
        let mut created = 0;
        for n in notifications {
            let done = sqlx::query(
                "INSERT INTO notifications (id, org_id, notice_key, topic, channel, target, \
                 payload, state, attempts, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8) \
                 ON CONFLICT (notice_key, channel, target) DO NOTHING",
            )
            .bind(&n.id)
            .bind(n.org_id)
            .bind(&n.notice_key)
            .bind(&n.topic)
            .bind(n.channel)
            .bind(&n.target)
            .bind(&n.payload)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                enqueue_in_tx(&mut tx, &n.job, now).await?;
                created += 1;
            }
        }
        tx.commit().await?;
        Ok(created)
    }

    /// One notification, for its sender.
    pub async fn notification(&self, id: &str) -> Result<NotificationRecord, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        sqlx::query_as::<_, NotificationRow>(&format!("{NOTIFICATION_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *rx)
            .await?
            .map(Into::into)
            .ok_or(StoreError::NotFound)
    }

    /// Records attempt `attempt` of a notification and where it now stands (`sent`, `failed`
    /// for good, or still `pending` for another attempt).
    pub async fn record_notification_attempt(
        &self,
        id: &str,
        attempt: u32,
        outcome: &str,
        detail: &str,
        state: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO notification_attempts (notification_id, org_id, attempt, at, outcome, \
             detail) SELECT id, org_id, CAST($2 AS BIGINT), CAST($3 AS BIGINT), CAST($4 AS TEXT), \
             CAST($5 AS TEXT) FROM notifications WHERE id = $1 \
             ON CONFLICT (notification_id, attempt) DO UPDATE SET at = excluded.at, \
             outcome = excluded.outcome, detail = excluded.detail",
        )
        .bind(id)
        .bind(i64::from(attempt))
        .bind(to_ms(now))
        .bind(outcome)
        .bind(detail)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE notifications SET state = $1, attempts = $2, updated_at = $3, \
             last_error = CASE WHEN $4 = 'failed' THEN $5 ELSE last_error END, \
             sent_at = CASE WHEN $4 = 'sent' THEN $3 ELSE sent_at END WHERE id = $6",
        )
        .bind(state)
        .bind(i64::from(attempt))
        .bind(to_ms(now))
        .bind(outcome)
        .bind(detail)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// An organisation's latest notifications, newest first (`target` narrows to one
    /// endpoint or person).
    pub async fn notifications_of(
        &self,
        org_id: i64,
        target: Option<&str>,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::Org(org_id)).await?;
        let rows = sqlx::query_as::<_, NotificationRow>(&format!(
            "{NOTIFICATION_SELECT} WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR target = $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ))
        .bind(org_id)
        .bind(target)
        .bind(i64::from(limit))
        .fetch_all(&mut *rx)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The attempts of one of organisation `org_id`'s notifications, in order.
    pub async fn notification_attempts(
        &self,
        org_id: i64,
        id: &str,
    ) -> Result<Vec<NotificationAttempt>, StoreError> {
        let mut rx = self.read_transaction(Scope::Org(org_id)).await?;
        let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT attempt, at, outcome, detail FROM notification_attempts \
             WHERE notification_id = $1 AND org_id = $2 ORDER BY attempt",
        )
        .bind(id)
        .bind(org_id)
        .fetch_all(&mut *rx)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(attempt, at, outcome, detail)| NotificationAttempt {
                attempt: attempt.max(0) as u32,
                at: from_ms(at),
                outcome,
                detail,
            })
            .collect())
    }

    /// Deliveries not yet confirmed that are destroyed at or before `until`.
    pub async fn deliveries_expiring_by(
        &self,
        until: OffsetDateTime,
    ) -> Result<Vec<ExpiringDelivery>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT id, receiver_org_id, expires_at FROM deliveries \
             WHERE state IN ('ready', 'downloaded') AND expires_at <= $1 ORDER BY expires_at",
        )
        .bind(to_ms(until))
        .fetch_all(&mut *rx)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, receiver_org_id, expires_at)| ExpiringDelivery {
                id,
                receiver_org_id,
                expires_at: from_ms(expires_at),
            })
            .collect())
    }

    /// Enqueues `jobs` (those whose subject is new) in one transaction; returns how many.
    pub async fn enqueue_jobs(
        &self,
        jobs: &[NewJob],
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        let mut tx = self.write_transaction().await?;
        let mut added = 0;
        for job in jobs {
            if enqueue_in_tx(&mut tx, job, now).await? {
                added += 1;
            }
        }
        tx.commit().await?;
        Ok(added)
    }

    /// The event with sequence number `seq`.
    pub async fn event(&self, seq: i64) -> Result<crate::EventRecord, StoreError> {
        self.list_events(seq - 1, 1)
            .await?
            .into_iter()
            .find(|e| e.seq == seq)
            .ok_or(StoreError::NotFound)
    }

    /// Removes notifications made before `before` that are settled (sent or failed), with
    /// their attempts; returns how many.
    pub async fn expire_notifications(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "DELETE FROM notification_attempts WHERE notification_id IN \
             (SELECT id FROM notifications WHERE created_at < $1 AND state <> 'pending')",
        )
        .bind(to_ms(before))
        .execute(&mut *tx)
        .await?;
        let removed =
            sqlx::query("DELETE FROM notifications WHERE created_at < $1 AND state <> 'pending'")
                .bind(to_ms(before))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(removed)
    }
}
