use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AnyPool, Executor};

use crate::StoreError;

/// Which database engine holds the metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One file beside the blobs: the single-machine default.
    Sqlite,
    /// A shared server for many API nodes and workers, with row-level security.
    Postgres,
}

/// Whose rows a transaction may see under PostgreSQL row-level security.
///
/// The application role sees no tenant row unless the transaction names a scope: a tenant's
/// own pages and lists run as [`Scope::Org`], so a forgotten `WHERE` clause still cannot leak
/// another organisation's rows; the relay's own cross-organisation work (delivering a
/// sender's file to its receivers, converting, sequencing the ledger) runs as
/// [`Scope::System`]. SQLite has no row-level security and ignores the scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    System,
    Org(i64),
}

impl Scope {
    fn setting(self) -> String {
        match self {
            Scope::System => "system".to_owned(),
            Scope::Org(id) => id.to_string(),
        }
    }
}

/// The role the application acts as on PostgreSQL: not the owner of the tables, so row-level
/// security applies to it (owners and superusers bypass it). Created by the migrations.
const APP_ROLE: &str = "kenshin_app";

/// The transaction-scoped advisory lock that serialises writers on PostgreSQL, exactly as
/// SQLite's `BEGIN IMMEDIATE` does: every store function was written for one writer at a
/// time (check a state, then change it), and keeps that guarantee on both engines.
const WRITE_LOCK: i64 = 0x4b52_5752; // "KRWR"

/// The session-scoped advisory lock held by the one ledger sequencer.
const SEQUENCER_LOCK: i64 = 0x4b52_4c53; // "KRLS"

/// The metadata database.
///
/// SQLite allows one writer at a time. Rather than let transactions race for the write lock
/// (and fail with `SQLITE_BUSY` when a deferred transaction tries to upgrade), all writes go
/// through a pool of exactly one connection; reads use a separate pool and, thanks to WAL,
/// never wait for the writer. On PostgreSQL both are one pool of connections that act as the
/// application role.
#[derive(Clone, Debug)]
pub struct Database {
    pub(crate) writer: AnyPool,
    pub(crate) reader: AnyPool,
    backend: Backend,
}

/// Holds the ledger sequencer's lock until dropped (or until its connection dies, which is
/// how a crashed sequencer's role passes to another node).
pub struct SequencerLease {
    /// Detached from the pool: closing the pool must not wait for it, and it never goes back
    /// to the pool with the lock still held.
    connection: Option<sqlx::AnyConnection>,
}

impl Database {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction that takes the write lock at once (`BEGIN IMMEDIATE` on
    /// SQLite, an advisory lock on PostgreSQL), acting for the whole relay.
    /// Several processes may share the file (an API node and conversion workers); a deferred
    /// transaction that reads and then writes cannot wait for another process's lock and
    /// fails with "database is locked", while an immediate one waits its busy timeout.
    pub(crate) async fn write_transaction(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(self.begin_write().await?)
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => {
                let mut tx = self.writer.begin().await?;
                set_scope(&mut tx, Scope::System).await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }

    /// One statement in a write transaction of its own.
    pub(crate) async fn execute_write<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<sqlx::any::AnyQueryResult, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let done = query.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// A connection for reading what `scope` may see. On PostgreSQL a read-only transaction
    /// carrying the scope (row-level security); on SQLite, which has no scopes, a pooled
    /// connection as it is — a BEGIN and a ROLLBACK around every read cost two more trips
    /// to the connection's thread, measurably on the upload path.
    pub(crate) async fn read_transaction(&self, scope: Scope) -> Result<ReadTx, StoreError> {
        match self.backend {
            Backend::Sqlite => Ok(ReadTx::Connection(self.reader.acquire().await?)),
            Backend::Postgres => {
                let mut tx = self.reader.begin_with("BEGIN READ ONLY").await?;
                set_scope(&mut tx, scope).await?;
                Ok(ReadTx::Transaction(tx))
            }
        }
    }

    /// Opens (creating if needed) the SQLite database file and brings its schema up to date.
    /// A new file is made 0600 before anything is written to it (SQLite gives its `-wal`
    /// and `-shm` files the database file's mode).
    pub async fn open(path: &Path) -> Result<Database, StoreError> {
        sqlx::any::install_default_drivers();
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        {
            let migrator = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&migrator).await?;
            migrator.close().await;
        }
        let url = sqlite_url(path)?;
        let writer = AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn).await }))
            .connect_with(AnyConnectOptions::from_str(&format!("{url}?mode=rw"))?)
            .await?;
        let reader = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn).await }))
            .connect_with(AnyConnectOptions::from_str(&format!("{url}?mode=ro"))?)
            .await?;
        Ok(Database {
            writer,
            reader,
            backend: Backend::Sqlite,
        })
    }

    /// Connects to PostgreSQL at `url`, brings the schema up to date (as the connecting role,
    /// which owns the tables) and then acts only as the application role, under row-level
    /// security.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Database, StoreError> {
        sqlx::any::install_default_drivers();
        let options = PgConnectOptions::from_str(url)?;
        {
            let migrator = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            sqlx::migrate!("./migrations/postgres")
                .run(&migrator)
                .await?;
            migrator.close().await;
        }
        // Two pools, as on SQLite: writers queue for the write lock while holding a connection,
        // and a writer may read through another connection before it commits — with one pool,
        // enough queued writers would leave the lock holder no connection to read with.
        let any_options = AnyConnectOptions::from_str(url)?;
        let pool = |size: u32| {
            AnyPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(format!("SET ROLE {APP_ROLE}").as_str())
                            .await?;
                        Ok(())
                    })
                })
                .connect_with(any_options.clone())
        };
        let writers = (max_connections / 4).clamp(2, 8);
        let writer = pool(writers).await?;
        let reader = pool(max_connections.saturating_sub(writers).max(2)).await?;
        Ok(Database {
            writer,
            reader,
            backend: Backend::Postgres,
        })
    }

    /// A cheap query that proves the database answers (for the health endpoint).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// Moves the write-ahead log into the main file and truncates it, so that pages holding
    /// destroyed keys do not survive in the WAL. Called after shredding. (PostgreSQL reuses
    /// dead tuples' space through autovacuum; there is no per-file log to truncate.)
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }

    /// Tries to become the one ledger sequencer. On PostgreSQL a session advisory lock, held
    /// by a connection kept out of the pool: when its node dies the server drops the session
    /// and the lock, and another node's next attempt wins. SQLite serves one API process, which
    /// is always the sequencer.
    pub async fn try_sequencer_lease(&self) -> Result<Option<SequencerLease>, StoreError> {
        match self.backend {
            Backend::Sqlite => Ok(Some(SequencerLease { connection: None })),
            Backend::Postgres => {
                let mut conn = self.writer.acquire().await?;
                let won: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(SEQUENCER_LOCK)
                    .fetch_one(&mut *conn)
                    .await?;
                if !won {
                    return Ok(None);
                }
                Ok(Some(SequencerLease {
                    connection: Some(conn.detach()),
                }))
            }
        }
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

impl SequencerLease {
    /// Proves the lease still holds (its connection is alive) before a batch is sequenced.
    pub async fn check(&mut self) -> Result<(), StoreError> {
        if let Some(conn) = self.connection.as_mut() {
            sqlx::query("SELECT 1").execute(conn).await?;
        }
        Ok(())
    }
}

impl Drop for SequencerLease {
    fn drop(&mut self) {
        // Closing the session is what releases the lock (dropping the socket does too, less
        // politely).
        if let Some(conn) = self.connection.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = sqlx::Connection::close(conn).await;
                });
            }
        }
    }
}

async fn set_scope(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    scope: Scope,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('kenshin.scope', $1, true)")
        .bind(scope.setting())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn sqlite_pragmas(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    // FULL: a committed transaction survives power loss, which is what a receipt promises.
    // secure_delete: freed pages are overwritten with zeros, so a destroyed wrapped key does
    // not linger in the file's free list.
    conn.execute(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA secure_delete = ON; PRAGMA busy_timeout = 10000;",
    )
    .await?;
    Ok(())
}

fn sqlite_url(path: &Path) -> Result<String, StoreError> {
    let text = path
        .to_str()
        .ok_or_else(|| StoreError::InvalidState("database path is not UTF-8".into()))?;
    if text.contains(['?', '#']) {
        return Err(StoreError::InvalidState(
            "the database path may not contain '?' or '#'".into(),
        ));
    }
    Ok(format!("sqlite://{text}"))
}

/// What [`Database::read_transaction`] hands out: used as a connection (`&mut *rx`).
pub(crate) enum ReadTx {
    Transaction(sqlx::Transaction<'static, sqlx::Any>),
    Connection(sqlx::pool::PoolConnection<sqlx::Any>),
}

impl std::ops::Deref for ReadTx {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &sqlx::AnyConnection {
        match self {
            ReadTx::Transaction(tx) => tx,
            ReadTx::Connection(conn) => conn,
        }
    }
}

impl std::ops::DerefMut for ReadTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        match self {
            ReadTx::Transaction(tx) => tx,
            ReadTx::Connection(conn) => conn,
        }
    }
}
