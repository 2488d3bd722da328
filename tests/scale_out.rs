//! Several processes on one PostgreSQL database: a worker killed with SIGKILL in the middle of
//! a conversion leaves its job to another worker once the lease runs out, and the file is
//! converted exactly once.
//!
//! Needs `KENSHIN_TEST_DATABASE_URL`; without it these tests print why they skip (and fail
//! under CI).

mod common;

use std::time::{Duration, Instant};

use common::conversion::*;
use common::*;
use kenshin_core::SubmissionState;
use kenshin_server::{RunningServer, RunningWorker, ServerRole};

/// An export of `copies` × the sample's rows: long enough to convert that a worker can be
/// killed in the middle.
fn long_export(copies: usize) -> Vec<u8> {
    let sample = export();
    let (header, rows) = sample.split_once("\r\n").unwrap();
    let mut csv = format!("{header}\r\n");
    for _ in 0..copies {
        csv.push_str(rows);
    }
    csv.into_bytes()
}

async fn job_state(pool: &sqlx::AnyPool) -> Option<(String, i64)> {
    sqlx::query_as("SELECT state, attempts FROM jobs")
        .fetch_optional(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_workers_job_is_finished_by_another_exactly_once() {
    let Some(server) = postgres::server_url("a_killed_workers_job") else {
        return;
    };
    let config = kenshin_server::Config {
        database_url: postgres::new_database(&server).await,
        job_lease_seconds: 3,
        ..test_config()
    };
    let (dir, data) = prepared_data_dir(&config).await;
    let api = RunningServer::start_as(&data, config.clone(), ServerRole::Api)
        .await
        .unwrap();
    let addr = api.addr;
    let mut relay = Relay {
        dir,
        data,
        server: Some(api),
        addr,
    };
    set_up(&relay).await;
    let sender = relay.client(CONVERTER);
    sender
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let receipt = sender
        .send_stream("", "export.csv", None, stream_of(long_export(6000)))
        .await
        .unwrap();
    let id = receipt.id.to_string();

    // A worker process takes the job; it is killed as soon as it holds it.
    let pool = owner_pool(&relay.data).await;
    let mut doomed = std::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .args(["serve", "--role", "worker", "--data-dir"])
        .arg(relay.data.root())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some((state, _)) = job_state(&pool).await {
            if state == "running" {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no worker took the job"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    doomed.kill().unwrap(); // SIGKILL: no hand-back, no clean-up
    doomed.wait().unwrap();
    assert_eq!(
        job_state(&pool).await,
        Some(("running".to_owned(), 1)),
        "the job was still running when its worker died"
    );

    // Another worker takes it over once the dead one's lease has run out.
    let rescuer = RunningWorker::start(&relay.data, config.clone())
        .await
        .unwrap();
    let mut done = None;
    for _ in 0..600 {
        let view = sender.submission(&id).await.unwrap();
        if !matches!(
            view.state,
            SubmissionState::Received | SubmissionState::Converting
        ) {
            done = Some(view);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let done = done.expect("the job was not finished after its worker died");
    assert_eq!(done.state, SubmissionState::Delivered);
    let mut receivers: Vec<String> = done
        .deliveries
        .iter()
        .map(|d| d.receiver.code.clone())
        .collect();
    receivers.sort();
    assert_eq!(receivers, [AGENT.to_owned(), INSURER.to_owned()]);
    assert_eq!(
        job_state(&pool).await,
        Some(("done".to_owned(), 2)),
        "finished by the second attempt"
    );
    let inbox = relay
        .client(INSURER)
        .list_deliveries(None, 100, 0)
        .await
        .unwrap();
    assert_eq!(inbox.total, 1, "one delivery, not one per attempt");
    rescuer.shutdown().await.unwrap();
    relay.state().ledger.sequence().await.unwrap();
    assert!(relay.state().ledger.audit().await.unwrap().is_intact());
    pool.close().await;
    relay.stop().await;
}
