//! Errors of writing and reading MHLW archives.

use std::fmt;

/// Everything that can go wrong writing or reading an archive.
///
/// Reading errors that concern one DATA file come wrapped in a [`RecordError`] that says which
/// file, line and element; the variant inside stays the same, so callers can match on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MhlwError {
    // ----- writing -------------------------------------------------------------------------
    /// A record cannot be written as it is (missing or malformed header field, value that
    /// does not fit the item's XML type, ...). `record` is the record's `source_record`.
    #[error("record {record}: {field}: {message}")]
    InvalidRecord {
        record: u64,
        field: String,
        message: String,
    },
    /// The [`ArchiveMeta`](crate::ArchiveMeta) is unusable (bad sender number, ...).
    #[error("archive metadata: {0}")]
    InvalidMeta(String),
    /// More records than the format can count or name (6-digit 通番, su08 totalCount).
    #[error("too many records for one archive: the format allows at most {max}")]
    TooManyRecords { max: u64 },

    // ----- the ZIP container --------------------------------------------------------------
    /// The input has no ZIP end-of-central-directory record.
    #[error("not a ZIP archive: {0}")]
    NotZip(String),
    /// The ZIP structure is damaged or truncated (or a CRC does not match).
    #[error("corrupt ZIP archive: {0}")]
    CorruptZip(String),
    #[error("the archive declares {found} entries; the limit is {limit}")]
    TooManyEntries { found: u64, limit: u64 },
    #[error("the archive's central directory is {size} bytes; the limit is {limit}")]
    CentralDirectoryTooLarge { size: u64, limit: u64 },
    /// An entry name that could escape an extraction directory or is otherwise unsafe.
    #[error("entry {name:?} has an unsafe name: {reason}")]
    UnsafeEntryName { name: String, reason: &'static str },
    #[error("entry {name:?} is encrypted; encrypted entries are not accepted")]
    EncryptedEntry { name: String },
    #[error("entry {name:?} is a symbolic link; links are not accepted")]
    SymlinkEntry { name: String },
    #[error(
        "entry {name:?} uses compression method {method}; only stored and deflate are accepted"
    )]
    UnsupportedCompression { name: String, method: String },
    /// Two entries whose compressed data overlap: the same bytes would be expanded twice.
    #[error("entries {first:?} and {second:?} share compressed data (overlapping entries)")]
    OverlappingEntries { first: String, second: String },
    #[error("entry {name:?} appears more than once in the archive")]
    DuplicateEntry { name: String },
    /// Counted while decompressing, never taken from the ZIP headers.
    #[error("entry {name:?} expands beyond the per-entry limit of {limit} bytes")]
    EntryTooLarge { name: String, limit: u64 },
    /// Counted while decompressing, never taken from the ZIP headers.
    #[error(
        "the archive expands beyond the total limit of {limit} bytes (while reading {name:?})"
    )]
    ArchiveTooLarge { name: String, limit: u64 },
    #[error("entry {name:?} expands more than {limit}:1 ({uncompressed} bytes out of {compressed} compressed bytes)")]
    CompressionRatio {
        name: String,
        limit: u32,
        uncompressed: u64,
        compressed: u64,
    },
    /// The archive does not have the MHLW layout (index, summary, DATA folder).
    #[error("archive layout: {0}")]
    Layout(String),
    /// The index or summary disagrees with the archive's contents.
    #[error("{file}: {what} is {declared} but the archive holds {found}")]
    CountMismatch {
        file: String,
        what: &'static str,
        declared: u64,
        found: u64,
    },

    // ----- XML ------------------------------------------------------------------------------
    /// Any `<!DOCTYPE ...>`: a DTD is the vehicle of entity expansion (billion laughs) and of
    /// external entities (XXE), and no MHLW file has one.
    #[error("DOCTYPE declarations are not accepted (a DTD allows entity expansion and external entities)")]
    Doctype,
    #[error("reference to the undeclared entity &{0};")]
    UnknownEntity(String),
    #[error("elements nest deeper than {limit}")]
    TooDeep { limit: usize },
    #[error("a text node, attribute value or name is longer than {limit} bytes")]
    TextTooLong { limit: usize },
    #[error("the document has more than {limit} elements")]
    TooManyElements { limit: usize },
    #[error("an element has more than {limit} attributes")]
    TooManyAttributes { limit: usize },
    #[error("unsupported character encoding {0:?}: only UTF-8 is accepted")]
    Encoding(String),
    #[error("malformed XML: {0}")]
    Xml(String),
    /// Well-formed XML that is not what the MHLW schema and this crate's rules describe.
    #[error("{0}")]
    Content(String),
    /// An observation whose item code the profile does not know.
    #[error("item code {code} is not in profile {profile}")]
    UnknownItem { code: String, profile: String },
    /// An error inside the index or summary file of an archive, with its position.
    #[error("{file}{}: {error}", location(*.line, .element.as_deref()))]
    InFile {
        file: String,
        line: Option<u64>,
        element: Option<String>,
        error: Box<MhlwError>,
    },

    // ----- plumbing -------------------------------------------------------------------------
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// An error reported by the ZIP library while writing.
    #[error("ZIP: {0}")]
    Zip(String),
}

/// A DATA file that could not be turned into a record. Reading goes on with the next file
/// unless the error concerns the whole archive (a total size limit, an I/O error).
#[derive(Debug)]
pub struct RecordError {
    /// Name of the entry inside the archive, e.g. `.../DATA/h1399999901202504011100001.xml`.
    pub file: String,
    /// 1-based position of the file among the archive's DATA files.
    pub source_record: u64,
    /// 1-based line in the XML, when the error has a position.
    pub line: Option<u64>,
    /// Path of the element concerned, e.g. `ClinicalDocument/recordTarget/patientRole/id`.
    pub element: Option<String>,
    pub error: MhlwError,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (record {}){}: {}",
            self.file,
            self.source_record,
            location(self.line, self.element.as_deref()),
            self.error
        )
    }
}

impl std::error::Error for RecordError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

fn location(line: Option<u64>, element: Option<&str>) -> String {
    match (line, element) {
        (Some(line), Some(element)) => format!(", line {line}, <{element}>"),
        (Some(line), None) => format!(", line {line}"),
        (None, Some(element)) => format!(", <{element}>"),
        (None, None) => String::new(),
    }
}

impl From<zip::result::ZipError> for MhlwError {
    fn from(error: zip::result::ZipError) -> Self {
        use zip::result::ZipError;
        match error {
            ZipError::Io(io) => MhlwError::Io(io),
            ZipError::InvalidArchive(message) => MhlwError::CorruptZip(message.to_string()),
            other => MhlwError::Zip(other.to_string()),
        }
    }
}
