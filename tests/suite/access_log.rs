//! The access log: every request recorded (who, organisation, when, from where, what, which
//! objects, result, bytes), nothing personal in it, and anchored in the ledger so that a
//! deleted or edited row is detected.

use crate::common::*;
use kenshin_store::AccessFilter;

#[tokio::test]
async fn every_request_is_recorded_and_a_removed_row_is_detected() {
    let mut relay = Relay::start().await;
    let sender = relay.client(INSTITUTION);
    let receipt = sender
        .send_stream(
            INSURER,
            "鈴木花子さん.csv",
            None,
            stream_of(sample_export(10, "A")),
        )
        .await
        .unwrap();
    let delivery = receipt.deliveries[0].id.to_string();
    let receiver = relay.client(INSURER);
    receiver
        .fetch_to_file(&delivery, &relay.dir.path().join("x.csv"), |_, _| {})
        .await
        .unwrap();
    // Someone else tries the same delivery, and someone without a certificate tries the API.
    assert!(relay.client(OTHER).delivery(&delivery).await.is_err());
    assert!(relay
        .anonymous()
        .list_deliveries(None, 10, 0)
        .await
        .is_err());
    relay.state().access.flush().await;

    let db = relay.db().await;
    let all = db
        .search_access(&AccessFilter {
            limit: 1000,
            ..AccessFilter::default()
        })
        .await
        .unwrap();
    let upload = all
        .iter()
        .find(|r| r.action == "submission_create")
        .unwrap();
    assert_eq!(upload.org.as_deref(), Some(INSTITUTION));
    assert_eq!(upload.actor_kind, "certificate");
    assert_eq!(upload.outcome, "success");
    assert_eq!(upload.status, Some(201));
    assert!(upload.source.as_deref().unwrap().starts_with("127.0.0.1:"));
    let download = all
        .iter()
        .find(|r| r.action == "delivery_download")
        .unwrap();
    assert_eq!(download.org.as_deref(), Some(INSURER));
    assert_eq!(
        download.objects,
        vec![format!("delivery:{delivery}")],
        "{download:?}"
    );
    assert_eq!(download.bytes, Some(receipt.size));
    let probe = all
        .iter()
        .find(|r| r.action == "delivery_view" && r.org.as_deref() == Some(OTHER))
        .unwrap();
    assert_eq!(probe.outcome, "not_found");
    assert!(all.iter().any(|r| r.actor_kind == "anonymous"
        && r.outcome == "denied"
        && r.action == "delivery_list"));
    // No personal data: the file name (in the query string) is never logged.
    for row in &all {
        let text = String::from_utf8(row.canonical()).unwrap();
        assert!(
            !text.contains("鈴木") && !text.contains("%E9%88%B4"),
            "{text}"
        );
    }
    // An organisation's search sees only its own rows.
    let own = db
        .search_access(&AccessFilter {
            org: Some(INSURER.into()),
            limit: 1000,
            ..AccessFilter::default()
        })
        .await
        .unwrap();
    assert!(!own.is_empty() && own.iter().all(|r| r.org.as_deref() == Some(INSURER)));
    let by_object = db
        .search_access(&AccessFilter {
            object: Some(delivery.clone()),
            limit: 1000,
            ..AccessFilter::default()
        })
        .await
        .unwrap();
    assert!(by_object.iter().any(|r| r.action == "delivery_download"));

    // Each organisation exports its own trail in the formats the field uses, with a device
    // certificate in the viewer role (its log collector); the receiving system's own
    // certificate may not.
    assert!(relay
        .client(INSURER)
        .audit_export("csv", &[])
        .await
        .is_err());
    let collector = device_client(&relay, INSURER, "log-collector", "viewer").await;
    let csv =
        String::from_utf8(collector.audit_export("csv", &[]).await.unwrap().to_vec()).unwrap();
    assert!(
        csv.contains("delivery_download") && !csv.contains(INSTITUTION),
        "{csv}"
    );
    let fhir: serde_json::Value =
        serde_json::from_slice(&collector.audit_export("fhir", &[]).await.unwrap()).unwrap();
    assert_eq!(fhir["resourceType"], "Bundle");
    assert!(fhir["entry"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["resource"]["resourceType"] == "AuditEvent"));
    let atna =
        String::from_utf8(collector.audit_export("atna", &[]).await.unwrap().to_vec()).unwrap();
    assert!(
        atna.lines()
            .all(|l| l.starts_with("<?xml") || l.starts_with("<AuditMessage")),
        "{atna}"
    );
    let only_downloads = collector
        .audit_export("jsonl", &[("action", "delivery_download")])
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&only_downloads).lines().count(), 1);
    assert!(collector.audit_export("pdf", &[]).await.is_err());

    // Anchored in the ledger.
    relay.state().ledger.sequence().await.unwrap();
    assert!(relay
        .state()
        .ledger
        .verify_access_log()
        .await
        .unwrap()
        .is_empty());
    relay.stop().await;

    // Someone with the database file removes the probe's row.
    let pool = owner_pool(&relay.data).await;
    assert!(
        sqlx::query("DELETE FROM access_log WHERE seq = $1")
            .bind(probe.seq)
            .execute(&pool)
            .await
            .is_err(),
        "the append-only trigger must refuse"
    );
    disable_trigger(&pool, "access_log", "access_log_append_only_delete").await;
    sqlx::query("DELETE FROM access_log WHERE seq = $1")
        .bind(probe.seq)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let state = kenshin_server::AppState::open(
        &relay.data,
        kenshin_server::Config::load(&relay.data).unwrap(),
    )
    .await
    .unwrap();
    let problems = state.ledger.verify_access_log().await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("no longer match"), "{problems:?}");
    assert!(!state.ledger.audit().await.unwrap().is_intact());
    db.close().await;
}

async fn log_rows(state: &kenshin_server::AppState, n: usize) {
    for i in 0..n {
        state
            .access
            .system(
                "test:writer",
                "ledger_read",
                vec![format!("probe:{i}")],
                "success",
            )
            .await;
    }
    state.access.flush().await;
    state.ledger.sequence().await.unwrap();
}

/// A data directory and its state, not serving (the retention tests drive the task).
async fn retention_state() -> (
    tempfile::TempDir,
    kenshin_server::DataDir,
    kenshin_server::AppState,
) {
    let config = test_config();
    let (dir, data) = prepared_data_dir(&config).await;
    let state = kenshin_server::AppState::open(&data, config).await.unwrap();
    (dir, data, state)
}

/// The access-log rows that record expiry steps.
async fn expiry_rows(state: &kenshin_server::AppState) -> Vec<kenshin_store::AccessRow> {
    state.access.flush().await;
    state
        .db
        .search_access(&AccessFilter {
            action: Some("access_log_expire".into()),
            limit: 10,
            ..AccessFilter::default()
        })
        .await
        .unwrap()
}

/// Retention: rows past the retention period leave the log only with a ledger entry saying
/// how far; nothing else can remove a row, lower the mark, or hide a removal.
#[tokio::test]
async fn expired_rows_leave_only_with_a_ledger_entry() {
    let (_dir, data, state) = retention_state().await;
    log_rows(&state, 5).await;
    log_rows(&state, 3).await;
    let digests = state.db.access_digests().await.unwrap();
    let last_batch_end = digests.last().unwrap().1;

    // Nothing is due while every row is younger than the retention period.
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(
        kenshin_server::retention::expire_access_log(&state, now)
            .await
            .unwrap(),
        0
    );
    // Five years and a day later, every anchored batch is due; rows are removed through the
    // end of the last anchored batch, and the step itself is logged.
    let later = now + time::Duration::days(1827);
    let removed = kenshin_server::retention::expire_access_log(&state, later)
        .await
        .unwrap();
    assert!(removed >= 8, "{removed}");
    let mark = state.db.access_expired_through().await.unwrap();
    assert!(mark >= last_batch_end, "{mark} < {last_batch_end}");
    assert!(state.db.access_range(1, mark).await.unwrap().is_empty());
    let expiry_rows = expiry_rows(&state).await;
    assert_eq!(expiry_rows.len(), 1);
    assert_eq!(expiry_rows[0].objects, vec![format!("access-log:1-{mark}")]);
    let entries = state
        .db
        .ledger_entries_containing("kind access_log_expired\n")
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    let text = String::from_utf8_lossy(&entries[0].entry).into_owned();
    assert!(text.contains(&format!("access-log 1-{mark} ")), "{text}");
    // The chain continues through the expired batches: later rows still verify.
    log_rows(&state, 4).await;
    assert!(state.ledger.verify_access_log().await.unwrap().is_empty());
    assert!(state.ledger.audit().await.unwrap().is_intact());

    // Through SQL: rows above the mark cannot be deleted or edited, the mark cannot go down.
    let pool = owner_pool(&data).await;
    let kept = state.db.max_access_seq().await.unwrap();
    for statement in [
        format!("DELETE FROM access_log WHERE seq = {kept}"),
        format!("UPDATE access_log SET actor = 'someone' WHERE seq = {kept}"),
        "UPDATE access_log_expiry SET expired_through = 0".to_owned(),
        "DELETE FROM access_log_expiry".to_owned(),
    ] {
        assert!(
            sqlx::query(&statement).execute(&pool).await.is_err(),
            "{statement} must be refused"
        );
    }
    // Raising the mark by hand and deleting rows below it is possible for someone with the
    // file, but the ledger has no entry for it: the audit says so.
    sqlx::query("UPDATE access_log_expiry SET expired_through = $1")
        .bind(kept)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM access_log WHERE seq = $1")
        .bind(kept)
        .execute(&pool)
        .await
        .unwrap();
    let problems = state.ledger.verify_access_log().await.unwrap();
    assert!(
        problems.iter().any(|p| p.contains("expiry mark")),
        "{problems:?}"
    );
    assert!(!state.ledger.audit().await.unwrap().is_intact());
    pool.close().await;
    state.db.close().await;
}

/// Expiry never launders tampering: a batch whose rows no longer match their digest is not
/// expired, and the refusal is itself logged.
#[tokio::test]
async fn a_tampered_batch_is_not_expired() {
    let (_dir, data, state) = retention_state().await;
    log_rows(&state, 5).await;
    let pool = owner_pool(&data).await;
    disable_trigger(&pool, "access_log", "access_log_append_only_update").await;
    sqlx::query("UPDATE access_log SET actor = 'someone-else' WHERE seq = 2")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(1827);
    let err = kenshin_server::retention::expire_access_log(&state, later)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("do not match"), "{err}");
    assert_eq!(state.db.access_expired_through().await.unwrap(), 0);
    assert_eq!(state.db.access_range(2, 2).await.unwrap().len(), 1);
    let refused = expiry_rows(&state).await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].outcome, "failed");
    state.db.close().await;
}
