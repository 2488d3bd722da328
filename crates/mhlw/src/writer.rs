//! Writing submission archives.
//!
//! [`ArchiveWriter`] does the work, record by record, on any [`Write`]; [`write_archive`] is
//! a loop over it. Both write the plain ZIP form, each entry's sizes and CRC in its local
//! header (no data descriptors), which every ZIP reader accepts, streaming readers included:
//! [`Spool`] holds the entry being written until the ZIP library has patched its header.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::{self, Read, Seek, SeekFrom, Write};

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
/// holding an incomplete archive that the caller must discard. To set invalid records aside
/// and go on, or to write records as they come, use [`ArchiveWriter`] (which this function
/// drives; it also takes outputs that cannot seek).
///
/// Records are streamed: only one document is in memory at a time.
pub fn write_archive<W: Write + Seek>(
    out: W,
    records: impl IntoIterator<Item = CheckupRecord>,
    profile: &Profile,
    meta: &ArchiveMeta,
) -> Result<ArchiveSummary, MhlwError> {
    let mut writer = ArchiveWriter::start(out, profile, Cow::Borrowed(meta))?;
    for record in records {
        writer.write(&record)?;
    }
    let (_, summary) = writer.finish()?;
    Ok(summary)
}

/// Writes one submission archive record by record, to any [`Write`] (no `Seek` needed): the
/// same files, names, checks and bytes as [`write_archive`], for callers that receive records
/// one at a time and route a record the archive refuses elsewhere instead of giving up.
///
/// Bytes reach `out` an entry at a time, each in one `write_all` once the entry is complete;
/// only the current document is held in memory, and, as in any ZIP writer, one directory
/// entry per file until [`finish`](ArchiveWriter::finish) writes the central directory. An
/// archive is complete only when `finish` returns: one given up before (dropped, or after an
/// error other than a refused record) is not a readable ZIP and must be discarded.
///
/// ```
/// # use kenshin_mhlw::{synthetic_records, ArchiveMeta, ArchiveWriter, MhlwError, Party};
/// # let profile = kenshin_profile::Profile::default_profile();
/// # let records = synthetic_records(3, 1, profile);
/// # let meta = ArchiveMeta::new(
/// #     kenshin_mhlw::SYNTHETIC_INSTITUTION,
/// #     "架空健診センター",
/// #     Party::agency("99999999"),
/// #     time::Date::from_calendar_date(2025, time::Month::April, 1).unwrap(),
/// # );
/// let mut writer = ArchiveWriter::new(Vec::new(), profile, meta)?;
/// for record in &records {
///     match writer.write(record) {
///         Ok(()) => {}
///         // Not written; the archive goes on without it.
///         Err(refused @ MhlwError::InvalidRecord { .. }) => eprintln!("{refused}"),
///         Err(other) => return Err(other),
///     }
/// }
/// let (bytes, summary) = writer.finish()?;
/// assert_eq!(summary.records, 3);
/// # assert!(!bytes.is_empty());
/// # Ok::<(), MhlwError>(())
/// ```
pub struct ArchiveWriter<'p, W: Write> {
    zip: ZipWriter<Spool<W>>,
    documents: DocWriter<'p>,
    file_options: SimpleFileOptions,
    dir_options: SimpleFileOptions,
    summary: ArchiveSummary,
    /// Records given so far, written or not: names a record without `source_record`.
    offered: u64,
    /// Set when writing to the ZIP failed: the archive is then incomplete for good.
    failed: bool,
}

impl<'p, W: Write> ArchiveWriter<'p, W> {
    /// Checks `meta` and `profile` and starts the archive with its folder entries. An unusable
    /// `meta` gives [`MhlwError::InvalidMeta`] before anything is written.
    pub fn new(out: W, profile: &'p Profile, meta: ArchiveMeta) -> Result<Self, MhlwError> {
        Self::start(out, profile, Cow::Owned(meta))
    }

    fn start(out: W, profile: &'p Profile, meta: Cow<'p, ArchiveMeta>) -> Result<Self, MhlwError> {
        meta.check()?;
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
        let documents = DocWriter::new(profile, meta)?;

        // Created last: a ZipWriter writes its end records when dropped, and an error above
        // must leave `out` untouched.
        let mut zip = ZipWriter::new(Spool::new(out));
        // The flush at the end of each entry tells the spool that the entry is final.
        zip.set_flush_on_finish_file(true);
        zip.add_directory(format!("{root}/"), dir_options)?;
        zip.add_directory(format!("{root}/{}/", naming::DATA_DIR), dir_options)?;

        Ok(ArchiveWriter {
            zip,
            documents,
            file_options,
            dir_options,
            summary: ArchiveSummary {
                archive_file_name: format!("{root}.zip"),
                index_entry: format!("{root}/{INDEX_FILE}"),
                summary_entry: format!("{root}/{SUMMARY_FILE}"),
                root_folder: root,
                records: 0,
                observations: 0,
                not_performed: 0,
                unmeasurable: 0,
                flagged: 0,
                values_without_xml: 0,
                values_left_empty: 0,
                xml_bytes: 0,
                data_prefix,
            },
            offered: 0,
            failed: false,
        })
    }

    /// Validates `record` and writes it as the next DATA file.
    ///
    /// A record that cannot be written faithfully gives [`MhlwError::InvalidRecord`] (naming
    /// it by its `source_record`, or by its 1-based position among the records given to this
    /// writer when that is 0), and one beyond [`MAX_RECORDS`] gives
    /// [`MhlwError::TooManyRecords`]. In both cases nothing is written, the DATA numbering and
    /// the counts are unchanged, and the writer can go on with the next record.
    ///
    /// Any other error (writing to the output failed) leaves the archive incomplete: further
    /// calls fail, and the output must be discarded.
    pub fn write(&mut self, record: &CheckupRecord) -> Result<(), MhlwError> {
        self.check_usable()?;
        self.offered += 1;
        let n = self.summary.records + 1;
        if n > MAX_RECORDS {
            return Err(MhlwError::TooManyRecords { max: MAX_RECORDS });
        }
        let record_no = if record.source_record != 0 {
            record.source_record
        } else {
            self.offered
        };
        // The whole document is made, and so validated, before its entry is started: a
        // refused record leaves no trace in the archive.
        let (xml, stats) = self.documents.write(record, record_no)?;
        let name = format!("{}{n:06}.xml", self.summary.data_prefix);
        self.zip_step(|zip, options| {
            zip.start_file(name, options)?;
            zip.write_all(xml.as_bytes())?;
            Ok(())
        })?;
        let summary = &mut self.summary;
        summary.records = n;
        summary.observations += stats.observations;
        summary.not_performed += stats.not_performed;
        summary.unmeasurable += stats.unmeasurable;
        summary.flagged += stats.flagged;
        summary.values_without_xml += stats.values_without_xml;
        summary.values_left_empty += stats.values_left_empty;
        summary.xml_bytes += xml.len() as u64;
        Ok(())
    }

    /// DATA files written so far.
    pub fn records_written(&self) -> u64 {
        self.summary.records
    }

    /// Writes the index, the summary and the schema files, completes the ZIP, flushes the
    /// output and returns it with what was written.
    pub fn finish(mut self) -> Result<(W, ArchiveSummary), MhlwError> {
        self.check_usable()?;
        let meta = self.documents.meta();
        let (zip, summary) = (&mut self.zip, &mut self.summary);
        let file_options = self.file_options;
        for (name, xml) in [
            (&summary.index_entry, write_index(meta, summary.records)),
            (&summary.summary_entry, write_summary(meta, summary.records)),
        ] {
            zip.start_file(name.as_str(), file_options)?;
            zip.write_all(xml.as_bytes())?;
            summary.xml_bytes += xml.len() as u64;
        }

        if !meta.schema_files.is_empty() {
            let root = &summary.root_folder;
            let mut folders = BTreeSet::new();
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
                zip.add_directory(folder, self.dir_options)?;
            }
            for schema in &meta.schema_files {
                zip.start_file(format!("{root}/{XSD_DIR}/{}", schema.path), file_options)?;
                zip.write_all(&schema.contents)?;
            }
        }
        let mut out = self.zip.finish()?.into_inner()?;
        // Flushed here so that a buffered writer's last error is not lost when it is dropped.
        out.flush()?;
        Ok((out, self.summary))
    }

    fn check_usable(&self) -> Result<(), MhlwError> {
        if self.failed {
            return Err(MhlwError::Io(io::Error::other(
                "an earlier write to the archive failed; the archive is incomplete",
            )));
        }
        Ok(())
    }

    /// Runs `step` on the ZIP; an error there may leave a partial entry, so the archive is
    /// then given up.
    fn zip_step(
        &mut self,
        step: impl FnOnce(&mut ZipWriter<Spool<W>>, SimpleFileOptions) -> Result<(), MhlwError>,
    ) -> Result<(), MhlwError> {
        let result = step(&mut self.zip, self.file_options);
        self.failed |= result.is_err();
        result
    }
}

/// Gives the ZIP library the seekable output it wants for its plain form (sizes and CRC
/// patched into each local header, no data descriptors) on an output that can only be written
/// to.
///
/// The library seeks back only into the entry it is writing, to patch that entry's local
/// header, and flushes once the entry is complete: `ZipWriter::set_flush_on_finish_file`,
/// which the library documents for "a streaming `inner` that may unload flushed bytes", with
/// the promise not to seek back into a previous file (except on `abort_file` between files or
/// `deep_copy_file`, neither of which the writer calls). So the spool
/// holds the bytes written since the last flush, serves seeks and overwrites among them, and
/// on flush passes them on: one entry at a time. A seek to bytes already passed on is refused
/// with an error, never served wrongly. Its flush does not flush `out`; `into_inner` hands
/// over the rest and `out` is flushed by its owner.
struct Spool<W: Write> {
    out: W,
    /// The bytes from offset `passed` on, not yet passed to `out`.
    held: Vec<u8>,
    /// Bytes passed to `out`.
    passed: u64,
    /// Current offset, within `passed..=passed + held.len()`.
    pos: u64,
}

impl<W: Write> Spool<W> {
    fn new(out: W) -> Self {
        Spool {
            out,
            held: Vec::new(),
            passed: 0,
            pos: 0,
        }
    }

    fn end(&self) -> u64 {
        self.passed + self.held.len() as u64
    }

    /// Passes on the bytes before the current offset.
    fn pass_on(&mut self) -> io::Result<()> {
        let n = (self.pos - self.passed) as usize;
        if n > 0 {
            self.out.write_all(&self.held[..n])?;
            self.held.drain(..n);
            self.passed = self.pos;
        }
        Ok(())
    }

    /// Passes on what is left and returns the output.
    fn into_inner(mut self) -> io::Result<W> {
        self.pos = self.end();
        self.pass_on()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for Spool<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let at = (self.pos - self.passed) as usize;
        let overwrite = buf.len().min(self.held.len() - at);
        self.held[at..at + overwrite].copy_from_slice(&buf[..overwrite]);
        self.held.extend_from_slice(&buf[overwrite..]);
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.pass_on()
    }
}

impl<W: Write> Seek for Spool<W> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
            SeekFrom::End(delta) => self.end().checked_add_signed(delta),
        };
        match target {
            Some(offset) if (self.passed..=self.end()).contains(&offset) => {
                self.pos = offset;
                Ok(offset)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "the archive writer cannot seek to {to:?}: only offsets {}..={} are still held",
                    self.passed,
                    self.end()
                ),
            )),
        }
    }
}

/// Required by the bounds of `ZipWriter::set_flush_on_finish_file` only: the library reads
/// from its output just to copy entries within an archive, which the writer never does.
impl<W: Write> Read for Spool<W> {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the archive writer's output cannot be read back",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{synthetic_records, Party, SYNTHETIC_INSTITUTION};

    #[test]
    fn records_beyond_max_are_refused_and_the_writer_goes_on() {
        let profile = Profile::default_profile();
        let records = synthetic_records(2, 1, profile);
        let meta = ArchiveMeta::new(
            SYNTHETIC_INSTITUTION,
            "架空健診センター",
            Party::agency("99999999"),
            time::Date::from_calendar_date(2025, time::Month::April, 1).unwrap(),
        );
        let mut writer = ArchiveWriter::new(Vec::new(), profile, meta).unwrap();
        // As if 999,998 records had been written.
        writer.summary.records = MAX_RECORDS - 1;
        writer.write(&records[0]).unwrap();
        assert_eq!(writer.records_written(), MAX_RECORDS);
        for _ in 0..2 {
            let err = writer.write(&records[1]).unwrap_err();
            assert!(
                matches!(err, MhlwError::TooManyRecords { max: MAX_RECORDS }),
                "{err}"
            );
            assert_eq!(writer.records_written(), MAX_RECORDS);
        }
        let (_, summary) = writer.finish().unwrap();
        assert_eq!(
            summary.data_file_name(MAX_RECORDS).unwrap(),
            "1399999901_99999999_202504011_1/DATA/h13999999012025040111999999.xml"
        );
    }

    #[test]
    fn spool_serves_seeks_within_what_it_holds() {
        let mut spool = Spool::new(Vec::new());
        spool.write_all(b"header....data").unwrap();
        assert_eq!(spool.stream_position().unwrap(), 14);
        spool.seek(SeekFrom::Start(6)).unwrap();
        spool.write_all(b"!!!!").unwrap();
        spool.seek(SeekFrom::End(0)).unwrap();
        spool.flush().unwrap();
        assert_eq!(spool.out, b"header!!!!data");
        assert!(spool.held.is_empty());

        spool.write_all(b"next").unwrap();
        // Bytes passed on cannot be revisited; the held ones can.
        assert!(spool.seek(SeekFrom::Start(13)).is_err());
        assert!(spool.seek(SeekFrom::Current(-5)).is_err());
        assert!(spool.seek(SeekFrom::End(1)).is_err());
        assert_eq!(spool.seek(SeekFrom::Current(-4)).unwrap(), 14);
        // An overwrite running past the end extends.
        spool.seek(SeekFrom::Start(16)).unwrap();
        spool.write_all(b"XYZ").unwrap();
        assert_eq!(spool.into_inner().unwrap(), b"header!!!!dataneXYZ");
    }
}
