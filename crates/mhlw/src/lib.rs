//! The MHLW 特定健診・特定保健指導 electronic standard (第4期, FY2024–, schema version V08):
//! checkup results as HL7 CDA R2 documents, packed with an index and a summary into the
//! submission archive that 健診機関 send to insurers and their agencies.
//!
//! - [`write_archive`] turns [`CheckupRecord`](kenshin_profile::CheckupRecord)s into an archive
//!   whose every XML file validates against the official schemas (hc08, ix08, su08);
//!   [`ArchiveWriter`] writes the same archive record by record to an output that need not
//!   seek, and lets the caller set aside a record it refuses.
//! - [`read_archive`] reads an archive from an untrusted source under [`Limits`]: ZIP bombs,
//!   unsafe entry names, encrypted entries, DTDs and entities, deep nesting and huge text
//!   nodes are refused with precise errors and bounded memory.
//! - [`synthetic_records`] makes fake examinees for tests and demonstrations.
//!
//! The format rules this crate follows, and what it had to assume, are in `docs/MHLW_XML.md`.

mod cda_read;
mod cda_write;
mod codes;
mod error;
mod index;
mod limits;
mod meta;
mod naming;
mod reader;
mod series;
mod synthetic;
mod writer;
mod xml_read;
mod xml_write;
mod zip_check;

pub use codes::{
    MAX_RECORDS, NS_HL7, NS_MHLW, NULL_UNMEASURABLE, OID_INSTITUTION, OID_INSURER,
    OID_INTERPRETATION, OID_ITEM, OID_METHOD,
};
pub use error::{MhlwError, RecordError};
pub use index::{IndexInfo, SummaryInfo};
pub use limits::{Limits, RATIO_CHECK_AFTER};
pub use meta::{
    ArchiveMeta, ArchiveSummary, InteractionType, Party, PartyKind, SchemaFile, SummaryAmounts,
};
pub use naming::{INDEX_FILE, SUMMARY_FILE};
pub use reader::{read_archive, ArchiveReader};
pub use synthetic::{synthetic_records, SYNTHETIC_INSTITUTION, SYNTHETIC_INSURERS};
pub use writer::{write_archive, ArchiveWriter};
