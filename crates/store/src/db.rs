use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::StoreError;

/// The metadata database.
///
/// SQLite allows one writer at a time. Rather than let transactions race for the write lock
/// (and fail with `SQLITE_BUSY` when a deferred transaction tries to upgrade), all writes go
/// through a pool of exactly one connection; reads use a separate pool and, thanks to WAL,
/// never wait for the writer.
#[derive(Clone, Debug)]
pub struct Database {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
}

impl Database {
    /// Starts a write transaction that takes the write lock at once (`BEGIN IMMEDIATE`).
    /// Several processes may share the file (an API node and conversion workers); a deferred
    /// transaction that reads and then writes cannot wait for another process's lock and
    /// fails with "database is locked", while an immediate one waits its busy timeout.
    pub(crate) async fn write_transaction(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Database, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed transaction survives power loss, which is what a receipt promises.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Freed pages are overwritten with zeros, so a destroyed wrapped key does not linger
            // in the file's free list.
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Database { writer, reader })
    }

    /// A cheap query that proves the database answers (for the health endpoint).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// Moves the write-ahead log into the main file and truncates it, so that pages holding
    /// destroyed keys do not survive in the WAL. Called after shredding.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}
