//! The content of a notice and the JSON a webhook receives.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// What a notice is about. The names are the webhook's `type` and what people choose; they
/// never change once published.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum Topic {
    /// A delivery is ready for the receiver (a pass-through file, a converted output, or
    /// held records released to it).
    #[serde(rename = "delivery.arrived")]
    DeliveryArrived,
    /// A sender's file was converted: records read, delivered, returned, held.
    #[serde(rename = "conversion.finished")]
    ConversionFinished,
    /// Records of a sender's file were held because no route takes their 保険者番号 yet
    /// (`reason` `unrouted`), or returned to it because they cannot be identified or routed
    /// (`reason` `rejected`).
    #[serde(rename = "records.held")]
    RecordsHeld,
    /// A sender's file could not be converted at all; nothing was delivered.
    #[serde(rename = "conversion.failed")]
    ConversionFailed,
    /// A receiver downloaded a delivery (told to the sender).
    #[serde(rename = "delivery.downloaded")]
    DeliveryDownloaded,
    /// A receiver confirmed receipt, 受信完了 (told to the sender).
    #[serde(rename = "delivery.confirmed")]
    DeliveryConfirmed,
    /// A delivery nobody confirmed is destroyed in a few days (the reminder days).
    #[serde(rename = "delivery.expiring")]
    DeliveryExpiring,
    /// A delivery was not confirmed in time and was destroyed.
    #[serde(rename = "delivery.expired")]
    DeliveryExpired,
    /// A certificate of the organisation or of one of its people expires within 30 days
    /// (and again within 7).
    #[serde(rename = "certificate.expiring")]
    CertificateExpiring,
    /// A person's account was locked after failed logins.
    #[serde(rename = "account.locked")]
    AccountLocked,
    /// A test an administrator sent to a webhook endpoint.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl Topic {
    /// Every topic a person or an endpoint can choose (the test is sent on request only).
    pub const CHOOSABLE: [Topic; 10] = [
        Topic::DeliveryArrived,
        Topic::DeliveryExpiring,
        Topic::DeliveryExpired,
        Topic::ConversionFinished,
        Topic::RecordsHeld,
        Topic::ConversionFailed,
        Topic::DeliveryDownloaded,
        Topic::DeliveryConfirmed,
        Topic::CertificateExpiring,
        Topic::AccountLocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::DeliveryArrived => "delivery.arrived",
            Topic::ConversionFinished => "conversion.finished",
            Topic::RecordsHeld => "records.held",
            Topic::ConversionFailed => "conversion.failed",
            Topic::DeliveryDownloaded => "delivery.downloaded",
            Topic::DeliveryConfirmed => "delivery.confirmed",
            Topic::DeliveryExpiring => "delivery.expiring",
            Topic::DeliveryExpired => "delivery.expired",
            Topic::CertificateExpiring => "certificate.expiring",
            Topic::AccountLocked => "account.locked",
            Topic::WebhookTest => "webhook.test",
        }
    }

    /// The topic's name for people, in `language`.
    pub fn label(self, language: Language) -> &'static str {
        let (ja, en) = match self {
            Topic::DeliveryArrived => ("ファイルの到着", "A delivery arrived"),
            Topic::ConversionFinished => ("変換の完了(件数)", "Conversion finished (counts)"),
            Topic::RecordsHeld => ("保留・差し戻しのレコード", "Records held or returned"),
            Topic::ConversionFailed => ("変換できなかったファイル", "Conversion failed"),
            Topic::DeliveryDownloaded => ("受信者のダウンロード", "Downloaded by the receiver"),
            Topic::DeliveryConfirmed => ("受信完了", "Receipt confirmed (受信完了)"),
            Topic::DeliveryExpiring => (
                "未確認ファイルの消去前のお知らせ",
                "Reminder before an unconfirmed delivery is destroyed",
            ),
            Topic::DeliveryExpired => ("期限切れによる消去", "Expired and destroyed"),
            Topic::CertificateExpiring => (
                "証明書の期限(30日前と7日前)",
                "Certificate expiring (30 and 7 days before)",
            ),
            Topic::AccountLocked => ("アカウントのロック", "Account locked"),
            Topic::WebhookTest => ("テスト送信", "Test send"),
        };
        match language {
            Language::Ja => ja,
            Language::En => en,
        }
    }

    /// Topics from a comma list (as stored); unknown names are an error.
    pub fn parse_list(text: &str) -> Result<Vec<Topic>, UnknownTopic> {
        let mut topics = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let topic: Topic = name.parse()?;
            if !topics.contains(&topic) {
                topics.push(topic);
            }
        }
        topics.sort();
        Ok(topics)
    }

    /// A comma list of `topics` (as stored).
    pub fn join(topics: &[Topic]) -> String {
        topics
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A topic name that is not one of [`Topic`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown notification topic {0:?}")]
pub struct UnknownTopic(pub String);

impl FromStr for Topic {
    type Err = UnknownTopic;

    fn from_str(s: &str) -> Result<Topic, UnknownTopic> {
        [Topic::WebhookTest]
            .into_iter()
            .chain(Topic::CHOOSABLE)
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTopic(s.to_owned()))
    }
}

/// The language of an e-mail: Japanese unless the person chose English.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Ja,
    En,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Ja => "ja",
            Language::En => "en",
        }
    }

    /// `en` is English; anything else is Japanese.
    pub fn from_code(code: &str) -> Language {
        if code.trim().eq_ignore_ascii_case("en") {
            Language::En
        } else {
            Language::Ja
        }
    }
}

/// An organisation as a notice names it: its code and name (both public within the relay).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NoticeOrg {
    /// The organisation's code (医療機関番号, 保険者番号 or the code it was registered with).
    pub code: String,
    pub name: String,
}

/// Record counts of a conversion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    /// Records read from the sender's file.
    pub records_in: u64,
    /// Records delivered to receivers.
    pub records_out: u64,
    /// Records returned to the sender (rejected by a check or refused by a format).
    pub records_rejected: u64,
    /// Records held: no route takes their 保険者番号, or they cannot be identified.
    pub records_unrouted: u64,
}

/// What a notice says. Identifiers, organisations, counts, states and times only: no field
/// can carry an examinee's data, a file's name or its content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Notice {
    /// The organisation told.
    pub organisation: Option<NoticeOrg>,
    /// The ledger event the notice is about (its sequence number, 1-based), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_seq: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<NoticeOrg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<NoticeOrg>,
    /// The format of a converted delivery (`std-csv`, `mhlw-xml`, `fhir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The 保険者番号 a converted delivery is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurer_number: Option<String>,
    /// The delivery's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    /// Why, as a stable token (`not_confirmed`, the reason a conversion failed, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the delivery is (or was) destroyed, or the certificate expires.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    /// Whole days left until `expires_at`, for reminders and certificate warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_left: Option<u32>,
    /// The serial number of an expiring certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_serial: Option<String>,
    /// Whose certificate (the organisation's machine certificate when absent): a person's
    /// number in the relay, never a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<i64>,
    /// Until when a locked account stays locked.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub locked_until: Option<OffsetDateTime>,
    /// The page where the matter can be seen and acted on (login required).
    pub url: String,
}

/// The JSON body of a webhook: `{"type", "timestamp", "data"}`, as the Standard Webhooks
/// specification recommends. The `webhook-id` header is the notification's id, the same on
/// every retry, so a receiver can drop duplicates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Payload {
    #[serde(rename = "type")]
    pub topic: Topic,
    /// When the notice was made (not when this attempt was sent).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: OffsetDateTime,
    pub data: Notice,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_round_trip_through_text_and_json() {
        for topic in Topic::CHOOSABLE.into_iter().chain([Topic::WebhookTest]) {
            assert_eq!(topic.as_str().parse::<Topic>().unwrap(), topic);
            let json = serde_json::to_string(&topic).unwrap();
            assert_eq!(json, format!("\"{}\"", topic.as_str()));
            assert!(!topic.label(Language::Ja).is_empty());
            assert!(topic.label(Language::En).is_ascii() || topic == Topic::DeliveryConfirmed);
        }
        assert!("delivery.gone".parse::<Topic>().is_err());
    }

    #[test]
    fn lists_are_sorted_without_repeats() {
        let topics =
            Topic::parse_list("delivery.expired, delivery.arrived,delivery.expired").unwrap();
        assert_eq!(topics, vec![Topic::DeliveryArrived, Topic::DeliveryExpired]);
        assert_eq!(Topic::join(&topics), "delivery.arrived,delivery.expired");
        assert!(Topic::parse_list("delivery.arrived,nope").is_err());
        assert!(Topic::parse_list("").unwrap().is_empty());
    }

    #[test]
    fn the_payload_is_type_timestamp_data() {
        let payload = Payload {
            topic: Topic::DeliveryArrived,
            timestamp: time::macros::datetime!(2026-12-01 09:00 UTC),
            data: Notice {
                delivery_id: Some("d-1".into()),
                url: "https://relay.example/inbox".into(),
                ..Notice::default()
            },
        };
        let json: serde_json::Value = serde_json::to_value(&payload).unwrap();
        assert_eq!(json["type"], "delivery.arrived");
        assert_eq!(json["timestamp"], "2026-12-01T09:00:00Z");
        assert_eq!(json["data"]["delivery_id"], "d-1");
        assert!(json["data"].get("counts").is_none());
        let back: Payload = serde_json::from_value(json).unwrap();
        assert_eq!(back, payload);
    }
}
