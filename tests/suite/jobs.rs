//! The background-job queue as an operator meets it: a job the worker cannot run is given up
//! with its reason (a dead letter), never silently dropped, and `kenshin-relay admin jobs`
//! shows it.

use std::time::Duration;

use kenshin_server::RunningWorker;
use kenshin_store::NewJob;
use time::OffsetDateTime;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_cannot_run_is_a_dead_letter_with_its_reason_for_the_operator() {
    let config = test_config();
    let (_dir, data) = prepared_data_dir(&config).await;
    let db = open_db(&data).await;
    // A conversion job whose payload names no submission: it can never run.
    assert!(db
        .enqueue_job(
            &NewJob {
                kind: "convert".into(),
                subject: Some("broken".into()),
                org_id: None,
                payload: r#"{"submission": 7}"#.into(),
                max_attempts: 3,
            },
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap());
    assert_eq!(
        db.queue_depth(kenshin_server::jobs::FILE_KINDS)
            .await
            .unwrap(),
        1
    );
    let worker = RunningWorker::start(&data, config).await.unwrap();
    let started = std::time::Instant::now();
    let dead = loop {
        let jobs = db.open_jobs(10).await.unwrap();
        if let Some(job) = jobs.iter().find(|j| j.state == "dead") {
            break job.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the job was not given up: {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    worker.shutdown().await.unwrap();
    assert_eq!(
        db.queue_depth(kenshin_server::jobs::FILE_KINDS)
            .await
            .unwrap(),
        0,
        "nothing left to run"
    );
    assert_eq!(
        db.dead_job_count().await.unwrap(),
        1,
        "the metrics' dead letters"
    );
    assert_eq!(
        dead.attempts, 1,
        "given up at once: it would fail the same way again"
    );
    let reason = dead.last_error.clone().unwrap();
    assert!(reason.contains("not a convert job"), "{reason}");

    let data_dir = data.root().to_str().unwrap().to_owned();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .args(["admin", "--json", "--data-dir", &data_dir, "jobs"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["state"], "dead", "{listed}");
    assert_eq!(listed[0]["kind"], "convert");
    assert_eq!(listed[0]["last_error"], reason.as_str());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .args(["admin", "--data-dir", &data_dir, "jobs"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("断念 dead") && text.contains("理由 / reason"),
        "{text}"
    );
    db.close().await;
}
