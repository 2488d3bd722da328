//! Throughput of the delimited reader on a ~50 MB synthetic CP932 export.
//!
//! Run with
//! `cargo test --release -p kenshin-convert --test delimited_throughput -- --ignored --nocapture`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::Instant;

use encoding_rs::SHIFT_JIS;
use kenshin_convert::delimited::{DelimitedOptions, DelimitedReader, SourceEncoding};

const TARGET_BYTES: usize = 50 * 1024 * 1024;

const NAMES: [(&str, &str); 5] = [
    ("山田 太郎", "ヤマダ タロウ"),
    ("髙橋 花子", "タカハシ ハナコ"),
    ("山﨑 一郎", "ヤマサキ イチロウ"),
    ("佐藤 美咲", "サトウ ミサキ"),
    ("渡邉 恵子", "ワタナベ ケイコ"),
];

/// One row shaped like a specific-checkup (特定健診) export: identifiers, names, dates,
/// some 25 measurements and a free-text remark, part of it quoted.
fn row(i: usize) -> String {
    let (name, kana) = NAMES[i % NAMES.len()];
    let mut fields = vec![
        format!("{:08}", i),
        "06130012".to_owned(),
        format!("記号{}", i % 100),
        format!("{}", 100_000 + i),
        name.to_owned(),
        kana.to_owned(),
        (1 + i % 2).to_string(),
        format!("19{:02}/{:02}/{:02}", 40 + i % 50, 1 + i % 12, 1 + i % 28),
        format!("2024/{:02}/{:02}", 1 + i % 12, 1 + i % 28),
    ];
    for item in 0..25 {
        fields.push(format!(
            "{}.{}",
            50 + (i * 7 + item * 13) % 150,
            (i + item) % 10
        ));
    }
    fields.push(if i % 3 == 0 {
        "\"①要経過観察, 9時～17時勤務\r\n㈱テスト商事\"".to_owned()
    } else {
        "異常なし".to_owned()
    });
    fields.join(",")
}

#[test]
#[ignore = "throughput measurement; run in release mode"]
fn cp932_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.csv");
    let mut rows = 0usize;
    {
        let mut out = BufWriter::new(File::create(&path).unwrap());
        let header: Vec<String> = (0..35).map(|c| format!("項目{c}")).collect();
        out.write_all(&SHIFT_JIS.encode(&header.join(",")).0)
            .unwrap();
        out.write_all(b"\r\n").unwrap();
        let mut written = 0;
        while written < TARGET_BYTES {
            let line = row(rows) + "\r\n";
            let (bytes, _, unmappable) = SHIFT_JIS.encode(&line);
            assert!(!unmappable);
            out.write_all(&bytes).unwrap();
            written += bytes.len();
            rows += 1;
        }
        out.flush().unwrap();
    }
    let size = std::fs::metadata(&path).unwrap().len();

    for run in 1..=3 {
        let started = Instant::now();
        let mut reader =
            DelimitedReader::new(File::open(&path).unwrap(), DelimitedOptions::default()).unwrap();
        assert_eq!(reader.encoding(), SourceEncoding::ShiftJis);
        let mut count = 0usize;
        let mut chars = 0usize;
        for item in reader.by_ref() {
            let r = item.unwrap();
            chars += r.fields.iter().map(String::len).sum::<usize>();
            count += 1;
        }
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(count, rows);
        assert_eq!(reader.bytes_read(), size);
        println!(
            "run {run}: {:.1} MB CP932, {count} rows, {chars} bytes of UTF-8 fields in {elapsed:.3} s: {:.1} MB/s",
            size as f64 / 1e6,
            size as f64 / 1e6 / elapsed
        );
    }
}
