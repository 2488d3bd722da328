//! Resource limits for reading untrusted archives, and the readers that enforce them.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bounds on what reading an archive may cost. Every size is counted on the bytes actually
/// produced while decompressing; sizes written in the ZIP headers are never trusted.
///
/// The defaults suit MHLW submissions (a 特定健診 XML file is 5–50 KB and compresses about
/// 5–10:1) with a wide margin:
///
/// | limit | default |
/// |---|---|
/// | `max_total_bytes` | 2 GiB |
/// | `max_entry_bytes` | 64 MiB |
/// | `max_compression_ratio` | 100 (:1) |
/// | `max_entries` | 100,000 |
/// | `max_depth` | 64 |
/// | `max_text_bytes` | 1 MiB |
/// | `max_elements` | 200,000 |
/// | `max_attributes` | 32 |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes decompressed from the archive, all entries together.
    pub max_total_bytes: u64,
    /// Bytes decompressed from one entry. One DATA file is held in memory while it is
    /// parsed, so this is also the bound on the memory one record can take.
    pub max_entry_bytes: u64,
    /// Decompressed bytes per compressed byte of one entry, checked once the entry has
    /// produced [`RATIO_CHECK_AFTER`] bytes (small files legitimately compress very well).
    pub max_compression_ratio: u32,
    /// Entries in the archive (files and folders), checked against the end-of-central-directory
    /// record before anything else is read.
    pub max_entries: u64,
    /// Nesting depth of XML elements.
    pub max_depth: usize,
    /// Length of one text node or attribute value, in bytes.
    pub max_text_bytes: usize,
    /// Elements in one XML document.
    pub max_elements: usize,
    /// Attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
}

/// The compression ratio is checked only after an entry has produced this many bytes: a
/// small file (a few KB of repeated markup) can compress far better than 100:1 without being
/// a bomb, and below this size the per-entry and total limits bound the cost anyway.
pub const RATIO_CHECK_AFTER: u64 = 1 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_bytes: 2 << 30,
            max_entry_bytes: 64 << 20,
            max_compression_ratio: 100,
            max_entries: 100_000,
            max_depth: 64,
            max_text_bytes: 1 << 20,
            max_elements: 200_000,
            max_attributes: 32,
        }
    }
}

impl Limits {
    /// The largest central directory accepted: 1 KiB per allowed entry (a real entry takes
    /// about 100 bytes) plus room for the end records. Checked before the ZIP library parses
    /// the directory, so a forged directory cannot make it allocate.
    pub fn max_central_directory_bytes(&self) -> u64 {
        self.max_entries
            .saturating_mul(1024)
            .saturating_add(64 << 10)
    }
}

/// Counts every byte read from the underlying archive, so that the compressed bytes an entry
/// actually consumed can be measured (rather than believed from its header).
pub(crate) struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> CountingReader<R> {
    pub(crate) fn new(inner: R) -> (Self, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        (
            CountingReader {
                inner,
                count: Arc::clone(&count),
            },
            count,
        )
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Seek> Seek for CountingReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Which limit a read tripped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trip {
    Entry,
    Total,
    Ratio { uncompressed: u64, compressed: u64 },
}

/// Reads one entry to memory, stopping as soon as a limit is exceeded. `total` is the
/// running count for the whole archive; `compressed` reports how many archive bytes have
/// been consumed so far.
pub(crate) fn read_bounded(
    entry: &mut impl Read,
    limits: &Limits,
    total: &mut u64,
    compressed: impl Fn() -> u64,
) -> Result<Vec<u8>, ReadFailure> {
    const CHUNK: usize = 64 << 10;
    let mut out = Vec::new();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = match entry.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadFailure::Io(e)),
        };
        *total += n as u64;
        let produced = out.len() as u64 + n as u64;
        if produced > limits.max_entry_bytes {
            return Err(ReadFailure::Limit(Trip::Entry));
        }
        if *total > limits.max_total_bytes {
            return Err(ReadFailure::Limit(Trip::Total));
        }
        if produced > RATIO_CHECK_AFTER {
            // At least one byte, so that an entry whose compressed bytes were all read
            // ahead before we started counting still has a finite ratio.
            let consumed = compressed().max(1);
            if produced > consumed.saturating_mul(u64::from(limits.max_compression_ratio)) {
                return Err(ReadFailure::Limit(Trip::Ratio {
                    uncompressed: produced,
                    compressed: consumed,
                }));
            }
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

#[derive(Debug)]
pub(crate) enum ReadFailure {
    Limit(Trip),
    Io(io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_read_stops_just_past_the_entry_limit() {
        let limits = Limits {
            max_entry_bytes: 100,
            ..Limits::default()
        };
        let mut total = 0;
        let data = vec![b'a'; 1000];
        let err = read_bounded(&mut &data[..], &limits, &mut total, || 1000).unwrap_err();
        assert!(matches!(err, ReadFailure::Limit(Trip::Entry)));
        let mut total = 0;
        let ok = read_bounded(&mut &data[..100], &limits, &mut total, || 100).unwrap();
        assert_eq!(ok.len(), 100);
        assert_eq!(total, 100);
    }

    #[test]
    fn bounded_read_counts_the_archive_total_across_entries() {
        let limits = Limits {
            max_total_bytes: 150,
            ..Limits::default()
        };
        let data = [b'a'; 100];
        let mut total = 0;
        read_bounded(&mut &data[..], &limits, &mut total, || 100).unwrap();
        let err = read_bounded(&mut &data[..], &limits, &mut total, || 100).unwrap_err();
        assert!(matches!(err, ReadFailure::Limit(Trip::Total)));
    }

    #[test]
    fn ratio_is_checked_only_past_the_grace_size() {
        let limits = Limits::default();
        let small = vec![0u8; RATIO_CHECK_AFTER as usize];
        let mut total = 0;
        assert!(read_bounded(&mut &small[..], &limits, &mut total, || 1).is_ok());
        let big = vec![0u8; RATIO_CHECK_AFTER as usize + 1];
        let mut total = 0;
        let err = read_bounded(&mut &big[..], &limits, &mut total, || 1000).unwrap_err();
        assert!(matches!(err, ReadFailure::Limit(Trip::Ratio { .. })));
    }
}
