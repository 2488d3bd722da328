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
    /// The institution's export (CSV/TSV).
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
    /// Output format.
    #[arg(long, default_value = "std-csv")]
    format: OutputFormat,
    /// Encoding of the standard CSV: utf-8 (with BOM) or shift_jis.
    #[arg(long, default_value = "utf-8")]
    encoding: String,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum OutputFormat {
    StdCsv,
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

/// Runs `convert`; returns the process exit status (0 clean, 1 findings, 2 unusable).
pub fn run_convert(args: ConvertArgs) -> anyhow::Result<u8> {
    let profile = load_profile(args.profile.as_deref())?;
    let encoding: OutputEncoding = args.encoding.parse().map_err(anyhow::Error::msg)?;
    let Some(map_path) = args.map.as_deref() else {
        eprintln!(
            "error: a map file (--map) is needed for a delimited export; draft one with `kenshin-relay map suggest {}`",
            args.input.display()
        );
        return Ok(EXIT_UNUSABLE);
    };
    let map = MapFile::from_path(map_path, &profile)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let stem = args
        .input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let output = args.out.join(format!("{stem}.std.csv"));
    let partial = args.out.join(format!("{stem}.std.csv.part"));
    let input = std::fs::File::open(&args.input)
        .with_context(|| format!("cannot open {}", args.input.display()))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress(!args.json && std::io::stderr().is_terminal(), size);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut writer = StdCsvWriter::new(&profile, std::io::BufWriter::new(file), encoding)?;
    let result = kenshin_convert::convert_delimited(
        std::io::BufReader::with_capacity(256 * 1024, input),
        &profile,
        &map,
        |record| {
            writer.write(record).map_err(|e| e.to_string())?;
            Ok(kenshin_convert::Routed::Delivered)
        },
        |done| bar.set_position(done),
    );
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(err) => {
            drop(writer);
            let _ = std::fs::remove_file(&partial);
            eprintln!("error: {err}");
            return Ok(EXIT_UNUSABLE);
        }
    };
    writer.finish()?;
    std::fs::rename(&partial, &output)?;
    let report_path = args.out.join("report.json");
    std::fs::write(&report_path, serde_json::to_vec_pretty(&report)?)?;
    emit(args.json, &report, || {
        summary(&report, Some(&output), &report_path)
    });
    Ok(report.exit_code() as u8)
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
fn summary(report: &Report, output: Option<&Path>, report_path: &Path) -> String {
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
                "  record {} (line {}){}{}: {} — {}",
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
                finding.message
            ));
        }
    }
    if let Some(output) = output {
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
            let suggestion = kenshin_convert::suggest::suggest(
                std::io::BufReader::new(file),
                &profile,
                DelimitedOptions::default(),
            )?;
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
                |record| {
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
                    summary(&report, None, Path::new("(not written: map check writes nothing)"))
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
