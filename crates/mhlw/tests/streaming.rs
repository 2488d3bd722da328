//! `ArchiveWriter`: archives written record by record to an output that cannot seek.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{Cursor, Read, Write};
use std::process::Command;
use std::rc::Rc;

use common::*;
use kenshin_mhlw::{
    read_archive, synthetic_records, write_archive, ArchiveMeta, ArchiveWriter, Limits, MhlwError,
    SchemaFile,
};
use kenshin_profile::{CheckupRecord, HeaderField, ItemValue, Value};

/// A write-only output whose bytes the test can still look at while the writer owns it, and
/// that fails every write while `fail` is set.
#[derive(Clone, Default)]
struct SharedSink {
    bytes: Rc<RefCell<Vec<u8>>>,
    fail: Rc<Cell<bool>>,
}

impl SharedSink {
    fn len(&self) -> usize {
        self.bytes.borrow().len()
    }

    fn take(&self) -> Vec<u8> {
        self.bytes.take()
    }
}

impl Write for SharedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.fail.get() {
            return Err(std::io::Error::other("sink refuses"));
        }
        self.bytes.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.fail.get() {
            return Err(std::io::Error::other("sink refuses"));
        }
        Ok(())
    }
}

/// Every entry of an archive in order: name, modification time and decompressed contents.
fn entries(bytes: &[u8]) -> Vec<(String, Option<zip::DateTime>, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut file = zip.by_index(i).unwrap();
            let mut contents = Vec::new();
            file.read_to_end(&mut contents).unwrap();
            (file.name().to_string(), file.last_modified(), contents)
        })
        .collect()
}

/// Checks that no entry uses a data descriptor (general purpose flag bit 3): every local
/// header carries its sizes and CRC. Returns the number of entries, found by walking the local
/// headers from the start of the archive, which only works when their sizes are right.
fn entries_without_data_descriptors(bytes: &[u8]) -> usize {
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let (mut at, mut count) = (0, 0);
    while bytes[at..].starts_with(b"PK\x03\x04") {
        assert_eq!(
            u16_at(at + 6) & 0x8,
            0,
            "entry at {at} has a data descriptor"
        );
        let compressed = u32_at(at + 18);
        at += 30 + u16_at(at + 26) + u16_at(at + 28) + compressed;
        count += 1;
    }
    assert!(
        bytes[at..].starts_with(b"PK\x01\x02"),
        "central directory follows"
    );
    count
}

#[test]
fn streamed_archive_round_trips_exactly() {
    let profile = test_profile();
    let records = synthetic_records(300, 42, &profile);
    let (bytes, summary) = stream_to_vec(&records, &profile, &agency_meta());
    assert_eq!(summary.records, 300);

    let read = read_all(&bytes, &profile);
    assert_eq!(read.len(), records.len());
    for (i, (written, back)) in records.iter().zip(&read).enumerate() {
        assert_eq!(back.source_record, i as u64 + 1);
        assert_eq!(
            comparable(written, &profile),
            comparable(back, &profile),
            "record {}",
            i + 1
        );
    }

    // The plain ZIP form, byte for byte what write_archive writes to a seekable output.
    let (seekable, seekable_summary) = write_to_vec(records.clone(), &profile, &agency_meta());
    assert_eq!(summary, seekable_summary);
    assert_eq!(bytes, seekable);
    assert_eq!(entries_without_data_descriptors(&bytes), 2 + 300 + 2);

    // Reproducible: same input, same bytes.
    let (again, _) = stream_to_vec(&records, &profile, &agency_meta());
    assert_eq!(bytes, again);
}

/// Memory stays bounded: each entry is passed on once the next one starts, not kept until
/// the archive is finished.
#[test]
fn output_is_passed_on_entry_by_entry() {
    let profile = test_profile();
    let sink = SharedSink::default();
    let mut writer = ArchiveWriter::new(sink.clone(), &profile, agency_meta()).unwrap();
    let mut sizes = vec![sink.len()];
    for record in synthetic_records(30, 4, &profile) {
        writer.write(&record).unwrap();
        sizes.push(sink.len());
    }
    // Writing record n passes on record n - 1 (record 2 also the folder entries before it).
    assert!(
        sizes.windows(2).skip(1).all(|pair| pair[1] > pair[0]),
        "{sizes:?}"
    );
    let before_finish = sink.len();
    let (out, summary) = writer.finish().unwrap();
    let bytes = out.take();
    let (seekable, _) = write_to_vec(synthetic_records(30, 4, &profile), &profile, &agency_meta());
    assert_eq!(bytes, seekable);
    // What was still held: the last DATA file; the index, the summary and the central
    // directory came after.
    let last = &entries(&bytes)[summary.records as usize + 1].2;
    assert!(bytes.len() - before_finish < last.len() + 10_000);
}

#[test]
fn streamed_archive_with_schema_files_reads_back() {
    let profile = default_profile();
    let records = synthetic_records(50, 7, profile);
    let mut meta = agency_meta();
    meta.daily_sequence = 3;
    meta.schema_files = vec![
        SchemaFile {
            path: "hc08_V08.xsd".into(),
            contents: b"<schema/>".to_vec(),
        },
        SchemaFile {
            path: "coreschemas/voc_hcgv08.xsd".into(),
            contents: b"<schema/>".to_vec(),
        },
    ];
    let (bytes, summary) = stream_to_vec(&records, profile, &meta);
    assert_eq!(
        summary.archive_file_name,
        "1399999901_99999999_202504013_1.zip"
    );
    let (seekable, _) = write_to_vec(records.clone(), profile, &meta);
    assert_eq!(bytes, seekable);
    assert_eq!(entries_without_data_descriptors(&bytes), 2 + 50 + 2 + 2 + 2);

    let reader = read_archive(Cursor::new(&bytes), profile, &Limits::default()).unwrap();
    assert_eq!(reader.root_folder(), summary.root_folder);
    assert_eq!(reader.index().total_record_count, 50);
    assert_eq!(reader.summary().unwrap().total_subject_count, 50);
    let read: Vec<CheckupRecord> = reader.map(Result::unwrap).collect();
    for (written, back) in records.iter().zip(&read) {
        assert_eq!(comparable(written, profile), comparable(back, profile));
    }
}

#[test]
fn invalid_records_mid_stream_are_refused_and_the_archive_finishes_with_the_others() {
    let profile = test_profile();
    let mut records = synthetic_records(10, 3, &profile);
    // Fourth record: no source_record, so named by its position among the records given.
    records[3].source_record = 0;
    records[3].header.set(HeaderField::Sex, "3".into());
    // Seventh: a value of an item the profile does not have.
    records[6].source_record = 77;
    records[6].values.push(ItemValue {
        code: "9Z999999999999999".into(),
        value: Value::Text("x".into()),
        original: String::new(),
        flag: None,
    });

    let sink = SharedSink::default();
    let mut writer = ArchiveWriter::new(sink.clone(), &profile, agency_meta()).unwrap();
    let mut refused = Vec::new();
    for record in &records {
        let (before, count) = (sink.len(), writer.records_written());
        match writer.write(record) {
            Ok(()) => assert_eq!(writer.records_written(), count + 1),
            Err(MhlwError::InvalidRecord { record, field, .. }) => {
                // Nothing reached the output, the count did not move.
                assert_eq!(sink.len(), before);
                assert_eq!(writer.records_written(), count);
                refused.push((record, field));
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(
        refused,
        vec![
            (4, "sex".to_string()),
            (77, "9Z999999999999999".to_string())
        ]
    );
    assert_eq!(writer.records_written(), 8);
    let (out, summary) = writer.finish().unwrap();
    let bytes = out.take();
    assert_eq!(summary.records, 8);

    // The archive holds the eight others, numbered without gaps, with matching counts: the
    // same archive as write_archive makes of them.
    let valid: Vec<CheckupRecord> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 6)
        .map(|(_, r)| r.clone())
        .collect();
    let (seekable, seekable_summary) = write_to_vec(valid.clone(), &profile, &agency_meta());
    assert_eq!(summary, seekable_summary);
    assert_eq!(bytes, seekable);

    let reader = read_archive(Cursor::new(&bytes), &profile, &Limits::default()).unwrap();
    assert_eq!(reader.index().total_record_count, 8);
    assert_eq!(reader.summary().unwrap().total_subject_count, 8);
    let names: Vec<String> = reader.data_files().map(str::to_string).collect();
    let expected: Vec<String> = (1..=8)
        .map(|n| summary.data_file_name(n).unwrap())
        .collect();
    assert_eq!(names, expected);
    let read: Vec<CheckupRecord> = reader.map(Result::unwrap).collect();
    assert_eq!(read.len(), 8);
    for (written, back) in valid.iter().zip(&read) {
        assert_eq!(comparable(written, &profile), comparable(back, &profile));
    }
    xmllint_archive(&bytes, &summary, false);
}

#[test]
fn a_refused_record_as_the_only_one_leaves_an_empty_valid_archive() {
    let profile = test_profile();
    let mut record = synthetic_records(1, 1, &profile).remove(0);
    record.header.fields.remove(&HeaderField::ExamDate);
    let mut writer = ArchiveWriter::new(WriteOnly(Vec::new()), &profile, agency_meta()).unwrap();
    let err = writer.write(&record).unwrap_err();
    assert!(
        matches!(err, MhlwError::InvalidRecord { record: 1, ref field, .. } if field == "exam_date"),
        "{err}"
    );
    let (out, summary) = writer.finish().unwrap();
    assert_eq!(summary.records, 0);
    assert!(read_all(&out.0, &profile).is_empty());
}

#[test]
fn unusable_meta_writes_nothing() {
    let profile = test_profile();
    for change in [
        (|m: &mut ArchiveMeta| m.daily_sequence = 0) as fn(&mut ArchiveMeta),
        |m| m.daily_sequence = 10,
        |m| m.sender_name = " ".into(),
        |m| m.receiver.number = "123".into(),
    ] {
        let mut meta = agency_meta();
        change(&mut meta);
        let sink = SharedSink::default();
        let err = ArchiveWriter::new(sink.clone(), &profile, meta)
            .err()
            .expect("meta refused");
        assert!(matches!(err, MhlwError::InvalidMeta(_)), "{err}");
        assert_eq!(sink.len(), 0);
    }
}

#[test]
fn a_failed_write_gives_up_the_archive() {
    let profile = test_profile();
    let records = synthetic_records(3, 5, &profile);
    let sink = SharedSink::default();
    let mut writer = ArchiveWriter::new(sink.clone(), &profile, agency_meta()).unwrap();
    writer.write(&records[0]).unwrap();
    sink.fail.set(true);
    // The failure may surface while the previous entry is completed or while this one is
    // written; either way the archive is incomplete.
    let err = writer.write(&records[1]).unwrap_err();
    assert!(matches!(err, MhlwError::Io(_)), "{err}");
    // Even once the output recovers, the writer does not go on with a damaged archive.
    sink.fail.set(false);
    let err = writer.write(&records[2]).unwrap_err();
    assert!(matches!(err, MhlwError::Io(_)), "{err}");
    let err = writer.finish().err().expect("finish refused");
    assert!(matches!(err, MhlwError::Io(_)), "{err}");
}

#[test]
fn an_unfinished_archive_is_refused_by_the_reader() {
    let profile = test_profile();
    let sink = SharedSink::default();
    let mut writer = ArchiveWriter::new(sink.clone(), &profile, agency_meta()).unwrap();
    for record in synthetic_records(2, 5, &profile) {
        writer.write(&record).unwrap();
    }
    // Given up without finish: the output has no central directory.
    drop(writer);
    let bytes = sink.take();
    assert!(bytes.starts_with(b"PK\x03\x04"));
    let err = read_archive(Cursor::new(bytes), &profile, &Limits::default())
        .err()
        .expect("incomplete archive refused");
    assert!(matches!(err, MhlwError::CorruptZip(_)), "{err}");
}

/// Independent readers accept the streamed archive: Info-ZIP's `unzip -t` and Python's
/// `zipfile` (each skipped when not installed).
#[test]
fn independent_tools_accept_streamed_archives() {
    let profile = default_profile();
    let mut meta = agency_meta();
    if let Some(xsd) = xsd_dir() {
        meta.schema_files = SchemaFile::load_dir(&xsd).unwrap();
    }
    let (bytes, summary) = stream_to_vec(&synthetic_records(20, 11, profile), profile, &meta);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(&summary.archive_file_name);
    std::fs::write(&path, &bytes).unwrap();
    let files = entries(&bytes).len();

    match Command::new("unzip").arg("-t").arg(&path).output() {
        Ok(output) => {
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success() && stdout.contains("No errors detected"),
                "unzip -t: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Err(_) => eprintln!("skipping unzip: not installed"),
    }

    let script = "import sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  bad = z.testzip()\n\
                  assert bad is None, bad\n\
                  for info in z.infolist():\n\
                  \x20   assert len(z.read(info)) == info.file_size, info.filename\n\
                  print(len(z.infolist()))\n";
    match Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
    {
        Ok(output) => {
            assert!(
                output.status.success(),
                "python zipfile: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&output.stdout).trim(),
                files.to_string()
            );
        }
        Err(_) => eprintln!("skipping python3 zipfile: not installed"),
    }
}

/// The output needs only `Write`; a `&mut` of one does too, and the caller keeps it. The
/// writer can be moved to another thread when its output can.
#[test]
fn borrowed_write_only_output() {
    fn send<T: Send>() {}
    send::<ArchiveWriter<'static, WriteOnly<std::fs::File>>>();

    let profile = test_profile();
    let records = synthetic_records(5, 2, &profile);
    let mut out = WriteOnly(Vec::new());
    let mut writer = ArchiveWriter::new(&mut out, &profile, agency_meta()).unwrap();
    for record in &records {
        writer.write(record).unwrap();
    }
    let (_, summary) = writer.finish().unwrap();
    assert_eq!(summary.records, 5);
    assert_eq!(read_all(&out.0, &profile).len(), 5);

    let mut seekable = Cursor::new(Vec::new());
    write_archive(&mut seekable, records, &profile, &agency_meta()).unwrap();
    assert_eq!(out.0, seekable.into_inner());
}

/// Archives from other senders may use data descriptors (sizes and CRC after the data, as
/// streaming ZIP writers make them); the reader takes its sizes from the central directory
/// and accepts them.
#[test]
fn reader_accepts_data_descriptor_archives() {
    let profile = test_profile();
    let records = synthetic_records(20, 8, &profile);
    let (plain, summary) = write_to_vec(records.clone(), &profile, &agency_meta());
    // The same files rewritten by the ZIP library's streaming writer. Folder entries are left
    // out: zip 6 sets their data-descriptor flag without writing a descriptor (zip-rs/zip2
    // #971), which Info-ZIP unzip then refuses.
    let mut zip = zip::ZipWriter::new_stream(Vec::new());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let files: Vec<_> = entries(&plain)
        .into_iter()
        .filter(|(name, _, _)| !name.ends_with('/'))
        .collect();
    for (name, _, contents) in &files {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(contents).unwrap();
    }
    let streamed = zip.finish().unwrap().into_inner();
    assert_eq!(&streamed[6..8], &[0x08, 0x00], "data-descriptor flag set");
    let names_and_contents = |list: Vec<(String, _, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
        list.into_iter()
            .map(|(name, _, contents)| (name, contents))
            .collect()
    };
    assert_eq!(
        names_and_contents(entries(&streamed)),
        names_and_contents(files)
    );

    let reader = read_archive(Cursor::new(&streamed), &profile, &Limits::default()).unwrap();
    assert_eq!(reader.root_folder(), summary.root_folder);
    let read: Vec<CheckupRecord> = reader.map(Result::unwrap).collect();
    assert_eq!(read.len(), records.len());
    for (written, back) in records.iter().zip(&read) {
        assert_eq!(comparable(written, &profile), comparable(back, &profile));
    }
}
