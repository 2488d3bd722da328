//! Hostile archives: each is refused with the right error, and reading stays within bounded
//! memory (measured with a per-thread allocation counter).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Cursor, Write};

use common::*;
use kenshin_mhlw::{read_archive, synthetic_records, Limits, MhlwError, RecordError};
use kenshin_profile::CheckupRecord;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

// ----- memory measurement -----------------------------------------------------------------

struct Tracking;

thread_local! {
    static CURRENT: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn track(delta: i64) {
    let _ = CURRENT.try_with(|current| {
        let now = current.get() + delta;
        current.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now)
            }
        });
    });
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as i64);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as i64);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Runs `f` and returns its result with the peak of bytes allocated by this thread above the
/// level at the start.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let base = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let result = f();
    let peak = PEAK.with(Cell::get) - base;
    (result, peak.max(0) as u64)
}

const MIB: u64 = 1 << 20;

// ----- archive builders -------------------------------------------------------------------

const ROOT: &str = "1399999901_99999999_202504011_1";

fn index_xml(count: usize) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<index xmlns="https://www.mhlw.go.jp/stf/seisakunitsuite/bunya/0000161103.html">
  <interactionType code="1"/>
  <creationTime value="20250401"/>
  <sender><id root="1.2.392.200119.6.102" extension="1399999901"/></sender>
  <receiver><id root="1.2.392.200119.6.103" extension="99999999"/></receiver>
  <serviceEventType code="1"/>
  <totalRecordCount value="{count}"/>
</index>
"#
    )
    .into_bytes()
}

fn summary_xml(count: usize) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<summary xmlns="https://www.mhlw.go.jp/stf/seisakunitsuite/bunya/0000161103.html">
  <serviceEventType code="1"/>
  <totalSubjectCount value="{count}"/>
  <totalCostAmount value="0"/>
  <totalPaymentAmount value="0"/>
  <totalClaimAmount value="0"/>
</summary>
"#
    )
    .into_bytes()
}

fn options(stored: bool) -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(if stored {
        CompressionMethod::Stored
    } else {
        CompressionMethod::Deflated
    })
}

/// A ZIP of the given entries (name, contents, stored?).
fn zip_of(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, contents, stored) in entries {
        zip.start_file(*name, options(*stored)).unwrap();
        zip.write_all(contents).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// An MHLW archive (index, summary) with these DATA files (contents, stored?).
fn mhlw_archive(data: &[(&[u8], bool)]) -> Vec<u8> {
    let index = index_xml(data.len());
    let summary = summary_xml(data.len());
    let index_name = format!("{ROOT}/ix08_V08.xml");
    let summary_name = format!("{ROOT}/su08_V08.xml");
    let names: Vec<String> = (1..=data.len())
        .map(|n| format!("{ROOT}/DATA/h13999999012025040111{n:06}.xml"))
        .collect();
    let mut entries: Vec<(&str, &[u8], bool)> = vec![
        (index_name.as_str(), index.as_slice(), false),
        (summary_name.as_str(), summary.as_slice(), false),
    ];
    for (name, (contents, stored)) in names.iter().zip(data) {
        entries.push((name, contents, *stored));
    }
    zip_of(&entries)
}

/// A genuine DATA file, as the writer makes it.
fn good_document() -> Vec<u8> {
    let profile = test_profile();
    let (bytes, summary) =
        write_to_vec(synthetic_records(1, 3, &profile), &profile, &agency_meta());
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut file = zip.by_name(&summary.data_file_name(1).unwrap()).unwrap();
    let mut out = Vec::new();
    std::io::copy(&mut file, &mut out).unwrap();
    out
}

fn open(
    bytes: &[u8],
    limits: &Limits,
) -> Result<Vec<Result<CheckupRecord, RecordError>>, MhlwError> {
    let profile = test_profile();
    let reader = read_archive(Cursor::new(bytes), &profile, limits)?;
    Ok(reader.collect())
}

fn open_err(bytes: &[u8]) -> MhlwError {
    match open(bytes, &Limits::default()) {
        Ok(_) => panic!("archive accepted"),
        Err(e) => e,
    }
}

/// The single record of a one-DATA-file archive, which must fail.
fn record_err(bytes: &[u8], limits: &Limits) -> RecordError {
    let mut records = open(bytes, limits).expect("archive opens");
    assert_eq!(records.len(), 1);
    records.remove(0).expect_err("record refused")
}

// ----- ZIP level ----------------------------------------------------------------------------

#[test]
fn zip_bomb_is_stopped_by_the_ratio_limit_in_bounded_memory() {
    // 256 MiB of zeros deflate to about 256 KiB: 1000:1.
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file(format!("{ROOT}/ix08_V08.xml"), options(false))
        .unwrap();
    zip.write_all(&index_xml(1)).unwrap();
    zip.start_file(format!("{ROOT}/su08_V08.xml"), options(false))
        .unwrap();
    zip.write_all(&summary_xml(1)).unwrap();
    zip.start_file(
        format!("{ROOT}/DATA/h13999999012025040111000001.xml"),
        options(false),
    )
    .unwrap();
    let zeros = vec![0u8; MIB as usize];
    for _ in 0..256 {
        zip.write_all(&zeros).unwrap();
    }
    let bomb = zip.finish().unwrap().into_inner();
    assert!(bomb.len() < 2 * MIB as usize, "{} bytes", bomb.len());

    let (err, peak) = peak_during(|| record_err(&bomb, &Limits::default()));
    assert!(
        matches!(err.error, MhlwError::CompressionRatio { limit: 100, .. }),
        "{err}"
    );
    assert!(err.file.ends_with("h13999999012025040111000001.xml"));
    assert!(peak < 16 * MIB, "peak {peak} bytes");
    eprintln!("zip bomb refused after peak {} KiB: {err}", peak / 1024);

    // The same bomb as the index file is refused when the archive is opened.
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file(format!("{ROOT}/su08_V08.xml"), options(false))
        .unwrap();
    zip.write_all(&summary_xml(0)).unwrap();
    zip.start_file(format!("{ROOT}/ix08_V08.xml"), options(false))
        .unwrap();
    for _ in 0..64 {
        zip.write_all(&zeros).unwrap();
    }
    let bomb = zip.finish().unwrap().into_inner();
    assert!(matches!(
        open_err(&bomb),
        MhlwError::CompressionRatio { .. }
    ));
}

#[test]
fn entry_and_total_limits_count_decompressed_bytes() {
    let good = good_document();
    let big = vec![b' '; 200_000];
    let mut large_doc = good.clone();
    large_doc.extend_from_slice(&big); // trailing white space is still well-formed
    let archive = mhlw_archive(&[(&large_doc, true), (&good, false)]);

    let limits = Limits {
        max_entry_bytes: 100_000,
        ..Limits::default()
    };
    let records = open(&archive, &limits).unwrap();
    assert_eq!(records.len(), 2);
    let first = records[0].as_ref().unwrap_err();
    assert!(
        matches!(first.error, MhlwError::EntryTooLarge { limit: 100_000, .. }),
        "{first}"
    );
    assert!(records[1].is_ok(), "the next record is still read");

    let limits = Limits {
        max_total_bytes: 150_000,
        ..Limits::default()
    };
    let records = open(&archive, &limits).unwrap();
    assert_eq!(records.len(), 1, "reading stops at the total limit");
    let err = records[0].as_ref().unwrap_err();
    assert!(
        matches!(err.error, MhlwError::ArchiveTooLarge { limit: 150_000, .. }),
        "{err}"
    );
}

#[test]
fn more_than_100000_entries_are_refused_before_parsing() {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let empty = options(true);
    for i in 0..100_001u32 {
        zip.start_file(format!("{i}"), empty).unwrap();
    }
    let archive = zip.finish().unwrap().into_inner();
    let (err, peak) = peak_during(|| open_err(&archive));
    assert!(
        matches!(
            err,
            MhlwError::TooManyEntries {
                found: 100_001,
                limit: 100_000
            }
        ),
        "{err}"
    );
    // Only the end records were read.
    assert!(peak < MIB, "peak {peak} bytes");

    // A lower limit applies the same way.
    let small = zip_of(&[("a", b"", true), ("b", b"", true), ("c", b"", true)]);
    let limits = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    let err = open(&small, &limits).map(|_| ()).unwrap_err();
    assert!(
        matches!(err, MhlwError::TooManyEntries { found: 3, limit: 2 }),
        "{err}"
    );
}

#[test]
fn unsafe_entry_names_are_refused() {
    for name in [
        "../evil.xml",
        "/abs.xml",
        "C:\\evil.xml",
        "C:/evil.xml",
        "root\\DATA\\h1.xml",
        "root/DATA/../../evil.xml",
    ] {
        let archive = zip_of(&[(name, b"<x/>", false)]);
        match open_err(&archive) {
            MhlwError::UnsafeEntryName {
                name: found,
                reason,
            } => {
                assert_eq!(found, name);
                eprintln!("{name:?}: {reason}");
            }
            other => panic!("{name:?}: {other}"),
        }
    }
}

/// Offsets of the central-directory headers of a ZIP.
fn central_headers(zip: &[u8]) -> Vec<usize> {
    zip.windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x01\x02")
        .map(|(i, _)| i)
        .collect()
}

fn local_headers(zip: &[u8]) -> Vec<usize> {
    zip.windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x03\x04")
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn encrypted_entries_are_refused() {
    let mut archive = mhlw_archive(&[(&good_document(), false)]);
    // Set the "encrypted" bit of the general-purpose flags of every entry.
    for at in central_headers(&archive) {
        archive[at + 8] |= 1;
    }
    for at in local_headers(&archive) {
        archive[at + 6] |= 1;
    }
    assert!(matches!(
        open_err(&archive),
        MhlwError::EncryptedEntry { .. }
    ));
}

#[test]
fn symlinks_unsupported_methods_and_duplicates_are_refused() {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.add_symlink("link.xml", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    let archive = zip.finish().unwrap().into_inner();
    assert!(matches!(open_err(&archive), MhlwError::SymlinkEntry { .. }));

    let mut archive = zip_of(&[("a.xml", b"<x/>", true)]);
    for at in central_headers(&archive) {
        archive[at + 10] = 12; // bzip2
    }
    for at in local_headers(&archive) {
        archive[at + 8] = 12;
    }
    assert!(
        matches!(open_err(&archive), MhlwError::UnsupportedCompression { .. }),
        "{}",
        open_err(&archive)
    );

    let mut archive = zip_of(&[
        ("DATA/a1.xml", b"<x/>", true),
        ("DATA/a2.xml", b"<y/>", true),
    ]);
    // Rename the second entry to the first one's name in both headers.
    let second = |headers: Vec<usize>, name_at: usize| headers[1] + name_at;
    let central = second(central_headers(&archive), 46);
    let local = second(local_headers(&archive), 30);
    archive[central + 6] = b'1';
    archive[local + 6] = b'1';
    assert!(matches!(
        open_err(&archive),
        MhlwError::DuplicateEntry { .. }
    ));
}

#[test]
fn overlapping_entries_are_refused() {
    let mut archive = zip_of(&[
        ("a.xml", b"<x>aaaa</x>", false),
        ("b.xml", b"<y>bbbb</y>", false),
    ]);
    // Point the second directory entry at the first entry's local header.
    let central = central_headers(&archive);
    let first_offset: [u8; 4] = archive[central[0] + 42..central[0] + 46]
        .try_into()
        .unwrap();
    archive[central[1] + 42..central[1] + 46].copy_from_slice(&first_offset);
    assert!(
        matches!(open_err(&archive), MhlwError::OverlappingEntries { .. }),
        "{}",
        open_err(&archive)
    );
}

#[test]
fn truncated_and_non_zip_inputs() {
    let archive = mhlw_archive(&[(&good_document(), false)]);
    let truncated = &archive[..archive.len() / 2];
    assert!(matches!(open_err(truncated), MhlwError::CorruptZip(_)));
    let cut_end = &archive[..archive.len() - 10];
    assert!(matches!(open_err(cut_end), MhlwError::CorruptZip(_)));
    assert!(matches!(
        open_err(b"%PDF-1.7 not an archive at all"),
        MhlwError::NotZip(_)
    ));
    assert!(matches!(open_err(b""), MhlwError::NotZip(_)));
}

#[test]
fn damaged_entry_data_is_reported() {
    let mut archive = mhlw_archive(&[(&good_document(), true)]);
    // Flip a byte inside the stored DATA entry: the CRC no longer matches.
    let data_at = local_headers(&archive)[2] + 30 + 44 + 200;
    archive[data_at] ^= 0x20;
    let err = record_err(&archive, &Limits::default());
    assert!(matches!(err.error, MhlwError::CorruptZip(_)), "{err}");
}

#[test]
fn layout_and_counts_are_checked() {
    let good = good_document();
    let no_index = zip_of(&[(&format!("{ROOT}/DATA/h1.xml"), &good, false)]);
    assert!(matches!(open_err(&no_index), MhlwError::Layout(_)));

    let summary = summary_xml(2);
    let index = index_xml(1);
    let wrong_count = zip_of(&[
        (&format!("{ROOT}/ix08_V08.xml"), &index, false),
        (&format!("{ROOT}/su08_V08.xml"), &summary, false),
        (&format!("{ROOT}/DATA/h1.xml"), &good, false),
    ]);
    assert!(matches!(
        open_err(&wrong_count),
        MhlwError::CountMismatch {
            declared: 2,
            found: 1,
            ..
        }
    ));

    // Files zipped without their root folder are accepted.
    let index = index_xml(1);
    let summary = summary_xml(1);
    let flat = zip_of(&[
        ("ix08_V08.xml", &index, false),
        ("su08_V08.xml", &summary, false),
        ("DATA/h1.xml", &good, false),
    ]);
    let records = open(&flat, &Limits::default()).unwrap();
    assert!(records[0].is_ok());

    // Results only, as the field sends them: no summary, no claims — read.
    let results_only = zip_of(&[
        (&format!("{ROOT}/ix08_V08.xml"), &index, false),
        (&format!("{ROOT}/DATA/h1.xml"), &good, false),
    ]);
    let profile = test_profile();
    let reader = read_archive(Cursor::new(&results_only), &profile, &Limits::default()).unwrap();
    assert!(reader.summary().is_none());
    assert_eq!(reader.record_count(), 1);
    // Names in other cases, as some systems write them: the same files.
    let shouting = zip_of(&[
        (&format!("{ROOT}/IX08_V08.XML"), &index, false),
        (&format!("{ROOT}/Su08_v08.xml"), &summary, false),
        (&format!("{ROOT}/data/H1.XML"), &good, false),
    ]);
    let reader = read_archive(Cursor::new(&shouting), &profile, &Limits::default()).unwrap();
    assert!(reader.summary().is_some());
    assert_eq!(reader.record_count(), 1);
    // Claims without the summary that sums them up: refused, saying so.
    let index_with_claim = index_xml(2);
    let claims_without_summary = zip_of(&[
        (&format!("{ROOT}/ix08_V08.xml"), &index_with_claim, false),
        (&format!("{ROOT}/DATA/h1.xml"), &good, false),
        (&format!("{ROOT}/CLAIMS/c1.xml"), &good, false),
    ]);
    match open_err(&claims_without_summary) {
        MhlwError::Layout(message) => assert!(message.contains("su08_V08.xml"), "{message}"),
        other => panic!("{other}"),
    }

    // An index with a DTD is refused with its file and line.
    let mut bad_index = b"<?xml version=\"1.0\"?>\n<!DOCTYPE index>\n".to_vec();
    bad_index.extend_from_slice(&index_xml(1)[22..]);
    let archive = zip_of(&[
        (&format!("{ROOT}/ix08_V08.xml"), &bad_index, false),
        (&format!("{ROOT}/su08_V08.xml"), &summary, false),
        (&format!("{ROOT}/DATA/h1.xml"), &good, false),
    ]);
    match open_err(&archive) {
        MhlwError::InFile {
            file, line, error, ..
        } => {
            assert!(file.ends_with("ix08_V08.xml"));
            assert_eq!(line, Some(2));
            assert!(matches!(*error, MhlwError::Doctype));
        }
        other => panic!("{other}"),
    }
}

// ----- XML level ----------------------------------------------------------------------------

const BILLION_LAUGHS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE ClinicalDocument [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ClinicalDocument xmlns="urn:hl7-org:v3">&lol9;</ClinicalDocument>
"#;

const XXE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ClinicalDocument xmlns="urn:hl7-org:v3">&xxe;</ClinicalDocument>
"#;

#[test]
fn billion_laughs_is_refused_at_the_doctype() {
    let archive = mhlw_archive(&[(BILLION_LAUGHS.as_bytes(), false)]);
    let (err, peak) = peak_during(|| record_err(&archive, &Limits::default()));
    assert!(matches!(err.error, MhlwError::Doctype), "{err}");
    assert_eq!(err.line, Some(2));
    assert!(peak < MIB, "peak {peak} bytes");
    eprintln!("{err}");
}

#[test]
fn external_entities_are_refused() {
    let archive = mhlw_archive(&[(XXE.as_bytes(), false)]);
    let err = record_err(&archive, &Limits::default());
    assert!(matches!(err.error, MhlwError::Doctype), "{err}");

    // Without a DTD the reference is simply undeclared.
    let doc = "<?xml version=\"1.0\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\">\n<title>&xxe;</title></ClinicalDocument>";
    let archive = mhlw_archive(&[(doc.as_bytes(), false)]);
    let err = record_err(&archive, &Limits::default());
    assert!(
        matches!(err.error, MhlwError::UnknownEntity(ref e) if e == "xxe"),
        "{err}"
    );
    assert_eq!(err.line, Some(3));
    assert_eq!(err.element.as_deref(), Some("ClinicalDocument/title"));
}

#[test]
fn ten_megabyte_text_node_is_refused_in_bounded_memory() {
    let mut doc =
        b"<?xml version=\"1.0\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>".to_vec();
    doc.extend(std::iter::repeat_n(b'x', 10_000_000));
    doc.extend_from_slice(b"</title></ClinicalDocument>");
    // Stored, so that the compression ratio is not what stops it.
    let archive = mhlw_archive(&[(&doc, true)]);
    drop(doc);
    let (err, peak) = peak_during(|| record_err(&archive, &Limits::default()));
    assert!(
        matches!(err.error, MhlwError::TextTooLong { limit } if limit == 1 << 20),
        "{err}"
    );
    assert_eq!(err.element.as_deref(), Some("ClinicalDocument/title"));
    // The entry itself (10 MB, read whole) and nothing of its size besides.
    assert!(peak < 24 * MIB, "peak {peak} bytes");
}

#[test]
fn ten_thousand_levels_of_nesting_are_refused() {
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\">");
    for _ in 0..10_000 {
        doc.push_str("<a>");
    }
    for _ in 0..10_000 {
        doc.push_str("</a>");
    }
    doc.push_str("</ClinicalDocument>");
    let archive = mhlw_archive(&[(doc.as_bytes(), false)]);
    let (err, peak) = peak_during(|| record_err(&archive, &Limits::default()));
    assert!(
        matches!(err.error, MhlwError::TooDeep { limit: 64 }),
        "{err}"
    );
    assert!(peak < 4 * MIB, "peak {peak} bytes");
}

#[test]
fn content_errors_name_file_line_and_element_and_reading_goes_on() {
    let good = good_document();
    let text = String::from_utf8(good.clone()).unwrap();
    let bad = text.replacen("3F015000002327101", "9Z999999999999999", 1);
    let bad = if bad == text {
        text.replacen("9N001000000000001", "9Z999999999999999", 1)
    } else {
        bad
    };
    assert_ne!(bad, text);
    let archive = mhlw_archive(&[(bad.as_bytes(), false), (&good, false)]);
    let records = open(&archive, &Limits::default()).unwrap();
    let err = records[0].as_ref().unwrap_err();
    assert!(
        matches!(err.error, MhlwError::UnknownItem { ref code, .. } if code == "9Z999999999999999")
    );
    let line = bad
        .lines()
        .position(|l| l.contains("9Z999999999999999"))
        .unwrap() as u64
        + 1;
    assert_eq!(err.line, Some(line));
    assert!(err
        .element
        .as_deref()
        .unwrap()
        .ends_with("section/entry/observation/code"));
    assert_eq!(err.source_record, 1);
    let message = err.to_string();
    assert!(
        message.contains("DATA/h13999999012025040111000001.xml"),
        "{message}"
    );
    assert!(message.contains(&format!("line {line}")), "{message}");
    let second = records[1].as_ref().unwrap();
    assert_eq!(second.source_record, 2);
}
