//! `kenshin-relay admin`: organisations, routes, client certificates, retention.
//!
//! These commands work on the data directory directly (they need its CA key), so they are for
//! the operator on the server machine; they are safe to run while the server is serving.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use kenshin_core::{InsurerNumber, OrgCode, OrgKind, RouteMode};
use kenshin_pki::CertificateAuthority;
use kenshin_server::service::accounts;
use kenshin_server::{AppState, Config, DataDir};
use kenshin_store::{CertRecord, Database, NewOrg, Org, Route};
use serde::Serialize;
use time::OffsetDateTime;

use crate::files::{private_dir, write_public, write_secret};
use crate::output::{emit, time};
use crate::DataDirArg;

/// Default client certificate validity: a little over two years.
const CLIENT_CERT_DAYS: u32 = 825;

#[derive(clap::Args, Debug)]
pub struct AdminArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Organisations (institutions, insurers, agents, clinics, operators).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Routes: which organisation may send to which.
    #[command(subcommand)]
    Route(RouteCommand),
    /// Client certificates for organisations' devices and batch jobs.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Retention: destroy deliveries not confirmed within the retention period.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// The transparency ledger: re-verify the stored tree.
    #[command(subcommand)]
    Ledger(LedgerAdmin),
    /// People: one account per person, with a role in one organisation.
    #[command(subcommand)]
    User(UserCommand),
    /// Converted records per receiver per month (for usage billing).
    Usage {
        /// Only this month (YYYY-MM).
        #[arg(long)]
        month: Option<String>,
    },
    /// The background-job queue: jobs waiting, running, and given up (dead letters, with why).
    Jobs {
        /// At most this many jobs, oldest first.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Subcommand, Debug)]
enum OrgCommand {
    /// Create an organisation.
    Create {
        /// Short ASCII code (A-Z a-z 0-9 - _), used in URLs and certificates.
        #[arg(long)]
        code: OrgCode,
        /// institution | insurer | agent | clinic | operator
        #[arg(long)]
        kind: OrgKind,
        /// Display name, e.g. さくら健診センター.
        #[arg(long)]
        name: String,
        /// 保険者番号 (8 digits) held by an insurer; repeatable.
        #[arg(long = "insurer-number", value_name = "NUMBER")]
        insurer_numbers: Vec<InsurerNumber>,
        /// Parent institution (親機関) whose map this 子機関 uses when it has none.
        #[arg(long)]
        parent: Option<OrgCode>,
    },
    /// List organisations.
    List,
    /// An insurer delegates receiving to an agent (代行機関): its records go to the agent.
    Delegate {
        #[arg(long)]
        insurer: OrgCode,
        #[arg(long)]
        agent: OrgCode,
    },
    /// Require the organisation's people to present their own client certificate (issued
    /// with `cert issue --person`) in the browser and the API, besides password + TOTP.
    /// The operator's people always must.
    RequireCertificate {
        #[arg(long)]
        org: OrgCode,
        /// Stop requiring it.
        #[arg(long)]
        off: bool,
    },
    /// Choose the formats of a receiving organisation's converted outputs (one or more, comma
    /// separated, in order): std-csv (標準CSV), mhlw-xml (特定健診 XML, one archive per
    /// 保険者番号), fhir (FHIR 健診結果報告書, NDJSON). Without formats: shows them.
    Output {
        #[arg(long)]
        org: OrgCode,
        #[arg(value_name = "FORMAT[,FORMAT…]")]
        formats: Option<String>,
    },
    /// The age recipients (public keys) a receiving organisation's deliveries are sealed to.
    #[command(subcommand)]
    Recipient(RecipientCommand),
}

#[derive(Subcommand, Debug)]
enum RecipientCommand {
    /// Register a recipient (`age1…` or `age1pq1…`, as `age-keygen -y key.txt` prints it):
    /// from now on every delivery to the organisation is an age file to its recipients.
    /// Recorded in the ledger, where the organisation sees it.
    Add {
        #[arg(long)]
        org: OrgCode,
        recipient: String,
        /// What the key is (e.g. 情報システム課の取込端末).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List the organisation's recipients.
    List {
        #[arg(long)]
        org: OrgCode,
    },
    /// Remove a recipient (its id from `list`, or the key); files sealed before stay sealed.
    Remove {
        #[arg(long)]
        org: OrgCode,
        recipient: String,
    },
}

#[derive(Subcommand, Debug)]
enum RouteCommand {
    /// Allow an organisation to send to another.
    Create {
        #[arg(long)]
        from: OrgCode,
        #[arg(long)]
        to: OrgCode,
        /// pass-through: the receiver gets the sender's bytes unchanged; convert: the sender's
        /// exports are converted and split by 保険者番号.
        #[arg(long, default_value = "pass-through")]
        mode: RouteMode,
    },
    /// Change a route's mode (pass-through ↔ convert).
    Update {
        #[arg(long)]
        from: OrgCode,
        #[arg(long)]
        to: OrgCode,
        #[arg(long)]
        mode: RouteMode,
    },
    /// Remove a route: the sender can no longer send to the receiver.
    Delete {
        #[arg(long)]
        from: OrgCode,
        #[arg(long)]
        to: OrgCode,
    },
    /// List routes.
    List,
}

#[derive(Subcommand, Debug)]
enum CertCommand {
    /// Issue a client certificate for one device of an organisation.
    Issue {
        /// Organisation code.
        #[arg(long)]
        org: OrgCode,
        /// Device or job name, e.g. 健診システム1号機.
        #[arg(long = "name")]
        device: String,
        /// Issue it to this person (login of the same organisation): it acts with the
        /// person's role, and disabling the account revokes it at once.
        #[arg(long, conflicts_with = "roles")]
        person: Option<String>,
        /// A device's roles, comma-separated: sender, receiver, viewer. Default: what the
        /// organisation's kind exchanges (institution: sender; insurer, agent: receiver;
        /// clinic: sender,receiver).
        #[arg(long = "role")]
        roles: Option<String>,
        /// Directory to write cert.pem, key.pem (0600), ca.pem and client.p12 into.
        #[arg(long)]
        out: PathBuf,
        /// Days of validity.
        #[arg(long, default_value_t = CLIENT_CERT_DAYS)]
        days: u32,
        /// File holding the PKCS#12 password; if omitted, a random one is written to
        /// client.p12.password (0600).
        #[arg(long)]
        p12_password_file: Option<PathBuf>,
    },
    /// List issued certificates.
    List {
        #[arg(long)]
        org: Option<OrgCode>,
    },
    /// Revoke a certificate: refused at its next request and, once the server reloads the
    /// CRL (within seconds), at the TLS handshake.
    Revoke {
        /// Serial number (hex), as shown by `cert list`.
        serial: String,
        /// unspecified | key-compromise | affiliation-changed | superseded | cessation-of-operation
        #[arg(long, default_value = "unspecified")]
        reason: kenshin_pki::RevocationReason,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create an account; prints a one-time initial password that must be changed at first
    /// login, where the person also enrols TOTP.
    Create {
        #[arg(long)]
        org: OrgCode,
        /// Login id (ASCII, unique).
        #[arg(long)]
        login: String,
        /// The person's name, e.g. 山田 花子.
        #[arg(long)]
        name: String,
        /// admin | sender | receiver | viewer (organisations); ops_admin | auditor (operator)
        #[arg(long)]
        role: String,
        /// Last day the account may log in (YYYY-MM-DD).
        #[arg(long)]
        valid_until: Option<String>,
    },
    /// List accounts.
    List {
        #[arg(long)]
        org: Option<OrgCode>,
    },
    /// Disable an account: its sessions end at once.
    Disable { login: String },
    /// Re-enable an account.
    Enable { login: String },
    /// Remove an account's second factor (it enrols again at next login).
    ResetTotp { login: String },
    /// Give an account a new one-time password (printed once; changed at next login, where
    /// the second factor is asked as usual); its sessions end at once.
    ResetPassword { login: String },
}

#[derive(Subcommand, Debug)]
enum LedgerAdmin {
    /// Recompute every leaf and subtree hash from the stored entries and check them, the
    /// latest signed checkpoint and the access-log digests; exits non-zero on any difference.
    Audit,
    /// Export the access log; the same as `kenshin-relay audit export`.
    ExportAccess(AccessExport),
}

/// `kenshin-relay audit …`: the access log, for the operator's auditor.
#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// Print the summary as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Export the access log: CSV (Excel-ready), JSON lines, FHIR R4 AuditEvent bundle, or
    /// IHE ATNA (DICOM audit messages, one document per line).
    Export(AccessExport),
}

#[derive(clap::Args, Debug)]
pub struct AccessExport {
    /// Only this organisation's rows (default: every organisation, the operator's view).
    #[arg(long)]
    org: Option<String>,
    /// From this time: RFC 3339 (2026-04-01T09:00:00+09:00) or a UTC day (2026-04-01).
    #[arg(long)]
    from: Option<String>,
    /// Before this time (exclusive), in the same forms.
    #[arg(long)]
    to: Option<String>,
    /// Only this person's login or this certificate's serial.
    #[arg(long)]
    actor: Option<String>,
    /// Only this action, e.g. delivery_download, login_failed, user_disable.
    #[arg(long)]
    action: Option<String>,
    /// Only rows that name this object, e.g. a delivery id.
    #[arg(long)]
    object: Option<String>,
    /// csv, jsonl, fhir or atna.
    #[arg(long, default_value = "csv")]
    format: String,
    /// The file to write (replaced only once the export is complete); `-` for standard output.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `kenshin-relay audit …` as the admin command it is, so it is logged like one.
pub async fn run_audit(args: AuditArgs) -> anyhow::Result<()> {
    let AuditCommand::Export(export) = args.command;
    run(AdminArgs {
        data: args.data,
        json: args.json,
        command: AdminCommand::Ledger(LedgerAdmin::ExportAccess(export)),
    })
    .await
}

fn export_time(name: &str, value: Option<&str>) -> anyhow::Result<Option<OffsetDateTime>> {
    let Some(value) = value else { return Ok(None) };
    if let Ok(at) = OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339) {
        return Ok(Some(at));
    }
    time::Date::parse(
        value,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map(|day| Some(day.midnight().assume_utc()))
    .map_err(|_| {
        anyhow::anyhow!(
            "--{name}: expected RFC 3339 (2026-04-01T09:00:00+09:00) or YYYY-MM-DD, not {value:?}"
        )
    })
}

/// The access log in sequence order, one page at a time, so an export of any size holds a
/// single page in memory. Runs inside the multi-threaded runtime of the command line.
struct AccessPages<'a> {
    db: &'a Database,
    filter: kenshin_store::AccessFilter,
    page: std::vec::IntoIter<kenshin_store::AccessRow>,
    exhausted: bool,
    error: Option<kenshin_store::StoreError>,
    rows: u64,
}

impl Iterator for AccessPages<'_> {
    type Item = kenshin_audit::AccessRecord;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.page.next() {
                self.filter.after_seq = row.seq;
                self.rows += 1;
                return Some(kenshin_server::service::audit::to_record(row));
            }
            if self.exhausted {
                return None;
            }
            let (db, filter) = (self.db, &self.filter);
            let fetched = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(db.search_access(filter))
            });
            match fetched {
                Ok(rows) => {
                    self.exhausted = rows.len() < self.filter.limit as usize;
                    self.page = rows.into_iter();
                }
                Err(err) => {
                    self.error = Some(err);
                    self.exhausted = true;
                }
            }
        }
    }
}

async fn export_access(db: &Database, export: AccessExport, json: bool) -> anyhow::Result<()> {
    let AccessExport {
        org,
        from,
        to,
        actor,
        action,
        object,
        format,
        out,
    } = export;
    anyhow::ensure!(
        matches!(format.as_str(), "csv" | "jsonl" | "fhir" | "atna"),
        "--format: use csv, jsonl, fhir or atna, not {format:?}"
    );
    let mut pages = AccessPages {
        db,
        filter: kenshin_store::AccessFilter {
            org,
            from: export_time("from", from.as_deref())?,
            to: export_time("to", to.as_deref())?,
            actor,
            action,
            object,
            after_seq: 0,
            limit: 5_000,
        },
        page: Vec::new().into_iter(),
        exhausted: false,
        error: None,
        rows: 0,
    };
    let to_stdout = out.as_os_str() == "-";
    let partial = out.with_extension("partial");
    let sink: Box<dyn std::io::Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?,
        )
    };
    let mut sink = std::io::BufWriter::new(sink);
    let written = match format.as_str() {
        "csv" => kenshin_audit::write_csv(&mut pages, &mut sink),
        "jsonl" => kenshin_audit::write_jsonl(&mut pages, &mut sink),
        "fhir" => kenshin_audit::write_fhir_bundle(&mut pages, &mut sink),
        _ => kenshin_audit::write_atna(&mut pages, &mut sink),
    }
    .map_err(anyhow::Error::from)
    .and_then(|_| std::io::Write::flush(&mut sink).map_err(anyhow::Error::from))
    .and_then(|()| match pages.error.take() {
        Some(err) => Err(anyhow::Error::from(err).context("reading the access log")),
        None => Ok(()),
    });
    drop(sink);
    if let Err(err) = written {
        if !to_stdout {
            let _ = std::fs::remove_file(&partial);
        }
        return Err(err);
    }
    if !to_stdout {
        std::fs::rename(&partial, &out)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let count = pages.rows;
    let report = serde_json::json!({"rows": count, "file": out});
    if to_stdout {
        eprintln!("{count} 行を書き出しました / exported {count} rows");
    } else {
        emit(json, &report, || {
            format!(
                "{count} 行を書き出しました / exported {count} rows to {}",
                out.display()
            )
        });
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
enum RetentionCommand {
    /// Expire every delivery whose retention period is over, now.
    Run,
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let data = DataDir::new(&args.data.data_dir);
    anyhow::ensure!(
        data.kek_path().exists(),
        "{} is not an initialised data directory (run `kenshin-relay init --data-dir {}`)",
        data.root().display(),
        data.root().display()
    );
    let db = kenshin_server::open_database(&data, &Config::load(&data)?).await?;
    let json = args.json;
    let action = admin_action(&args.command);
    let command = args.command;
    let result: anyhow::Result<()> = async {
        match command {
        AdminCommand::Org(OrgCommand::Create {
            code,
            kind,
            name,
            insurer_numbers,
            parent,
        }) => {
            let org = create_org(&db, code, kind, &name, insurer_numbers).await?;
            // A new insurer's numbers may be what held records were waiting for.
            release_held(&db, &data).await?;
            if let Some(parent) = parent {
                let parent = db
                    .org_by_code(parent.as_str())
                    .await
                    .map_err(|_| anyhow::anyhow!("no organisation {parent}"))?;
                db.set_parent(org.id, parent.id).await?;
            }
            let view = OrgView::from(&org);
            emit(json, &view, || {
                format!("作成しました / created: {}", view.line())
            });
            Ok(())
        }
        AdminCommand::Org(OrgCommand::List) => {
            let orgs: Vec<OrgView> = db.list_orgs().await?.iter().map(OrgView::from).collect();
            emit(json, &orgs, || {
                orgs.iter()
                    .map(OrgView::line)
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        AdminCommand::Org(OrgCommand::Delegate { insurer, agent }) => {
            kenshin_server::service::directory::delegate_in(
                &db,
                insurer.as_str(),
                agent.as_str(),
                OffsetDateTime::now_utc(),
            )
            .await?;
            let released = release_held(&db, &data).await?;
            let report = serde_json::json!({"insurer": insurer.as_str(), "agent": agent.as_str(), "held_batches_released": released});
            emit(json, &report, || {
                format!("{insurer} の受信を {agent} に委託しました / {insurer} now receives through {agent}{}", released_line(released))
            });
            Ok(())
        }
        AdminCommand::Org(OrgCommand::RequireCertificate { org, off }) => {
            let record = db
                .org_by_code(org.as_str())
                .await
                .map_err(|_| anyhow::anyhow!("no organisation {org}"))?;
            db.set_browser_certificate_required(record.id, !off).await?;
            let required = !off || record.kind == OrgKind::Operator;
            let report = serde_json::json!({"org": org.as_str(), "browser_certificate_required": required});
            emit(json, &report, || {
                if required {
                    format!("{org} の利用者はクライアント証明書が必須です / people of {org} must present their client certificate")
                } else {
                    format!("{org} の利用者のクライアント証明書は任意です / people of {org} may log in without a client certificate")
                }
            });
            Ok(())
        }
        AdminCommand::Org(OrgCommand::Output { org, formats }) => {
            let record = org_named(&db, &org).await?;
            if let Some(formats) = formats {
                kenshin_server::service::receivers::set_formats_in(&db, &record, &[formats])
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            let outputs = kenshin_server::service::receivers::outputs_in(&db, &record)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let codes: Vec<&str> = outputs.formats.iter().map(|f| f.code()).collect();
            let report = serde_json::json!({"org": org.as_str(), "formats": codes});
            emit(json, &report, || {
                format!("{org} の出力形式 / output formats of {org}: {}", codes.join(", "))
            });
            Ok(())
        }
        AdminCommand::Org(OrgCommand::Recipient(command)) => {
            use kenshin_server::service::receivers;
            let org = match &command {
                RecipientCommand::Add { org, .. }
                | RecipientCommand::List { org }
                | RecipientCommand::Remove { org, .. } => org.clone(),
            };
            let record = org_named(&db, &org).await?;
            let now = OffsetDateTime::now_utc();
            match &command {
                RecipientCommand::Add { recipient, label, .. } => {
                    receivers::add_recipient_in(&db, &record, recipient, label, "admin:cli", now)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                RecipientCommand::Remove { recipient, .. } => {
                    receivers::remove_recipient_in(&db, &record, recipient, "admin:cli", now)
                        .await
                        .map_err(|e| match e {
                            kenshin_server::service::Error::NotFound => anyhow::anyhow!(
                                "{org} にその公開鍵は登録されていません / no such recipient of {org}"
                            ),
                            other => anyhow::anyhow!("{other}"),
                        })?;
                }
                RecipientCommand::List { .. } => {}
            }
            let recipients = db.recipients(record.id).await?;
            let list: Vec<serde_json::Value> = recipients
                .iter()
                .map(|r| serde_json::json!({"id": r.id, "recipient": r.recipient, "label": r.label, "added_by": r.added_by}))
                .collect();
            let report = serde_json::json!({"org": org.as_str(), "recipients": list});
            emit(json, &report, || {
                let mut lines = vec![match recipients.len() {
                    0 => format!("{org} への配信は age で封をしません（公開鍵なし）/ deliveries to {org} are not sealed to it"),
                    n => format!("{org} への配信は次の {n} 個の公開鍵あてに age で封をします / deliveries to {org} are sealed to:"),
                }];
                for r in &recipients {
                    lines.push(format!("  [{}] {} {}", r.id, r.recipient, r.label));
                }
                lines.join("\n")
            });
            Ok(())
        }
        AdminCommand::Ledger(LedgerAdmin::Audit) => {
            let config = Config::load(&data)?;
            let state = AppState::open(&data, config).await?;
            let audit = state
                .ledger
                .audit()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            state.db.close().await;
            emit(json, &audit, || {
                if audit.is_intact() {
                    format!(
                        "台帳は無傷です / the ledger is intact: {} entries, root {}",
                        audit.size, audit.root
                    )
                } else {
                    format!(
                        "台帳の改ざんを検出 / LEDGER DAMAGED:\n  {}",
                        audit.problems.join("\n  ")
                    )
                }
            });
            anyhow::ensure!(audit.is_intact(), "the ledger failed its audit");
            Ok(())
        }
        AdminCommand::Ledger(LedgerAdmin::ExportAccess(export)) => {
            export_access(&db, export, json).await
        }
        AdminCommand::User(command) => user_command(&db, &data, command, json).await,
        AdminCommand::Usage { month } => {
            let rows = db.usage(month.as_deref()).await?;
            let view: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| serde_json::json!({"org": r.org_code, "name": r.org_name, "month": r.month, "records": r.records}))
                .collect();
            emit(json, &view, || {
                if rows.is_empty() {
                    return "利用実績はありません / no converted records".into();
                }
                rows.iter()
                    .map(|r| {
                        format!(
                            "{}  {:<20} {:>10} 件  {}",
                            r.month, r.org_code, r.records, r.org_name
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        AdminCommand::Jobs { limit } => {
            let jobs = db.open_jobs(limit.clamp(1, 10_000)).await?;
            let view: Vec<serde_json::Value> = jobs
                .iter()
                .map(|j| {
                    serde_json::json!({
                        "id": j.id, "kind": j.kind, "subject": j.subject, "state": j.state,
                        "attempts": j.attempts, "max_attempts": j.max_attempts,
                        "last_error": j.last_error,
                        "created_at": kenshin_core::api::timestamp::format(j.created()),
                        "updated_at": kenshin_core::api::timestamp::format(j.updated()),
                    })
                })
                .collect();
            emit(json, &view, || {
                if jobs.is_empty() {
                    return "待機中・実行中・断念したジョブはありません / no job queued, running or given up"
                        .into();
                }
                jobs.iter()
                    .map(|j| {
                        let state = match j.state.as_str() {
                            "queued" => "待機 queued",
                            "running" => "実行中 running",
                            "dead" => "断念 dead",
                            other => other,
                        };
                        format!(
                            "{}  {:<8} {:<16} {}/{}  {}  {}{}",
                            kenshin_core::api::timestamp::format(j.created()),
                            j.kind,
                            state,
                            j.attempts,
                            j.max_attempts,
                            j.subject.as_deref().unwrap_or("-"),
                            j.id,
                            j.last_error
                                .as_deref()
                                .map(|e| format!("\n    理由 / reason: {e}"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        AdminCommand::Route(RouteCommand::Create { from, to, mode }) => {
            let route = kenshin_server::service::directory::create_route_in(
                &db,
                from.as_str(),
                to.as_str(),
                mode,
                OffsetDateTime::now_utc(),
            )
            .await?;
            let released = release_held(&db, &data).await?;
            let view = RouteView::from(&route);
            emit(json, &view, || {
                format!("作成しました / created: {}{}", view.line(), released_line(released))
            });
            Ok(())
        }
        AdminCommand::Route(RouteCommand::Update { from, to, mode }) => {
            let route = kenshin_server::service::directory::update_route_in(
                &db,
                from.as_str(),
                to.as_str(),
                mode,
            )
            .await?;
            // A route that now converts may be what held records were waiting for.
            let released = release_held(&db, &data).await?;
            let view = RouteView::from(&route);
            emit(json, &view, || {
                format!("変更しました / updated: {}{}", view.line(), released_line(released))
            });
            Ok(())
        }
        AdminCommand::Route(RouteCommand::Delete { from, to }) => {
            kenshin_server::service::directory::delete_route_in(&db, from.as_str(), to.as_str())
                .await?;
            let report = serde_json::json!({"from": from.as_str(), "to": to.as_str(), "deleted": true});
            emit(json, &report, || {
                format!("削除しました / deleted: {from} → {to}")
            });
            Ok(())
        }
        AdminCommand::Route(RouteCommand::List) => {
            let routes: Vec<RouteView> = db
                .list_routes()
                .await?
                .iter()
                .map(RouteView::from)
                .collect();
            emit(json, &routes, || {
                routes
                    .iter()
                    .map(RouteView::line)
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        AdminCommand::Cert(CertCommand::Issue {
            org,
            device,
            person,
            roles,
            out,
            days,
            p12_password_file,
        }) => {
            let ca = crate::init::load_ca(&data)?;
            let person = match person {
                Some(login) => Some(
                    db.user_by_login(&login)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("no account {login}"))?,
                ),
                None => None,
            };
            let holder = match &person {
                Some(user) => CertHolder::Person(user),
                None => CertHolder::Device {
                    roles: roles.as_deref(),
                },
            };
            let issued = issue_cert_for(
                &db,
                &ca,
                &org,
                &device,
                holder,
                &out,
                days,
                p12_password_file.as_deref(),
            )
            .await?;
            emit(json, &issued, || issued.human());
            Ok(())
        }
        AdminCommand::Cert(CertCommand::List { org }) => {
            let certs: Vec<CertView> = db
                .list_certs(org.as_ref().map(OrgCode::as_str))
                .await?
                .iter()
                .map(CertView::from)
                .collect();
            emit(json, &certs, || {
                certs
                    .iter()
                    .map(CertView::line)
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        AdminCommand::Cert(CertCommand::Revoke { serial, reason }) => {
            let (cert, crl_number) =
                kenshin_server::service::certificates::revoke(&db, &data, &serial, reason.as_str()).await?;
            let view = CertView::from(&cert);
            emit(json, &view, || {
                format!(
                    "失効しました / revoked: {}\n  CRL #{crl_number} written to {}",
                    view.line(),
                    data.crl_path().display()
                )
            });
            Ok(())
        }
        AdminCommand::Retention(RetentionCommand::Run) => {
            let config = Config::load(&data)?;
            let state = AppState::open(&data, config).await?;
            let expired = kenshin_server::service::relay::expire_due(&state, OffsetDateTime::now_utc())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let held_expired =
                kenshin_server::service::relay::expire_held_due(&state, OffsetDateTime::now_utc())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            let reports_expired =
                kenshin_server::service::relay::expire_reports_due(&state, OffsetDateTime::now_utc())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            let access_rows =
                kenshin_server::retention::expire_access_log(&state, OffsetDateTime::now_utc())
                    .await?;
            state.access.flush().await;
            let report = serde_json::json!({
                "expired": expired,
                "held_batches_expired": held_expired,
                "reports_expired": reports_expired,
                "access_log_rows_removed": access_rows,
                "access_log_retention_days": state.config.access_log_retention_days,
            });
            emit(json, &report, || {
                format!(
                    "期限切れ {expired} 件を破棄しました / expired and destroyed {expired} deliveries\n\
                     保存期間を過ぎたアクセスログ {access_rows} 行を削除しました / removed {access_rows} access-log rows past {} days",
                    state.config.access_log_retention_days
                )
            });
            state.db.close().await;
            Ok(())
        }
    }
    }
    .await;
    // Every administrative action is in the access log too (the guideline: CLI admin included).
    record_cli_action(&db, action, result.is_ok()).await;
    db.close().await;
    result
}

/// Writes one access-log row for a command run at the operator's console.
/// Releases the held records a new route, insurer or delegation now lets through (the
/// running server's sweep would too, within its interval): the number of batches.
async fn release_held(db: &Database, data: &DataDir) -> anyhow::Result<usize> {
    let config = Config::load(data)?;
    Ok(kenshin_server::service::relay::release_held_in(
        db,
        OffsetDateTime::now_utc(),
        config.retention_days,
        "admin:cli",
    )
    .await?)
}

fn released_line(released: usize) -> String {
    if released == 0 {
        String::new()
    } else {
        format!("\n保留中だった記録 {released} 件（保険者番号ごと）を配信しました / released {released} batches of held records")
    }
}

pub async fn record_cli_action(db: &Database, action: &str, ok: bool) {
    let row = kenshin_store::AccessRow {
        seq: 0,
        at: OffsetDateTime::now_utc(),
        org: None,
        actor_kind: "system".into(),
        actor: format!(
            "admin:cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        ),
        device: None,
        session: None,
        source: None,
        action: action.into(),
        method: None,
        path: None,
        objects: Vec::new(),
        outcome: if ok { "success" } else { "failed" }.into(),
        status: None,
        bytes: None,
        detail: None,
    };
    if let Err(err) = db.append_access(&[row]).await {
        eprintln!("warning: the access log could not record this command: {err}");
    }
}

/// An organisation by its code, or a clear error.
async fn org_named(
    db: &kenshin_store::Database,
    org: &OrgCode,
) -> anyhow::Result<kenshin_store::Org> {
    db.org_by_code(org.as_str())
        .await
        .map_err(|_| anyhow::anyhow!("組織 {org} はありません / no organisation {org}"))
}

/// The access-log action of an admin command.
fn admin_action(command: &AdminCommand) -> &'static str {
    match command {
        AdminCommand::Org(OrgCommand::Create { .. }) => "org_create",
        AdminCommand::Org(OrgCommand::List) => "org_list",
        AdminCommand::Org(OrgCommand::Delegate { .. }) => "org_delegate",
        AdminCommand::Org(OrgCommand::RequireCertificate { .. }) => "org_update",
        AdminCommand::Org(OrgCommand::Output { .. }) => "org_update",
        AdminCommand::Org(OrgCommand::Recipient(_)) => "org_update",
        AdminCommand::Route(RouteCommand::Create { .. }) => "route_create",
        AdminCommand::Route(RouteCommand::Update { .. }) => "route_update",
        AdminCommand::Route(RouteCommand::Delete { .. }) => "route_delete",
        AdminCommand::Route(RouteCommand::List) => "route_list",
        AdminCommand::Cert(CertCommand::Issue { .. }) => "certificate_issue",
        AdminCommand::Cert(CertCommand::List { .. }) => "certificate_list",
        AdminCommand::Cert(CertCommand::Revoke { .. }) => "certificate_revoke",
        AdminCommand::Retention(RetentionCommand::Run) => "retention_expire",
        AdminCommand::Ledger(LedgerAdmin::Audit) => "ledger_read",
        AdminCommand::Ledger(LedgerAdmin::ExportAccess(_)) => "audit_export",
        AdminCommand::User(UserCommand::Create { .. }) => "user_create",
        AdminCommand::User(UserCommand::List { .. }) => "user_list",
        AdminCommand::User(UserCommand::Disable { .. }) => "user_disable",
        AdminCommand::User(UserCommand::Enable { .. }) => "user_enable",
        AdminCommand::User(UserCommand::ResetTotp { .. }) => "totp_reset",
        AdminCommand::User(UserCommand::ResetPassword { .. }) => "password_reset",
        AdminCommand::Usage { .. } => "usage_read",
        AdminCommand::Jobs { .. } => "jobs_read",
    }
}

pub async fn create_org(
    db: &Database,
    code: OrgCode,
    kind: OrgKind,
    name: &str,
    insurer_numbers: Vec<InsurerNumber>,
) -> anyhow::Result<Org> {
    let new = NewOrg {
        code,
        kind,
        name: name.to_owned(),
        insurer_numbers,
    };
    Ok(
        kenshin_server::service::directory::create_org_in(db, &new, OffsetDateTime::now_utc())
            .await?,
    )
}

#[derive(Debug, Serialize)]
pub struct IssuedView {
    pub serial: String,
    pub org: String,
    pub device: String,
    /// A device's roles, or `person`.
    pub roles: String,
    pub fingerprint_sha256: String,
    pub not_after: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub pkcs12: PathBuf,
    /// Set when the password was generated (the file holding it).
    pub pkcs12_password_file: Option<PathBuf>,
}

impl IssuedView {
    fn human(&self) -> String {
        let mut text = format!(
            "発行しました / issued certificate {} for {} / {} [{}]\n  valid until {}\n  cert: {}\n  key:  {}  (keep secret)\n  ca:   {}\n  p12:  {}",
            self.serial,
            self.org,
            self.device,
            self.roles,
            self.not_after,
            self.cert.display(),
            self.key.display(),
            self.ca.display(),
            self.pkcs12.display()
        );
        if let Some(password) = &self.pkcs12_password_file {
            text.push_str(&format!("\n  p12 password: in {}", password.display()));
        }
        text
    }
}

/// Issues and registers a device's client certificate, writing its files into `out`.
pub async fn issue_cert(
    db: &Database,
    ca: &CertificateAuthority,
    org_code: &OrgCode,
    device: &str,
    out: &Path,
    days: u32,
    p12_password_file: Option<&Path>,
) -> anyhow::Result<IssuedView> {
    let holder = CertHolder::Device { roles: None };
    issue_cert_for(
        db,
        ca,
        org_code,
        device,
        holder,
        out,
        days,
        p12_password_file,
    )
    .await
}

pub use kenshin_server::service::certificates::CertHolder;

/// Issues and registers a client certificate for a device or one person of the
/// organisation, writing its files into `out`.
#[allow(clippy::too_many_arguments)]
pub async fn issue_cert_for(
    db: &Database,
    ca: &CertificateAuthority,
    org_code: &OrgCode,
    device: &str,
    holder: CertHolder<'_>,
    out: &Path,
    days: u32,
    p12_password_file: Option<&Path>,
) -> anyhow::Result<IssuedView> {
    let org = db
        .org_by_code(org_code.as_str())
        .await
        .map_err(|_| anyhow::anyhow!("no organisation {org_code}"))?;
    let password = match p12_password_file {
        Some(path) => Some(zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        )),
        None => None,
    };
    let prepared =
        kenshin_server::service::certificates::prepare(ca, &org, device, holder, days, password)?;
    let issued = &prepared.issued;
    let password = &prepared.password;
    let bundle = &prepared.pkcs12;

    private_dir(out)?;
    let cert_path = out.join("cert.pem");
    let key_path = out.join("key.pem");
    let ca_path = out.join("ca.pem");
    let p12_path = out.join("client.p12");
    write_public(&cert_path, issued.cert_pem.as_bytes())?;
    write_secret(&key_path, issued.key_pem.as_bytes())?;
    if !ca_path.exists() {
        write_public(&ca_path, ca.cert_pem().as_bytes())?;
    }
    write_secret(&p12_path, bundle)?;
    let password_path = match p12_password_file {
        Some(_) => None,
        None => {
            let path = out.join("client.p12.password");
            write_secret(&path, format!("{}\n", password.as_str()).as_bytes())?;
            Some(path)
        }
    };
    // Registered last: a certificate whose files could not be written is never usable.
    let record = kenshin_server::service::certificates::register(db, &prepared).await?;
    let roles = CertView::from(&record).roles;
    Ok(IssuedView {
        serial: record.serial,
        org: org.code.to_string(),
        device: record.device,
        roles,
        fingerprint_sha256: record.fingerprint,
        not_after: time(record.not_after),
        cert: cert_path,
        key: key_path,
        ca: ca_path,
        pkcs12: p12_path,
        pkcs12_password_file: password_path,
    })
}

#[derive(Debug, Serialize)]
struct OrgView {
    code: String,
    kind: String,
    kind_ja: String,
    name: String,
    insurer_numbers: Vec<String>,
    created_at: String,
}

impl From<&Org> for OrgView {
    fn from(org: &Org) -> Self {
        OrgView {
            code: org.code.to_string(),
            kind: org.kind.to_string(),
            kind_ja: org.kind.label_ja().to_owned(),
            name: org.name.clone(),
            insurer_numbers: org.insurer_numbers.iter().map(|n| n.to_string()).collect(),
            created_at: time(org.created_at),
        }
    }
}

impl OrgView {
    fn line(&self) -> String {
        let numbers = if self.insurer_numbers.is_empty() {
            String::new()
        } else {
            format!("  保険者番号 {}", self.insurer_numbers.join(","))
        };
        format!(
            "{:<24} {:<12} {}  ({}){numbers}",
            self.code, self.kind, self.name, self.kind_ja
        )
    }
}

#[derive(Debug, Serialize)]
struct RouteView {
    from: String,
    to: String,
    mode: String,
    created_at: String,
}

impl From<&Route> for RouteView {
    fn from(route: &Route) -> Self {
        RouteView {
            from: route.sender.to_string(),
            to: route.receiver.to_string(),
            mode: route.mode.to_string(),
            created_at: time(route.created_at),
        }
    }
}

impl RouteView {
    fn line(&self) -> String {
        format!("{} → {}  [{}]", self.from, self.to, self.mode)
    }
}

#[derive(Debug, Serialize)]
struct CertView {
    serial: String,
    org: String,
    device: String,
    /// A device's roles; `person` for a person's certificate.
    roles: String,
    fingerprint_sha256: String,
    not_after: String,
    revoked_at: Option<String>,
    revocation_reason: Option<String>,
}

impl From<&CertRecord> for CertView {
    fn from(cert: &CertRecord) -> Self {
        CertView {
            serial: cert.serial.clone(),
            org: cert.org_code.clone(),
            device: cert.device.clone(),
            roles: match (&cert.user_id, &cert.roles) {
                (Some(_), _) => "person".to_owned(),
                (None, roles) => roles.clone().unwrap_or_default(),
            },
            fingerprint_sha256: cert.fingerprint.clone(),
            not_after: time(cert.not_after),
            revoked_at: cert.revoked_at.map(time),
            revocation_reason: cert.revocation_reason.clone(),
        }
    }
}

impl CertView {
    fn line(&self) -> String {
        let status = match &self.revoked_at {
            Some(at) => format!(
                "REVOKED {at} ({})",
                self.revocation_reason.as_deref().unwrap_or("unspecified")
            ),
            None => format!("valid until {}", self.not_after),
        };
        format!(
            "{}  {:<20} {}  [{}]  {status}",
            self.serial, self.org, self.device, self.roles
        )
    }
}

async fn user_command(
    db: &Database,
    data: &DataDir,
    command: UserCommand,
    json: bool,
) -> anyhow::Result<()> {
    let find = |login: String| async move {
        db.user_by_login(&login)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no account {login}"))
    };
    match command {
        UserCommand::Create {
            org,
            login,
            name,
            role,
            valid_until,
        } => {
            let org = db
                .org_by_code(org.as_str())
                .await
                .map_err(|_| anyhow::anyhow!("no organisation {org}"))?;
            let valid_until = valid_until
                .map(|d| {
                    kenshin_server::service::accounts::parse_last_day(&d)
                        .ok_or_else(|| anyhow::anyhow!("--valid-until: expected YYYY-MM-DD"))
                })
                .transpose()?;
            let (user, initial) = kenshin_server::service::accounts::create_account(
                db,
                &org,
                &login,
                &name,
                &role,
                valid_until,
            )
            .await?;
            let report = serde_json::json!({
                "login": user.login, "org": user.org_code, "role": user.role,
                "initial_password": initial.as_str(),
            });
            emit(json, &report, || {
                format!(
                    "作成しました / created {} ({}, {})\n  初期パスワード / initial password (shown once; must be changed at first login): {}",
                    user.login, user.org_code, user.role, initial.as_str()
                )
            });
        }
        UserCommand::List { org } => {
            let org_id = match org {
                Some(code) => Some(db.org_by_code(code.as_str()).await?.id),
                None => None,
            };
            let users = db.list_users(org_id).await?;
            let view: Vec<serde_json::Value> = users
                .iter()
                .map(|u| {
                    serde_json::json!({
                        "login": u.login, "name": u.display_name, "org": u.org_code, "role": u.role,
                        "totp": u.totp_secret.is_some(), "disabled": u.disabled_at.is_some(),
                    })
                })
                .collect();
            emit(json, &view, || {
                users
                    .iter()
                    .map(|u| {
                        format!(
                            "{:<24} {:<16} {:<10} {}{}{}",
                            u.login,
                            u.org_code,
                            u.role,
                            u.display_name,
                            if u.totp_secret.is_some() {
                                ""
                            } else {
                                "  (TOTP not enrolled)"
                            },
                            if u.disabled_at.is_some() {
                                "  DISABLED"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        UserCommand::Disable { login } => {
            let user = find(login).await?;
            let applied = accounts::apply_change(
                db,
                data,
                user.id,
                accounts::AccountChange::Disable,
                OffsetDateTime::now_utc(),
            )
            .await?;
            applied.crl?;
            let revoked = applied.revoked;
            let report =
                serde_json::json!({"disabled": user.login, "revoked_certificates": revoked});
            emit(json, &report, || {
                format!(
                    "無効にしました / disabled {}; its sessions have ended{}",
                    user.login,
                    if revoked.is_empty() {
                        String::new()
                    } else {
                        format!(" and its certificates are revoked: {}", revoked.join(", "))
                    }
                )
            });
        }
        UserCommand::Enable { login } => {
            let user = find(login).await?;
            accounts::apply_change(
                db,
                data,
                user.id,
                accounts::AccountChange::Enable,
                OffsetDateTime::now_utc(),
            )
            .await?;
            emit(json, &serde_json::json!({"enabled": user.login}), || {
                format!("有効にしました / enabled {}", user.login)
            });
        }
        UserCommand::ResetTotp { login } => {
            let user = find(login).await?;
            accounts::apply_change(
                db,
                data,
                user.id,
                accounts::AccountChange::ResetTotp,
                OffsetDateTime::now_utc(),
            )
            .await?;
            emit(json, &serde_json::json!({"totp_reset": user.login}), || {
                format!(
                    "二要素認証をリセットしました / second factor reset for {}",
                    user.login
                )
            });
        }
        UserCommand::ResetPassword { login } => {
            let user = find(login).await?;
            let (initial, ended) =
                accounts::reset_password_of(db, user.id, OffsetDateTime::now_utc()).await?;
            let report = serde_json::json!({"login": user.login, "initial_password": initial, "sessions_ended": ended});
            emit(json, &report, || {
                format!(
                    "パスワードを再設定しました / password reset for {}\n一時パスワード / one-time password: {initial}\n（本人に安全な方法で伝えてください。次回ログイン時に本人が新しいパスワードを決めます / tell it by a safe way; it is changed at the next login）",
                    user.login
                )
            });
        }
    }
    Ok(())
}
