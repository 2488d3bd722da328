use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The object exists but its content was destroyed; the message says when and why.
    #[error("{0}")]
    Gone(String),
    /// A withdrawal after a receiver already downloaded the file.
    #[error("a receiver has already downloaded this submission; it can no longer be withdrawn")]
    AlreadyDownloaded,
    /// 受信完了 for a delivery that was never downloaded.
    #[error("the delivery has not been downloaded yet; download it before confirming receipt")]
    NotDownloaded,
    /// A uniqueness or reference rule was broken; the message says which, in user terms.
    #[error("{0}")]
    Conflict(String),
    /// The object is not in a state that allows the operation; the message says why.
    #[error("{0}")]
    InvalidState(String),
    /// A value read back from the database does not parse: the database was edited by hand or
    /// is corrupt.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("blob storage: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    pub(crate) fn corrupt(table: &'static str, detail: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            table,
            detail: detail.to_string(),
        }
    }

    /// Whether this is the disk-full condition, which callers report distinctly.
    pub fn is_storage_full(&self) -> bool {
        match self {
            StoreError::Io(err) => is_storage_full(err),
            _ => false,
        }
    }
}

/// ENOSPC or EDQUOT: the file system refuses more data.
pub fn is_storage_full(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(code) if code == libc::ENOSPC || code == libc::EDQUOT)
        || err.kind() == std::io::ErrorKind::StorageFull
}

/// Maps a unique-constraint violation to a readable conflict.
pub(crate) fn unique_violation(err: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message()),
        _ => StoreError::Database(err),
    }
}

/// A lifecycle refusal (`kenshin_core::LifecycleError`) the store has no more precise answer
/// for: the object is not in a state that allows the action.
pub(crate) fn lifecycle(refused: kenshin_core::LifecycleError) -> StoreError {
    StoreError::InvalidState(refused.to_string())
}
