//! `kenshin-relay`: the one binary of Kenshin Relay (健診リレー).
//!
//! Subcommands: `init` a data directory, `serve` it, run the `demo`, administer organisations,
//! routes and certificates (`admin`), and act as a batch client (`client`).

use kenshin_relay::{
    admin, backup, client, convert, demo, init, init_logging, ledger, output, DataDirArg,
};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "kenshin-relay",
    version,
    about = "健診リレー Kenshin Relay — secure relay of health-checkup result files",
    long_about = "健診リレー (Kenshin Relay): checkup institutions upload result files, receivers download \
                  them and confirm receipt (受信完了), and the files are destroyed. Everything is encrypted \
                  at rest and every operation is recorded."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a data directory: database, key-encryption key, CA, server certificate.
    Init(init::InitArgs),
    /// Run the HTTPS server on an initialised data directory.
    Serve(ServeArgs),
    /// Initialise a demo data directory with demo organisations and certificates, and serve it.
    Demo(demo::DemoArgs),
    /// Administer organisations, routes, client certificates and retention (operator only).
    Admin(admin::AdminArgs),
    /// Use the service from a batch job: send, list, fetch, confirm, withdraw.
    Client(client::ClientArgs),
    /// Convert an export locally with a map into the standard CSV (exit 0 clean, 1 findings,
    /// 2 unusable input).
    Convert(convert::ConvertArgs),
    /// Map files (変換テーブル): draft one from a sample, or check one against a sample.
    Map(convert::MapArgs),
    /// Format profiles: show or check one.
    Profile(convert::ProfileArgs),
    /// The transparency ledger, offline: verify a receipt against the ledger key.
    Ledger(ledger::LedgerArgs),
    /// The access log: search and export (CSV, JSON lines, FHIR AuditEvent, IHE ATNA).
    Audit(admin::AuditArgs),
    /// Backups: create (encrypted, verified, rotated), list, verify, restore.
    Backup(backup::BackupArgs),
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// Listen address (overrides `listen` in config.toml).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// all: everything in one process; api: HTTPS without conversion; worker: conversion
    /// only (any number beside one api process on the same data).
    #[arg(long, default_value = "all", value_parser = ["all", "api", "worker"])]
    role: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let json = match &cli.command {
        Command::Client(args) => args.json,
        Command::Admin(args) => args.json,
        Command::Convert(args) => args.json,
        Command::Map(args) => args.json,
        Command::Profile(args) => args.json,
        Command::Ledger(args) => args.json,
        Command::Audit(args) => args.json,
        Command::Backup(args) => args.json,
        _ => false,
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            output::print_error(&err, json);
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Init(args) => init::run(args).await.map(|()| 0),
        Command::Serve(args) => serve(args).await.map(|()| 0),
        Command::Demo(args) => demo::run(args).await.map(|()| 0),
        Command::Admin(args) => admin::run(args).await.map(|()| 0),
        Command::Client(args) => client::run(args).await,
        Command::Convert(args) => convert::run_convert(args),
        Command::Map(args) => convert::run_map(args),
        Command::Profile(args) => convert::run_profile(args),
        Command::Ledger(args) => ledger::run(args),
        Command::Audit(args) => admin::run_audit(args).await.map(|()| 0),
        Command::Backup(args) => backup::run(args).await.map(|()| 0),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = kenshin_server::DataDir::new(&args.data.data_dir);
    let mut config = kenshin_server::Config::load(&data_dir)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    init_logging(&config.log_format);
    let signals = kenshin_server::Signals::install()?;
    let role = match args.role.as_str() {
        "worker" => {
            let worker = kenshin_server::RunningWorker::start(&data_dir, config).await?;
            eprintln!("Kenshin Relay conversion worker running");
            signals.wait().await;
            return worker.shutdown().await;
        }
        "api" => kenshin_server::ServerRole::Api,
        _ => kenshin_server::ServerRole::All,
    };
    let server = kenshin_server::RunningServer::start_as(&data_dir, config, role).await?;
    eprintln!("Kenshin Relay listening on https://{}", server.addr);
    signals.wait().await;
    server.shutdown().await
}
