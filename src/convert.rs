//! `kenshin-relay convert`, `map suggest|check` and `profile show|check`: conversion at the
//! institution, on local files, with nothing uploaded.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use kenshin_convert::delimited::DelimitedOptions;
use kenshin_convert::{MapFile, OutputEncoding, Report, Severity, StdCsvWriter};
use kenshin_profile::Profile;

use crate::output::emit;

/// Exit status for unusable input (nothing converted).
pub const EXIT_UNUSABLE: u8 = 2;

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// The input: an institution's export (CSV/TSV or an Excel .xlsx workbook, needs --map),
    /// an MHLW 特定健診 archive (ZIP, no map needed), or a standard CSV written by this command.
    input: PathBuf,
    /// The institution's map file (変換テーブル).
    #[arg(long)]
    map: Option<PathBuf>,
    /// A format profile file (default: the built-in MHLW 第4期 profile).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Output format: the standard CSV, or MHLW XML archives (one per 保険者番号).
    #[arg(long, default_value = "std-csv")]
    format: OutputFormat,
    /// Encoding of the standard CSV: utf-8 (with BOM) or shift_jis.
    #[arg(long, default_value = "utf-8")]
    encoding: String,
    /// 健診機関番号 (10 digits) of the sender, for MHLW archives (default: from the records).
    #[arg(long)]
    institution_number: Option<String>,
    /// 健診機関名称, for MHLW archives.
    #[arg(long, default_value = "健診機関")]
    institution_name: String,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum OutputFormat {
    StdCsv,
    MhlwXml,
}

/// What the input is, judged by its first bytes.
enum InputKind {
    MhlwArchive,
    StandardCsv,
    Export,
    /// An export saved from Excel (`.xlsx`): read as the CSV of its worksheet.
    Workbook,
}

fn input_kind(path: &Path) -> anyhow::Result<InputKind> {
    use std::io::Read;
    let mut head = [0u8; 4096];
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let n = file.read(&mut head)?;
    let head = &head[..n];
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        let bytes = std::fs::read(path)?;
        if kenshin_convert::xlsx::is_xlsx(&bytes) {
            return Ok(InputKind::Workbook);
        }
        return Ok(InputKind::MhlwArchive);
    }
    let first_line =
        String::from_utf8_lossy(head.split(|&b| b == b'\n').next().unwrap_or_default());
    if kenshin_convert::stdcsv::is_standard_header(&first_line) {
        return Ok(InputKind::StandardCsv);
    }
    Ok(InputKind::Export)
}

/// Where converted records go: one standard CSV, or per-insurer buffers for MHLW archives.
enum Outputs<'p> {
    StdCsv {
        writer: StdCsvWriter<'p, std::io::BufWriter<std::fs::File>>,
        partial: PathBuf,
        path: PathBuf,
    },
    /// Records are spooled per 保険者番号 (JSON lines on disk, so memory stays flat) and written
    /// as one archive per insurer at the end.
    Mhlw {
        spools: std::collections::BTreeMap<String, (PathBuf, std::io::BufWriter<std::fs::File>)>,
        dir: PathBuf,
    },
}

impl Outputs<'_> {
    fn write(
        &mut self,
        record: &kenshin_profile::CheckupRecord,
    ) -> Result<kenshin_convert::Routed, String> {
        match self {
            Outputs::StdCsv { writer, .. } => writer.write(record).map_err(|e| e.to_string())?,
            Outputs::Mhlw { spools, dir } => {
                use std::io::Write;
                let insurer = record
                    .header
                    .get(kenshin_profile::HeaderField::InsurerNumber)
                    .unwrap_or_default()
                    .to_owned();
                if !spools.contains_key(&insurer) {
                    let path = dir.join(format!(".spool-{insurer}.jsonl"));
                    let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
                    spools.insert(insurer.clone(), (path, std::io::BufWriter::new(file)));
                }
                let (_, spool) = spools.get_mut(&insurer).expect("inserted above");
                serde_json::to_writer(&mut *spool, record).map_err(|e| e.to_string())?;
                spool.write_all(b"\n").map_err(|e| e.to_string())?;
            }
        }
        Ok(kenshin_convert::Routed::Delivered)
    }
}

/// Runs `convert`; returns the process exit status (0 clean, 1 findings, 2 unusable).
pub fn run_convert(args: ConvertArgs) -> anyhow::Result<u8> {
    let profile = load_profile(args.profile.as_deref())?;
    let encoding: OutputEncoding = args.encoding.parse().map_err(anyhow::Error::msg)?;
    let kind = input_kind(&args.input)?;
    let map = match (&kind, args.map.as_deref()) {
        (InputKind::Export | InputKind::Workbook, None) => {
            eprintln!(
                "error: a map file (--map) is needed for an institution's export; draft one with `kenshin-relay map suggest {}`",
                args.input.display()
            );
            return Ok(EXIT_UNUSABLE);
        }
        (InputKind::Export | InputKind::Workbook, Some(path)) => {
            Some(MapFile::from_path(path, &profile)?)
        }
        // Archives and standard CSVs use standard codes already.
        (_, _) => None,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let stem = args
        .input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let mut outputs = match args.format {
        OutputFormat::StdCsv => {
            let path = args.out.join(format!("{stem}.std.csv"));
            let partial = args.out.join(format!("{stem}.std.csv.part"));
            let file = std::fs::File::create(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?;
            Outputs::StdCsv {
                writer: StdCsvWriter::new(&profile, std::io::BufWriter::new(file), encoding)?,
                partial,
                path,
            }
        }
        OutputFormat::MhlwXml => Outputs::Mhlw {
            spools: Default::default(),
            dir: args.out.clone(),
        },
    };
    let input = std::fs::File::open(&args.input)
        .with_context(|| format!("cannot open {}", args.input.display()))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress(!args.json && std::io::stderr().is_terminal(), size);
    let result = match kind {
        InputKind::Export => kenshin_convert::convert_delimited(
            std::io::BufReader::with_capacity(256 * 1024, input),
            &profile,
            map.as_ref().expect("exports have a map"),
            |record: &kenshin_profile::CheckupRecord| outputs.write(record),
            |done| bar.set_position(done),
        ),
        InputKind::Workbook => {
            let map = map.as_ref().expect("workbooks have a map");
            let sheet = map.settings.get("sheet").map(String::as_str);
            let bytes = std::fs::read(&args.input)?;
            match kenshin_convert::xlsx::to_csv(&bytes, sheet) {
                Ok(csv) => kenshin_convert::convert_delimited(
                    std::io::Cursor::new(csv),
                    &profile,
                    map,
                    |record: &kenshin_profile::CheckupRecord| outputs.write(record),
                    |_| {},
                ),
                Err(err) => Err(kenshin_convert::ConvertError::Input(err.to_string())),
            }
        }
        InputKind::MhlwArchive => match kenshin_mhlw::read_archive(
            std::io::BufReader::new(input),
            &profile,
            &kenshin_mhlw::Limits::default(),
        ) {
            Ok(archive) => kenshin_convert::convert_records(
                archive,
                &profile,
                "MHLW XML archive",
                |record: &kenshin_profile::CheckupRecord| outputs.write(record),
            ),
            Err(err) => Err(kenshin_convert::ConvertError::Input(err.to_string())),
        },
        InputKind::StandardCsv => {
            match kenshin_convert::stdcsv::read_std_csv(std::io::BufReader::new(input), &profile) {
                Ok(records) => kenshin_convert::convert_records(
                    records,
                    &profile,
                    "standard CSV",
                    |record: &kenshin_profile::CheckupRecord| outputs.write(record),
                ),
                Err(err) => Err(kenshin_convert::ConvertError::Input(err.to_string())),
            }
        }
    };
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(err) => {
            discard(outputs);
            eprintln!("error: {err}");
            return Ok(EXIT_UNUSABLE);
        }
    };
    let written = finish_outputs(outputs, &profile, &args)?;
    let mut report = report;
    report.input_sha256 = Some(crate::files::sha256_of(&args.input)?);
    let report_path = args.out.join("report.json");
    std::fs::write(&report_path, serde_json::to_vec_pretty(&report)?)?;
    emit(args.json, &report, || {
        summary(&report, &written, &report_path)
    });
    Ok(report.exit_code() as u8)
}

fn discard(outputs: Outputs<'_>) {
    match outputs {
        Outputs::StdCsv {
            partial, writer, ..
        } => {
            drop(writer);
            let _ = std::fs::remove_file(partial);
        }
        Outputs::Mhlw { spools, .. } => {
            for (_, (path, spool)) in spools {
                drop(spool);
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Finishes the outputs and returns their paths.
fn finish_outputs(
    outputs: Outputs<'_>,
    profile: &Profile,
    args: &ConvertArgs,
) -> anyhow::Result<Vec<PathBuf>> {
    match outputs {
        Outputs::StdCsv {
            writer,
            partial,
            path,
        } => {
            writer.finish()?;
            std::fs::rename(&partial, &path)?;
            Ok(vec![path])
        }
        Outputs::Mhlw { spools, dir } => {
            use std::io::BufRead;
            let mut written = Vec::new();
            let today = time::OffsetDateTime::now_utc().date();
            for (insurer, (spool_path, spool)) in spools {
                drop(spool.into_inner().map_err(|e| e.into_error())?);
                let read_spool = || -> anyhow::Result<Box<dyn Iterator<Item = kenshin_profile::CheckupRecord>>> {
                    let lines = std::io::BufReader::new(std::fs::File::open(&spool_path)?).lines();
                    Ok(Box::new(lines.map_while(Result::ok).filter_map(|line| serde_json::from_str(&line).ok())))
                };
                let institution = match &args.institution_number {
                    Some(number) => number.clone(),
                    None => read_spool()?
                        .find_map(|r| r.header.get(kenshin_profile::HeaderField::InstitutionNumber).map(str::to_owned))
                        .ok_or_else(|| anyhow::anyhow!(
                            "MHLW archives need the 健診機関番号: give --institution-number or map a column to it"
                        ))?,
                };
                let meta = kenshin_mhlw::ArchiveMeta::new(
                    institution,
                    args.institution_name.clone(),
                    kenshin_mhlw::Party::insurer(insurer.clone()),
                    today,
                );
                let partial = dir.join(format!(".{insurer}.zip.part"));
                let file = std::fs::File::create(&partial)?;
                let summary = kenshin_mhlw::write_archive(
                    std::io::BufWriter::new(file),
                    read_spool()?,
                    profile,
                    &meta,
                );
                let _ = std::fs::remove_file(&spool_path);
                let summary = match summary {
                    Ok(summary) => summary,
                    Err(err) => {
                        let _ = std::fs::remove_file(&partial);
                        anyhow::bail!("MHLW archive for 保険者番号 {insurer}: {err}");
                    }
                };
                let path = dir.join(&summary.archive_file_name);
                std::fs::rename(&partial, &path)?;
                written.push(path);
            }
            Ok(written)
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct MapArgs {
    #[command(subcommand)]
    command: MapCommand,
    /// Machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
enum MapCommand {
    /// Draft a map from a sample export: matches column names and values against the profile.
    Suggest {
        sample: PathBuf,
        /// Where to write the draft map (default: print it).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        profile: Option<PathBuf>,
    },
    /// Convert a sample locally with a map and report coverage and findings; nothing is written.
    Check {
        map: PathBuf,
        sample: PathBuf,
        #[arg(long)]
        profile: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
pub struct ProfileArgs {
    #[command(subcommand)]
    command: ProfileCommand,
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
enum ProfileCommand {
    /// List a profile's items (default: the built-in profile).
    Show { file: Option<PathBuf> },
    /// Load a profile file and report problems.
    Check { file: PathBuf },
}

fn load_profile(path: Option<&Path>) -> anyhow::Result<std::borrow::Cow<'static, Profile>> {
    Ok(match path {
        Some(path) => std::borrow::Cow::Owned(
            Profile::from_path(path).with_context(|| format!("profile {}", path.display()))?,
        ),
        None => std::borrow::Cow::Borrowed(Profile::default_profile()),
    })
}

fn progress(visible: bool, total: u64) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "変換中 converting [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// The report for people: counts, then findings grouped by item and rule, then examples.
fn summary(report: &Report, outputs: &[PathBuf], report_path: &Path) -> String {
    let mut lines = vec![
        format!(
            "入力 {} 件 → 出力 {} 件、エラー {} 件 / {} records in, {} out, {} rejected",
            report.records_in,
            report.records_out,
            report.records_rejected,
            report.records_in,
            report.records_out,
            report.records_rejected
        ),
        format!(
            "  input: {} ({}), profile {}, map {}",
            report.input_encoding,
            report.input_delimiter,
            report.profile,
            report.map.as_deref().unwrap_or("-")
        ),
    ];
    for (insurer, count) in &report.records_by_insurer {
        lines.push(format!("  保険者番号 {insurer}: {count} 件"));
    }
    if !report.finding_counts.is_empty() {
        lines.push(format!(
            "指摘 findings: {} errors, {} warnings",
            report.errors, report.warnings
        ));
        for count in &report.finding_counts {
            lines.push(format!(
                "  {:<7} {:>6} × {} ({}){}",
                match count.severity {
                    Severity::Error => "ERROR",
                    Severity::Warning => "warning",
                },
                count.count,
                count.rule.label_ja(),
                count.rule.as_str(),
                count
                    .item_name
                    .as_ref()
                    .map(|n| format!("  {n} [{}]", count.item.as_deref().unwrap_or("")))
                    .unwrap_or_default()
            ));
        }
        lines.push("最初の例 / first examples:".into());
        for finding in report.findings.iter().take(10) {
            lines.push(format!(
                "  record {} (line {}){}{}: {} — {}{}",
                finding.record,
                finding.line,
                finding
                    .column
                    .as_ref()
                    .map(|c| format!(", column {c}"))
                    .unwrap_or_default(),
                finding
                    .item_name
                    .as_ref()
                    .map(|n| format!(", {n}"))
                    .unwrap_or_default(),
                finding.rule.label_ja(),
                finding.message,
                // The value behind the finding: the export is the institution's own.
                finding
                    .value
                    .as_ref()
                    .map(|v| format!("（値 value: {v}）"))
                    .unwrap_or_default()
            ));
        }
    }
    for output in outputs {
        lines.push(format!("出力 output: {}", output.display()));
    }
    lines.push(format!("報告 report: {}", report_path.display()));
    lines.join("\n")
}

pub fn run_map(args: MapArgs) -> anyhow::Result<u8> {
    match args.command {
        MapCommand::Suggest {
            sample,
            out,
            profile,
        } => {
            let profile = load_profile(profile.as_deref())?;
            let file = std::fs::File::open(&sample)
                .with_context(|| format!("cannot open {}", sample.display()))?;
            let mut reader = std::io::BufReader::new(file);
            let workbook = std::io::BufRead::fill_buf(&mut reader)?.starts_with(b"PK\x03\x04");
            // An Excel workbook is read as the CSV of its first worksheet, as conversion does;
            // a delimited export is streamed (only its first rows are looked at).
            let suggestion = if workbook {
                let bytes = std::fs::read(&sample)?;
                let csv = kenshin_convert::xlsx::to_csv(&bytes, None)
                    .with_context(|| format!("cannot read the workbook {}", sample.display()))?;
                kenshin_convert::suggest::suggest(&csv[..], &profile, DelimitedOptions::default())?
            } else {
                kenshin_convert::suggest::suggest(reader, &profile, DelimitedOptions::default())?
            };
            if let Some(out) = &out {
                std::fs::write(out, format!("\u{FEFF}{}", suggestion.map_csv))
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
            emit(args.json, &suggestion, || {
                let mut lines = Vec::new();
                let placed = suggestion
                    .placements
                    .iter()
                    .filter(|p| p.target.is_some())
                    .count();
                lines.push(format!(
                    "{} 列中 {} 列を割り当てました / placed {placed} of {} columns ({} rows sampled)",
                    suggestion.placements.len(),
                    placed,
                    suggestion.placements.len(),
                    suggestion.rows_sampled
                ));
                for p in &suggestion.placements {
                    match &p.target {
                        Some(target) => lines.push(format!(
                            "  {:<20} → {} {} ({})",
                            p.column,
                            target,
                            p.target_name.as_deref().unwrap_or(""),
                            p.how.as_deref().unwrap_or("")
                        )),
                        None => lines.push(format!(
                            "  {:<20} → 割り当てなし / not placed{}",
                            p.column,
                            p.how
                                .as_ref()
                                .map(|h| format!(" ({h})"))
                                .unwrap_or_default()
                        )),
                    }
                    if !p.unknown_values.is_empty() {
                        lines.push(format!(
                            "      値の対応を追加してください / add value rows for: {}",
                            p.unknown_values.join(", ")
                        ));
                    }
                }
                match &out {
                    Some(out) => lines.push(format!("下書き draft map: {}", out.display())),
                    None => lines.push(format!("\n{}", suggestion.map_csv)),
                }
                lines.join("\n")
            });
            Ok(0)
        }
        MapCommand::Check {
            map,
            sample,
            profile,
        } => {
            let profile = load_profile(profile.as_deref())?;
            let map = MapFile::from_path(&map, &profile)?;
            let file = std::fs::File::open(&sample)
                .with_context(|| format!("cannot open {}", sample.display()))?;
            let mut items_seen = std::collections::BTreeSet::new();
            let result = kenshin_convert::convert_delimited(
                std::io::BufReader::new(file),
                &profile,
                &map,
                |record: &kenshin_profile::CheckupRecord| {
                    items_seen.extend(record.values.iter().map(|v| v.code.clone()));
                    Ok(kenshin_convert::Routed::Delivered)
                },
                |_| {},
            );
            let report = match result {
                Ok(report) => report,
                Err(err) => {
                    eprintln!("error: {err}");
                    return Ok(EXIT_UNUSABLE);
                }
            };
            let coverage = serde_json::json!({
                "columns_mapped": map.columns.len(),
                "items_with_values": items_seen.len(),
                "report": report,
            });
            emit(args.json, &coverage, || {
                format!(
                    "マップ {} : {} 列を割り当て、値のあった項目 {} / map covers {} columns; {} items received values\n{}",
                    map.label(),
                    map.columns.len(),
                    items_seen.len(),
                    map.columns.len(),
                    items_seen.len(),
                    summary(&report, &[], Path::new("(not written: map check writes nothing)"))
                )
            });
            Ok(report.exit_code() as u8)
        }
    }
}

pub fn run_profile(args: ProfileArgs) -> anyhow::Result<u8> {
    match args.command {
        ProfileCommand::Show { file } => {
            let profile = load_profile(file.as_deref())?;
            emit(args.json, &*profile, || {
                let mut lines = vec![format!(
                    "{} ({}) — {} items",
                    profile.name,
                    profile.label(),
                    profile.items.len()
                )];
                for item in &profile.items {
                    let kind = match &item.kind {
                        kenshin_profile::ItemKind::Numeric { format } => {
                            format!("numeric {format}")
                        }
                        kenshin_profile::ItemKind::Code { terms } => {
                            format!("code ×{}", terms.len())
                        }
                        kenshin_profile::ItemKind::Text => "text".into(),
                        kenshin_profile::ItemKind::Date => "date".into(),
                    };
                    lines.push(format!(
                        "  {}  {:<16} {}{}",
                        item.code,
                        kind,
                        item.name,
                        item.unit
                            .as_ref()
                            .map(|u| format!(" [{u}]"))
                            .unwrap_or_default()
                    ));
                }
                lines.join("\n")
            });
            Ok(0)
        }
        ProfileCommand::Check { file } => {
            let profile =
                Profile::from_path(&file).with_context(|| format!("profile {}", file.display()))?;
            let warnings = profile.check();
            let report = serde_json::json!({
                "profile": profile.label(),
                "items": profile.items.len(),
                "warnings": warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
            });
            emit(args.json, &report, || {
                let mut lines = vec![format!(
                    "{}: {} items, {} warnings",
                    profile.label(),
                    profile.items.len(),
                    warnings.len()
                )];
                lines.extend(warnings.iter().map(|w| format!("  {w}")));
                lines.join("\n")
            });
            Ok(if warnings.is_empty() { 0 } else { 1 })
        }
    }
}
