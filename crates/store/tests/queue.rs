//! The background-job queue: enqueued with the business transaction, leases, retries after a
//! delay, dead letters, hand-back, a restarted worker's own jobs; and the conversion's start.

use kenshin_core::{ObjectId, OrgKind, SubmissionId, SubmissionState};
use kenshin_store::{Database, NewJob, NewObject, NewOrg, NewSubmission};
use time::{Duration, OffsetDateTime};

const CONVERT: &[&str] = &["convert"];

fn conversion_of(id: SubmissionId, org_id: i64) -> NewJob {
    NewJob {
        kind: "convert".into(),
        subject: Some(id.to_string()),
        org_id: Some(org_id),
        payload: format!(r#"{{"submission_id":"{id}"}}"#),
        max_attempts: 3,
    }
}

async fn queued_submission(db: &Database) -> SubmissionId {
    let now = OffsetDateTime::now_utc();
    let org = db
        .create_org(
            &NewOrg {
                code: "inst".parse().unwrap(),
                kind: OrgKind::Institution,
                name: "テスト健診センター".into(),
                insurer_numbers: vec![],
            },
            now,
        )
        .await
        .unwrap();
    queued_submission_of(db, org.id).await
}

async fn open(dir: &tempfile::TempDir) -> Database {
    Database::open(&dir.path().join("q.db")).await.unwrap()
}

#[tokio::test]
async fn the_conversion_is_enqueued_with_the_submission_once_and_claimed_by_its_kind_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    let id = queued_submission(&db).await;
    assert_eq!(db.queue_depth(CONVERT).await.unwrap(), 1);
    let now = OffsetDateTime::now_utc();
    let org = db.org_by_code("inst").await.unwrap();
    // At most one job of a kind per subject.
    assert!(!db
        .enqueue_job(&conversion_of(id, org.id), now)
        .await
        .unwrap());
    assert_eq!(db.queue_depth(CONVERT).await.unwrap(), 1);
    // A worker that runs other kinds does not take it.
    assert!(db
        .claim_job(&["notify"], now, Duration::minutes(5), "w")
        .await
        .unwrap()
        .is_none());
    let job = db
        .claim_job(CONVERT, now, Duration::minutes(5), "w")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.kind, "convert");
    assert_eq!(job.subject.as_deref(), Some(id.to_string().as_str()));
    assert_eq!(job.org_id, Some(org.id));
    assert_eq!((job.attempt, job.max_attempts), (1, 3));
    let payload: serde_json::Value = serde_json::from_str(&job.payload).unwrap();
    assert_eq!(payload["submission_id"], id.to_string());
}

#[tokio::test]
async fn a_job_whose_worker_died_is_claimed_again_after_its_lease_and_buried_when_spent() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    queued_submission(&db).await;
    let now = OffsetDateTime::now_utc();
    let lease = Duration::minutes(15);

    let first = db
        .claim_job(CONVERT, now, lease, "w")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.attempt, 1);
    assert!(!first.exhausted());
    // While the lease holds, nobody else gets it.
    assert!(db
        .claim_job(CONVERT, now + Duration::minutes(14), lease, "w")
        .await
        .unwrap()
        .is_none());
    // The worker died: after the lease, the job is claimed again, counted.
    let second = db
        .claim_job(CONVERT, now + Duration::minutes(16), lease, "w")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.id.as_str(), second.attempt), (first.id.as_str(), 2));
    let third = db
        .claim_job(CONVERT, now + Duration::minutes(32), lease, "w")
        .await
        .unwrap()
        .unwrap();
    assert!(!third.exhausted());
    // Its workers died on every attempt: handed out once more, exhausted, to be buried.
    let spent = db
        .claim_job(CONVERT, now + Duration::minutes(48), lease, "w")
        .await
        .unwrap()
        .unwrap();
    assert!(spent.exhausted(), "{spent:?}");
    db.bury_job(
        &spent.id,
        "its worker stopped during each of its 3 attempts",
        now,
    )
    .await
    .unwrap();
    assert!(db
        .claim_job(CONVERT, now + Duration::days(1), lease, "w")
        .await
        .unwrap()
        .is_none());
    assert_eq!(db.queue_depth(CONVERT).await.unwrap(), 0);
    // The dead letter stays for operators, with its reason.
    let open = db.open_jobs(10).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].state, "dead");
    assert_eq!(
        open[0].last_error.as_deref(),
        Some("its worker stopped during each of its 3 attempts")
    );
}

#[tokio::test]
async fn a_failed_attempt_is_retried_no_earlier_than_its_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    let id = queued_submission(&db).await;
    let now = OffsetDateTime::now_utc();
    let lease = Duration::minutes(15);
    let job = db
        .claim_job(CONVERT, now, lease, "w")
        .await
        .unwrap()
        .unwrap();
    db.retry_job(
        &job.id,
        job.attempt,
        "disk error",
        now + Duration::seconds(10),
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        db.job_run_after("convert", &id.to_string())
            .await
            .unwrap()
            .map(|t| t.unix_timestamp()),
        Some((now + Duration::seconds(10)).unix_timestamp())
    );
    assert!(db
        .claim_job(CONVERT, now + Duration::seconds(5), lease, "w")
        .await
        .unwrap()
        .is_none());
    let again = db
        .claim_job(CONVERT, now + Duration::seconds(11), lease, "w")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempt, 2);
    // A stale worker (attempt 1) can no longer finish or retry what attempt 2 holds.
    db.complete_job(&job.id, 1, now).await.unwrap();
    assert_eq!(db.queue_depth(CONVERT).await.unwrap(), 1);
    db.complete_job(&again.id, 2, now).await.unwrap();
    assert_eq!(db.queue_depth(CONVERT).await.unwrap(), 0);
    assert!(db.open_jobs(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_job_handed_back_is_taken_at_once_and_the_attempt_does_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    queued_submission(&db).await;
    let now = OffsetDateTime::now_utc();
    let lease = Duration::minutes(15);
    let first = db
        .claim_job(CONVERT, now, lease, "w")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.attempt, 1);
    // Another worker cannot take it while the lease runs.
    assert!(db
        .claim_job(CONVERT, now, lease, "w")
        .await
        .unwrap()
        .is_none());
    // The first worker stops and hands it back: taken again at once, still attempt 1.
    assert!(db.release_job(&first.id, now).await.unwrap());
    let again = db
        .claim_job(CONVERT, now, lease, "w")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id.as_str(), again.attempt), (first.id.as_str(), 1));
    // Handing back a job that is not running changes nothing.
    assert!(db.release_job(&first.id, now).await.unwrap());
    assert!(!db.release_job(&first.id, now).await.unwrap());
    assert_eq!(db.queue_depth(CONVERT).await.unwrap(), 1);
}

/// After a restore, an object whose blob was lost is forgotten like a destroyed one.
#[tokio::test]
async fn a_lost_object_is_forgotten_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    let id = queued_submission(&db).await;
    let org = db.org_by_code("inst").await.unwrap();
    let object = db.submission(org.id, id).await.unwrap().object_id;
    let now = OffsetDateTime::now_utc();
    assert!(db.live_object_ids().await.unwrap().contains(&object));
    assert!(db.forget_lost_object(object, now).await.unwrap());
    assert!(!db.live_object_ids().await.unwrap().contains(&object));
    assert!(db.object(object).await.unwrap().wrapped_key.is_none());
    assert!(!db.forget_lost_object(object, now).await.unwrap());
}

#[tokio::test]
async fn a_restarted_worker_takes_back_its_own_jobs_at_once_and_the_attempt_counts() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    queued_submission(&db).await;
    let now = OffsetDateTime::now_utc();
    let lease = Duration::minutes(15);
    let first = db
        .claim_job(CONVERT, now, lease, "host:abcd#0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.attempt, 1);
    // Another worker's restart takes nothing; the lease still holds.
    assert_eq!(
        db.release_jobs_held_by("host:abcd#1", now).await.unwrap(),
        0
    );
    assert!(db
        .claim_job(CONVERT, now, lease, "host:abcd#1")
        .await
        .unwrap()
        .is_none());
    // The same slot, restarted after a crash, queues it again: claimable at once, and the
    // crashed attempt counted (a job that kills its worker is not retried for ever).
    assert_eq!(
        db.release_jobs_held_by("host:abcd#0", now).await.unwrap(),
        1
    );
    let again = db
        .claim_job(CONVERT, now, lease, "host:abcd#0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id.as_str(), again.attempt), (first.id.as_str(), 2));
}

#[tokio::test]
async fn a_conversion_starts_once_and_not_for_a_withdrawn_submission() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    let id = queued_submission(&db).await;
    let org = db.org_by_code("inst").await.unwrap();
    let work = db.begin_conversion(id).await.unwrap().unwrap();
    assert_eq!(work.submission.state, SubmissionState::Converting);
    // A retried attempt finds it converting and goes on.
    let again = db.begin_conversion(id).await.unwrap().unwrap();
    assert_eq!(again.submission.state, SubmissionState::Converting);
    assert_eq!(again.input.id, work.input.id);
    // Unknown: nothing to convert.
    assert!(db
        .begin_conversion(SubmissionId::new())
        .await
        .unwrap()
        .is_none());
    // Withdrawn meanwhile: nothing to convert.
    let other = queued_submission_of(&db, org.id).await;
    db.withdraw_submission(org.id, other, "test", OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert!(db.begin_conversion(other).await.unwrap().is_none());
}

async fn queued_submission_of(db: &Database, org_id: i64) -> SubmissionId {
    let id = SubmissionId::new();
    db.record_submission(
        &NewSubmission {
            id,
            sender_org_id: org_id,
            sender_cert_serial: None,
            filename: "second.csv".into(),
            object: NewObject {
                id: ObjectId::new(),
                kek_id: "k".into(),
                wrapped_key: vec![2; 61],
                plaintext_size: 10,
                plaintext_sha256: "1".repeat(64),
                ciphertext_size: 58,
                sealed_content: None,
            },
            deliver_to: vec![],
            enqueue: Some(conversion_of(id, org_id)),
            commitment_key: vec![6; 32],
            actor: "test".into(),
        },
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    id
}
