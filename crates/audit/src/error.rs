/// Errors of the export writers and of [`read_jsonl`](crate::read_jsonl).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Writing to (or reading from) the underlying stream failed.
    #[error("audit export I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The CSV writer failed (it wraps I/O errors of its own).
    #[error("audit CSV export failed: {0}")]
    Csv(#[from] csv::Error),
    /// JSON serialisation failed.
    #[error("audit JSON export failed: {0}")]
    Json(#[from] serde_json::Error),
    /// A JSON Lines input line is not a valid record.
    #[error("line {line} of the audit JSON Lines input is not a valid record: {source}")]
    Line {
        /// 1-based line number.
        line: u64,
        /// What was wrong with it.
        source: serde_json::Error,
    },
}
