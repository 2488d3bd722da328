//! The PostgreSQL backend's own guarantees: row-level security and the append-only rules,
//! checked on a real server as the application role sees it.
//!
//! Needs `KENSHIN_TEST_DATABASE_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`);
//! without it these tests print why they skip — unless `CI` is set, where they fail.

use std::str::FromStr;

use kenshin_store::{Backend, Database};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Executor, Row};

fn admin_url(test: &str) -> Option<String> {
    match std::env::var("KENSHIN_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test}: CI must set KENSHIN_TEST_DATABASE_URL to a PostgreSQL server")
        }
        _ => {
            eprintln!("{test}: skipped, KENSHIN_TEST_DATABASE_URL is not set (no PostgreSQL)");
            None
        }
    }
}

/// A new empty database; returns its URL.
async fn fresh_database(admin: &str) -> String {
    let name = format!("kr_t_{}", uuid::Uuid::new_v4().simple());
    kenshin_store::create_postgres_database(admin, &name)
        .await
        .unwrap()
}

async fn owner(url: &str) -> PgConnection {
    PgConnectOptions::from_str(url)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A connection as the application role, with `scope` set for the session (None: unset).
async fn app(url: &str, scope: Option<&str>) -> PgConnection {
    let mut conn = owner(url).await;
    conn.execute("SET ROLE kenshin_app").await.unwrap();
    if let Some(scope) = scope {
        sqlx::query("SELECT set_config('kenshin.scope', $1, false)")
            .bind(scope)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn
}

async fn count(conn: &mut PgConnection, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(conn)
        .await
        .unwrap()
        .get("n")
}

const TENANT_TABLES: [&str; 8] = [
    "submissions",
    "deliveries",
    "objects",
    "background_jobs",
    "access_log",
    "events",
    "users",
    "ledger_entries",
];

/// Organisations 1 (sender), 2 (its receiver) and 3 (unrelated), one file from 1 to 2 with
/// its job, event, ledger entry, access-log row and a person in each organisation.
async fn seed(url: &str) {
    let db = Database::connect(url, 2).await.unwrap();
    assert_eq!(db.backend(), Backend::Postgres);
    db.close().await;
    let mut conn = owner(url).await;
    for statement in [
        "INSERT INTO orgs (id, code, kind, name, created_at) VALUES \
         (1, 'inst-a', 'institution', 'A健診センター', 0), \
         (2, 'ins-b', 'insurer', 'B健康保険組合', 0), \
         (3, 'ins-c', 'insurer', 'C健康保険組合', 0)",
        "INSERT INTO objects (id, kek_id, wrapped_key, plaintext_size, plaintext_sha256, ciphertext_size, created_at) \
         VALUES ('obj-1', 'kek', '\\x00', 1, repeat('a', 64), 2, 0)",
        "INSERT INTO submissions (id, sender_org_id, filename, size, sha256, state, object_id, received_at) \
         VALUES ('sub-1', 1, 'x.csv', 1, repeat('a', 64), 'delivered', 'obj-1', 0)",
        "INSERT INTO deliveries (id, submission_id, receiver_org_id, object_id, filename, state, created_at, expires_at) \
         VALUES ('del-1', 'sub-1', 2, 'obj-1', 'x.csv', 'ready', 0, 1)",
        "INSERT INTO background_jobs (id, kind, subject, org_id, payload, state, max_attempts, run_after, created_at, updated_at) \
         VALUES ('job-1', 'convert', 'sub-1', 1, '{}', 'done', 3, 0, 0, 0)",
        "INSERT INTO events (at, kind, actor, sender_org, receiver_org, submission_id) \
         VALUES (0, 'delivery_ready', 'system', 'inst-a', 'ins-b', 'sub-1')",
        "INSERT INTO ledger_entries (idx, event_seq, entry, sender_org, receiver_org, appended_at) \
         VALUES (0, 1, '\\x01', 'inst-a', 'ins-b', 0)",
        "INSERT INTO access_log (at, org, actor_kind, actor, action, outcome) \
         VALUES (0, 'inst-a', 'user', 'a.sender', 'upload', 'success')",
        "INSERT INTO users (org_id, login, display_name, role, password_hash, created_at) VALUES \
         (1, 'a.sender', '佐藤 花子', 'sender', 'h', 0), (3, 'c.admin', '田中 次郎', 'admin', 'h', 0)",
    ] {
        conn.execute(statement).await.unwrap();
    }
}

#[tokio::test]
async fn row_level_security_shows_each_organisation_only_its_rows() {
    let Some(admin) = admin_url("row_level_security") else {
        return;
    };
    let url = fresh_database(&admin).await;
    seed(&url).await;

    // No scope named: nothing at all, not even counts.
    let mut none = app(&url, None).await;
    for table in TENANT_TABLES {
        assert_eq!(count(&mut none, table).await, 0, "{table} without a scope");
    }
    // An unrelated organisation: nothing of the first's.
    let mut other = app(&url, Some("3")).await;
    for table in TENANT_TABLES {
        let expected = i64::from(table == "users"); // its own person
        assert_eq!(count(&mut other, table).await, expected, "{table} as org 3");
    }
    // The sender sees its file, its receiver's delivery of it, its log rows and person.
    let mut sender = app(&url, Some("1")).await;
    for table in TENANT_TABLES {
        assert_eq!(count(&mut sender, table).await, 1, "{table} as the sender");
    }
    // The receiver sees the delivery, the submission and object behind it, the ledger entry
    // and event of the file — not the sender's access log, person or job.
    let mut receiver = app(&url, Some("2")).await;
    for (table, expected) in [
        ("submissions", 1),
        ("deliveries", 1),
        ("objects", 1),
        ("events", 1),
        ("ledger_entries", 1),
        ("background_jobs", 0),
        ("access_log", 0),
        ("users", 0),
    ] {
        assert_eq!(
            count(&mut receiver, table).await,
            expected,
            "{table} as the receiver"
        );
    }
    // The relay itself sees everything.
    let mut system = app(&url, Some("system")).await;
    assert_eq!(count(&mut system, "users").await, 2);

    // Writing is scoped too: another organisation changes nothing and cannot plant rows.
    let changed = sqlx::query("UPDATE deliveries SET state = 'confirmed' WHERE id = 'del-1'")
        .execute(&mut other)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 0);
    let planted = sqlx::query(
        "INSERT INTO users (org_id, login, display_name, role, password_hash, created_at) \
         VALUES (1, 'intruder', '侵入 者', 'admin', 'h', 0)",
    )
    .execute(&mut other)
    .await
    .unwrap_err();
    assert!(
        planted.to_string().contains("row-level security"),
        "{planted}"
    );
    // A scope that is not an organisation id or 'system' is no scope.
    let mut bogus = app(&url, Some("1 OR true")).await;
    assert_eq!(count(&mut bogus, "submissions").await, 0);
}

#[tokio::test]
async fn the_application_role_cannot_rewrite_history() {
    let Some(admin) = admin_url("append_only") else {
        return;
    };
    let url = fresh_database(&admin).await;
    seed(&url).await;
    let mut system = app(&url, Some("system")).await;
    for statement in [
        "UPDATE events SET actor = 'someone else'",
        "DELETE FROM events",
        "UPDATE ledger_entries SET entry = '\\x02'",
        "DELETE FROM ledger_checkpoints",
        "UPDATE access_log SET actor = 'someone else'",
        "DELETE FROM access_log",
        "DELETE FROM access_log_expiry",
        "UPDATE access_log_expiry SET expired_through = 0 WHERE false",
        "UPDATE maps SET content = '\\x00'",
        "DROP TABLE access_log",
        "ALTER TABLE submissions DISABLE ROW LEVEL SECURITY",
        "SELECT * FROM _sqlx_migrations",
    ] {
        let result = sqlx::query(statement).execute(&mut system).await;
        // The expiry update that matches no row is allowed; everything else is refused.
        if statement.contains("WHERE false") {
            assert!(result.is_ok(), "{statement}: {result:?}");
        } else {
            assert!(result.is_err(), "{statement} was allowed");
        }
    }
    // Even the owner (no RLS, all rights) meets the triggers.
    let mut conn = owner(&url).await;
    for statement in [
        "UPDATE events SET actor = 'x'",
        "DELETE FROM ledger_entries",
        "UPDATE access_log SET actor = 'x'",
        "DELETE FROM access_log",
        "UPDATE access_log_expiry SET expired_through = -1",
    ] {
        let err = sqlx::query(statement).execute(&mut conn).await.unwrap_err();
        assert!(
            err.to_string().contains("append-only")
                || err.to_string().contains("expiry mark")
                || err.to_string().contains("check constraint"),
            "{statement}: {err}"
        );
    }
    // Events numbered densely by the trigger, whoever inserts.
    sqlx::query("INSERT INTO events (at, kind, actor) VALUES (1, 'test', 'system')")
        .execute(&mut system)
        .await
        .unwrap();
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM events ORDER BY seq")
        .fetch_all(&mut system)
        .await
        .unwrap();
    assert_eq!(seqs, vec![1, 2]);
}
