//! Consistent copies of the database for backups: SQLite `VACUUM INTO`, a PostgreSQL
//! snapshot exported for `pg_dump` — each with the objects that still have a key in it, the
//! blobs a backup must carry.

use kenshin_core::ObjectId;

use crate::timefmt::parse;
use crate::{Database, StoreError};

impl Database {
    /// Ids of objects whose keys still exist: every other blob on disk is garbage.
    /// Writes a consistent copy of the whole database to `path` (SQLite `VACUUM INTO`: only
    /// live rows, so keys destroyed by shredding are not in it) and returns the objects that
    /// still have a key in that copy — exactly the blobs a backup must carry.
    pub async fn snapshot_to(
        &self,
        path: &std::path::Path,
    ) -> Result<std::collections::HashSet<ObjectId>, StoreError> {
        if self.backend() != crate::Backend::Sqlite {
            return Err(StoreError::InvalidState(
                "VACUUM INTO copies SQLite; a PostgreSQL database is dumped from an exported \
                 snapshot"
                    .into(),
            ));
        }
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::InvalidState("snapshot path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.writer)
            .await?;
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .read_only(true);
        let copy = sqlx::SqlitePool::connect_with(options).await?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM objects WHERE wrapped_key IS NOT NULL")
                .fetch_all(&copy)
                .await?;
        copy.close().await;
        ids.into_iter().map(|id| parse("objects", id)).collect()
    }

    /// PostgreSQL: opens a read-only REPEATABLE READ transaction on a connection of its own,
    /// exports its snapshot for `pg_dump --snapshot` and reads, in that same snapshot, the
    /// objects that still have a key — so the dump and the list of blobs a backup must carry
    /// describe one instant, as `VACUUM INTO` does on SQLite. The snapshot stays importable
    /// until [`ExportedSnapshot::release`].
    pub async fn export_snapshot(&self) -> Result<ExportedSnapshot, StoreError> {
        if self.backend() != crate::Backend::Postgres {
            return Err(StoreError::InvalidState(
                "exported snapshots are a PostgreSQL feature; SQLite is copied with VACUUM INTO"
                    .into(),
            ));
        }
        let mut conn = self.reader.acquire().await?.detach();
        let result = async {
            sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut conn)
                .await?;
            sqlx::query("SELECT set_config('kenshin.scope', 'system', true)")
                .execute(&mut conn)
                .await?;
            let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
                .fetch_one(&mut conn)
                .await?;
            let ids: Vec<String> =
                sqlx::query_scalar("SELECT id FROM objects WHERE wrapped_key IS NOT NULL")
                    .fetch_all(&mut conn)
                    .await?;
            Ok::<_, StoreError>((id, ids))
        }
        .await;
        match result {
            Ok((id, ids)) => Ok(ExportedSnapshot {
                connection: conn,
                id,
                live: ids
                    .into_iter()
                    .map(|id| parse("objects", id))
                    .collect::<Result<_, _>>()?,
            }),
            Err(err) => {
                let _ = sqlx::Connection::close(conn).await;
                Err(err)
            }
        }
    }
}

/// A PostgreSQL snapshot held open for another session (`pg_dump`) to import.
pub struct ExportedSnapshot {
    connection: sqlx::AnyConnection,
    /// The name `pg_dump --snapshot` takes.
    pub id: String,
    /// Objects with a key in this snapshot: the blobs a backup must carry.
    pub live: std::collections::HashSet<ObjectId>,
}

impl ExportedSnapshot {
    /// Ends the snapshot's transaction (after the importer has started its own).
    pub async fn release(mut self) -> Result<(), StoreError> {
        sqlx::raw_sql("COMMIT")
            .execute(&mut self.connection)
            .await?;
        sqlx::Connection::close(self.connection).await?;
        Ok(())
    }
}
