//! Conversion benchmark (not a test): converts a generated 100,000-record export with a map
//! drafted by `map suggest`, next to a raw `csv`-crate parse of the same file in the same run,
//! and reports records/s, MB/s and peak RSS.
//!
//! `cargo run --release --example bench_convert -- [RECORDS]` (default 100000).

use std::io::Write;
use std::time::Instant;

use kenshin_convert::delimited::DelimitedOptions;
use kenshin_convert::{convert_delimited, MapFile, OutputEncoding, Routed, StdCsvWriter};
use kenshin_profile::Profile;

const HEADER: &str = "受診券番号,保険者番号,カナ氏名,生年月日,性別,受診日,身長,体重,BMI,腹囲,最高血圧,最低血圧,中性脂肪,HDL,LDL,GOT,GPT,γ-GTP,血糖,HbA1c,尿糖,尿蛋白,メモ";
const KANA: [&str; 8] = [
    "ヤマダ タロウ",
    "スズキ ハナコ",
    "タナカ ケンジ",
    "サトウ ミユキ",
    "イトウ マサル",
    "ワタナベ ユイ",
    "ナカムラ ヒロシ",
    "コバヤシ アヤ",
];
const URINE: [&str; 6] = ["(-)", "-", "陰性", "±", "(+)", "+"];

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let records: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("record count"))
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("export.csv");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(out, "{HEADER}\r").unwrap();
        for i in 0..records {
            let height = 145.0 + (i * 7 % 400) as f64 / 10.0;
            let weight = 45.0 + (i * 13 % 500) as f64 / 10.0;
            let bmi = weight / (height / 100.0) / (height / 100.0);
            write!(
                out,
                "{:011},{},{},S{}.{}.{},{},R8.4.{},{height:.1},{weight:.1},{bmi:.1},{:.1},{},{},{},{},{},{},{},{},{},{:.1},{},{},\"{}\"\r\n",
                90_000_000_000u64 + i as u64,
                ["06999901", "06999902", "39999903"][i % 3],
                KANA[i % KANA.len()],
                30 + i % 30,
                1 + i % 12,
                1 + i % 28,
                1 + i % 2,
                1 + i % 28,
                70.0 + (i % 300) as f64 / 10.0,
                110 + i % 40,
                65 + i % 20,
                60 + i % 200,
                40 + i % 40,
                90 + i % 80,
                15 + i % 30,
                12 + i % 40,
                18 + i % 90,
                80 + i % 60,
                5.0 + (i % 20) as f64 / 10.0,
                URINE[i % URINE.len()],
                URINE[(i / 7) % URINE.len()],
                if i % 50 == 0 { "要再検、\r\n後日連絡" } else { "" },
            )
            .unwrap();
        }
    }
    let bytes = std::fs::metadata(&path).unwrap().len();
    let mb = bytes as f64 / 1e6;
    let rss_before = peak_rss_kib();

    // The physical reference: the csv crate parsing the same file into records.
    let started = Instant::now();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(&path)
        .unwrap();
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    while reader.read_byte_record(&mut record).unwrap() {
        rows += 1;
    }
    let raw_secs = started.elapsed().as_secs_f64();
    assert_eq!(rows as usize, records);

    let profile = Profile::default_profile();
    let sample = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let suggestion =
        kenshin_convert::suggest::suggest(sample, profile, DelimitedOptions::default()).unwrap();
    let map = MapFile::from_reader(suggestion.map_csv.as_bytes(), profile).unwrap();

    let started = Instant::now();
    let input = std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(&path).unwrap());
    let output =
        std::io::BufWriter::new(std::fs::File::create(dir.path().join("out.csv")).unwrap());
    let mut writer = StdCsvWriter::new(profile, output, OutputEncoding::Utf8Bom).unwrap();
    let report = convert_delimited(
        input,
        profile,
        &map,
        |r: &kenshin_profile::CheckupRecord| {
            writer.write(r).map_err(|e| e.to_string())?;
            Ok(Routed::Delivered)
        },
        |_| {},
    )
    .unwrap();
    writer.finish().unwrap();
    let convert_secs = started.elapsed().as_secs_f64();
    assert!(report.reconciles());
    let out_bytes = std::fs::metadata(dir.path().join("out.csv")).unwrap().len();

    println!(
        "input: {records} records, {mb:.1} MB; output {:.1} MB ({} delivered, {} rejected, {} warnings)",
        out_bytes as f64 / 1e6,
        report.records_out,
        report.records_rejected,
        report.warnings
    );
    println!("| step | seconds | records/s | MB/s (input) | × raw parse |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| raw csv crate parse | {raw_secs:.2} | {:.0} | {:.1} | 1.00 |",
        records as f64 / raw_secs,
        mb / raw_secs
    );
    println!(
        "| convert (read, map, validate, write standard CSV) | {convert_secs:.2} | {:.0} | {:.1} | {:.2} |",
        records as f64 / convert_secs,
        mb / convert_secs,
        raw_secs / convert_secs
    );
    println!(
        "peak RSS: {:.1} MiB before converting (file generation), {:.1} MiB after",
        rss_before as f64 / 1024.0,
        peak_rss_kib() as f64 / 1024.0
    );
}
