//! Load benchmark (not a test), one machine: an API node (`ServerRole::Api`) on SQLite and
//! local blobs, with
//! 1. submissions/s and p50/p99 latency of small uploads at a fixed concurrency, over TLS 1.3
//!    with client certificates, and
//! 2. conversion throughput with one and with two worker processes' worth of workers
//!    (`RunningWorker`, each with its own database connections) draining the same queue.
//!
//! `cargo run --release --example bench_load -- [CONCURRENCY] [SECONDS] [EXPORTS] [ROWS]`
//! (defaults 8, 10, 24, 2000).
//!
//! With `KENSHIN_BENCH_DATABASE_URL=postgres://…/postgres` the same runs on a fresh PostgreSQL
//! database with **two API nodes** (each its own data directory, as on two machines; their
//! blob directories are one shared directory, as on a shared file system), the uploads
//! alternating between the nodes, and the workers likewise on PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kenshin_client::{ClientIdentity, RelayClient};
use kenshin_core::{OrgCode, OrgKind, RouteMode};
use kenshin_server::{Config, DataDir, RunningServer, RunningWorker, ServerRole};
use time::OffsetDateTime;

const MAP: &str = "kind,source,item,from,to,options,note
setting,,,id,bench-map,,
setting,,,version,1,,
setting,,,profile,mhlw-tokutei-4ki,,
column,保険者番号,header.insurer_number,,,,
column,生年月日,header.birth_date,,,,
column,性別,header.sex,,,,
column,受診日,header.exam_date,,,,
column,身長,9N001000000000001,,,,
column,体重,9N006000000000001,,,,
column,最高血圧,9A751000000000001,,,,
column,最低血圧,9A761000000000001,,,,
column,尿糖,1A020000000190111,,,,
value,尿糖,,陰性,1,,
";

fn export(rows: usize, seed: usize) -> Vec<u8> {
    let mut csv =
        String::from("保険者番号,生年月日,性別,受診日,身長,体重,最高血圧,最低血圧,尿糖\r\n");
    for i in 0..rows {
        let insurer = if (i + seed) % 2 == 0 {
            "06999901"
        } else {
            "06999902"
        };
        csv.push_str(&format!(
            "{insurer},19{:02}/{}/{},{},2026/4/1,{:.1},{:.1},{},{},陰性\r\n",
            40 + i % 50,
            1 + i % 12,
            1 + i % 28,
            1 + i % 2,
            150.0 + (i % 40) as f64,
            45.0 + (i % 35) as f64,
            110 + i % 40,
            65 + i % 20,
        ));
    }
    csv.into_bytes()
}

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn client(data: &DataDir, url: &str, org: &str) -> RelayClient {
    let dir = data.root().join("certs").join(org);
    let identity = ClientIdentity::from_files(&dir.join("cert.pem"), &dir.join("key.pem")).unwrap();
    let ca = std::fs::read(data.ca_cert_path()).unwrap();
    RelayClient::new(url, &ca, Some(&identity)).unwrap()
}

async fn drain(
    data: &DataDir,
    config: &Config,
    workers: usize,
    exports: usize,
    rows: usize,
    url: &str,
) {
    let sender = client(data, url, "bench-conv").await;
    for n in 0..exports {
        let body = export(rows, n);
        sender
            .send_stream(
                "",
                &format!("export-{n}.csv"),
                Some(body.len() as u64),
                futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(body))]),
            )
            .await
            .unwrap();
    }
    let db = kenshin_server::open_database(data, config).await.unwrap();
    let started = Instant::now();
    let mut running = Vec::new();
    for _ in 0..workers {
        running.push(RunningWorker::start(data, config.clone()).await.unwrap());
    }
    while db
        .queue_depth(kenshin_server::jobs::FILE_KINDS)
        .await
        .unwrap()
        > 0
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    for worker in running {
        worker.shutdown().await.unwrap();
    }
    db.close().await;
    let records = (exports * rows) as f64;
    println!(
        "conversion, {workers} worker(s): {exports} exports × {rows} records in {:.2} s = {:.0} records/s",
        elapsed.as_secs_f64(),
        records / elapsed.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let concurrency = arg(1, 8) as usize;
    let seconds = arg(2, 10);
    let exports = arg(3, 24) as usize;
    let rows = arg(4, 2000) as usize;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let postgres = std::env::var("KENSHIN_BENCH_DATABASE_URL").ok();
    let database_url = match &postgres {
        Some(admin) => fresh_database(admin).await,
        None => String::new(),
    };
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url,
        ..Config::default()
    };
    kenshin_relay::init::initialise(&root, config.clone())
        .await
        .unwrap();
    let data = DataDir::new(&root);
    let db = kenshin_server::open_database(&data, &config).await.unwrap();
    let ca = kenshin_relay::init::load_ca(&data).unwrap();
    for (code, kind, numbers) in [
        ("bench-inst", OrgKind::Institution, vec![]),
        ("bench-conv", OrgKind::Institution, vec![]),
        ("bench-ins-a", OrgKind::Insurer, vec!["06999901"]),
        ("bench-ins-b", OrgKind::Insurer, vec!["06999902"]),
    ] {
        let code: OrgCode = code.parse().unwrap();
        kenshin_relay::admin::create_org(
            &db,
            code.clone(),
            kind,
            "ベンチマーク",
            numbers.iter().map(|n| n.parse().unwrap()).collect(),
        )
        .await
        .unwrap();
        let out = root.join("certs").join(code.as_str());
        kenshin_relay::admin::issue_cert(&db, &ca, &code, "bench", &out, 30, None)
            .await
            .unwrap();
    }
    let now = OffsetDateTime::now_utc();
    for (from, to, mode) in [
        ("bench-inst", "bench-ins-a", RouteMode::PassThrough),
        ("bench-conv", "bench-ins-a", RouteMode::Convert),
        ("bench-conv", "bench-ins-b", RouteMode::Convert),
    ] {
        db.create_route(&from.parse().unwrap(), &to.parse().unwrap(), mode, now)
            .await
            .unwrap();
    }
    db.close().await;

    let mut servers = vec![
        RunningServer::start_as(&data, config.clone(), ServerRole::Api)
            .await
            .unwrap(),
    ];
    if postgres.is_some() {
        // The second machine: a copy of keys and configuration, the same blob directory.
        let second = dir.path().join("node-b");
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(&root)
            .arg(&second)
            .status()
            .unwrap();
        assert!(copied.success());
        std::fs::remove_dir_all(second.join("blobs")).unwrap();
        std::os::unix::fs::symlink(root.join("blobs"), second.join("blobs")).unwrap();
        servers.push(
            RunningServer::start_as(&DataDir::new(&second), config.clone(), ServerRole::Api)
                .await
                .unwrap(),
        );
    }
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("https://localhost:{}", s.addr.port()))
        .collect();
    let url = urls[0].clone();
    client(&data, &url, "bench-conv")
        .await
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();

    // 1. Small uploads at a fixed concurrency.
    let body = bytes::Bytes::from(export(400, 0)); // ≈ 24 KiB, a small institution's daily file
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for n in 0..concurrency {
        let sender = client(&data, &urls[n % urls.len()], "bench-inst").await;
        let body = body.clone();
        let latencies = Arc::clone(&latencies);
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let started = Instant::now();
                sender
                    .send_stream(
                        "bench-ins-a",
                        "daily.csv",
                        Some(body.len() as u64),
                        futures::stream::iter([Ok::<_, std::io::Error>(body.clone())]),
                    )
                    .await
                    .unwrap();
                latencies.lock().unwrap().push(started.elapsed());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut all = latencies.lock().unwrap().clone();
    all.sort();
    println!(
        "uploads through {} API node(s) on {}: {} × {} bytes at concurrency {concurrency} in {seconds} s = {:.0} submissions/s; p50 {:.1} ms, p99 {:.1} ms",
        urls.len(),
        if postgres.is_some() { "PostgreSQL" } else { "SQLite" },
        all.len(),
        body.len(),
        all.len() as f64 / seconds as f64,
        percentile(&all, 0.50).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0
    );

    // 2. Conversion with one worker, then two, each on a fresh queue.
    drain(&data, &config, 1, exports, rows, &url).await;
    drain(&data, &config, 2, exports, rows, &url).await;
    for server in servers {
        server.shutdown().await.unwrap();
    }
    println!(
        "machine: {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

/// A new database on the server `admin` names (benchmarks never reuse one).
async fn fresh_database(admin: &str) -> String {
    let name = format!("kr_bench_{}", std::process::id());
    kenshin_store::create_postgres_database(admin, &name)
        .await
        .unwrap()
}
