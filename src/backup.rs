//! `kenshin-relay backup`: encrypted, generation-rotated backups of a data directory to a
//! place apart from it, verified after writing, and restored into an empty directory.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use kenshin_backup::{FileSource, RestoreDatabase, RestoreInto, Source, Target};
use std::sync::Arc;

use kenshin_crypto::{KeyProvider, LocalKeyFile};
use kenshin_server::keys::{open_key_provider, read_pin_file, PIN_ENV};
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
    /// Write a new generation to DIR (outside the data directory) or s3://BUCKET/PREFIX
    /// (AWS_* environment as for the blob store), verify it, keep the
    /// newest --keep.
    Create {
        #[arg(long)]
        to: PathBuf,
        #[arg(long, default_value_t = kenshin_backup::DEFAULT_KEEP)]
        keep: usize,
    },
    /// List the generations in DIR or s3://BUCKET/PREFIX.
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
        /// The key-encryption key file (default: the data directory's key, file or HSM).
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
        #[command(flatten)]
        key: RestoreKey,
        /// The new data directory (must be empty or absent).
        #[arg(long)]
        into: PathBuf,
        /// For a backup of a relay on PostgreSQL: the empty database to restore into (the
        /// restored configuration is pointed at it). The password may come from PGPASSWORD.
        #[arg(long)]
        database_url: Option<String>,
    },
}

/// The key-encryption key a restore opens the backup with: a file kept apart from the
/// backups, or the HSM that holds it.
#[derive(clap::Args, Debug)]
struct RestoreKey {
    /// The key-encryption key file, kept apart from the backups.
    #[arg(
        long,
        required_unless_present = "pkcs11_module",
        conflicts_with = "pkcs11_module"
    )]
    kek: Option<PathBuf>,
    /// Or the PKCS#11 module of the HSM holding the key (the restored configuration is
    /// pointed at it). The PIN comes from --pkcs11-pin-file or KENSHIN_RELAY_PKCS11_PIN.
    #[arg(long, value_name = "MODULE", requires = "pkcs11_token")]
    pkcs11_module: Option<PathBuf>,
    /// The label of the token holding the key.
    #[arg(long, value_name = "LABEL")]
    pkcs11_token: Option<String>,
    /// The label of the key on the token.
    #[arg(long, value_name = "LABEL", default_value = "kenshin-relay-kek")]
    pkcs11_key_label: String,
    /// A file with the token's user PIN, also copied to the restored keys/pkcs11.pin.
    #[arg(long, value_name = "FILE")]
    pkcs11_pin_file: Option<PathBuf>,
}

/// An opened restore key, and what the restored data directory must be told about it.
struct OpenedKey {
    keys: Arc<dyn KeyProvider>,
    /// The KEK file's bytes, to put back beside the data they open.
    file: Option<zeroize::Zeroizing<Vec<u8>>>,
    /// The HSM settings for the restored configuration, and the PIN to keep there.
    hsm: Option<(kenshin_pkcs11::Pkcs11Config, bool)>,
}

impl RestoreKey {
    fn open(&self) -> anyhow::Result<OpenedKey> {
        if let Some(path) = &self.kek {
            return Ok(OpenedKey {
                keys: Arc::new(LocalKeyFile::load(path)?),
                file: Some(zeroize::Zeroizing::new(std::fs::read(path)?)),
                hsm: None,
            });
        }
        let (Some(module), Some(token)) = (&self.pkcs11_module, &self.pkcs11_token) else {
            anyhow::bail!(
                "name the key-encryption key: --kek FILE, or --pkcs11-module and --pkcs11-token"
            );
        };
        let pin = match &self.pkcs11_pin_file {
            Some(file) => read_pin_file(file)?,
            None => zeroize::Zeroizing::new(std::env::var(PIN_ENV).map_err(|_| {
                anyhow::anyhow!("the HSM PIN is needed: --pkcs11-pin-file or {PIN_ENV}")
            })?),
        };
        let settings = kenshin_pkcs11::Pkcs11Config {
            module: module.clone(),
            token_label: token.clone(),
            key_label: self.pkcs11_key_label.clone(),
            pin,
        };
        let kek = kenshin_pkcs11::Pkcs11Kek::open(&settings)?;
        Ok(OpenedKey {
            keys: Arc::new(kek),
            file: None,
            hsm: Some((settings, self.pkcs11_pin_file.is_some())),
        })
    }
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

fn is_bucket(target: &Path) -> bool {
    target.to_string_lossy().starts_with("s3://")
}

/// A bucket target must not share its prefix with the live blob store (nor hold it, nor
/// lie inside it): a backup is kept apart from what it backs up.
fn refuse_overlap(blob_url: &str, target: &Path) -> anyhow::Result<()> {
    let blobs = format!("{}/", blob_url.trim().trim_end_matches('/'));
    let target = format!("{}/", target.to_string_lossy().trim_end_matches('/'));
    anyhow::ensure!(
        blob_url.trim().is_empty() || !(blobs.starts_with(&target) || target.starts_with(&blobs)),
        "the backup target {} overlaps the live blob store {}: give backups a bucket or prefix of their own",
        target.trim_end_matches('/'),
        blobs.trim_end_matches('/')
    );
    Ok(())
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
            let config = Config::load(&data)?;
            if is_bucket(&to) {
                refuse_overlap(&config.blob_url, &to)?;
            } else {
                refuse_inside(&data, &to)?;
            }
            let keys = open_key_provider(&data, &config)?;
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
                keys,
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
            let target = Target::open(&to)?;
            let generations = tokio::task::spawn_blocking(move || target.generations()).await??;
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
            let keys: Arc<dyn KeyProvider> = match kek {
                Some(path) => Arc::new(LocalKeyFile::load(&path)?),
                None => open_key_provider(&data, &Config::load(&data)?)?,
            };
            let target = Target::open(&to)?;
            let verified = tokio::task::spawn_blocking(move || {
                kenshin_backup::verify(&target, generation.as_deref(), &*keys)
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
            key,
            into,
            database_url,
        } => {
            let opened = key.open()?;
            let keys = Arc::clone(&opened.keys);
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
                kenshin_backup::restore(&target, generation.as_deref(), &*keys, &restore_into)
            })
            .await??;
            // The KEK (or the HSM's PIN) goes back beside the data it opens (0600), from
            // where it was kept.
            let keys_dir = new.root().join("keys");
            std::fs::create_dir_all(&keys_dir)?;
            crate::files::private_dir(&keys_dir)?;
            if let Some(bytes) = &opened.file {
                crate::files::write_secret(&new.kek_path(), bytes)?;
            }
            if let Some((settings, keep_pin)) = &opened.hsm {
                if *keep_pin {
                    crate::files::write_secret(&new.pkcs11_pin_path(), settings.pin.as_bytes())?;
                }
            }
            // The restored configuration names where it now lives.
            if database_url.is_some() || opened.hsm.is_some() {
                let mut config = Config::load_file(&new)?;
                if let Some(url) = database_url {
                    config.database_url = url;
                }
                if let Some((settings, _)) = &opened.hsm {
                    config.kek_provider = kenshin_server::config::KEK_PKCS11.into();
                    config.pkcs11_module = settings.module.to_string_lossy().into_owned();
                    config.pkcs11_token = settings.token_label.clone();
                    config.pkcs11_key_label = settings.key_label.clone();
                }
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
