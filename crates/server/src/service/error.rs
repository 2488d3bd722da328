//! What a use case refuses, typed: each rule is its own variant, so a front end can say it
//! in its own words and a test can match on it. Storage and vault failures pass through as
//! theirs.

use kenshin_auth::{Action, Resource};
use kenshin_store::StoreError;

use crate::vault::VaultError;
use kenshin_auth::Role;
use kenshin_core::OrgKind;

/// Why a use case did not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist, or it is another organisation's: nothing tells them apart.
    #[error("no such object")]
    NotFound,
    /// The caller's role may not do this (the permission matrix).
    #[error("this role may not {} {} (see the permission matrix)", .action.as_str(), .resource.as_str())]
    NotPermitted { resource: Resource, action: Action },
    /// A rule about who may ask, or about the state things are in.
    #[error("{0}")]
    Refused(Refusal),
    /// A person's account could not be created as asked.
    #[error("{0}")]
    Account(#[from] AccountProblem),
    /// A map file that does not parse, with its line.
    #[error("{0}")]
    Map(#[from] kenshin_convert::map::MapError),
    /// More bytes than the use case takes.
    #[error("at most {limit} bytes are accepted")]
    TooLarge { limit: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    /// Issuing or revoking a certificate failed.
    #[error(transparent)]
    Certificate(#[from] crate::service::certificates::CertificateError),
    /// Something that should not fail did (a worker thread, randomness, a key that does not
    /// unwrap); the server log has the details.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// The rules a use case enforces beyond the permission matrix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The login, the password or the second factor is wrong, the account is locked or
    /// disabled, or the source is throttled: one answer for all.
    #[error("the login, password or code is not correct")]
    InvalidCredentials,
    /// The client certificate is not registered.
    #[error("this client certificate is not registered with the service")]
    CertificateUnknown,
    #[error("this client certificate has been revoked")]
    CertificateRevoked,
    #[error("this client certificate has expired")]
    CertificateExpired,
    /// A person's certificate whose person is disabled or expired.
    #[error("the account this certificate was issued to is disabled or expired")]
    CertificateOwnerInactive,
    /// A person's certificate presented with another person's session.
    #[error("this client certificate belongs to another person than the one logged in")]
    CertificateOfAnotherPerson,
    /// The person must present their own client certificate and did not.
    #[error("you must present your own client certificate")]
    PersonCertificateRequired,
    /// Neither a certificate nor a session.
    #[error("a client certificate or a person's session is required")]
    NoCredential,
    /// Only a person's certificate, without that person's session.
    #[error("this certificate belongs to a person: it works together with that person's login")]
    PersonCertificateAlone,
    /// The person has not finished setting up (second factor, initial password).
    #[error("finish setting up the account first")]
    SetupUnfinished,
    /// A state-changing request without the session's CSRF token.
    #[error("the request lacks this session's CSRF token")]
    CsrfMissing,
    /// Accounts are managed by people, not by certificates.
    #[error("accounts are managed by a person signed in with two factors")]
    PersonOnly,
    /// An administrator changing their own account.
    #[error("you cannot change your own account this way")]
    OwnAccount,
    /// A last day of validity that is not `YYYY-MM-DD`.
    #[error("valid_until: expected YYYY-MM-DD")]
    LastDay,
    /// Only sending institutions have map files.
    #[error("only sending institutions have map files")]
    NotASender,
    /// A map file without its `setting` rows for id and version.
    #[error("the map needs `setting` rows for id and version")]
    MapUnnamed,
    /// No route from the sender to the named receiver (or no such receiver).
    #[error("no route from {sender} to {receiver}")]
    NoRoute { sender: String, receiver: String },
    /// A file to convert from a sender without a convert route.
    #[error("{sender} has no conversion route; name a receiver with `to`")]
    NoConvertRoute { sender: String },
    /// An export to convert without an active map.
    #[error("no active map file (変換テーブル) for this institution")]
    NoActiveMap,
    /// Held records asked for after they left the sender's keeping.
    #[error("{}", no_longer_held(*.0))]
    NoLongerHeld(kenshin_core::HeldState),
    /// The report was destroyed at the end of the retention period.
    #[error("変換レポートは保存期間が過ぎたため消去しました / the conversion report was destroyed at the end of the retention period")]
    ReportDestroyed,
    /// A report asked of a submission that has none.
    #[error("this submission has no conversion report")]
    NoReport,
    /// An organisation of a kind that does not send (insurers, the operator).
    #[error("organisations of kind {0} ({ja}) cannot send files", ja = .0.label_ja())]
    CannotSend(OrgKind),
    /// A proof asked for a tree larger than the latest checkpoint's.
    #[error("the ledger has no checkpoint of size {size} (latest: {latest})")]
    NoCheckpointOfSize { size: u64, latest: u64 },
    /// An inclusion proof of an entry not in the tree asked for.
    #[error("index must be smaller than size")]
    IndexNotBelowSize,
    /// A consistency proof from a larger tree to a smaller one.
    #[error("from must not be larger than to")]
    FromAboveTo,
    /// A second factor enrolled already.
    #[error("a second factor is already enrolled")]
    AlreadyEnrolled,
    /// Confirming an enrolment never started.
    #[error("no enrolment was started")]
    NoEnrolment,
    /// Output formats and sealing keys belong to organisations that receive.
    #[error("受け取る組織（保険者・代行機関・医療機関）だけが出力形式と暗号化の公開鍵を設定できます / only receiving organisations choose output formats and recipients ({0})")]
    NotAReceiver(OrgKind),
    /// An output format the service does not write.
    #[error("出力形式「{0}」はありません。std-csv、mhlw-xml、fhir から選んでください / unknown output format {0:?} (known: std-csv, mhlw-xml, fhir)")]
    UnknownOutputFormat(String),
    /// No output format chosen at all.
    #[error("出力形式を 1 つ以上選んでください / choose at least one output format")]
    NoOutputFormat,
    /// An age recipient that cannot be used.
    #[error("{0}")]
    BadRecipient(RecipientProblem),
    /// A search's day that is not `YYYY-MM-DD`.
    #[error("日付は YYYY-MM-DD の形で指定してください / {0}: expected YYYY-MM-DD")]
    BadDate(&'static str),
    /// A search's 保険者番号 that is not 8 digits.
    #[error("保険者番号は 8 桁の数字です / an insurer number has 8 digits")]
    BadInsurerNumber,
    /// A notification setting or webhook endpoint that cannot be used.
    #[error("{0}")]
    BadNotification(NotificationProblem),
    /// Passkeys cannot be used on this relay (its address is not a domain name).
    #[error("この中継サービスではパスキーを使えません（アドレスがドメイン名ではありません） / passkeys are off on this relay (its address is not a domain name)")]
    PasskeysOff,
    /// A person has as many passkeys as allowed.
    #[error("パスキーは 1 人 {0} 個までです。使っていないものを削除してください / at most {0} passkeys per person")]
    TooManyPasskeys(usize),
    /// A passkey's name is empty or too long.
    #[error("パスキーの名前は 1〜100 文字で入力してください（例: 事務所のPC） / a passkey's name is 1 to 100 characters")]
    PasskeyLabel,
    /// The browser's answer does not belong to a registration begun in this session, or the
    /// authenticator's answer does not verify.
    #[error("パスキーの登録を確認できませんでした。もう一度「パスキーを登録」からやり直してください / the passkey registration could not be verified; start again")]
    PasskeyCeremony,
    /// An organisation, route or delegation the operator asked for that cannot be.
    #[error("{0}")]
    Directory(DirectoryProblem),
}

/// Why the operator's change to the directory was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryProblem {
    #[error("組織コード「{0}」は使えません。半角の英数字・ハイフン・下線で 32 文字まで（例: ins-0002、医療機関番号）で指定してください / not an organisation code (1 to 32 of A-Z a-z 0-9 - _): {0:?}")]
    Code(String),
    #[error("組織の種類「{0}」はありません。institution（健診機関）・insurer（保険者）・agent（代行機関）・clinic（医療機関）から選んでください / unknown organisation kind {0:?}")]
    Kind(String),
    #[error("組織名は 1〜200 文字で入力してください / a name is 1 to 200 characters")]
    Name,
    #[error(
        "保険者番号「{0}」は 8 桁の数字ではありません / not an insurer number (8 digits): {0:?}"
    )]
    InsurerNumber(String),
    #[error("保険者番号は保険者（insurer）の組織にだけ登録できます / only insurers hold insurer numbers")]
    NumbersOnlyForInsurers,
    #[error("組織コード「{0}」は登録済みです / an organisation {0} already exists")]
    Exists(String),
    #[error("組織「{0}」はありません / no organisation {0}")]
    NoSuchOrg(String),
    #[error("「{0}」は送信しない種類の組織です（送信できるのは健診機関と医療機関） / {0} does not send files")]
    NotASender(String),
    #[error("「{0}」は受信しない種類の組織です（受信できるのは保険者・代行機関・医療機関） / {0} does not receive files")]
    NotAReceiver(String),
    #[error("送信元と送信先は別の組織にしてください / a route needs two different organisations")]
    SameOrg,
    #[error("{from} から {to} への経路は登録済みです。変換の有無を変えるには経路を変更してください / a route from {from} to {to} already exists; change its mode instead")]
    RouteExists { from: String, to: String },
    #[error("{from} から {to} への経路はありません / no route from {from} to {to}")]
    NoRoute { from: String, to: String },
    #[error("委託は保険者（insurer）から代行機関（agent）へ設定します / delegation is from an insurer to an agent")]
    Delegation,
    #[error("ログインID「{0}」は使われています / the login {0} is taken")]
    LoginTaken(String),
}

/// Why a notification setting or a webhook endpoint was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotificationProblem {
    #[error(
        "メールアドレスとして読めません（例: tanaka@example.jp） / not an e-mail address: {0}"
    )]
    Email(String),
    #[error("通知の種類「{0}」はありません / unknown notification topic {0:?}")]
    Topic(String),
    #[error("通知の種類を 1 つ以上選んでください / choose at least one topic")]
    NoTopic,
    #[error("送信先 URL を使えません: {0} / the endpoint URL cannot be used: {0}")]
    Url(String),
    #[error("送信先は 1 組織 {0} 件までです / at most {0} endpoints per organisation")]
    TooManyEndpoints(usize),
}

/// Why an age recipient was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecipientProblem {
    #[error("age の公開鍵として読めません。age-keygen が表示する age1…（または age1pq1…）で始まる公開鍵を貼り付けてください。秘密鍵（AGE-SECRET-KEY-…）は貼り付けないでください / not an age recipient: paste the public key age-keygen prints (age1… or age1pq1…), never the secret key")]
    NotARecipient,
    #[error("耐量子（age1pq1…）と従来型（age1…）の公開鍵は同じ組織に混在できません。どちらかにそろえてください / post-quantum and classical recipients cannot be mixed in one organisation")]
    MixedKinds,
    #[error(
        "公開鍵は {} 個までです / at most {} recipients",
        kenshin_seal::MAX_RECIPIENTS,
        kenshin_seal::MAX_RECIPIENTS
    )]
    TooMany,
    #[error("この公開鍵は登録済みです / this recipient is registered already")]
    Duplicate,
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Error {
        Error::Refused(refusal)
    }
}

impl Error {
    /// The refusal, if this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Refused(refusal) => Some(refusal),
            _ => None,
        }
    }
}

/// Why an account or a device's roles cannot be as asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountProblem {
    #[error("a login id is 1 to 64 characters of A-Z a-z 0-9 . _ - @")]
    Login,
    #[error("a name is 1 to 100 characters")]
    Name,
    #[error("role: admin, sender, receiver, viewer, ops_admin or auditor")]
    Role,
    #[error("the role {role} does not exist in organisations of kind {kind}")]
    RoleNotInKind { role: String, kind: OrgKind },
    #[error("role {0:?}: a device certificate may be sender, receiver or viewer")]
    DeviceRoleUnknown(String),
    #[error("a device certificate of a {0} organisation needs at least one role")]
    DeviceWithoutRole(OrgKind),
    #[error(
        "role {0}: a device certificate may be sender, receiver or viewer; \
         managing people and certificates is for named persons"
    )]
    PersonRoleOnDevice(Role),
}

fn no_longer_held(state: kenshin_core::HeldState) -> &'static str {
    match state {
        kenshin_core::HeldState::Released => {
            "これらの記録は配信先に届けられました / the records were released to their receiver"
        }
        kenshin_core::HeldState::Expired => {
            "保存期間が過ぎたため消去しました / the records were destroyed at the end of the retention period"
        }
        _ => "ファイルの取り下げとともに消去しました / the records were destroyed when the file was withdrawn",
    }
}
