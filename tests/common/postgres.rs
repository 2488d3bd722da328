//! PostgreSQL for the tests. `KENSHIN_TEST_DATABASE_URL` names the server (CI always sets it;
//! tests of PostgreSQL-only behaviour use it); `KENSHIN_TEST_BACKEND=postgres` additionally
//! runs every test relay on it, a fresh database per relay, so that the same suites run on
//! both backends.

pub const ENV: &str = "KENSHIN_TEST_DATABASE_URL";

/// The server's administrative URL, if this run has one. Under CI it must.
pub fn server_url(test: &str) -> Option<String> {
    match std::env::var(ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test}: CI must set {ENV} to a PostgreSQL server")
        }
        _ => {
            eprintln!("{test}: skipped, {ENV} is not set (no PostgreSQL server)");
            None
        }
    }
}

/// The administrative URL test relays create their databases from, if this run puts them
/// on PostgreSQL.
pub fn admin_url() -> Option<String> {
    if std::env::var("KENSHIN_TEST_BACKEND").as_deref() != Ok("postgres") {
        return None;
    }
    match std::env::var(ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => panic!("KENSHIN_TEST_BACKEND=postgres needs {ENV}"),
    }
}

/// A new, empty database on `admin`'s server; returns its URL.
pub async fn new_database(admin: &str) -> String {
    let name = format!("kr_t_{}", uuid::Uuid::new_v4().simple());
    kenshin_store::create_postgres_database(admin, &name)
        .await
        .unwrap_or_else(|e| panic!("{ENV} is set but a test database cannot be created: {e}"))
}

/// Drops the database `url` names (from the server's administrative URL), connections and all.
pub async fn drop_database(url: &str) {
    use sqlx::{Connection, Executor};
    let admin = std::env::var(ENV).expect("a PostgreSQL run");
    let name = url
        .split('?')
        .next()
        .and_then(|base| base.rsplit('/').next())
        .unwrap()
        .to_owned();
    assert!(
        name.starts_with("kr_t_"),
        "only test databases are dropped: {name}"
    );
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// `None` outside a PostgreSQL run; otherwise the URL of a new, empty database.
pub fn fresh_database_url() -> Option<String> {
    let admin = admin_url()?;
    // Called from sync code inside async tests: a runtime of its own on a thread of its own.
    let url = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(new_database(&admin))
    })
    .join()
    .unwrap();
    Some(url)
}
