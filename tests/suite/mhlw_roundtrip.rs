//! MHLW 特定健診 archive → standard CSV → MHLW archive, through the `convert` command, keeps
//! every value, flag and header field; and the archives it writes validate against the
//! official schemas (when xmllint is installed; CI installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use kenshin_profile::{CheckupRecord, HeaderField, Profile};

fn kr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .args(args)
        .output()
        .unwrap()
}

fn read(path: &Path, profile: &Profile) -> Vec<CheckupRecord> {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let archive =
        kenshin_mhlw::read_archive(file, profile, &kenshin_mhlw::Limits::default()).unwrap();
    let mut records: Vec<CheckupRecord> = archive.map(Result::unwrap).collect();
    for record in &mut records {
        record.source_record = 0;
        // 氏名 (kanji) has no place in the MHLW document; the rest must survive.
        record.header.fields.remove(&HeaderField::Name);
    }
    records.sort_by(|a, b| {
        (
            a.header.get(HeaderField::InsurerNumber),
            a.header.get(HeaderField::KanaName),
            a.header.get(HeaderField::BirthDate),
        )
            .cmp(&(
                b.header.get(HeaderField::InsurerNumber),
                b.header.get(HeaderField::KanaName),
                b.header.get(HeaderField::BirthDate),
            ))
    });
    records
}

fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(extension))
        .collect();
    files.sort();
    files
}

#[test]
fn archive_to_standard_csv_to_archive_keeps_every_value() {
    let profile = Profile::default_profile();
    let dir = tempfile::tempdir().unwrap();
    // One insurer's synthetic archive, as a 健診機関 would send it.
    let records: Vec<CheckupRecord> = kenshin_mhlw::synthetic_records(40, 7, profile)
        .into_iter()
        .filter(|r| {
            r.header.get(HeaderField::InsurerNumber) == Some(kenshin_mhlw::SYNTHETIC_INSURERS[0])
        })
        .collect();
    assert!(
        records.len() >= 5,
        "the synthetic set has records of the first insurer"
    );
    let institution = records[0]
        .header
        .get(HeaderField::InstitutionNumber)
        .unwrap()
        .to_owned();
    let meta = kenshin_mhlw::ArchiveMeta::new(
        institution.clone(),
        "テスト健診センター",
        kenshin_mhlw::Party::insurer(kenshin_mhlw::SYNTHETIC_INSURERS[0]),
        time::macros::date!(2026 - 04 - 30),
    );
    let original_path = dir.path().join("original.zip");
    kenshin_mhlw::write_archive(
        std::fs::File::create(&original_path).unwrap(),
        records.clone(),
        profile,
        &meta,
    )
    .unwrap();

    let csv_dir = dir.path().join("csv");
    let out = kr(&[
        "convert",
        original_path.to_str().unwrap(),
        "--out",
        csv_dir.to_str().unwrap(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(report["records_in"], records.len());
    assert_eq!(report["records_rejected"], 0, "{report:#}");
    let csv = csv_dir.join("original.std.csv");
    assert!(csv.exists());

    let xml_dir = dir.path().join("xml");
    let out = kr(&[
        "convert",
        csv.to_str().unwrap(),
        "--format",
        "mhlw-xml",
        "--institution-name",
        "テスト健診センター",
        "--out",
        xml_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second: serde_json::Value =
        serde_json::from_slice(&std::fs::read(xml_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(second["records_rejected"], 0, "{second:#}");
    let archives = files_with_extension(&xml_dir, "zip");
    assert_eq!(archives.len(), 1, "one archive per 保険者番号");

    let before = read(&original_path, profile);
    let after = read(&archives[0], profile);
    assert_eq!(before.len(), after.len());
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a.header, b.header);
        let values = |r: &CheckupRecord| {
            let mut v: Vec<_> = r
                .values
                .iter()
                .map(|v| (v.code.clone(), v.value.clone(), v.flag))
                .collect();
            v.sort_by(|x, y| x.0.cmp(&y.0));
            v
        };
        assert_eq!(values(a), values(b));
    }
}

#[test]
fn written_archives_validate_against_the_official_schemas() {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/mhlw/xsd-2024");
    if Command::new("xmllint").arg("--version").output().is_err() {
        eprintln!("skipping: xmllint not found (apt-get install libxml2-utils)");
        return;
    }
    if !xsd.exists() {
        eprintln!("skipping: schemas not found at {}", xsd.display());
        return;
    }
    let profile = Profile::default_profile();
    let dir = tempfile::tempdir().unwrap();
    // An institution export converted with a map, written as MHLW XML.
    let export = "保険者番号,生年月日,性別,受診日,身長,体重,最高血圧,最低血圧,尿糖\r\n\
                  06999901,S45.1.1,男,2026/4/1,170.2,65.0,128,82,(-)\r\n\
                  06999901,1980/2/3,女,2026/4/2,158.0,50.5,112,70,(+)\r\n";
    let map = "kind,source,item,from,to\r\n\
               setting,,,id,x\r\nsetting,,,version,1\r\n\
               column,保険者番号,header.insurer_number,,\r\ncolumn,生年月日,header.birth_date,,\r\n\
               column,性別,header.sex,,\r\ncolumn,受診日,header.exam_date,,\r\n\
               column,身長,9N001000000000001,,\r\ncolumn,体重,9N006000000000001,,\r\n\
               column,最高血圧,9A751000000000001,,\r\ncolumn,最低血圧,9A761000000000001,,\r\n\
               column,尿糖,1A020000000190111,,\r\n";
    std::fs::write(dir.path().join("export.csv"), export).unwrap();
    std::fs::write(dir.path().join("map.csv"), map).unwrap();
    let out_dir = dir.path().join("out");
    let out = kr(&[
        "convert",
        dir.path().join("export.csv").to_str().unwrap(),
        "--map",
        dir.path().join("map.csv").to_str().unwrap(),
        "--format",
        "mhlw-xml",
        "--institution-number",
        "1399999901",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let archive = files_with_extension(&out_dir, "zip").pop().unwrap();
    let records = read(&archive, profile);
    assert_eq!(records.len(), 2);
    // Unpack with a real unzip-compatible reader and validate each document.
    let unpacked = dir.path().join("unpacked");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&archive).unwrap()).unwrap();
    zip.extract(&unpacked).unwrap();
    let mut xml_files = Vec::new();
    let mut stack = vec![unpacked.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().and_then(|e| e.to_str()) == Some("xml") {
                xml_files.push(p);
            }
        }
    }
    assert_eq!(
        xml_files.len(),
        4,
        "2 documents, index, summary: {xml_files:?}"
    );
    for file in xml_files {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        let schema = if name.starts_with("ix08") {
            "ix08_V08.xsd"
        } else if name.starts_with("su08") {
            "su08_V08.xsd"
        } else {
            "hc08_V08.xsd"
        };
        let out = Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(xsd.join(schema))
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
