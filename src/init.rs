//! `kenshin-relay init`: a new data directory with everything `serve` needs.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kenshin_pki::CertificateAuthority;
use kenshin_server::{Config, DataDir};
use kenshin_store::{BlobLocation, BlobStore};
use serde::Serialize;

use crate::files::{private_dir, write_private, write_secret};
use crate::DataDirArg;

/// Validity of the server certificate: browsers cap TLS server certificates at 398 days.
const SERVER_CERT_DAYS: u32 = 397;

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// Host name or IP address the server is reached by (repeatable; default: localhost,
    /// 127.0.0.1, ::1).
    #[arg(long = "hostname", value_name = "NAME")]
    hostnames: Vec<String>,
    /// Listen address written to config.toml.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Keep the blobs in an S3-compatible bucket, `s3://BUCKET/PREFIX`, written to
    /// config.toml (endpoint, region and credentials come from the AWS_* environment).
    #[arg(long, value_name = "URL")]
    blob_url: Option<String>,
    /// Keep the metadata in PostgreSQL, `postgres://USER@HOST:5432/DB`, written to
    /// config.toml (the password belongs in PGPASSWORD or ~/.pgpass); the schema is created.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Keep the key-encryption key in a PKCS#11 HSM instead of keys/kek.key: the vendor's
    /// module (e.g. /usr/lib/softhsm/libsofthsm2.so). A new AES-256 key is generated on the
    /// token, sensitive and not extractable.
    #[arg(long, value_name = "MODULE", requires = "pkcs11_token")]
    pkcs11_module: Option<PathBuf>,
    /// The label of the token holding the key.
    #[arg(long, value_name = "LABEL", requires = "pkcs11_module")]
    pkcs11_token: Option<String>,
    /// The label of the key on the token.
    #[arg(long, value_name = "LABEL", default_value = "kenshin-relay-kek")]
    pkcs11_key_label: String,
    /// A file holding the token's user PIN, copied to keys/pkcs11.pin (0600). Without it the
    /// PIN comes from KENSHIN_RELAY_PKCS11_PIN, here and whenever the relay starts.
    #[arg(long, value_name = "FILE", requires = "pkcs11_module")]
    pkcs11_pin_file: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
pub struct Initialised {
    pub data_dir: PathBuf,
    pub ca_certificate: PathBuf,
    pub server_names: Vec<String>,
    pub listen: String,
    pub kek_id: String,
    /// The ledger's verifier key: publish it so parties can pin it.
    pub ledger_key: String,
}

pub async fn run(args: InitArgs) -> anyhow::Result<()> {
    let mut config = Config::default();
    if !args.hostnames.is_empty() {
        config.server_names = args.hostnames;
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(blob_url) = args.blob_url {
        config.blob_url = blob_url;
    }
    if let Some(database_url) = args.database_url {
        config.database_url = database_url;
    }
    let mut pin = None;
    if let (Some(module), Some(token)) = (args.pkcs11_module, args.pkcs11_token) {
        config.kek_provider = kenshin_server::config::KEK_PKCS11.into();
        config.pkcs11_module = module.to_string_lossy().into_owned();
        config.pkcs11_token = token;
        config.pkcs11_key_label = args.pkcs11_key_label;
        if let Some(file) = args.pkcs11_pin_file {
            pin = Some(kenshin_server::keys::read_pin_file(&file)?);
        }
    }
    let done = initialise_with_pin(&args.data.data_dir, config, pin).await?;
    crate::output::emit(args.json, &done, || {
        format!(
            "初期化しました / Initialised {}\n  CA certificate (give to clients): {}\n  server names: {}\n  listen: {}\n  ledger key (publish; parties pin it): {}\n\nNext: create organisations and certificates with `kenshin-relay admin`, then `kenshin-relay serve --data-dir {}`",
            done.data_dir.display(),
            done.ca_certificate.display(),
            done.server_names.join(", "),
            done.listen,
            done.ledger_key,
            done.data_dir.display()
        )
    });
    Ok(())
}

/// Creates the data directory. Refuses to touch one that already holds a relay.
pub async fn initialise(root: &Path, config: Config) -> anyhow::Result<Initialised> {
    initialise_with_pin(root, config, None).await
}

/// [`initialise`], with the HSM's PIN to keep in `keys/pkcs11.pin` when the KEK is in an HSM.
async fn initialise_with_pin(
    root: &Path,
    config: Config,
    pin: Option<zeroize::Zeroizing<String>>,
) -> anyhow::Result<Initialised> {
    config.validate()?;
    let data = DataDir::new(root);
    if data.database_path().exists() || data.kek_path().exists() {
        anyhow::bail!(
            "{} is already initialised; refusing to overwrite its keys",
            root.display()
        );
    }
    // Checked before anything is written, so a wrong bucket or credential leaves no half
    // initialised directory behind.
    let location = config.blob_location(&data)?;
    if let BlobLocation::S3(_) = location {
        check_new_bucket(&location).await?;
    }
    if !config.database_url.is_empty() {
        // A shared server may hold other relays' databases; never adopt one in use.
        let db = kenshin_server::open_database(&data, &config).await?;
        let in_use = !db.list_orgs().await?.is_empty() || db.ledger_size().await? > 0;
        db.close().await;
        anyhow::ensure!(
            !in_use,
            "the PostgreSQL database named by database_url already holds a relay's data; \
             give each relay a database of its own"
        );
    }
    // The HSM key before anything is written: a wrong PIN or token leaves no directory.
    let hsm_kek_id = if config.kek_provider == kenshin_server::config::KEK_PKCS11 {
        let pin = match &pin {
            Some(pin) => pin.clone(),
            None => zeroize::Zeroizing::new(std::env::var(kenshin_server::keys::PIN_ENV).map_err(
                |_| {
                    anyhow::anyhow!(
                        "the HSM PIN is needed: --pkcs11-pin-file or {}",
                        kenshin_server::keys::PIN_ENV
                    )
                },
            )?),
        };
        let settings = kenshin_pkcs11::Pkcs11Config {
            module: config.pkcs11_module.clone().into(),
            token_label: config.pkcs11_token.clone(),
            key_label: config.pkcs11_key_label.clone(),
            pin,
        };
        let kek = kenshin_pkcs11::Pkcs11Kek::generate(&settings).with_context(|| {
            format!(
                "cannot generate the key-encryption key {:?} on token {:?}",
                settings.key_label, settings.token_label
            )
        })?;
        Some(kenshin_crypto::KeyProvider::kek_id(&kek).to_owned())
    } else {
        None
    };
    private_dir(root)?;
    write_private(&data.config_path(), config.to_commented_toml().as_bytes())?;

    private_dir(&root.join("keys"))?;
    let kek_id = if let Some(kek_id) = hsm_kek_id {
        if let Some(pin) = &pin {
            write_secret(&data.pkcs11_pin_path(), pin.as_bytes())?;
        }
        kek_id
    } else {
        let kek = kenshin_crypto::LocalKeyFile::create(&data.kek_path())
            .with_context(|| "cannot create the key-encryption key")?;
        kenshin_crypto::KeyProvider::kek_id(&kek).to_owned()
    };

    let db = kenshin_server::open_database(&data, &config).await?;
    private_dir(&data.pki_dir())?;
    let ca = CertificateAuthority::generate(&format!(
        "Kenshin Relay CA {}",
        config
            .server_names
            .first()
            .map(String::as_str)
            .unwrap_or("")
    ))?;
    write_private(&data.ca_cert_path(), ca.cert_pem().as_bytes())?;
    write_secret(&data.ca_key_path(), ca.key_pem().as_bytes())?;
    let server = ca.issue_server(&config.server_names, SERVER_CERT_DAYS)?;
    write_private(&data.server_cert_path(), server.cert_pem.as_bytes())?;
    write_secret(&data.server_key_path(), server.key_pem.as_bytes())?;
    write_crl(&db, &ca, &data, db.next_crl_number().await?).await?;
    db.close().await;
    let ledger =
        kenshin_ledger::Signer::create_file(&data.ledger_key_path(), &config.ledger_origin())
            .with_context(|| "cannot create the ledger signing key")?;

    if let BlobLocation::Local(path) = &location {
        private_dir(path)?;
        BlobStore::open(path)?;
    }
    Ok(Initialised {
        data_dir: root.to_owned(),
        ca_certificate: data.ca_cert_path(),
        server_names: config.server_names.clone(),
        listen: config.listen.to_string(),
        kek_id,
        ledger_key: ledger.verifier().to_text(),
    })
}

pub use kenshin_server::service::certificates::{load_ca, write_crl};

/// The bucket must be usable and hold no blobs under the prefix: a new relay's start-up
/// recovery deletes every blob its database does not name, another relay's included.
async fn check_new_bucket(location: &BlobLocation) -> anyhow::Result<()> {
    let blobs = BlobStore::open_at(location)?;
    let found = tokio::task::spawn_blocking(move || -> anyhow::Result<(String, usize)> {
        blobs.check()?;
        Ok((blobs.location(), blobs.list()?.len()))
    })
    .await??;
    anyhow::ensure!(
        found.1 == 0,
        "{} already holds {} blobs (another relay's?): give each relay a prefix of its own",
        found.0,
        found.1
    );
    Ok(())
}
