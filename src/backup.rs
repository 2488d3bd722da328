//! `kenshin-relay backup`: encrypted, generation-rotated backups of a data directory to a
//! place apart from it, verified after writing, and restored into an empty directory.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use kenshin_backup::{FileSource, RestoreDatabase, RestoreInto, Source, Target};
use kenshin_crypto::{KeyProvider, LocalKeyFile};
use kenshin_server::{AppState, Config, DataDir};
use kenshin_store::BlobStore;

use crate::output::emit;
use crate::DataDirArg;

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    command: BackupCommand,
}

#[derive(Subcommand, Debug)]
enum BackupCommand {
    /// Write a new generation to DIR (outside the data directory), verify it, keep the
    /// newest --keep.
    Create {
        #[arg(long)]
        to: PathBuf,
        #[arg(long, default_value_t = kenshin_backup::DEFAULT_KEEP)]
        keep: usize,
    },
    /// List the generations in DIR.
    List {
        #[arg(long)]
        to: PathBuf,
    },
    /// Open every part of a generation (default: the latest) and check it.
    Verify {
        #[arg(long)]
        to: PathBuf,
        #[arg(long)]
        generation: Option<String>,
        /// The key-encryption key (default: the data directory's).
        #[arg(long)]
        kek: Option<PathBuf>,
    },
    /// Restore a generation (default: the latest) into an empty directory, then audit the
    /// restored ledger.
    Restore {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        generation: Option<String>,
        /// The key-encryption key file, kept apart from the backups.
        #[arg(long)]
        kek: PathBuf,
        /// The new data directory (must be empty or absent).
        #[arg(long)]
        into: PathBuf,
        /// For a backup of a relay on PostgreSQL: the empty database to restore into (the
        /// restored configuration is pointed at it). The password may come from PGPASSWORD.
        #[arg(long)]
        database_url: Option<String>,
    },
}

/// The files of a data directory a backup carries, besides the database and the blobs. The
/// KEK is deliberately not among them.
fn carried_files(data: &DataDir) -> Vec<FileSource> {
    let root = data.root();
    [
        data.config_path(),
        data.ca_cert_path(),
        data.ca_key_path(),
        data.crl_path(),
        data.server_cert_path(),
        data.server_key_path(),
        data.server_secret_path(),
        data.ledger_key_path(),
    ]
    .into_iter()
    .filter(|path| path.exists())
    .map(|path| FileSource {
        name: path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned(),
        path,
    })
    .collect()
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// The blob store of a restored data directory: the one its restored configuration names,
/// with the environment's overrides (`KENSHIN_RELAY_BLOB_URL` restores a relay on S3 into a
/// new bucket or prefix; edit `blob_url` in the restored config.toml to match before serving).
fn restored_blob_store(root: &Path) -> Result<BlobStore, kenshin_backup::BackupError> {
    let new = DataDir::new(root);
    let location = Config::load(&new)
        .and_then(|config| config.blob_location(&new))
        .map_err(|e| kenshin_backup::BackupError::Invalid(e.to_string()))?;
    BlobStore::open_at(&location).map_err(|source| kenshin_backup::BackupError::Blobs {
        location: location.to_string(),
        source,
    })
}

fn refuse_inside(data: &DataDir, target: &Path) -> anyhow::Result<()> {
    let data_root =
        std::fs::canonicalize(data.root()).unwrap_or_else(|_| data.root().to_path_buf());
    let target_abs = if target.is_absolute() {
        target.to_path_buf()
    } else {
        std::env::current_dir()?.join(target)
    };
    let target_abs = std::fs::canonicalize(&target_abs).unwrap_or(target_abs);
    anyhow::ensure!(
        !target_abs.starts_with(&data_root),
        "the backup target {} is inside the data directory: keep backups apart from the live store",
        target.display()
    );
    Ok(())
}

pub async fn run(args: BackupArgs) -> anyhow::Result<()> {
    let data = DataDir::new(&args.data.data_dir);
    let json = args.json;
    match args.command {
        BackupCommand::Create { to, keep } => {
            refuse_inside(&data, &to)?;
            let keys = LocalKeyFile::load(&data.kek_path())?;
            let config = Config::load(&data)?;
            let blobs = BlobStore::open_at(&config.blob_location(&data)?)?;
            let checked = blobs.clone();
            tokio::task::spawn_blocking(move || checked.check()).await??;
            let db = kenshin_server::open_database(&data, &config).await?;
            let target = Target::open(&to)?;
            let result = kenshin_backup::create(
                Source {
                    db: &db,
                    database_url: config.database_url.clone(),
                    blobs: &blobs,
                    scratch: data.root().join("tmp-backup"),
                    files: carried_files(&data),
                },
                &target,
                &keys,
                keep,
            )
            .await;
            crate::admin::record_cli_action(&db, "backup_create", result.is_ok()).await;
            db.close().await;
            let generation = result?;
            emit(json, &generation, || {
                format!(
                    "バックアップを作成し検証しました / backup {} written and verified: {} files, {} blobs in flight, {} bytes (keeping {keep})",
                    generation.id, generation.files, generation.blobs, generation.bytes
                )
            });
            Ok(())
        }
        BackupCommand::List { to } => {
            let generations = Target::open(&to)?.generations()?;
            emit(json, &generations, || {
                if generations.is_empty() {
                    return format!("no backups in {}", to.display());
                }
                generations
                    .iter()
                    .map(|g| {
                        format!(
                            "{}  {} files  {} blobs  {} bytes",
                            g.id, g.files, g.blobs, g.bytes
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        BackupCommand::Verify {
            to,
            generation,
            kek,
        } => {
            let keys = LocalKeyFile::load(&kek.unwrap_or_else(|| data.kek_path()))?;
            let target = Target::open(&to)?;
            let verified = tokio::task::spawn_blocking(move || {
                kenshin_backup::verify(&target, generation.as_deref(), &keys)
            })
            .await??;
            emit(json, &verified, || {
                format!(
                    "検証しました / generation {} verified: {} files, {} blobs{}",
                    verified.id,
                    verified.files,
                    verified.blobs,
                    if verified.missing_blobs.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({} destroyed while the backup was taken)",
                            verified.missing_blobs.len()
                        )
                    }
                )
            });
            Ok(())
        }
        BackupCommand::Restore {
            from,
            generation,
            kek,
            into,
            database_url,
        } => {
            let keys = LocalKeyFile::load(&kek)?;
            let target = Target::open(&from)?;
            let new = DataDir::new(&into);
            let database = match &database_url {
                Some(url) => {
                    kenshin_store::prepare_postgres_restore(url).await?;
                    RestoreDatabase::Postgres(url.clone())
                }
                None => RestoreDatabase::File(relative(new.root(), &new.database_path())),
            };
            let restore_into = RestoreInto {
                root: into.clone(),
                database,
                blobs: Box::new(restored_blob_store),
            };
            let kek_id = keys.kek_id().to_owned();
            let verified = tokio::task::spawn_blocking(move || {
                kenshin_backup::restore(&target, generation.as_deref(), &keys, &restore_into)
            })
            .await??;
            // The KEK goes back beside the data it opens (0600), from where it was kept.
            let kek_target = new.kek_path();
            if let Some(parent) = kek_target.parent() {
                std::fs::create_dir_all(parent)?;
                crate::files::private_dir(parent)?;
            }
            crate::files::write_secret(&kek_target, &std::fs::read(&kek)?)?;
            if let Some(url) = database_url {
                let mut config = Config::load_file(&new)?;
                config.database_url = url;
                std::fs::write(new.config_path(), config.to_commented_toml())?;
            }
            // A restored relay must be a working one whose ledger verifies.
            let state = AppState::open(&new, Config::load(&new)?).await?;
            for id in &verified.missing_blobs {
                if let Ok(id) = id.parse() {
                    state
                        .db
                        .forget_lost_object(id, time::OffsetDateTime::now_utc())
                        .await?;
                }
            }
            let audit = state.ledger.audit().await?;
            let access_problems = state.ledger.verify_access_log().await?;
            crate::admin::record_cli_action(&state.db, "backup_restore", audit.is_intact()).await;
            state.db.close().await;
            anyhow::ensure!(
                audit.is_intact(),
                "restored, but the ledger audit failed: {}",
                audit.problems.join("; ")
            );
            anyhow::ensure!(
                access_problems.is_empty(),
                "restored, but the access log does not match the ledger: {}",
                access_problems.join("; ")
            );
            let report = serde_json::json!({
                "generation": verified.id,
                "into": into,
                "files": verified.files,
                "blobs": verified.blobs,
                "ledger_size": audit.size,
                "kek_id": kek_id,
            });
            emit(json, &report, || {
                format!(
                    "復元しました / restored generation {} into {}: {} files, {} blobs; ledger of {} entries verified",
                    verified.id,
                    into.display(),
                    verified.files,
                    verified.blobs,
                    audit.size
                )
            });
            Ok(())
        }
    }
}
