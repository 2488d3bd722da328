//! The access-log data model. The service fills and stores these records; this crate only
//! reads them, so every type here is plain data with stable textual codes.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

/// One entry of the append-only access log.
///
/// Records never carry examinee personal data: identifiers are the relay's own opaque ids,
/// and [`detail`](Self::detail) is a short non-personal remark such as an error code. The
/// exports nevertheless treat every text field as hostile and escape it for the target format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// Position in the append-only log; unique and increasing.
    pub seq: u64,
    /// When the event happened. Stored and exported in UTC with millisecond precision;
    /// see [`format_timestamp`](crate::format_timestamp).
    #[serde(with = "crate::timestamp::serde_millis")]
    pub at: OffsetDateTime,
    /// Organisation code of the actor (医療機関コード, 保険者番号, …), if it belongs to one.
    #[serde(default)]
    pub org: Option<String>,
    /// Who acted.
    pub actor: Actor,
    /// Opaque session id for interactive (human) access.
    #[serde(default)]
    pub session: Option<String>,
    /// Network source as `ip:port` (`[v6]:port` for IPv6), when the event was a request.
    #[serde(default)]
    pub source: Option<String>,
    /// What was done.
    pub action: Action,
    /// The objects acted upon, in the order the service listed them.
    #[serde(default)]
    pub objects: Vec<ObjectRef>,
    /// How it ended.
    pub outcome: Outcome,
    /// HTTP status code when the event was a request.
    #[serde(default)]
    pub status: Option<u16>,
    /// Payload bytes transferred, for uploads and downloads.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Short non-personal remark, e.g. an error code.
    #[serde(default)]
    pub detail: Option<String>,
}

/// The party that performed an action.
///
/// JSON form (internally tagged): `{"type":"user","login":"…"}`,
/// `{"type":"certificate","serial":"…","device":"…"}`, `{"type":"system","task":"…"}`,
/// `{"type":"anonymous"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// A person signed in to the web interface.
    User {
        /// Login name.
        login: String,
    },
    /// A device or program authenticated with a client certificate (mutual TLS).
    Certificate {
        /// Certificate serial number as the PKI prints it (hex).
        serial: String,
        /// Registered device name the certificate was issued to.
        device: String,
    },
    /// A background task of the relay itself (retention sweep, conversion worker, …).
    System {
        /// Task name.
        task: String,
    },
    /// An unauthenticated request, e.g. a failed login for an unknown account.
    Anonymous,
}

impl Actor {
    /// Stable code of the actor kind: `user`, `certificate`, `system` or `anonymous`.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User { .. } => "user",
            Actor::Certificate { .. } => "certificate",
            Actor::System { .. } => "system",
            Actor::Anonymous => "anonymous",
        }
    }

    /// The primary identifier: login, certificate serial or task name; `None` for
    /// [`Actor::Anonymous`].
    pub fn id(&self) -> Option<&str> {
        match self {
            Actor::User { login } => Some(login),
            Actor::Certificate { serial, .. } => Some(serial),
            Actor::System { task } => Some(task),
            Actor::Anonymous => None,
        }
    }

    /// The device name of a certificate actor.
    pub fn device(&self) -> Option<&str> {
        match self {
            Actor::Certificate { device, .. } => Some(device),
            _ => None,
        }
    }
}

/// What was done. Every action has a stable snake_case code (see [`Action::code`]) that is
/// used in all exports and in the JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// Successful sign-in.
    Login,
    /// Rejected sign-in attempt.
    LoginFailed,
    /// Sign-out (explicit or by session expiry).
    Logout,
    /// A sender uploaded a submission.
    SubmissionCreate,
    /// A submission was looked at.
    SubmissionView,
    /// The sender withdrew a submission before it was fetched.
    SubmissionWithdraw,
    /// A recipient listed its deliveries.
    DeliveryList,
    /// A delivery's details were looked at.
    DeliveryView,
    /// A recipient downloaded a delivery.
    DeliveryDownload,
    /// A recipient confirmed receipt of a delivery.
    DeliveryConfirm,
    /// A (conversion or validation) report was looked at.
    ReportView,
    /// A code-mapping table was uploaded.
    MapUpload,
    /// A code-mapping table was made the active one.
    MapActivate,
    /// The transparency ledger was read.
    LedgerRead,
    /// A client certificate was issued.
    CertificateIssue,
    /// A client certificate was revoked.
    CertificateRevoke,
    /// A user account was created.
    UserCreate,
    /// A user account was disabled.
    UserDisable,
    /// A user account was re-enabled.
    UserEnable,
    /// A user's TOTP second factor was reset.
    TotpReset,
    /// Data reached the end of its retention period and was removed.
    RetentionExpire,
    /// Data was cryptographically shredded (its keys destroyed).
    Shred,
    /// A file was converted between formats.
    Conversion,
    /// The relay raised a security alert.
    SecurityAlert,
    /// The access log itself was exported.
    AuditExport,
    /// Access-log entries past their retention period were removed (recorded in the ledger).
    AccessLogExpire,
    /// A receiving organisation's output formats or sealing recipients were read or changed.
    OrgUpdate,
    /// An action this version does not know by name. Its code is `other:` followed by the
    /// string.
    Other(String),
}

impl Action {
    /// Every action except [`Action::Other`], in declaration order.
    pub const KNOWN: [Action; 27] = [
        Action::Login,
        Action::LoginFailed,
        Action::Logout,
        Action::SubmissionCreate,
        Action::SubmissionView,
        Action::SubmissionWithdraw,
        Action::DeliveryList,
        Action::DeliveryView,
        Action::DeliveryDownload,
        Action::DeliveryConfirm,
        Action::ReportView,
        Action::MapUpload,
        Action::MapActivate,
        Action::LedgerRead,
        Action::CertificateIssue,
        Action::CertificateRevoke,
        Action::UserCreate,
        Action::UserDisable,
        Action::UserEnable,
        Action::TotpReset,
        Action::RetentionExpire,
        Action::Shred,
        Action::Conversion,
        Action::SecurityAlert,
        Action::AuditExport,
        Action::AccessLogExpire,
        Action::OrgUpdate,
    ];

    /// Prefix that marks the code of an [`Action::Other`].
    pub const OTHER_PREFIX: &'static str = "other:";

    /// Stable code, e.g. `delivery_download`; `other:<name>` for [`Action::Other`].
    pub fn code(&self) -> Cow<'static, str> {
        match self.known_code() {
            Some(code) => Cow::Borrowed(code),
            None => match self {
                Action::Other(name) => Cow::Owned(format!("{}{name}", Self::OTHER_PREFIX)),
                _ => unreachable!("known_code covers every named action"),
            },
        }
    }

    fn known_code(&self) -> Option<&'static str> {
        Some(match self {
            Action::Login => "login",
            Action::LoginFailed => "login_failed",
            Action::Logout => "logout",
            Action::SubmissionCreate => "submission_create",
            Action::SubmissionView => "submission_view",
            Action::SubmissionWithdraw => "submission_withdraw",
            Action::DeliveryList => "delivery_list",
            Action::DeliveryView => "delivery_view",
            Action::DeliveryDownload => "delivery_download",
            Action::DeliveryConfirm => "delivery_confirm",
            Action::ReportView => "report_view",
            Action::MapUpload => "map_upload",
            Action::MapActivate => "map_activate",
            Action::LedgerRead => "ledger_read",
            Action::CertificateIssue => "certificate_issue",
            Action::CertificateRevoke => "certificate_revoke",
            Action::UserCreate => "user_create",
            Action::UserDisable => "user_disable",
            Action::UserEnable => "user_enable",
            Action::TotpReset => "totp_reset",
            Action::RetentionExpire => "retention_expire",
            Action::Shred => "shred",
            Action::Conversion => "conversion",
            Action::SecurityAlert => "security_alert",
            Action::AuditExport => "audit_export",
            Action::AccessLogExpire => "access_log_expire",
            Action::OrgUpdate => "org_update",
            Action::Other(_) => return None,
        })
    }

    /// Parses a code produced by [`Action::code`].
    ///
    /// A code that is neither known nor `other:`-prefixed becomes `Other(code)`, so logs
    /// written by a newer relay that knows more actions still load; `code()` then renders it
    /// with the `other:` prefix.
    pub fn from_code(code: &str) -> Action {
        if let Some(known) = Self::KNOWN.iter().find(|a| a.known_code() == Some(code)) {
            return known.clone();
        }
        match code.strip_prefix(Self::OTHER_PREFIX) {
            Some(name) => Action::Other(name.to_owned()),
            None => Action::Other(code.to_owned()),
        }
    }

    /// Japanese label for people reading the CSV export.
    pub fn label_ja(&self) -> &'static str {
        match self {
            Action::Login => "ログイン",
            Action::LoginFailed => "ログイン失敗",
            Action::Logout => "ログアウト",
            Action::SubmissionCreate => "提出登録",
            Action::SubmissionView => "提出閲覧",
            Action::SubmissionWithdraw => "提出取下げ",
            Action::DeliveryList => "配信一覧",
            Action::DeliveryView => "配信閲覧",
            Action::DeliveryDownload => "配信ダウンロード",
            Action::DeliveryConfirm => "受領確認",
            Action::ReportView => "レポート閲覧",
            Action::MapUpload => "変換表登録",
            Action::MapActivate => "変換表有効化",
            Action::LedgerRead => "台帳参照",
            Action::CertificateIssue => "証明書発行",
            Action::CertificateRevoke => "証明書失効",
            Action::UserCreate => "利用者登録",
            Action::UserDisable => "利用者停止",
            Action::UserEnable => "利用者再開",
            Action::TotpReset => "二要素認証リセット",
            Action::RetentionExpire => "保存期間満了削除",
            Action::Shred => "完全消去",
            Action::Conversion => "形式変換",
            Action::SecurityAlert => "セキュリティ警告",
            Action::AuditExport => "アクセスログ出力",
            Action::AccessLogExpire => "アクセスログ保存期間満了削除",
            Action::OrgUpdate => "組織設定変更",
            Action::Other(_) => "その他",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.code())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Cow so that both borrowed and escaped (owned) JSON strings are accepted.
        let code = Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Action::from_code(&code))
    }
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done as requested.
    Success,
    /// Refused by authorisation or policy.
    Denied,
    /// The requested object does not exist (or is not visible to the actor).
    NotFound,
    /// An error prevented completion.
    Failed,
}

impl Outcome {
    /// All outcomes.
    pub const ALL: [Outcome; 4] = [
        Outcome::Success,
        Outcome::Denied,
        Outcome::NotFound,
        Outcome::Failed,
    ];

    /// Stable code: `success`, `denied`, `not_found`, `failed`.
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::NotFound => "not_found",
            Outcome::Failed => "failed",
        }
    }

    /// Japanese label for the CSV export.
    pub fn label_ja(self) -> &'static str {
        match self {
            Outcome::Success => "成功",
            Outcome::Denied => "拒否",
            Outcome::NotFound => "該当なし",
            Outcome::Failed => "失敗",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Kind of object an action touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// An uploaded checkup file set.
    Submission,
    /// A submission as addressed to one recipient.
    Delivery,
    /// A client certificate.
    Certificate,
    /// A user account.
    User,
    /// A code-mapping table used by conversion.
    Map,
    /// A conversion or validation report.
    Report,
    /// The transparency ledger (or an entry of it).
    Ledger,
}

impl ObjectKind {
    /// All kinds.
    pub const ALL: [ObjectKind; 7] = [
        ObjectKind::Submission,
        ObjectKind::Delivery,
        ObjectKind::Certificate,
        ObjectKind::User,
        ObjectKind::Map,
        ObjectKind::Report,
        ObjectKind::Ledger,
    ];

    /// Stable code, e.g. `submission`.
    pub fn code(self) -> &'static str {
        match self {
            ObjectKind::Submission => "submission",
            ObjectKind::Delivery => "delivery",
            ObjectKind::Certificate => "certificate",
            ObjectKind::User => "user",
            ObjectKind::Map => "map",
            ObjectKind::Report => "report",
            ObjectKind::Ledger => "ledger",
        }
    }

    /// Parses a code produced by [`ObjectKind::code`].
    pub fn from_code(code: &str) -> Option<ObjectKind> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// English name of the identifier, used as display text in the ATNA and FHIR exports.
    pub fn id_display(self) -> &'static str {
        match self {
            ObjectKind::Submission => "Submission ID",
            ObjectKind::Delivery => "Delivery ID",
            ObjectKind::Certificate => "Certificate serial number",
            ObjectKind::User => "User login",
            ObjectKind::Map => "Mapping table ID",
            ObjectKind::Report => "Report ID",
            ObjectKind::Ledger => "Ledger entry ID",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Reference to one object an action touched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// What kind of object.
    pub kind: ObjectKind,
    /// The relay's opaque id for it.
    pub id: String,
}

impl ObjectRef {
    /// Convenience constructor.
    pub fn new(kind: ObjectKind, id: impl Into<String>) -> Self {
        ObjectRef {
            kind,
            id: id.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for action in Action::KNOWN {
            let code = action.code();
            assert!(seen.insert(code.clone()), "duplicate code {code}");
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code} is not snake_case"
            );
            assert_eq!(Action::from_code(&code), action);
        }
    }

    #[test]
    fn other_actions_round_trip_even_when_named_like_known_ones() {
        for name in ["", "login", "other:x", "削除", "a\nb"] {
            let action = Action::Other(name.to_owned());
            assert_eq!(Action::from_code(&action.code()), action);
        }
        // Unknown, unprefixed codes (from a newer writer) are kept.
        assert_eq!(
            Action::from_code("future_thing"),
            Action::Other("future_thing".into())
        );
    }

    #[test]
    fn object_kind_codes_round_trip() {
        for kind in ObjectKind::ALL {
            assert_eq!(ObjectKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(ObjectKind::from_code("nope"), None);
    }
}
