//! `kenshin-relay client`: the service from a batch job, over TLS 1.3 with a client certificate.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use kenshin_client::{ClientIdentity, RelayClient};
use kenshin_core::api::{DeliveryView, SubmissionView};

use crate::output::{emit, human_size, opt_time, time};

#[derive(clap::Args, Debug)]
pub struct ClientArgs {
    /// Server URL.
    #[arg(
        long,
        env = "KENSHIN_RELAY_SERVER",
        default_value = "https://localhost:8443",
        global = true
    )]
    server: String,
    /// This device's certificate (PEM).
    #[arg(
        long,
        env = "KENSHIN_RELAY_CERT",
        default_value = "cert.pem",
        global = true
    )]
    cert: PathBuf,
    /// This device's private key (PEM).
    #[arg(
        long,
        env = "KENSHIN_RELAY_KEY",
        default_value = "key.pem",
        global = true
    )]
    key: PathBuf,
    /// The relay's CA certificate (PEM), to authenticate the server.
    #[arg(
        long,
        env = "KENSHIN_RELAY_CA",
        default_value = "ca.pem",
        global = true
    )]
    ca: PathBuf,
    /// Machine-readable JSON on stdout (no progress bar).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    command: ClientCommand,
}

#[derive(Subcommand, Debug)]
enum ClientCommand {
    /// Upload a file; prints the receipt. With --to, to that organisation; without, the file
    /// is converted with your active map and routed by 保険者番号.
    Send {
        file: PathBuf,
        /// Receiving organisation code (omit to convert and route by 保険者番号).
        #[arg(long)]
        to: Option<String>,
        /// Name the receiver sees (default: the file's name).
        #[arg(long)]
        filename: Option<String>,
        /// Wait until the file is converted and routed, and exit with its outcome (see
        /// `client status`).
        #[arg(long)]
        wait: bool,
        /// With --wait: give up waiting after this many seconds (exit 3).
        #[arg(long, default_value_t = 600)]
        wait_seconds: u64,
        /// Send even when the same content was sent to the same receivers and is still within
        /// its retention period (otherwise: asked on a terminal, refused with --json or in a
        /// script).
        #[arg(long)]
        allow_duplicate: bool,
    },
    /// List the inbox (deliveries to you) or what you sent.
    List {
        #[arg(value_enum, default_value = "inbox")]
        what: ListWhat,
        /// Only this state (ready, downloaded, confirmed, expired, withdrawn; or for sent:
        /// received, delivered, withdrawn, …).
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// Show one submission you sent, with the state of each delivery. Exits with its outcome:
    /// 0 every record delivered, 3 still being converted, 4 some records held (no receiver
    /// takes their 保険者番号), 5 some records rejected, 6 the file was unusable, 7 withdrawn.
    Status { submission: String },
    /// Download a delivery to a file, verifying its SHA-256. With --all, every delivery not yet
    /// confirmed into the directory --out (resumable and idempotent: a file already there with
    /// the right content is not fetched again), and with --confirm each is confirmed (受信完了)
    /// once saved and verified.
    Fetch {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        delivery: Option<String>,
        /// Every delivery that is ready or downloaded (not yet confirmed).
        #[arg(long)]
        all: bool,
        /// With --all: confirm receipt of each file once it is saved and verified.
        #[arg(long, requires = "all")]
        confirm: bool,
        /// Output file (default: the delivery's file name, in the current directory); with
        /// --all, the directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite an existing output file.
        #[arg(long)]
        force: bool,
        /// Your age identity file (`age-keygen -o key.txt`): a delivery sealed to your
        /// organisation's recipients is opened here, on your machine, and its content checked
        /// against the SHA-256 the sender's receipt binds. Without it a sealed delivery is
        /// saved as the age file (open it with `age -d -i key.txt`).
        #[arg(long, value_name = "KEY_FILE")]
        identity: Option<PathBuf>,
    },
    /// Confirm receipt (受信完了): the server destroys its copy.
    Confirm { delivery: String },
    /// Withdraw a submission that no receiver has downloaded yet.
    Withdraw { submission: String },
    /// The conversion report of a submission you sent (JSON).
    Report { submission: String },
    /// Records of a file you sent that were held (no receiver takes their 保険者番号 yet) or
    /// returned (cannot be identified): list them, and with --out save those still kept.
    Held {
        submission: String,
        /// Save each batch still kept into this directory, under its own file name.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Your map files (変換テーブル): upload a version, list, activate.
    #[command(subcommand)]
    Map(MapCommand),
    /// Ask the server for its health (no certificate needed).
    Health,
    /// Verify the transparency ledger as a party, or show a file's history.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Export your organisation's access log (who did what, when, from where).
    AuditExport {
        /// csv, jsonl, fhir (R4 AuditEvent bundle) or atna (DICOM audit messages, one per line).
        #[arg(long, default_value = "csv")]
        format: String,
        /// From this time (RFC 3339, e.g. 2026-04-01T00:00:00Z).
        #[arg(long)]
        from: Option<String>,
        /// Until this time (exclusive).
        #[arg(long)]
        to: Option<String>,
        /// Only this action (e.g. delivery_download).
        #[arg(long)]
        action: Option<String>,
        /// Only rows naming this object id.
        #[arg(long)]
        object: Option<String>,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum LedgerCommand {
    /// Check the signed checkpoint against the pinned key, its consistency with the last
    /// checkpoint this client saw (rollback and fork detection), and the inclusion of every
    /// entry about your organisation's files.
    Verify {
        /// Pin this verifier key (text or file, e.g. the `ledger.pub` of `GET /ledger/key`);
        /// default: the key remembered in --state, or the server's key on first use. (`--key`
        /// is the client's own private key.)
        #[arg(long = "verifier-key", value_name = "KEY")]
        verifier_key: Option<String>,
        /// Where the last accepted checkpoint and the pinned key are kept.
        #[arg(long, default_value = ".kenshin-relay-ledger.json")]
        state: PathBuf,
    },
    /// A file's history in the ledger, each entry proven against the latest checkpoint.
    Show { submission: String },
}

#[derive(Subcommand, Debug)]
enum MapCommand {
    /// Upload a new map version (checked by the server against its profile).
    Upload {
        file: PathBuf,
        /// Make it the map conversions use from now on.
        #[arg(long)]
        activate: bool,
    },
    /// List your map versions.
    List,
    /// Make a version the active one.
    Activate { map_id: String, version: String },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ListWhat {
    Inbox,
    Sent,
}

/// How a submission ended, as an exit code for batch scripts (see `client status`).
pub fn outcome_code(view: &kenshin_core::api::SubmissionView) -> u8 {
    use kenshin_core::SubmissionState as S;
    match view.state {
        S::Received | S::Converting => 3,
        S::Rejected => 6,
        S::Withdrawn => 7,
        _ => match &view.conversion {
            Some(c) if c.records_rejected > 0 => 5,
            Some(c) if c.records_unrouted > 0 => 4,
            _ => 0,
        },
    }
}

/// A file of the same content this organisation sent to the same receivers (`to`; `None`:
/// for conversion) that is still within its retention period, if any.
/// What `fetch --all` did.
#[derive(serde::Serialize, Default)]
struct FetchAll {
    fetched: Vec<serde_json::Value>,
    /// Already in the directory with the right content: not fetched again.
    present: Vec<String>,
    confirmed: Vec<String>,
    failed: Vec<serde_json::Value>,
}

impl FetchAll {
    fn text(&self, dir: &std::path::Path) -> String {
        let mut lines = vec![format!(
            "{} に受信 / into {}: 新規 fetched {}、取得済み already there {}、受信完了 confirmed {}、失敗 failed {}",
            dir.display(),
            dir.display(),
            self.fetched.len(),
            self.present.len(),
            self.confirmed.len(),
            self.failed.len()
        )];
        for f in &self.failed {
            lines.push(format!(
                "  失敗 / failed {}: {}",
                f["delivery"].as_str().unwrap_or(""),
                f["error"].as_str().unwrap_or("")
            ));
        }
        lines.join("\n")
    }
}

/// The SHA-256 of a local file, or `None` if it cannot be read.
fn file_sha256(path: &std::path::Path) -> Option<(u64, String)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut sha = kenshin_crypto::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        size += n as u64;
    }
    Some((size, sha.finish_hex()))
}

/// Every delivery not yet confirmed, into `dir`. A file already there with the content the
/// delivery holds is kept (a second run after an interruption fetches only the rest); one
/// there with other content is refused unless `force`. Each file appears under its name only
/// once verified; with `confirm`, it is then confirmed.
async fn fetch_all(
    client: &kenshin_client::RelayClient,
    dir: &std::path::Path,
    identities: Option<&kenshin_seal::Identities>,
    confirm: bool,
    force: bool,
) -> anyhow::Result<FetchAll> {
    std::fs::create_dir_all(dir)?;
    let mut pending = Vec::new();
    for state in ["ready", "downloaded"] {
        let mut offset = 0;
        loop {
            let page = client.list_deliveries(Some(state), 1000, offset).await?;
            let n = page.items.len() as u64;
            pending.extend(page.items);
            offset += n;
            if n == 0 || offset >= page.total {
                break;
            }
        }
    }
    pending.sort_by_key(|d| d.created_at);
    let mut used = std::collections::HashSet::new();
    let mut summary = FetchAll::default();
    for d in pending {
        let id = d.id.to_string();
        let open = identities.is_some() && d.sealed.is_some();
        let base = if open {
            d.filename.strip_suffix(".age").unwrap_or(&d.filename)
        } else {
            &d.filename
        };
        let mut name = safe_local_name(base);
        if !used.insert(name.clone()) {
            name = match name.split_once('.') {
                Some((stem, ext)) => format!("{stem}_{id}.{ext}"),
                None => format!("{name}_{id}"),
            };
            used.insert(name.clone());
        }
        let target = dir.join(&name);
        let (want_size, want_sha) = match (&d.sealed, open) {
            (Some(content), true) => (content.size, content.sha256.clone()),
            _ => (d.size, d.sha256.clone()),
        };
        let outcome: anyhow::Result<bool> = async {
            if target.exists() {
                match file_sha256(&target) {
                    Some((size, sha)) if size == want_size && sha == want_sha => return Ok(false),
                    _ if !force => anyhow::bail!(
                        "{} は別の内容で存在します（--force で上書き）/ exists with other content (--force overwrites)",
                        target.display()
                    ),
                    _ => {}
                }
            }
            match (identities, &d.sealed) {
                (Some(identities), Some(sealed)) => {
                    let fetched = client
                        .fetch_to_file(&id, &sealed_download_path(&target), |_, _| {})
                        .await?;
                    let opened = open_sealed(&fetched.path, identities, sealed, &target);
                    let _ = std::fs::remove_file(&fetched.path);
                    opened?;
                }
                _ => {
                    client.fetch_to_file(&id, &target, |_, _| {}).await?;
                }
            }
            Ok(true)
        }
        .await;
        match outcome {
            Ok(fetched) => {
                if fetched {
                    summary.fetched.push(serde_json::json!({"delivery": id, "path": target, "size": want_size, "sha256": want_sha}));
                } else {
                    summary.present.push(id.clone());
                }
                if confirm {
                    // A file already there was fetched by an earlier run: it is downloaded,
                    // so it can be confirmed; confirming twice answers the same.
                    match client.confirm(&id).await {
                        Ok(_) => summary.confirmed.push(id),
                        Err(err) => summary
                            .failed
                            .push(serde_json::json!({"delivery": id, "error": err.to_string()})),
                    }
                }
            }
            Err(err) => summary
                .failed
                .push(serde_json::json!({"delivery": id, "error": err.to_string()})),
        }
    }
    Ok(summary)
}

/// Reads an age identity file.
fn read_identities(path: &std::path::Path) -> anyhow::Result<kenshin_seal::Identities> {
    let file = std::fs::File::open(path).map_err(|e| {
        anyhow::anyhow!(
            "秘密鍵ファイル {} を開けません / cannot open the identity file: {e}",
            path.display()
        )
    })?;
    Ok(kenshin_seal::Identities::from_reader(
        std::io::BufReader::new(file),
    )?)
}

/// Where a sealed download is kept while it is opened: a hidden file beside the output.
fn sealed_download_path(out: &std::path::Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "delivery".into());
    out.with_file_name(format!(".{name}.age.part"))
}

/// Opens a downloaded age file into `out`, checking the content's size and SHA-256 against
/// what the service recorded (and the sender's receipt binds) before the file appears under
/// its name. Answers the size and SHA-256.
fn open_sealed(
    age_file: &std::path::Path,
    identities: &kenshin_seal::Identities,
    expected: &kenshin_core::api::SealedContentView,
    out: &std::path::Path,
) -> anyhow::Result<(u64, String)> {
    use std::io::{Read, Write};
    let input = std::io::BufReader::new(std::fs::File::open(age_file)?);
    let mut plain = kenshin_seal::open(identities, input)?;
    let partial = out.with_file_name(format!(
        ".{}.part",
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let result = (|| -> anyhow::Result<(u64, String)> {
        let mut file = std::fs::File::create(&partial)?;
        let mut sha = kenshin_crypto::Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = plain.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sha.update(&buf[..n]);
            file.write_all(&buf[..n])?;
            size += n as u64;
        }
        file.sync_all()?;
        let digest = sha.finish_hex();
        anyhow::ensure!(
            size == expected.size && kenshin_crypto::constant_time_eq(digest.as_bytes(), expected.sha256.as_bytes()),
            "復号した内容が送信元の記録と一致しません（{size} バイト, SHA-256 {digest}; 期待値 {} バイト, {}）。ファイルを使わず、送信元と運用者に連絡してください / the opened content does not match the sender's record",
            expected.size,
            expected.sha256
        );
        std::fs::rename(&partial, out)?;
        Ok((size, digest))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

async fn sent_before(
    client: &RelayClient,
    file: &std::path::Path,
    to: Option<&str>,
) -> anyhow::Result<Option<kenshin_core::api::SubmissionView>> {
    use kenshin_core::{DeliveryState, SubmissionState};
    let sha = crate::files::sha256_of(file)?;
    let now = time::OffsetDateTime::now_utc();
    let to = to.filter(|t| !t.is_empty());
    let earlier = client.submissions_with_content(&sha).await?;
    Ok(earlier.items.into_iter().find(|s| {
        let same_route = match to {
            Some(to) => {
                s.conversion.is_none() && s.deliveries.iter().any(|d| d.receiver.code == to)
            }
            None => {
                s.conversion.is_some()
                    || s.state == SubmissionState::Converting
                    || s.state == SubmissionState::Received
            }
        };
        let pending = matches!(
            s.state,
            SubmissionState::Received | SubmissionState::Converting
        );
        let live = s.deliveries.iter().any(|d| {
            d.expires_at > now
                && !matches!(d.state, DeliveryState::Expired | DeliveryState::Withdrawn)
        });
        same_route && (pending || live)
    }))
}

/// Polls a submission until its conversion is over, or `seconds` have passed.
async fn wait_for_conversion(
    client: &RelayClient,
    id: &str,
    seconds: u64,
) -> anyhow::Result<kenshin_core::api::SubmissionView> {
    use kenshin_core::SubmissionState as S;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let view = client.submission(id).await?;
        if !matches!(view.state, S::Received | S::Converting) || std::time::Instant::now() >= until
        {
            return Ok(view);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

pub async fn run(args: ClientArgs) -> anyhow::Result<u8> {
    let ca = std::fs::read(&args.ca).with_context(|| {
        format!(
            "cannot read the CA certificate {} (--ca)",
            args.ca.display()
        )
    })?;
    let needs_identity = !matches!(args.command, ClientCommand::Health);
    let identity = if needs_identity {
        Some(
            ClientIdentity::from_files(&args.cert, &args.key)
                .context("cannot read this device's certificate and key (--cert, --key)")?,
        )
    } else {
        None
    };
    let client = RelayClient::new(&args.server, &ca, identity.as_ref())?;
    let json = args.json;
    let show_progress = !json && std::io::stderr().is_terminal();
    match args.command {
        ClientCommand::Send {
            file,
            to,
            filename,
            wait,
            wait_seconds,
            allow_duplicate,
        } => {
            if !allow_duplicate {
                let earlier = sent_before(&client, &file, to.as_deref()).await?;
                if let Some(earlier) = earlier {
                    let question = format!(
                        "同じ内容のファイルを {} に送信済みです（{}、ID {}）。保管期間内なので、もう一度送ると受信者に同じファイルが2回届きます / the same content was sent on {} ({}, id {}) and is still within its retention period",
                        time(earlier.received_at),
                        earlier.filename,
                        earlier.id,
                        time(earlier.received_at),
                        earlier.filename,
                        earlier.id
                    );
                    if json || !std::io::stdin().is_terminal() {
                        anyhow::bail!(
                            "{question}. 送るには --allow-duplicate を付けてください / pass --allow-duplicate to send it again"
                        );
                    }
                    eprint!("{question}\nもう一度送りますか / send it again? [y/N] ");
                    let mut answer = String::new();
                    std::io::stdin().read_line(&mut answer)?;
                    if !matches!(answer.trim(), "y" | "Y" | "yes" | "はい") {
                        anyhow::bail!("送信しませんでした / not sent");
                    }
                }
            }
            let size = std::fs::metadata(&file)
                .with_context(|| format!("cannot read {}", file.display()))?
                .len();
            let bar = progress_bar(show_progress, size, "送信中 sending");
            let progress = bar.clone();
            let receipt = client
                .send_file(
                    &file,
                    to.as_deref().unwrap_or(""),
                    filename.as_deref(),
                    move |done| progress.set_position(done),
                )
                .await;
            bar.finish_and_clear();
            let receipt = receipt?;
            if wait {
                let done =
                    wait_for_conversion(&client, &receipt.id.to_string(), wait_seconds).await?;
                emit(json, &done, || submission_text(&done, "送信状況 / status"));
                return Ok(outcome_code(&done));
            }
            emit(json, &receipt, || {
                submission_text(&receipt, "受付しました / received")
            });
        }
        ClientCommand::List {
            what: ListWhat::Inbox,
            state,
            limit,
            offset,
        } => {
            let page = client
                .list_deliveries(state.as_deref(), limit, offset)
                .await?;
            emit(json, &page, || {
                if page.items.is_empty() {
                    return "受信箱は空です / inbox is empty".into();
                }
                let mut lines = vec![format!(
                    "{:<36}  {:<10}  {:>10}  {:<24}  {:<24}  file",
                    "delivery", "state", "size", "from", "expires"
                )];
                lines.extend(page.items.iter().map(delivery_line));
                lines.push(format!("{} of {} shown", page.items.len(), page.total));
                lines.join("\n")
            });
        }
        ClientCommand::List {
            what: ListWhat::Sent,
            state,
            limit,
            offset,
        } => {
            let page = client
                .list_submissions(state.as_deref(), limit, offset)
                .await?;
            emit(json, &page, || {
                if page.items.is_empty() {
                    return "送信履歴はありません / nothing sent yet".into();
                }
                let mut lines = vec![format!(
                    "{:<36}  {:<10}  {:>10}  {:<24}  file → receivers",
                    "submission", "state", "size", "received"
                )];
                lines.extend(page.items.iter().map(|s| {
                    let receivers = s
                        .deliveries
                        .iter()
                        .map(|d| format!("{}:{}", d.receiver.code, d.state))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!(
                        "{:<36}  {:<10}  {:>10}  {:<24}  {} → {receivers}",
                        s.id,
                        s.state.as_str(),
                        human_size(s.size),
                        time(s.received_at),
                        s.filename
                    )
                }));
                lines.push(format!("{} of {} shown", page.items.len(), page.total));
                lines.join("\n")
            });
        }
        ClientCommand::Status { submission } => {
            let view = client.submission(&submission).await?;
            emit(json, &view, || submission_text(&view, "送信状況 / status"));
            return Ok(outcome_code(&view));
        }
        ClientCommand::Fetch {
            all: true,
            confirm,
            out,
            force,
            identity,
            ..
        } => {
            let dir = out.unwrap_or_else(|| PathBuf::from("."));
            let identities = identity.as_deref().map(read_identities).transpose()?;
            let summary = fetch_all(&client, &dir, identities.as_ref(), confirm, force).await?;
            let failed = summary.failed.len();
            emit(json, &summary, || summary.text(&dir));
            if failed > 0 {
                return Ok(1);
            }
        }
        ClientCommand::Fetch {
            delivery,
            out,
            force,
            identity,
            ..
        } => {
            let delivery = delivery.expect("clap requires a delivery without --all");
            let info = client.delivery(&delivery).await?;
            let identities = match (&identity, &info.sealed) {
                (Some(path), Some(_)) => Some(read_identities(path)?),
                _ => None,
            };
            let out = match out {
                Some(out) => out,
                None if identities.is_some() => PathBuf::from(safe_local_name(
                    info.filename.strip_suffix(".age").unwrap_or(&info.filename),
                )),
                None => PathBuf::from(safe_local_name(&info.filename)),
            };
            anyhow::ensure!(
                force || !out.exists(),
                "{} exists; choose another --out or pass --force",
                out.display()
            );
            let bar = progress_bar(show_progress, info.size, "受信中 fetching");
            let progress = bar.clone();
            // A sealed file is fetched beside the output and opened into it.
            let fetch_path = match &identities {
                Some(_) => sealed_download_path(&out),
                None => out.clone(),
            };
            let fetched = client
                .fetch_to_file(&delivery, &fetch_path, move |done, _| {
                    progress.set_position(done)
                })
                .await;
            bar.finish_and_clear();
            let mut fetched = fetched?;
            if let (Some(identities), Some(sealed)) = (&identities, &info.sealed) {
                let opened = open_sealed(&fetched.path, identities, sealed, &out);
                let _ = std::fs::remove_file(&fetched.path);
                let (size, sha256) = opened?;
                fetched.path = out.clone();
                fetched.size = size;
                fetched.sha256 = sha256;
            }
            let report = serde_json::json!({
                "delivery": delivery,
                "path": fetched.path,
                "size": fetched.size,
                "sha256": fetched.sha256,
                "verified": true,
                "sealed": info.sealed.is_some(),
                "opened": identities.is_some(),
            });
            let sealed_note = match (&info.sealed, identities.is_some()) {
                (Some(_), true) => "\nage で暗号化されたファイルを手元で開き、中身を送信元の受領証の SHA-256 と照合しました / opened locally; the content matches the sender's receipt",
                (Some(_), false) => "\nage で暗号化されています。開くには / sealed to your key; open it with: age -d -i key.txt（または --identity key.txt で受信）",
                _ => "",
            };
            emit(json, &report, || {
                format!(
                    "受信しました / fetched {} ({}), SHA-256 verified {}{sealed_note}\n受信完了するには / to confirm receipt: kenshin-relay client confirm {delivery}",
                    fetched.path.display(),
                    human_size(fetched.size),
                    fetched.sha256
                )
            });
        }
        ClientCommand::Confirm { delivery } => {
            let view = client.confirm(&delivery).await?;
            emit(json, &view, || {
                format!(
                    "受信完了 / receipt confirmed at {}; the server's copy was destroyed\n{}",
                    opt_time(view.confirmed_at),
                    delivery_line(&view)
                )
            });
        }
        ClientCommand::Withdraw { submission } => {
            let view = client.withdraw(&submission).await?;
            emit(json, &view, || {
                submission_text(&view, "取り下げました / withdrawn")
            });
        }
        ClientCommand::Report { submission } => {
            let report = client.report(&submission).await?;
            emit(true, &report, String::new);
        }
        ClientCommand::Held { submission, out } => {
            let view = client.submission(&submission).await?;
            let mut saved = Vec::new();
            if let Some(dir) = &out {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                for batch in &view.held {
                    if batch.state != kenshin_core::HeldState::Held {
                        continue;
                    }
                    let bytes = client.held_content(&submission, &batch.id).await?;
                    // The name is the relay's (`<file>_<保険者番号>.std.csv`); only its last part is used.
                    let name = std::path::Path::new(&batch.filename)
                        .file_name()
                        .map(|n| n.to_owned())
                        .unwrap_or_else(|| batch.id.clone().into());
                    let path = dir.join(name);
                    std::fs::write(&path, bytes)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    saved.push(path.display().to_string());
                }
            }
            let report = serde_json::json!({"held": view.held, "saved": saved});
            emit(json, &report, || {
                if view.held.is_empty() {
                    return "保留・差し戻しの記録はありません / no held or returned records".into();
                }
                let mut lines: Vec<String> = view
                    .held
                    .iter()
                    .map(|b| {
                        format!(
                            "{} {} 件 {} {}{}",
                            match b.reason {
                                kenshin_core::HeldReason::Unrouted => "保留 held",
                                _ => "差し戻し returned",
                            },
                            b.records,
                            b.insurer_number.as_deref().unwrap_or("-"),
                            b.state.as_str(),
                            b.released_to
                                .as_ref()
                                .map(|r| format!(" → {}", r.code))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                lines.extend(saved.iter().map(|p| format!("保存しました / saved: {p}")));
                lines.join("\n")
            });
        }
        ClientCommand::Map(MapCommand::Upload { file, activate }) => {
            let content =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let view = client.upload_map(content, activate).await?;
            emit(json, &view, || map_line(&view));
        }
        ClientCommand::Map(MapCommand::List) => {
            let maps = client.list_maps().await?;
            emit(json, &maps, || {
                if maps.is_empty() {
                    return "マップはまだありません / no map files yet".into();
                }
                maps.iter().map(map_line).collect::<Vec<_>>().join("\n")
            });
        }
        ClientCommand::Map(MapCommand::Activate { map_id, version }) => {
            let view = client.activate_map(&map_id, &version).await?;
            emit(json, &view, || map_line(&view));
        }
        ClientCommand::Ledger(LedgerCommand::Verify {
            verifier_key,
            state,
        }) => {
            let key = match verifier_key {
                Some(k) if std::path::Path::new(&k).exists() => {
                    Some(std::fs::read_to_string(&k).with_context(|| format!("cannot read {k}"))?)
                }
                other => other,
            };
            let verified = crate::ledger::verify(&client, &state, key.as_deref()).await?;
            emit(json, &verified, || {
                format!(
                    "台帳を検証しました: {size} 件の記録に {origin} の署名があり、{before}、自組織のファイルの記録 {n} 件がすべて含まれています。\n\
                     ledger verified: {size} entries signed by {origin}{before_en}; the {n} entries about your files are included",
                    size = verified.size,
                    origin = verified.origin,
                    before = verified
                        .previous_size
                        .map(|p| format!("前回確認した {p} 件と矛盾しません"))
                        .unwrap_or_else(|| "初回の確認のため鍵を記録しました".into()),
                    before_en = verified
                        .previous_size
                        .map(|p| format!(", consistent with the {p} you saw before"))
                        .unwrap_or_else(|| " (first check: key pinned)".into()),
                    n = verified.entries_verified
                )
            });
        }
        ClientCommand::Ledger(LedgerCommand::Show { submission }) => {
            let (size, entries) = crate::ledger::show(&client, &submission, None).await?;
            emit(json, &entries, || {
                let mut lines = vec![format!(
                    "チェックポイント: {size} 件（署名を確認済み） / checkpoint: {size} entries (signature verified)"
                )];
                for e in &entries {
                    // The entry's own text numbers its event (`seq`, from 1); the log's
                    // entries count from 0: both are named, so neither reads as off by one.
                    let seq = e
                        .entry
                        .lines()
                        .find_map(|l| l.strip_prefix("seq "))
                        .unwrap_or("?");
                    lines.push(format!(
                        "{} 台帳の記録 {} / log entry {} (イベント番号 / event seq {seq})\n    {}",
                        if e.included {
                            "✓ 検証済み / verified"
                        } else {
                            "… 未確定 (not yet in a checkpoint)"
                        },
                        e.index,
                        e.index,
                        e.entry.trim_end().replace('\n', "\n    ")
                    ));
                }
                lines.join("\n")
            });
            anyhow::ensure!(
                entries.iter().all(|e| e.included || e.index >= size),
                "an entry is NOT included in the signed tree"
            );
        }
        ClientCommand::AuditExport {
            format,
            from,
            to,
            action,
            object,
            out,
        } => {
            let mut filters = Vec::new();
            for (name, value) in [
                ("from", &from),
                ("to", &to),
                ("action", &action),
                ("object", &object),
            ] {
                if let Some(value) = value {
                    filters.push((name, value.as_str()));
                }
            }
            let bytes = client.audit_export(&format, &filters).await?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &bytes)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!(
                        "書き出しました / exported {} bytes to {}",
                        bytes.len(),
                        path.display()
                    );
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes)?;
                }
            }
        }
        ClientCommand::Health => {
            let health = client.health().await?;
            emit(json, &health, || {
                format!(
                    "status {}  version {}\n  database: {}\n  storage:  {} ({} free)\n  clock:    {} ({})",
                    health.status,
                    health.version,
                    if health.database.ok { "ok" } else { "ERROR" },
                    if health.storage.ok { "ok" } else { "ERROR" },
                    health.storage.free_bytes.map(human_size).unwrap_or_else(|| "?".into()),
                    if health.clock.synchronized { "synchronised" } else { "NOT synchronised" },
                    health.clock.source
                )
            });
        }
    }
    Ok(0)
}

fn map_line(view: &kenshin_core::api::MapView) -> String {
    format!(
        "{}@{}  {}  sha256 {}  uploaded {}{}",
        view.map_id,
        view.version,
        if view.active {
            "有効 ACTIVE"
        } else {
            "inactive"
        },
        &view.sha256[..16.min(view.sha256.len())],
        time(view.created_at),
        view.activated_at
            .map(|at| format!("  activated {}", time(at)))
            .unwrap_or_default()
    )
}

fn progress_bar(visible: bool, total: u64, label: &'static str) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(label);
    bar
}

fn submission_text(view: &SubmissionView, heading: &str) -> String {
    let mut lines = vec![
        format!("{heading}: submission {}", view.id),
        format!("  file:     {} ({})", view.filename, human_size(view.size)),
        format!("  sha256:   {}", view.sha256),
        format!("  state:    {}", view.state.as_str()),
        format!("  received: {}", time(view.received_at)),
    ];
    if let Some(c) = &view.conversion {
        lines.push(format!(
            "  conversion: {} in → {} delivered, {} rejected, {} unrouted (map {}, profile {})",
            c.records_in,
            c.records_out,
            c.records_rejected,
            c.records_unrouted,
            c.map.as_deref().unwrap_or("-"),
            c.profile.as_deref().unwrap_or("-")
        ));
    }
    for d in &view.deliveries {
        lines.push(format!(
            "  → {} ({}): {}  delivery {}  expires {}",
            d.receiver.code,
            d.receiver.name,
            d.state.as_str(),
            d.id,
            time(d.expires_at)
        ));
    }
    lines.join("\n")
}

fn delivery_line(d: &DeliveryView) -> String {
    format!(
        "{:<36}  {:<10}  {:>10}  {:<24}  {:<24}  {}",
        d.id,
        d.state.as_str(),
        human_size(d.size),
        d.sender.code,
        time(d.expires_at),
        d.filename
    )
}

/// A file name from the server is used locally only after it is reduced to a plain name in
/// the current directory.
fn safe_local_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    match base {
        "" | "." | ".." => "delivery.bin".into(),
        other => other.trim_start_matches('.').to_owned(),
    }
}
