//! Writing submission archives.

use std::io::{Seek, Write};

use kenshin_profile::{CheckupRecord, Profile};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::cda_write::DocWriter;
use crate::codes::MAX_RECORDS;
use crate::index::{write_index, write_summary};
use crate::meta::{ArchiveMeta, ArchiveSummary};
use crate::naming::{self, INDEX_FILE, SUMMARY_FILE, XSD_DIR};
use crate::MhlwError;

/// Writes one submission archive: a DATA file (特定健診情報ファイル, hc08) per record, the index
/// (ix08) and the summary (su08) with their counts, and the schema files of `meta`, all
/// below the root folder named by the MHLW rules (see [`ArchiveSummary::archive_file_name`]).
///
/// Records are validated as they are written (header fields, values against their profile
/// items); the first invalid record stops writing with [`MhlwError::InvalidRecord`], naming the
/// record by its `source_record` (or its 1-based position when that is 0) and leaving `out`
/// holding an incomplete archive that the caller must discard.
///
/// Records are streamed: only one document is in memory at a time.
pub fn write_archive<W: Write + Seek>(
    out: W,
    records: impl IntoIterator<Item = CheckupRecord>,
    profile: &Profile,
    meta: &ArchiveMeta,
) -> Result<ArchiveSummary, MhlwError> {
    meta.check()?;
    let documents = DocWriter::new(profile, meta)?;
    let root = meta.root_folder();
    let data_prefix = meta.data_prefix(&root);

    let date = meta.creation_date;
    // Fixed timestamps (the creation date, midnight) make the archive reproducible.
    let timestamp = DateTime::from_date_and_time(
        date.year() as u16,
        u8::from(date.month()),
        date.day(),
        0,
        0,
        0,
    )
    .map_err(|e| MhlwError::InvalidMeta(format!("creation date as ZIP timestamp: {e}")))?;
    let file_options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(timestamp)
        .unix_permissions(0o644);
    let dir_options = file_options
        .compression_method(CompressionMethod::Stored)
        .unix_permissions(0o755);

    let mut zip = ZipWriter::new(out);
    zip.add_directory(format!("{root}/"), dir_options)?;
    zip.add_directory(format!("{root}/{}/", naming::DATA_DIR), dir_options)?;

    let mut summary = ArchiveSummary {
        archive_file_name: format!("{root}.zip"),
        root_folder: root.clone(),
        index_entry: format!("{root}/{INDEX_FILE}"),
        summary_entry: format!("{root}/{SUMMARY_FILE}"),
        records: 0,
        observations: 0,
        not_performed: 0,
        unmeasurable: 0,
        flagged: 0,
        values_without_xml: 0,
        values_left_empty: 0,
        xml_bytes: 0,
        data_prefix: data_prefix.clone(),
    };

    for record in records {
        let n = summary.records + 1;
        if n > MAX_RECORDS {
            return Err(MhlwError::TooManyRecords { max: MAX_RECORDS });
        }
        let record_no = if record.source_record != 0 {
            record.source_record
        } else {
            n
        };
        let (xml, stats) = documents.write(&record, record_no)?;
        zip.start_file(format!("{data_prefix}{n:06}.xml"), file_options)?;
        zip.write_all(xml.as_bytes())?;
        summary.records = n;
        summary.observations += stats.observations;
        summary.not_performed += stats.not_performed;
        summary.unmeasurable += stats.unmeasurable;
        summary.flagged += stats.flagged;
        summary.values_without_xml += stats.values_without_xml;
        summary.values_left_empty += stats.values_left_empty;
        summary.xml_bytes += xml.len() as u64;
    }

    for (name, xml) in [
        (&summary.index_entry, write_index(meta, summary.records)),
        (&summary.summary_entry, write_summary(meta, summary.records)),
    ] {
        zip.start_file(name.as_str(), file_options)?;
        zip.write_all(xml.as_bytes())?;
        summary.xml_bytes += xml.len() as u64;
    }

    if !meta.schema_files.is_empty() {
        let mut folders = std::collections::BTreeSet::new();
        for schema in &meta.schema_files {
            let mut folder = format!("{root}/{XSD_DIR}/");
            folders.insert(folder.clone());
            let components: Vec<&str> = schema.path.split('/').collect();
            for part in &components[..components.len() - 1] {
                folder.push_str(part);
                folder.push('/');
                folders.insert(folder.clone());
            }
        }
        for folder in folders {
            zip.add_directory(folder, dir_options)?;
        }
        for schema in &meta.schema_files {
            zip.start_file(format!("{root}/{XSD_DIR}/{}", schema.path), file_options)?;
            zip.write_all(&schema.contents)?;
        }
    }
    // Flushed here so that a buffered writer's last error is not lost when it is dropped.
    zip.finish()?.flush()?;
    Ok(summary)
}
