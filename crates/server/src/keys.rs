//! The key-encryption key a configuration names: a file in the data directory, or a key in
//! a PKCS#11 HSM that never leaves it.

use std::sync::Arc;

use anyhow::Context as _;
use kenshin_crypto::{KeyProvider, LocalKeyFile};
use kenshin_pkcs11::{Pkcs11Config, Pkcs11Kek};
use zeroize::Zeroizing;

use crate::config::{Config, DataDir, KEK_PKCS11};

/// Where the HSM's PIN may come from besides `keys/pkcs11.pin`.
pub const PIN_ENV: &str = "KENSHIN_RELAY_PKCS11_PIN";

/// Opens the KEK of `data` as `config` says.
pub fn open_key_provider(data: &DataDir, config: &Config) -> anyhow::Result<Arc<dyn KeyProvider>> {
    if config.kek_provider == KEK_PKCS11 {
        let settings = pkcs11_settings(data, config)?;
        let kek = Pkcs11Kek::open(&settings).with_context(|| {
            format!(
                "cannot open the key-encryption key {:?} on token {:?} ({})",
                settings.key_label,
                settings.token_label,
                settings.module.display()
            )
        })?;
        return Ok(Arc::new(kek));
    }
    Ok(Arc::new(LocalKeyFile::load(&data.kek_path())?))
}

/// The HSM settings of `config`, with the PIN from the environment or, failing that, from
/// `keys/pkcs11.pin` (0600; one line, surrounding white space ignored).
pub fn pkcs11_settings(data: &DataDir, config: &Config) -> anyhow::Result<Pkcs11Config> {
    Ok(Pkcs11Config {
        module: config.pkcs11_module.clone().into(),
        token_label: config.pkcs11_token.clone(),
        key_label: config.pkcs11_key_label.clone(),
        pin: pkcs11_pin(data)?,
    })
}

fn pkcs11_pin(data: &DataDir) -> anyhow::Result<Zeroizing<String>> {
    if let Ok(pin) = std::env::var(PIN_ENV) {
        if !pin.is_empty() {
            return Ok(Zeroizing::new(pin));
        }
    }
    let path = data.pkcs11_pin_path();
    read_pin_file(&path).with_context(|| {
        format!(
            "the HSM PIN is neither in {PIN_ENV} nor readable at {}",
            path.display()
        )
    })
}

/// Reads a PIN file: private to its owner, one line.
pub fn read_pin_file(path: &std::path::Path) -> anyhow::Result<Zeroizing<String>> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)?.permissions().mode();
    anyhow::ensure!(
        mode & 0o077 == 0,
        "{} is readable by others (mode {:o}): chmod 600 it",
        path.display(),
        mode & 0o777
    );
    let text = Zeroizing::new(std::fs::read_to_string(path)?);
    let pin = Zeroizing::new(text.trim().to_owned());
    anyhow::ensure!(!pin.is_empty(), "{} is empty", path.display());
    Ok(pin)
}
