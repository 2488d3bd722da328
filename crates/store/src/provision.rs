//! Creating a relay's PostgreSQL database (for `init` scripts, tests and benchmarks): one
//! database per relay, UTF-8 with the C collation so that listings order by code exactly as
//! on SQLite.

use std::str::FromStr;

use sqlx::{ConnectOptions, Connection, Executor};

use crate::StoreError;

/// Creates the empty database `name` on the server `admin_url` connects to, and returns the
/// URL of the new database (the administrative URL with its database name replaced).
pub async fn create_postgres_database(admin_url: &str, name: &str) -> Result<String, StoreError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if !valid {
        return Err(StoreError::InvalidState(format!(
            "{name:?} is not a database name (lower-case letters, digits and _, at most 63)"
        )));
    }
    let mut conn = sqlx::postgres::PgConnectOptions::from_str(admin_url)?
        .connect()
        .await?;
    conn.execute(
        format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        )
        .as_str(),
    )
    .await?;
    conn.close().await?;
    Ok(with_database(admin_url, name))
}

/// Makes the database `url` names ready to receive a relay's dump: it must hold no table,
/// view, sequence or function in `public` yet (a restore never merges into a live relay),
/// and the role the service switches to must exist and be granted to the connecting role —
/// roles belong to the server, so a dump does not carry them (the first migration makes
/// the same arrangement).
pub async fn prepare_postgres_restore(url: &str) -> Result<(), StoreError> {
    let mut conn = sqlx::postgres::PgConnectOptions::from_str(url)?
        .connect()
        .await?;
    let objects: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public') \
              + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                 WHERE n.nspname = 'public')",
    )
    .fetch_one(&mut conn)
    .await?;
    if objects > 0 {
        conn.close().await?;
        return Err(StoreError::InvalidState(format!(
            "the database to restore into is not empty ({objects} objects in its public \
             schema): restore only into a new database (createdb -T template0 -l C)"
        )));
    }
    conn.execute(
        "DO $$
        BEGIN
            BEGIN
                CREATE ROLE kenshin_app NOLOGIN NOSUPERUSER NOINHERIT NOBYPASSRLS;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
            IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                EXECUTE format('GRANT kenshin_app TO %I', current_user);
            END IF;
        END $$",
    )
    .await?;
    conn.close().await?;
    Ok(())
}

/// `url` with its database name replaced by `name`, its query parameters kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{name}", &base[..path]);
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_parameters_kept() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "kr_1"),
            "postgres://u@h:5432/kr_1"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=require", "kr_1"),
            "postgres://u@h/kr_1?sslmode=require"
        );
        assert_eq!(with_database("postgres://h", "kr_1"), "postgres://h/kr_1");
    }
}
