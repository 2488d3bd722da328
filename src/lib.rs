//! The `kenshin-relay` command line: each module is one group of subcommands. The binary
//! (`main.rs`) only parses arguments and dispatches; the integration tests call these
//! functions directly too.

pub mod admin;
pub mod backup;
pub mod client;
pub mod convert;
pub mod demo;
pub mod files;
pub mod init;
pub mod ledger;
pub mod output;

use std::path::PathBuf;

/// Where the server keeps its database, keys, certificates and encrypted files.
#[derive(clap::Args, Debug, Clone)]
pub struct DataDirArg {
    /// Data directory.
    #[arg(
        long,
        env = "KENSHIN_RELAY_DATA_DIR",
        default_value = "kenshin-relay-data"
    )]
    pub data_dir: PathBuf,
}

/// Logs go to stderr, filtered by `KENSHIN_RELAY_LOG` (tracing's env-filter syntax).
pub fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KENSHIN_RELAY_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,rustls=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
