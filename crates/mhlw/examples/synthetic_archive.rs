//! Writes a synthetic submission archive with the built-in 第4期 profile, then reads it back.
//!
//! `cargo run -p kenshin-mhlw --example synthetic_archive -- [count] [out-dir]`

use std::fs::File;
use std::io::BufWriter;

use kenshin_mhlw::{
    read_archive, synthetic_records, write_archive, ArchiveMeta, Limits, Party,
    SYNTHETIC_INSTITUTION,
};
use kenshin_profile::Profile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);
    let out_dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let profile = Profile::default_profile();
    let meta = ArchiveMeta::new(
        SYNTHETIC_INSTITUTION,
        "架空健診センター",
        Party::agency("99999999"),
        time::macros::date!(2025 - 04 - 01),
    );

    // The archive's name follows from its contents; write under a temporary name first.
    let partial = out_dir.join("synthetic_archive.zip.partial");
    let summary = write_archive(
        BufWriter::new(File::create(&partial)?),
        synthetic_records(count, 1, profile),
        profile,
        &meta,
    )?;
    let path = out_dir.join(&summary.archive_file_name);
    std::fs::rename(&partial, &path)?;
    println!(
        "wrote {} ({} records, {} observations, {} 未実施, {} 測定不能, {} H/L)",
        path.display(),
        summary.records,
        summary.observations,
        summary.not_performed,
        summary.unmeasurable,
        summary.flagged
    );

    let reader = read_archive(File::open(&path)?, profile, &Limits::default())?;
    let mut read = 0;
    for record in reader {
        let record = record?;
        read += record.values.len();
    }
    println!("read back {read} values");
    Ok(())
}
