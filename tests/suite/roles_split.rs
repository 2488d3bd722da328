//! `serve --role api` and `--role worker` on the same data: the API node converts nothing;
//! two workers beside it share the queue — every submission converted exactly once.

use crate::common::conversion::*;
use crate::common::*;
use kenshin_core::SubmissionState;
use kenshin_server::{RunningWorker, ServerRole};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_api_node_and_two_workers_share_the_queue_without_duplicates() {
    let config = test_config();
    let mut relay = Relay::start_as(config.clone(), ServerRole::Api).await;
    set_up(&relay).await;
    let sender = relay.client(CONVERTER);
    sender
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..6 {
        let receipt = sender
            .send_stream(
                "",
                &format!("export-{n}.csv"),
                None,
                stream_of(export().into_bytes()),
            )
            .await
            .unwrap();
        ids.push(receipt.id.to_string());
    }
    // The API node alone leaves them queued.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for id in &ids {
        assert_eq!(
            sender.submission(id).await.unwrap().state,
            SubmissionState::Received
        );
    }
    // Two workers, each with its own connections to the data, take them.
    let first = RunningWorker::start(&relay.data, config.clone())
        .await
        .unwrap();
    let second = RunningWorker::start(&relay.data, config.clone())
        .await
        .unwrap();
    for id in &ids {
        let done = wait_converted(&sender, id).await;
        assert_eq!(done.state, SubmissionState::Delivered, "{id}");
        // One delivery per receiving organisation, never two.
        let mut receivers: Vec<String> = done
            .deliveries
            .iter()
            .map(|d| d.receiver.code.clone())
            .collect();
        receivers.sort();
        assert_eq!(receivers, [AGENT.to_owned(), INSURER.to_owned()], "{id}");
    }
    let inbox = relay
        .client(INSURER)
        .list_deliveries(None, 100, 0)
        .await
        .unwrap();
    assert_eq!(inbox.total, ids.len() as u64, "no duplicate deliveries");
    // Each job ran once: no "database is locked" between the processes' connections.
    let pool = owner_pool(&relay.data).await;
    let jobs: Vec<(String, i64, Option<String>)> = sqlx::query_as(
        "SELECT state, attempts, last_error FROM background_jobs WHERE kind = 'convert'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(jobs.len(), ids.len());
    assert!(
        jobs.iter()
            .all(|(state, attempts, _)| state == "done" && *attempts == 1),
        "{jobs:?}"
    );
    first.shutdown().await.unwrap();
    second.shutdown().await.unwrap();
    // The ledger written by three processes' worth of pools is one consistent log.
    relay.state().ledger.sequence().await.unwrap();
    assert!(relay.state().ledger.audit().await.unwrap().is_intact());
    relay.stop().await;
}

/// `kenshin-relay serve --role worker` runs without a listener and stops cleanly on SIGTERM.
#[tokio::test]
async fn a_worker_process_starts_and_stops_on_sigterm() {
    use std::io::BufRead as _;
    let (_dir, data) = prepared_data_dir(&test_config()).await;
    let mut worker = Reaped(
        std::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
            .args(["serve", "--role", "worker", "--data-dir"])
            .arg(data.root())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = worker.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let ready = lines
        .by_ref()
        .take(50)
        .map_while(Result::ok)
        .any(|line| line.contains("conversion worker running"));
    assert!(ready, "the worker did not start");
    unsafe {
        libc::kill(worker.id() as i32, libc::SIGTERM);
    }
    assert!(worker.wait().unwrap().success());
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .args(["serve", "--role", "sequencer", "--data-dir"])
        .arg(data.root())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("worker"));
}
