//! Reading submission archives from untrusted sources.

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kenshin_profile::{CheckupRecord, Profile};
use zip::{CompressionMethod, ZipArchive};

use crate::index::{read_index, read_summary, IndexInfo, SummaryInfo};
use crate::limits::{read_bounded, CountingReader, ReadFailure, Trip};
use crate::naming::{unsafe_entry_name, CLAIMS_DIR, DATA_DIR, INDEX_FILE, SUMMARY_FILE};
use crate::xml_read::{self, Located};
use crate::{Limits, MhlwError, RecordError};

/// Opens an archive and checks its container and layout; the records are then read one DATA
/// file at a time by iterating the returned reader.
///
/// Refused before any record is read: inputs that are not ZIP archives or are truncated, more
/// entries or a larger central directory than `limits` allow, duplicate, absolute, traversing
/// or otherwise unsafe entry names, encrypted entries, symbolic links, compression other than
/// stored/deflate, entries sharing compressed data, an archive without index (`ix08_V08.xml`),
/// an archive with claims (`CLAIMS/`) but no summary (`su08_V08.xml`), and an index or summary
/// whose counts disagree with the DATA files. An archive of results only may come without its
/// summary, as the field sends them ([`ArchiveReader::summary`] is then `None`). Size and ratio limits are enforced on the bytes actually decompressed, for the index
/// and summary here and for each DATA file as it is read.
pub fn read_archive<'p, R: Read + Seek>(
    mut input: R,
    profile: &'p Profile,
    limits: &Limits,
) -> Result<ArchiveReader<'p, R>, MhlwError> {
    let directory = crate::zip_check::precheck(&mut input, limits)?;
    input.seek(SeekFrom::Start(0))?;
    let (counting, consumed) = CountingReader::new(input);
    let mut zip = ZipArchive::new(counting)?;
    if zip.len() as u64 > limits.max_entries {
        // The library found a different end record than the precheck; refuse all the same.
        return Err(MhlwError::TooManyEntries {
            found: zip.len() as u64,
            limit: limits.max_entries,
        });
    }
    if (zip.len() as u64) < directory.entries {
        // The library keeps one entry per name; fewer entries than the directory lists
        // means names repeat, and tools disagree about which copy counts.
        return Err(MhlwError::DuplicateEntry {
            name: format!(
                "(the directory lists {} entries but only {} distinct names)",
                directory.entries,
                zip.len()
            ),
        });
    }

    let mut names = Vec::with_capacity(zip.len());
    let mut spans = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let file = zip.by_index_raw(i)?;
        let name = file.name().to_string();
        if let Some(reason) = unsafe_entry_name(&name) {
            return Err(MhlwError::UnsafeEntryName { name, reason });
        }
        if file.encrypted() {
            return Err(MhlwError::EncryptedEntry { name });
        }
        if file.is_symlink() {
            return Err(MhlwError::SymlinkEntry { name });
        }
        if !file.is_dir()
            && !matches!(
                file.compression(),
                CompressionMethod::Stored | CompressionMethod::Deflated
            )
        {
            return Err(MhlwError::UnsupportedCompression {
                method: format!("{:?}", file.compression()),
                name,
            });
        }
        if file.compressed_size() > 0 {
            let start = file.data_start();
            spans.push((start, start.saturating_add(file.compressed_size()), i));
        }
        names.push((name, file.is_dir()));
    }
    // Entries that share compressed data multiply its expansion without adding to the
    // archive's size (the "overlapping files" zip bomb); no tool writes them.
    spans.sort_unstable();
    if let Some(pair) = spans.windows(2).find(|pair| pair[1].0 < pair[0].1) {
        return Err(MhlwError::OverlappingEntries {
            first: names[pair[0].2].0.clone(),
            second: names[pair[1].2].0.clone(),
        });
    }

    let layout = Layout::find(&names)?;
    let mut total = 0u64;
    let index_bytes = read_entry(&mut zip, &consumed, limits, &mut total, layout.index)?;
    let index_name = &names[layout.index].0;
    let index = parse_aux(&index_bytes, limits, index_name, read_index)?;
    let summary = match layout.summary {
        Some(at) => {
            let bytes = read_entry(&mut zip, &consumed, limits, &mut total, at)?;
            let name = &names[at].0;
            Some((name.clone(), parse_aux(&bytes, limits, name, read_summary)?))
        }
        // Claims are summed up in the summary; results alone need none.
        None if layout.claims > 0 => {
            return Err(MhlwError::Layout(format!(
                "{} (集計情報) is missing, and the archive carries claims ({CLAIMS_DIR}/)",
                layout.summary_name
            )))
        }
        None => None,
    };

    if index.service_event_type != crate::codes::SERVICE_EVENT_CHECKUP {
        return Err(MhlwError::Layout(format!(
            "{index_name}: 実施区分 {:?} is not 1 (特定健診); this reader handles checkup results only",
            index.service_event_type
        )));
    }
    let data_count = layout.data.len() as u64;
    if let Some((summary_name, summary)) = &summary {
        if summary.total_subject_count != data_count {
            return Err(MhlwError::CountMismatch {
                file: summary_name.clone(),
                what: "totalSubjectCount",
                declared: summary.total_subject_count,
                found: data_count,
            });
        }
    }
    if index.total_record_count != data_count + layout.claims {
        return Err(MhlwError::CountMismatch {
            file: index_name.clone(),
            what: "totalRecordCount",
            declared: index.total_record_count,
            found: data_count + layout.claims,
        });
    }

    let positions = profile
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.code.as_str(), i))
        .collect();
    Ok(ArchiveReader {
        zip,
        consumed,
        profile,
        positions,
        limits: *limits,
        total,
        data: layout
            .data
            .iter()
            .map(|&i| (i, names[i].0.clone()))
            .collect(),
        next: 0,
        stopped: false,
        root: layout.root,
        index,
        summary: summary.map(|(_, summary)| summary),
    })
}

/// Where the parts of an archive are.
struct Layout {
    root: String,
    index: usize,
    /// Absent in an archive of results only.
    summary: Option<usize>,
    /// Where the summary belongs.
    summary_name: String,
    data: Vec<usize>,
    claims: u64,
}

impl Layout {
    /// The index file fixes the root: `{root}/ix08_V08.xml`, or `ix08_V08.xml` for archives
    /// zipped without their folder. Entries outside that root, and the `XSD/` folder, are
    /// never read.
    fn find(names: &[(String, bool)]) -> Result<Layout, MhlwError> {
        let indexes: Vec<usize> = names
            .iter()
            .enumerate()
            // Names as the field writes them: 「IX08_V08.XML」, 「data/」 are the same files.
            .filter(|(_, (name, dir))| {
                let lower = name.to_ascii_lowercase();
                let index = INDEX_FILE.to_ascii_lowercase();
                !dir && (lower == index
                    || lower
                        .strip_suffix(&index)
                        .and_then(|p| p.strip_suffix('/'))
                        .is_some_and(|root| !root.contains('/')))
            })
            .map(|(i, _)| i)
            .collect();
        let index = match indexes.as_slice() {
            [one] => *one,
            [] => {
                return Err(MhlwError::Layout(format!(
                "no {INDEX_FILE} (交換用基本情報) at the top of the archive or of its root folder"
            )))
            }
            several => {
                return Err(MhlwError::Layout(format!(
                    "several index files: {}",
                    several
                        .iter()
                        .map(|&i| names[i].0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        };
        let prefix = &names[index].0[..names[index].0.len() - INDEX_FILE.len()];
        let summary_name = format!("{prefix}{SUMMARY_FILE}");
        let summary = names
            .iter()
            .position(|(name, dir)| !dir && name.eq_ignore_ascii_case(&summary_name));
        let in_folder = |folder: &str, name: &str| -> bool {
            name.strip_prefix(prefix)
                .and_then(|rest| {
                    rest.get(..folder.len())
                        .filter(|head| head.eq_ignore_ascii_case(folder))
                        .map(|_| &rest[folder.len()..])
                })
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|file| {
                    !file.is_empty()
                        && !file.contains('/')
                        && file.to_ascii_lowercase().ends_with(".xml")
                })
        };
        let data: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, (name, dir))| !dir && in_folder(DATA_DIR, name))
            .map(|(i, _)| i)
            .collect();
        let claims = names
            .iter()
            .filter(|(name, dir)| !dir && in_folder(CLAIMS_DIR, name))
            .count() as u64;
        Ok(Layout {
            root: prefix.trim_end_matches('/').to_string(),
            index,
            summary,
            summary_name,
            data,
            claims,
        })
    }
}

fn parse_aux<T>(
    bytes: &[u8],
    limits: &Limits,
    file: &str,
    read: impl Fn(&xml_read::Element) -> Result<T, Located>,
) -> Result<T, MhlwError> {
    xml_read::parse(bytes, limits)
        .and_then(|root| read(&root))
        .map_err(|located| MhlwError::InFile {
            file: file.to_string(),
            line: located.line,
            element: located.element,
            error: Box::new(located.error),
        })
}

/// Decompresses entry `i` under the limits.
fn read_entry<R: Read + Seek>(
    zip: &mut ZipArchive<CountingReader<R>>,
    consumed: &AtomicU64,
    limits: &Limits,
    total: &mut u64,
    i: usize,
) -> Result<Vec<u8>, MhlwError> {
    let mut file = zip.by_index(i)?;
    let name = file.name().to_string();
    // Counted from here: the local header has been read, the data has not.
    let start = consumed.load(Ordering::Relaxed);
    let result = read_bounded(&mut file, limits, total, || {
        consumed.load(Ordering::Relaxed).saturating_sub(start)
    });
    result.map_err(|failure| match failure {
        ReadFailure::Limit(Trip::Entry) => MhlwError::EntryTooLarge {
            name,
            limit: limits.max_entry_bytes,
        },
        ReadFailure::Limit(Trip::Total) => MhlwError::ArchiveTooLarge {
            name,
            limit: limits.max_total_bytes,
        },
        ReadFailure::Limit(Trip::Ratio {
            uncompressed,
            compressed,
        }) => MhlwError::CompressionRatio {
            name,
            limit: limits.max_compression_ratio,
            uncompressed,
            compressed,
        },
        ReadFailure::Io(e) => match e.kind() {
            // Bad deflate data, a CRC mismatch or data cut short: the entry is damaged.
            io::ErrorKind::InvalidData
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::UnexpectedEof => MhlwError::CorruptZip(format!("entry {name:?}: {e}")),
            _ => MhlwError::Io(e),
        },
    })
}

/// The records of an archive, one per DATA file in archive order, read lazily.
///
/// A DATA file that cannot be read yields a [`RecordError`] and reading goes on with the next
/// one, except after an I/O error or when the archive's total size limit is reached: then the
/// error is the last item.
pub struct ArchiveReader<'p, R: Read + Seek> {
    zip: ZipArchive<CountingReader<R>>,
    consumed: Arc<AtomicU64>,
    profile: &'p Profile,
    positions: HashMap<&'p str, usize>,
    limits: Limits,
    total: u64,
    /// (entry index, entry name) of the DATA files.
    data: Vec<(usize, String)>,
    next: usize,
    stopped: bool,
    root: String,
    index: IndexInfo,
    summary: Option<SummaryInfo>,
}

impl<R: Read + Seek> ArchiveReader<'_, R> {
    /// The index file (交換用基本情報).
    pub fn index(&self) -> &IndexInfo {
        &self.index
    }

    /// The summary file (集計情報); `None` for an archive of results only, sent without one.
    pub fn summary(&self) -> Option<&SummaryInfo> {
        self.summary.as_ref()
    }

    /// The archive's root folder; empty when the files are at the top of the archive.
    pub fn root_folder(&self) -> &str {
        &self.root
    }

    /// Number of DATA files (records) in the archive.
    pub fn record_count(&self) -> usize {
        self.data.len()
    }

    /// Entry names of the DATA files, in the order records are read.
    pub fn data_files(&self) -> impl Iterator<Item = &str> {
        self.data.iter().map(|(_, name)| name.as_str())
    }

    /// Bytes decompressed so far.
    pub fn bytes_read(&self) -> u64 {
        self.total
    }

    // The error is as large as the record it replaces and is moved once per DATA file;
    // boxing it would cost an allocation per error for no gain.
    #[allow(clippy::result_large_err)]
    fn read_next(
        &mut self,
        entry: usize,
        name: &str,
        n: u64,
    ) -> Result<CheckupRecord, RecordError> {
        let failed = |error: MhlwError, line: Option<u64>, element: Option<String>| RecordError {
            file: name.to_string(),
            source_record: n,
            line,
            element,
            error,
        };
        let bytes = read_entry(
            &mut self.zip,
            &self.consumed,
            &self.limits,
            &mut self.total,
            entry,
        )
        .map_err(|error| {
            if matches!(error, MhlwError::ArchiveTooLarge { .. } | MhlwError::Io(_)) {
                self.stopped = true;
            }
            failed(error, None, None)
        })?;
        let root = xml_read::parse(&bytes, &self.limits)
            .map_err(|l| failed(l.error, l.line, l.element))?;
        drop(bytes);
        let mut record = crate::cda_read::read_record(&root, self.profile)
            .map_err(|l| failed(l.error, l.line, l.element))?;
        // Canonical order: the profile's. Codes were checked against the profile already.
        record
            .values
            .sort_by_key(|v| self.positions.get(v.code.as_str()).copied());
        record.source_record = n;
        Ok(record)
    }
}

impl<R: Read + Seek> Iterator for ArchiveReader<'_, R> {
    type Item = Result<CheckupRecord, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped || self.next >= self.data.len() {
            return None;
        }
        let (entry, name) = self.data[self.next].clone();
        self.next += 1;
        Some(self.read_next(entry, &name, self.next as u64))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.stopped {
            return (0, Some(0));
        }
        let remaining = self.data.len() - self.next;
        (0, Some(remaining))
    }
}
