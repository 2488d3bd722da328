//! PostgreSQL for the tests. `KENSHIN_TEST_DATABASE_URL` names the server (CI always sets it;
//! tests of PostgreSQL-only behaviour use it); `KENSHIN_TEST_BACKEND=postgres` additionally
//! runs every test relay on it, a fresh database per relay, so that the same suites run on
//! both backends.

use std::str::FromStr;

use sqlx::{ConnectOptions, Connection, Executor};

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
    create_database(admin, &name)
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database: {e}"))
}

/// `None` outside a PostgreSQL run; otherwise the URL of a new, empty database (C collation,
/// so that ordering by code is byte order as on SQLite).
pub fn fresh_database_url() -> Option<String> {
    let admin = admin_url()?;
    let name = format!("kr_t_{}", uuid::Uuid::new_v4().simple());
    let url = {
        let admin = admin.clone();
        let name = name.clone();
        // Called from sync code inside async tests: a runtime of its own on a thread of its own.
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(create_database(&admin, &name))
        })
        .join()
        .unwrap()
    };
    Some(url.unwrap_or_else(|e| panic!("{ENV} is set but a test database cannot be created: {e}")))
}

async fn create_database(admin: &str, name: &str) -> Result<String, sqlx::Error> {
    let options = sqlx::postgres::PgConnectOptions::from_str(admin)?;
    let mut conn = options.connect().await?;
    conn.execute(
        format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        )
        .as_str(),
    )
    .await?;
    conn.close().await?;
    Ok(with_database(admin, name))
}

/// `admin` with its database name replaced by `name` (query parameters kept).
fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = admin.split_once('?').unwrap_or((admin, ""));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[authority_end..]
        .find('/')
        .map_or(base.len(), |i| authority_end + i);
    let mut url = format!("{}/{name}", &base[..host_end]);
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    url
}
