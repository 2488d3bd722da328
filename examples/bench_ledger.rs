//! Ledger benchmark (not a test): durable appends per second through the real sequencer
//! (events → canonical entries → subtree hashes read from and written to SQLite → signed
//! checkpoint), and proof latency from the database-backed tree.
//!
//! `cargo run --release --example bench_ledger -- [EVENTS]` (default 100000).

use std::time::Instant;

use kenshin_server::ledger::Ledger;
use kenshin_store::Database;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events: i64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("event count"))
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let db = Database::open(&dir.path().join("relay.db")).await?;
    // Events as the lifecycle writes them (ids, codes, sizes; no personal data).
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("relay.db"));
    let raw = sqlx::SqlitePool::connect_with(options).await?;
    let mut tx = raw.begin().await?;
    for i in 0..events {
        sqlx::query(
            "INSERT INTO events (at, kind, actor, actor_org, submission_id, sender_org, receiver_org, size) \
             VALUES (?, 'received', 'cert:0123456789abcdef', 'inst-0001', ?, 'inst-0001', 'ins-0001', ?)",
        )
        .bind(1_790_000_000_000i64 + i)
        .bind(format!("0190f000-0000-7000-8000-{i:012}"))
        .bind(1000 + i)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    raw.close().await;

    let ledger = Ledger::open(
        db.clone(),
        &dir.path().join("ledger.key"),
        "bench.example/ledger",
    )?;
    let started = Instant::now();
    let appended = ledger.sequence().await?;
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(appended as i64, events);
    println!(
        "sequencer: {appended} durable appends (batches of 1000, one signed checkpoint) in {seconds:.2} s = {:.0} appends/s",
        appended as f64 / seconds
    );

    let size = appended;
    let rounds = 200u64;
    let started = Instant::now();
    for i in 0..rounds {
        let index = (i * 7919) % size;
        let proof = ledger.inclusion_proof(index, size).await?;
        assert!(!proof.is_empty());
    }
    let inclusion_ms = started.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
    let started = Instant::now();
    for i in 1..=rounds {
        let proof = ledger.consistency_proof(size / 2 + i, size).await?;
        assert!(!proof.is_empty());
    }
    let consistency_ms = started.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
    let started = Instant::now();
    let audit = ledger.audit().await?;
    let audit_s = started.elapsed().as_secs_f64();
    assert!(audit.is_intact());
    println!(
        "at {size} entries (SQLite): inclusion proof {inclusion_ms:.3} ms, consistency proof {consistency_ms:.3} ms, full audit {audit_s:.2} s"
    );
    Ok(())
}
