//! The conversion queue: leases, retries after a worker died, and the attempt budget.

use kenshin_core::{ObjectId, OrgKind, SubmissionId};
use kenshin_store::{Database, NewObject, NewOrg, NewSubmission};
use time::{Duration, OffsetDateTime};

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
    let id = SubmissionId::new();
    db.record_submission(
        &NewSubmission {
            id,
            sender_org_id: org.id,
            sender_cert_serial: None,
            filename: "export.csv".into(),
            object: NewObject {
                id: ObjectId::new(),
                kek_id: "k".into(),
                wrapped_key: vec![1; 61],
                plaintext_size: 10,
                plaintext_sha256: "0".repeat(64),
                ciphertext_size: 58,
            },
            deliver_to: vec![],
            enqueue: true,
            commitment_key: vec![5; 32],
            actor: "test".into(),
        },
        now,
    )
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn a_job_whose_worker_died_is_claimed_again_after_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("relay.db")).await.unwrap();
    let id = queued_submission(&db).await;
    assert_eq!(db.queue_depth().await.unwrap(), 1);
    let now = OffsetDateTime::now_utc();
    let lease = Duration::minutes(15);

    let first = db
        .claim_job(now, lease, 3, "test-worker")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.submission.id, first.attempts), (id, 1));
    assert_eq!(
        first.submission.state,
        kenshin_core::SubmissionState::Converting
    );
    // While the lease holds, nobody else gets it.
    assert!(db
        .claim_job(now + Duration::minutes(14), lease, 3, "test-worker")
        .await
        .unwrap()
        .is_none());
    // The worker died: after the lease, the job is claimed again.
    let second = db
        .claim_job(now + Duration::minutes(16), lease, 3, "test-worker")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.submission.id, second.attempts), (id, 2));
    let third = db
        .claim_job(now + Duration::minutes(32), lease, 3, "test-worker")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.attempts, 3);
    // The budget is spent: the job stays where it is, for an operator to look at.
    assert!(db
        .claim_job(now + Duration::minutes(48), lease, 3, "test-worker")
        .await
        .unwrap()
        .is_none());

    // A failure that is not final puts it back in the queue (within the budget).
    db.fail_job(id, "disk error", false, now).await.unwrap();
    assert!(db
        .claim_job(now, lease, 4, "test-worker")
        .await
        .unwrap()
        .is_some());
    db.fail_job(id, "disk error", true, now).await.unwrap();
    assert!(db
        .claim_job(now, lease, 10, "test-worker")
        .await
        .unwrap()
        .is_none());
    assert_eq!(db.queue_depth().await.unwrap(), 0);
}

#[tokio::test]
async fn a_job_handed_back_is_taken_at_once_and_the_attempt_does_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("q.db")).await.unwrap();
    let id = queued_submission(&db).await;
    let now = OffsetDateTime::now_utc();
    let lease = Duration::minutes(15);
    let first = db
        .claim_job(now, lease, 3, "test-worker")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.submission.id, first.attempts), (id, 1));
    // Another worker cannot take it while the lease runs.
    assert!(db
        .claim_job(now, lease, 3, "test-worker")
        .await
        .unwrap()
        .is_none());
    // The first worker stops and hands it back: taken again at once, still attempt 1.
    assert!(db.release_job(id, now).await.unwrap());
    let again = db
        .claim_job(now, lease, 3, "test-worker")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.submission.id, again.attempts), (id, 1));
    // Handing back a job that is not running changes nothing.
    assert!(db.release_job(id, now).await.unwrap());
    assert!(!db.release_job(id, now).await.unwrap());
    assert_eq!(db.queue_depth().await.unwrap(), 1);
}

/// After a restore, an object whose blob was lost is forgotten like a destroyed one.
#[tokio::test]
async fn a_lost_object_is_forgotten_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("lost.db")).await.unwrap();
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
    let db = Database::open(&dir.path().join("q.db")).await.unwrap();
    let id = queued_submission(&db).await;
    let now = OffsetDateTime::now_utc();
    let lease = Duration::minutes(15);
    let first = db
        .claim_job(now, lease, 3, "host:abcd#0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.attempts, 1);
    // Another worker's restart takes nothing; the lease still holds.
    assert_eq!(
        db.release_jobs_held_by("host:abcd#1", now).await.unwrap(),
        0
    );
    assert!(db
        .claim_job(now, lease, 3, "host:abcd#1")
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
        .claim_job(now, lease, 3, "host:abcd#0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.submission.id, id);
    assert_eq!(again.attempts, 2);
}
