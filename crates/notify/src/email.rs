//! E-mail: the texts of each notice in Japanese and English ([`compose`]) and the SMTP sender
//! ([`Mailer`]: STARTTLS or implicit TLS — plain only to a mail server on this machine —,
//! authentication, a configured sender address).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use time::{OffsetDateTime, UtcOffset};
use zeroize::Zeroizing;

use crate::{Language, Notice, SendError, Topic};

/// One e-mail's subject and plain-text body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub body: String,
}

const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

fn jst(at: OffsetDateTime) -> String {
    let at = at.to_offset(JST);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} (JST)",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

fn org(org: &Option<crate::NoticeOrg>) -> Option<String> {
    org.as_ref().map(|o| format!("{} ({})", o.name, o.code))
}

/// The e-mail for `notice` of `topic` in `language`; `settings_url` is the page where the
/// person chooses what reaches them.
pub fn compose(topic: Topic, notice: &Notice, language: Language, settings_url: &str) -> Email {
    let ja = language == Language::Ja;
    let t = |j: &str, e: &str| if ja { j.to_owned() } else { e.to_owned() };
    let receiver = org(&notice.receiver).unwrap_or_else(|| t("受信先", "the receiver"));
    let expires = notice.expires_at.map(jst).unwrap_or_default();
    let counts = notice.counts.unwrap_or_default();
    let (subject, headline) = match topic {
        Topic::DeliveryArrived => (
            t("新しいファイルが届きました", "A new delivery has arrived"),
            if ja {
                format!("新しいファイルが届きました。ダウンロードして内容を確かめたら、受信完了にしてください。\n{expires} までに受信完了にならないファイルは消去されます。")
            } else {
                format!("A new delivery is ready for you. Download it and, once checked, confirm receipt (受信完了).\nA delivery not confirmed by {expires} is destroyed.")
            },
        ),
        Topic::ConversionFinished => (
            t("ファイルの変換が終わりました", "Your file was converted"),
            if ja {
                format!(
                    "送信されたファイルの変換が終わりました。{} 件を読み、{} 件を配信しました。差し戻し {} 件、保留 {} 件です。{}",
                    counts.records_in, counts.records_out, counts.records_rejected, counts.records_unrouted,
                    if counts.records_rejected + counts.records_unrouted > 0 { "\n差し戻しと保留の内容は画面で確かめてください。" } else { "" }
                )
            } else {
                format!(
                    "Your file was converted: {} records read, {} delivered, {} returned, {} held.{}",
                    counts.records_in, counts.records_out, counts.records_rejected, counts.records_unrouted,
                    if counts.records_rejected + counts.records_unrouted > 0 { "\nSee the returned and held records on the page." } else { "" }
                )
            },
        ),
        Topic::RecordsHeld if notice.reason.as_deref() == Some("rejected") => (
            t("レコードを差し戻しました", "Records were returned to you"),
            if ja {
                format!("{} 件のレコードを差し戻しました。保険者番号・受診日・生年月日・性別のいずれかがないか、行が読み取れません。画面から差し戻しのファイルをダウンロードし、直して送り直してください。", counts.records_rejected)
            } else {
                format!("{} records were returned to you: a 保険者番号, exam date, birth date or sex is missing, or the row cannot be read. Download them from the page, correct them and send them again.", counts.records_rejected)
            },
        ),
        Topic::RecordsHeld => (
            t("レコードを保留しました", "Records were held"),
            if ja {
                format!("{} 件のレコードを保留しました。届け先の保険者への経路がまだありません。経路が登録されると配信されます。", counts.records_unrouted)
            } else {
                format!("{} records were held: no route takes their 保険者番号 yet. They are delivered once a route takes them.", counts.records_unrouted)
            },
        ),
        Topic::ConversionFailed => (
            t("ファイルを変換できませんでした", "Your file could not be converted"),
            t(
                "送信されたファイルを変換できませんでした。配信されたものはありません。画面で理由を確かめ、直したファイルを送信してください。",
                "Your file could not be converted; nothing was delivered. See the reason on the page and send a corrected file.",
            ),
        ),
        Topic::DeliveryDownloaded => (
            t("ファイルがダウンロードされました", "Your delivery was downloaded"),
            if ja { format!("{receiver} がファイルをダウンロードしました。") } else { format!("{receiver} downloaded your delivery.") },
        ),
        Topic::DeliveryConfirmed => (
            t("受信完了になりました", "Receipt was confirmed (受信完了)"),
            if ja {
                format!("{receiver} が受信完了にしました。ファイルはサービスから消去されます(台帳に記録されます)。")
            } else {
                format!("{receiver} confirmed receipt (受信完了). The file is destroyed on the service, recorded in the ledger.")
            },
        ),
        Topic::DeliveryExpiring => {
            let days = notice.days_left.unwrap_or(0);
            (
                if ja { format!("受信完了になっていないファイルがあります(あと{days}日で消去)") } else { format!("An unconfirmed delivery is destroyed in {days} day(s)") },
                if ja {
                    format!("受信完了になっていないファイルがあります。{expires} に消去されます(あと {days} 日)。\nダウンロードして内容を確かめ、受信完了にしてください。")
                } else {
                    format!("A delivery has not been confirmed. It is destroyed at {expires} ({days} day(s) left).\nDownload it, check it and confirm receipt (受信完了).")
                },
            )
        }
        Topic::DeliveryExpired => (
            t("期限までに受信完了にならなかったファイルを消去しました", "An unconfirmed delivery was destroyed"),
            t(
                "保存期間内に受信完了にならなかったため、ファイルを消去しました(台帳に記録済み)。必要なら送信元に再送を依頼してください。",
                "The delivery was not confirmed within the retention period and was destroyed (recorded in the ledger). Ask the sender to send it again if it is still needed.",
            ),
        ),
        Topic::CertificateExpiring => (
            t("証明書の有効期限が近づいています", "A certificate expires soon"),
            if ja {
                format!("証明書の有効期限が {expires} に切れます。期限までに新しい証明書を発行し、入れ替えてください。")
            } else {
                format!("A certificate expires at {expires}. Issue a new one and put it in place before then.")
            },
        ),
        Topic::AccountLocked => {
            let until = notice.locked_until.map(jst).unwrap_or_default();
            (
                t("アカウントがロックされました", "An account was locked"),
                if ja {
                    format!("ログインの失敗が続いたため、アカウントを {until} までロックしました。心当たりがなければ、管理者に連絡してください。")
                } else {
                    format!("After repeated failed logins the account is locked until {until}. If this was not you, tell your administrator.")
                },
            )
        }
        Topic::WebhookTest => (
            t("通知のテスト", "Notification test"),
            t("通知のテスト送信です。", "This is a test notification."),
        ),
    };
    let mut lines = vec![
        t(
            "健診リレーからのお知らせです。",
            "A notice from Kenshin Relay (健診リレー).",
        ),
        String::new(),
        headline,
        String::new(),
    ];
    let mut detail = |ja_label: &str, en_label: &str, value: Option<String>| {
        if let Some(value) = value {
            lines.push(format!(
                "  {}: {value}",
                if ja { ja_label } else { en_label }
            ));
        }
    };
    detail("組織", "Organisation", org(&notice.organisation));
    detail("送信元", "Sender", org(&notice.sender));
    detail("受信先", "Receiver", org(&notice.receiver));
    detail("提出ID", "Submission", notice.submission_id.clone());
    detail("配信ID", "Delivery", notice.delivery_id.clone());
    detail("形式", "Format", notice.format.clone());
    detail(
        "保険者番号",
        "Insurer number",
        notice.insurer_number.clone(),
    );
    detail(
        "大きさ",
        "Size",
        notice.size.map(|n| {
            if ja {
                format!("{n} バイト")
            } else {
                format!("{n} bytes")
            }
        }),
    );
    detail(
        "証明書のシリアル番号",
        "Certificate serial",
        notice.certificate_serial.clone(),
    );
    detail("期限", "Expires", notice.expires_at.map(jst));
    detail(
        "台帳のイベント番号",
        "Ledger event",
        notice.event_seq.map(|n| n.to_string()),
    );
    lines.push(String::new());
    lines.push(format!(
        "{}: {}",
        t(
            "詳しくはこちら(ログインが必要です)",
            "Details (login required)"
        ),
        notice.url
    ));
    lines.push(String::new());
    lines.push("--".into());
    lines.push(t(
        "このメールは健診リレーが自動で送信しています。受診者の情報、ファイルの名前や内容は含みません。",
        "Sent automatically by Kenshin Relay. It never contains examinees' data, file names or file content.",
    ));
    lines.push(format!(
        "{}: {settings_url}",
        t("通知の設定", "Notification settings")
    ));
    Email {
        subject: format!("[{}] {subject}", t("健診リレー", "Kenshin Relay")),
        body: lines.join("\n") + "\n",
    }
}

/// Whether `text` is a plain mail address (`local@domain`, no display name).
pub fn is_address(text: &str) -> bool {
    text.parse::<lettre::Address>().is_ok()
}

/// How the connection to the mail server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// STARTTLS, required (the message is never sent in the clear).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No TLS: only to a mail server on this machine (a local MTA that relays onwards).
    None,
}

impl Security {
    pub fn parse(text: &str) -> Result<Security, SendError> {
        match text {
            "starttls" => Ok(Security::StartTls),
            "tls" => Ok(Security::Tls),
            "none" => Ok(Security::None),
            other => Err(SendError::Setting(format!(
                "smtp_security must be \"starttls\", \"tls\" or \"none\", not {other:?}"
            ))),
        }
    }
}

/// The mail server and how to use it.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<Zeroizing<String>>,
    /// The sender address (`From:`), e.g. `健診リレー <noreply@relay.example.jp>`.
    pub from: String,
    /// Extra trust anchors (PEM) for the server's certificate.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("from", &self.from)
            .finish()
    }
}

fn is_local(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Sends e-mails through one mail server, or writes them as files into a directory.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: lettre::message::Mailbox,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Each message as `<uuid>.eml` (a demo's mail sink, or a directory another system
    /// picks mail up from).
    Files(AsyncFileTransport<Tokio1Executor>),
}

impl Mailer {
    pub fn new(settings: &SmtpSettings) -> Result<Mailer, SendError> {
        let from = settings
            .from
            .parse()
            .map_err(|e| SendError::Setting(format!("smtp_from is not a mail address ({e})")))?;
        let tls = |settings: &SmtpSettings| -> Result<TlsParameters, SendError> {
            let mut builder = TlsParameters::builder(settings.host.clone());
            for root in crate::extra_roots(settings.ca_pem.as_deref())? {
                builder = builder.add_root_certificate(
                    Certificate::from_der(root.to_vec())
                        .map_err(|e| SendError::Setting(format!("smtp_ca_file: {e}")))?,
                );
            }
            builder
                .build_rustls()
                .map_err(|e| SendError::Setting(format!("SMTP TLS: {e}")))
        };
        let tls =
            match settings.security {
                Security::StartTls => Tls::Required(tls(settings)?),
                Security::Tls => Tls::Wrapper(tls(settings)?),
                Security::None if is_local(&settings.host) => Tls::None,
                Security::None => return Err(SendError::Setting(
                    "smtp_security = \"none\" is only allowed for a mail server on this machine"
                        .into(),
                )),
            };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(30)));
        if let Some(username) = &settings.username {
            let password = settings
                .password
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(Mailer {
            transport: Transport::Smtp(builder.build()),
            from,
        })
    }

    /// A mailer that writes each message into `dir` as an `.eml` file instead of sending it.
    pub fn to_directory(dir: &std::path::Path, from: &str) -> Result<Mailer, SendError> {
        let from = from
            .parse()
            .map_err(|e| SendError::Setting(format!("the sender address: {e}")))?;
        if !dir.is_dir() {
            return Err(SendError::Setting(format!(
                "mail_dir {} is not a directory",
                dir.display()
            )));
        }
        Ok(Mailer {
            transport: Transport::Files(AsyncFileTransport::new(dir)),
            from,
        })
    }

    /// One attempt to send `email` to `to`, with `message_id` (stable across retries).
    pub async fn send(&self, to: &str, email: &Email, message_id: &str) -> Result<(), SendError> {
        let to = to
            .parse()
            .map_err(|e| SendError::NotAllowed(format!("not a mail address ({e})")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(format!("<{message_id}@kenshin-relay.invalid>")))
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.clone())
            .map_err(|e| SendError::Setting(format!("cannot build the message: {e}")))?;
        match &self.transport {
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Ok(()),
                Err(err) if err.is_permanent() => {
                    Err(SendError::Rejected(crate::error_chain(&err)))
                }
                Err(err) if err.is_transient() => Err(SendError::Refused(crate::error_chain(&err))),
                Err(err) => Err(SendError::Unreachable(crate::error_chain(&err))),
            },
            Transport::Files(files) => files
                .send(message)
                .await
                .map(drop)
                .map_err(|e| SendError::Unreachable(format!("cannot write the message: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Counts, NoticeOrg};

    fn notice() -> Notice {
        Notice {
            organisation: Some(NoticeOrg {
                code: "06130012".into(),
                name: "若葉健康保険組合".into(),
            }),
            sender: Some(NoticeOrg {
                code: "1310000001".into(),
                name: "さくら健診センター".into(),
            }),
            delivery_id: Some("0190f0a0-0000-7000-8000-000000000001".into()),
            counts: Some(Counts {
                records_in: 12,
                records_out: 10,
                records_rejected: 1,
                records_unrouted: 1,
            }),
            expires_at: Some(time::macros::datetime!(2026-12-31 00:00 UTC)),
            days_left: Some(7),
            url: "https://relay.example.jp:8443/inbox".into(),
            ..Notice::default()
        }
    }

    #[test]
    fn every_topic_has_both_languages_with_the_link_and_the_settings_page() {
        for topic in Topic::CHOOSABLE.into_iter().chain([Topic::WebhookTest]) {
            let ja = compose(
                topic,
                &notice(),
                Language::Ja,
                "https://relay.example.jp:8443/account",
            );
            let en = compose(
                topic,
                &notice(),
                Language::En,
                "https://relay.example.jp:8443/account",
            );
            assert!(
                ja.subject.starts_with("[健診リレー]"),
                "{topic}: {}",
                ja.subject
            );
            assert!(
                en.subject.starts_with("[Kenshin Relay]"),
                "{topic}: {}",
                en.subject
            );
            for email in [&ja, &en] {
                assert!(email.body.contains("https://relay.example.jp:8443/inbox"));
                assert!(email.body.contains("https://relay.example.jp:8443/account"));
                assert!(email.body.contains("若葉健康保険組合 (06130012)"));
            }
            assert!(ja.body.contains("受診者の情報"));
        }
        let reminder = compose(Topic::DeliveryExpiring, &notice(), Language::Ja, "x");
        assert!(reminder.subject.contains("あと7日"), "{}", reminder.subject);
        assert!(
            reminder.body.contains("2026-12-31 09:00 (JST)"),
            "{}",
            reminder.body
        );
        let converted = compose(Topic::ConversionFinished, &notice(), Language::En, "x");
        assert!(converted
            .body
            .contains("12 records read, 10 delivered, 1 returned, 1 held"));
    }

    #[test]
    fn plain_smtp_is_only_for_this_machine() {
        let mut settings = SmtpSettings {
            host: "mail.example.jp".into(),
            port: 25,
            security: Security::None,
            username: None,
            password: None,
            from: "健診リレー <noreply@relay.example.jp>".into(),
            ca_pem: None,
        };
        assert!(matches!(Mailer::new(&settings), Err(SendError::Setting(_))));
        settings.host = "127.0.0.1".into();
        assert!(Mailer::new(&settings).is_ok());
        settings.from = "not an address".into();
        assert!(matches!(Mailer::new(&settings), Err(SendError::Setting(_))));
        assert!(Security::parse("ssl").is_err());
        settings.password = Some(Zeroizing::new("hunter2-secret".into()));
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
