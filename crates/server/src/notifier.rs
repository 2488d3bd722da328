//! The relay's two ways of telling: e-mail through the configured mail server (or into
//! `mail_dir` as files; none when neither is set) and webhooks, built once from the configuration so a wrong setting
//! stops the start instead of every send.

use std::sync::Arc;

use kenshin_notify::email::{Mailer, Security, SmtpSettings};
use kenshin_notify::webhook::WebhookSender;
use zeroize::Zeroizing;

use crate::config::{Config, DataDir};

/// E-mail and webhook senders and the base of the links.
#[derive(Clone)]
pub struct Notifier {
    pub mailer: Option<Arc<Mailer>>,
    pub webhooks: WebhookSender,
    /// `https://host:port`, no trailing slash.
    pub base_url: String,
}

fn read(data: &DataDir, setting: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    let path = data.root().join(path);
    std::fs::read(&path).map_err(|e| anyhow::anyhow!("{setting} ({}): {e}", path.display()))
}

impl Notifier {
    pub fn from_config(config: &Config, data: &DataDir) -> anyhow::Result<Notifier> {
        let mailer = if !config.mail_dir.is_empty() {
            let dir = data.root().join(&config.mail_dir);
            Some(Arc::new(
                Mailer::to_directory(&dir, &config.smtp_from)
                    .map_err(|e| anyhow::anyhow!("mail_dir: {e}"))?,
            ))
        } else if config.smtp_host.is_empty() {
            None
        } else {
            let password = if config.smtp_password_file.is_empty() {
                None
            } else {
                let bytes = Zeroizing::new(read(
                    data,
                    "smtp_password_file",
                    &config.smtp_password_file,
                )?);
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| anyhow::anyhow!("smtp_password_file is not UTF-8"))?;
                Some(Zeroizing::new(
                    text.trim_end_matches(['\r', '\n']).to_owned(),
                ))
            };
            let ca_pem = if config.smtp_ca_file.is_empty() {
                None
            } else {
                Some(read(data, "smtp_ca_file", &config.smtp_ca_file)?)
            };
            let settings = SmtpSettings {
                host: config.smtp_host.clone(),
                port: config.smtp_port,
                security: Security::parse(&config.smtp_security)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                username: (!config.smtp_username.is_empty()).then(|| config.smtp_username.clone()),
                password,
                from: config.smtp_from.clone(),
                ca_pem,
            };
            Some(Arc::new(
                Mailer::new(&settings).map_err(|e| anyhow::anyhow!("SMTP settings: {e}"))?,
            ))
        };
        let webhook_ca = if config.webhook_ca_file.is_empty() {
            None
        } else {
            Some(read(data, "webhook_ca_file", &config.webhook_ca_file)?)
        };
        let webhooks = WebhookSender::new(webhook_ca.as_deref(), config.webhook_allow_private)
            .map_err(|e| anyhow::anyhow!("webhook settings: {e}"))?;
        Ok(Notifier {
            mailer,
            webhooks,
            base_url: config.public_base_url(),
        })
    }

    /// The absolute link to page `path` (`/inbox/…`).
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}
