//! Several processes on one PostgreSQL database: a worker killed with SIGKILL in the middle of
//! a conversion leaves its job to the next worker in its slot at once (or to any worker once
//! the lease runs out), and the file is converted exactly once.
//!
//! Needs `KENSHIN_TEST_DATABASE_URL`; without it these tests print why they skip (and fail
//! under CI).

mod common;

use std::time::{Duration, Instant};

use common::conversion::*;
use common::*;
use kenshin_core::SubmissionState;
use kenshin_server::{RunningWorker, ServerRole};

async fn job_state(pool: &sqlx::AnyPool) -> Option<(String, i64)> {
    sqlx::query_as("SELECT state, attempts FROM background_jobs WHERE kind = 'convert'")
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
    let mut relay = Relay::start_as(config.clone(), ServerRole::Api).await;
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
    let mut doomed = Reaped(
        std::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
            .args(["serve", "--role", "worker", "--data-dir"])
            .arg(relay.data.root())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
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

/// A relay process of the test's cluster, killed (SIGKILL) when dropped.
struct Node {
    _process: Reaped,
    url: String,
}

/// `kenshin-relay serve --role ROLE` on `root`, its PostgreSQL session named `name` (so the
/// test can see which node holds the sequencer's lock).
async fn start_node(
    s3: &common::s3::S3Server,
    root: &std::path::Path,
    role: &str,
    database_url: &str,
    name: &str,
) -> Node {
    let port = free_port();
    let process = std::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .args(["serve", "--role", role, "--data-dir"])
        .arg(root)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .envs(s3.env())
        .env("KENSHIN_RELAY_LOG", "warn")
        .env(
            "KENSHIN_RELAY_DATABASE_URL",
            format!("{database_url}?application_name={name}"),
        )
        .stdout(std::process::Stdio::null())
        // Warnings and errors only: silent when all is well, on the test's output when not.
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let node = Node {
        _process: Reaped(process),
        url: format!("https://localhost:{port}"),
    };
    if role != "worker" {
        let probe = client_for(root, &node.url, INSTITUTION);
        let started = Instant::now();
        while probe.health().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{name} did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    node
}

/// The PostgreSQL session name of the node holding the ledger sequencer's lock.
async fn sequencer(pool: &sqlx::AnyPool) -> Option<String> {
    sqlx::query_scalar(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = 1263684691",
    )
    .fetch_optional(pool)
    .await
    .unwrap()
}

/// Whether every event is in the ledger.
async fn all_sequenced(pool: &sqlx::AnyPool) -> bool {
    let behind: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM events) - (SELECT COUNT(*) FROM ledger_entries)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    behind == 0
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends `count` files at once, alternately through the given nodes: even ones pass through
/// to the insurer, odd ones are converted (to the insurer and the agent).
async fn send_all(root: &std::path::Path, urls: &[&str], first: usize, count: usize) -> usize {
    let sends = (first..first + count).map(|n| {
        let url = urls[n % urls.len()];
        async move {
            if n % 2 == 0 {
                client_for(root, url, INSTITUTION)
                    .send_stream(
                        INSURER,
                        &format!("pass-{n}.csv"),
                        None,
                        stream_of(sample_export(3, "SCALE")),
                    )
                    .await
            } else {
                client_for(root, url, CONVERTER)
                    .send_stream(
                        "",
                        &format!("convert-{n}.csv"),
                        None,
                        stream_of(export().into_bytes()),
                    )
                    .await
            }
        }
    });
    let receipts = futures::future::join_all(sends).await;
    let failed: Vec<_> = receipts.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} uploads failed: {failed:?}",
        failed.len()
    );
    receipts.len()
}

/// Two API nodes and two workers, on one PostgreSQL database and one S3 server: 200
/// concurrent submissions arrive through both nodes, the node sequencing the ledger is killed
/// half way, and still every file is delivered exactly once and the ledger is one consistent,
/// verifiable log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_api_nodes_and_two_workers_share_postgres_and_s3() {
    let Some(server) = postgres::server_url("two_api_nodes") else {
        return;
    };
    let Some(s3) = common::s3::S3Server::start("two_api_nodes", "kenshin-cluster") else {
        return;
    };
    let database_url = postgres::new_database(&server).await;
    let config = kenshin_server::Config {
        database_url: database_url.clone(),
        job_lease_seconds: 5,
        ..test_config()
    };
    let (dir, data) = prepared_data_dir(&config).await;
    common::s3::set_blob_url(&data, &s3.url("relay"));
    let relay = Relay {
        dir,
        data,
        server: None,
        addr: "127.0.0.1:0".parse().unwrap(),
        clock: None,
    };
    set_up(&relay).await;
    // The second machine: a copy of the keys and configuration, nothing else of its own.
    let root_a = relay.data.root().to_owned();
    let root_b = relay.dir.path().join("node-b");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(&root_a)
        .arg(&root_b)
        .status()
        .unwrap();
    assert!(copied.success());

    let mut a = Some(start_node(&s3, &root_a, "api", &database_url, "node-a").await);
    let b = start_node(&s3, &root_b, "api", &database_url, "node-b").await;
    let _workers = [
        start_node(&s3, &root_a, "worker", &database_url, "worker-1").await,
        start_node(&s3, &root_b, "worker", &database_url, "worker-2").await,
    ];
    let url_a = a.as_ref().unwrap().url.clone();
    client_for(&root_a, &url_a, CONVERTER)
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let pool = owner_pool(&relay.data).await;
    wait_for("a node holds the sequencer's lock", || async {
        sequencer(&pool).await.is_some()
    })
    .await;

    // Half the files through both nodes at once.
    let mut sent = send_all(&root_a, &[&url_a, &b.url], 0, 100).await;
    let verifier = relay.dir.path().join("verifier.json");
    let sender_b = client_for(&root_b, &b.url, INSTITUTION);
    wait_for("the first half is sequenced", || async {
        all_sequenced(&pool).await
    })
    .await;
    let before = kenshin_relay::ledger::verify(&sender_b, &verifier, None)
        .await
        .unwrap();

    // Kill the sequencer's node (node-a, or node-b's counterpart if b holds it: then b is
    // killed and a carries on).
    let holder = sequencer(&pool).await.unwrap();
    let (survivor_root, survivor_url, _b_guard) = if holder == "node-a" {
        drop(a.take()); // SIGKILL
        (root_b.clone(), b.url.clone(), Some(b))
    } else {
        drop(b); // SIGKILL
        (root_a.clone(), url_a.clone(), None)
    };
    wait_for("the surviving node takes over the sequencer", || async {
        sequencer(&pool).await.is_some_and(|name| name != holder)
    })
    .await;

    // The other half through the survivor, still 100 at once.
    sent += send_all(&survivor_root, &[&survivor_url], 100, 100).await;
    assert_eq!(sent, 200);
    wait_for("every conversion is done", || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM background_jobs WHERE kind = 'convert' AND state = 'done'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
            == 100
    })
    .await;
    wait_for("every event is sequenced", || async {
        all_sequenced(&pool).await
    })
    .await;

    // No loss, no duplicate: 100 passed through and 100 converted for the insurer, 100
    // converted for the agent; every job ran to its end.
    let inbox = |org: &'static str| {
        let client = client_for(&survivor_root, &survivor_url, org);
        async move { client.list_deliveries(None, 1, 0).await.unwrap().total }
    };
    assert_eq!(inbox(INSURER).await, 200);
    assert_eq!(inbox(AGENT).await, 100);
    let submissions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM submissions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(submissions, 200);
    let unfinished: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM submissions WHERE state NOT IN ('delivered')")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(unfinished, 0);

    // The ledger grew consistently across the fail-over: a party's client checks that the
    // new signed checkpoint extends the one it saw before (no fork), and the operator's audit
    // recomputes every hash.
    let sender = client_for(&survivor_root, &survivor_url, INSTITUTION);
    let after = kenshin_relay::ledger::verify(&sender, &verifier, None)
        .await
        .unwrap();
    assert_eq!(after.previous_size, Some(before.size));
    assert!(after.size > before.size);
    let checkpoints: Vec<(i64,)> =
        sqlx::query_as("SELECT size FROM ledger_checkpoints ORDER BY size")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(checkpoints.windows(2).all(|w| w[0].0 < w[1].0));
    let audit = std::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .args(["admin", "--data-dir"])
        .arg(&survivor_root)
        .args(["ledger", "audit"])
        .envs(s3.env())
        .output()
        .unwrap();
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    pool.close().await;
}
