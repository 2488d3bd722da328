//! Storage of the transparency ledger: entries, subtree hashes and signed checkpoints.
//! The Merkle arithmetic lives in `kenshin-ledger`; this module only keeps its state.

use sqlx::FromRow;
use time::OffsetDateTime;

use crate::db::Scope;
use crate::events::EventRecord;
use crate::timefmt::{from_ms, to_ms};
use crate::{Database, StoreError};

/// One entry to append, with the parties that may read it.
#[derive(Clone, Debug)]
pub struct NewLedgerEntry {
    pub idx: u64,
    pub event_seq: i64,
    pub entry: Vec<u8>,
    pub submission_id: Option<String>,
    pub sender_org: Option<String>,
    pub receiver_org: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    pub idx: u64,
    pub event_seq: i64,
    pub entry: Vec<u8>,
    pub submission_id: Option<String>,
    pub sender_org: Option<String>,
    pub receiver_org: Option<String>,
    pub appended_at: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: [u8; 32],
    pub note: String,
    pub signed_at: OffsetDateTime,
}

/// A row of `ledger_entries`, as stored.
#[derive(sqlx::FromRow)]
struct EntryRow {
    idx: i64,
    event_seq: i64,
    entry: Vec<u8>,
    submission_id: Option<String>,
    sender_org: Option<String>,
    receiver_org: Option<String>,
    appended_at: i64,
}

fn entry_from_row(row: sqlx::any::AnyRow) -> Result<LedgerEntry, StoreError> {
    let row = EntryRow::from_row(&row)?;
    Ok(LedgerEntry {
        idx: row.idx as u64,
        event_seq: row.event_seq,
        entry: row.entry,
        submission_id: row.submission_id,
        sender_org: row.sender_org,
        receiver_org: row.receiver_org,
        appended_at: from_ms(row.appended_at),
    })
}

/// A row of `ledger_checkpoints`, as stored.
#[derive(sqlx::FromRow)]
struct CheckpointRow {
    size: i64,
    root: Vec<u8>,
    note: String,
    signed_at: i64,
}

fn checkpoint_from_row(row: sqlx::any::AnyRow) -> Result<StoredCheckpoint, StoreError> {
    let row = CheckpointRow::from_row(&row)?;
    Ok(StoredCheckpoint {
        size: row.size as u64,
        root: row
            .root
            .try_into()
            .map_err(|_| StoreError::corrupt("ledger_checkpoints", "root is not 32 bytes"))?,
        note: row.note,
        signed_at: from_ms(row.signed_at),
    })
}

impl Database {
    /// Number of entries in the ledger (the next entry's index).
    pub async fn ledger_size(&self) -> Result<u64, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_entries")
            .fetch_one(&mut *rx)
            .await?;
        Ok(n as u64)
    }

    /// Events not yet in the ledger, oldest first.
    pub async fn events_not_in_ledger(&self, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(event_seq) FROM ledger_entries")
            .fetch_one(&mut *rx)
            .await?;
        drop(rx);
        self.list_events(last.unwrap_or(0), limit).await
    }

    /// Appends a batch of entries and the subtree hashes they complete, in one transaction.
    /// Fails (and changes nothing) if the batch does not start at the current size.
    pub async fn append_ledger(
        &self,
        entries: &[NewLedgerEntry],
        nodes: &[(u8, u64, [u8; 32])],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        let size: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_entries")
            .fetch_one(&mut *tx)
            .await?;
        if entries.first().is_some_and(|e| e.idx != size as u64) {
            return Err(StoreError::Conflict(format!(
                "ledger append at {} but the ledger has {size} entries",
                entries[0].idx
            )));
        }
        for entry in entries {
            sqlx::query(
                "INSERT INTO ledger_entries (idx, event_seq, entry, submission_id, sender_org, \
                 receiver_org, appended_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(entry.idx as i64)
            .bind(entry.event_seq)
            .bind(&entry.entry)
            .bind(&entry.submission_id)
            .bind(&entry.sender_org)
            .bind(&entry.receiver_org)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
        }
        for (level, idx, hash) in nodes {
            sqlx::query("INSERT INTO ledger_nodes (level, idx, hash) VALUES ($1, $2, $3)")
                .bind(i64::from(*level))
                .bind(*idx as i64)
                .bind(&hash[..])
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The hash of a complete subtree, if that subtree exists.
    pub async fn ledger_node(&self, level: u8, idx: u64) -> Result<Option<[u8; 32]>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let hash: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT hash FROM ledger_nodes WHERE level = $1 AND idx = $2")
                .bind(i64::from(level))
                .bind(idx as i64)
                .fetch_optional(&mut *rx)
                .await?;
        hash.map(|h| {
            h.try_into()
                .map_err(|_| StoreError::corrupt("ledger_nodes", "hash is not 32 bytes"))
        })
        .transpose()
    }

    pub async fn ledger_entry(&self, idx: u64) -> Result<LedgerEntry, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        sqlx::query("SELECT * FROM ledger_entries WHERE idx = $1")
            .bind(idx as i64)
            .fetch_optional(&mut *rx)
            .await?
            .ok_or(StoreError::NotFound)
            .and_then(entry_from_row)
    }

    /// Entries about one submission.
    pub async fn ledger_entries_for_submission(
        &self,
        submission_id: &str,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows =
            sqlx::query("SELECT * FROM ledger_entries WHERE submission_id = $1 ORDER BY idx")
                .bind(submission_id)
                .fetch_all(&mut *rx)
                .await?;
        rows.into_iter().map(entry_from_row).collect()
    }

    /// Entries in which `org` is a party (sender or receiver), after index `after`.
    pub async fn ledger_entries_for_org(
        &self,
        org: &str,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows = sqlx::query(
            "SELECT * FROM ledger_entries WHERE (sender_org = $1 OR receiver_org = $1) AND idx > $2 \
             ORDER BY idx LIMIT $3",
        )
        .bind(org)
        .bind(after.map(|a| a as i64).unwrap_or(-1))
        .bind(i64::from(limit))
        .fetch_all(&mut *rx)
        .await?;
        rows.into_iter().map(entry_from_row).collect()
    }

    /// Entries `[from, to)` in order (for audits).
    pub async fn ledger_entries_range(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows =
            sqlx::query("SELECT * FROM ledger_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")
                .bind(from as i64)
                .bind(to as i64)
                .fetch_all(&mut *rx)
                .await?;
        rows.into_iter().map(entry_from_row).collect()
    }

    /// Ledger entries whose text contains `needle` (e.g. `kind access_log_digest`), in order.
    pub async fn ledger_entries_containing(
        &self,
        needle: &str,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let contains = match self.backend() {
            crate::Backend::Sqlite => "instr(CAST(entry AS TEXT), $1) > 0",
            crate::Backend::Postgres => "position(convert_to($1, 'UTF8') in entry) > 0",
        };
        let rows = sqlx::query(&format!(
            "SELECT * FROM ledger_entries WHERE {contains} ORDER BY idx"
        ))
        .bind(needle)
        .fetch_all(&mut *rx)
        .await?;
        rows.into_iter().map(entry_from_row).collect()
    }

    pub async fn insert_checkpoint(
        &self,
        size: u64,
        root: &[u8; 32],
        note: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.execute_write(sqlx::query(
            "INSERT INTO ledger_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (size) DO NOTHING",
        )
        .bind(size as i64)
        .bind(&root[..])
        .bind(note)
        .bind(to_ms(now))
        )
        .await?;
        Ok(())
    }

    pub async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        sqlx::query("SELECT * FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(&mut *rx)
            .await?
            .map(checkpoint_from_row)
            .transpose()
    }
}
