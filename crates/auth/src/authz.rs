//! The authorisation matrix: which role, in which kind of organisation, may do what to which
//! kind of resource.
//!
//! [`MATRIX`] is the single source of truth. [`allowed`] reads it, [`matrix_markdown`]
//! renders it for the documentation, and the tests walk every combination. Anything not
//! granted by a rule is denied.
//!
//! # Scope
//!
//! `allowed` answers "may a user with this role, in an organisation of this kind, perform this
//! action on this kind of resource *at all*". The service must still check that the particular
//! object belongs to the user's organisation (a sender reads *its own* submissions; a receiver
//! confirms deliveries *addressed to it*), except for operator roles on operator-visible
//! metadata. A user with several roles is allowed what any of them allows.
//!
//! # Operator blindness
//!
//! The operator runs the relay but never sees health data: no rule gives an operator role
//! anything on [`Resource::DeliveryContent`] or [`Resource::Report`] (a conversion report
//! lists rejected records, which are personal data). Operator staff see metadata: who sent
//! how much to whom, when, and whether it was confirmed. Operator roles also have no rights
//! in other organisations, and organisation roles none in the operator organisation.
//!
//! # Separation of duties
//!
//! An organisation `admin` manages accounts, certificates and settings of the organisation
//! and can see its metadata, audit log and usage, but does not handle health data itself:
//! a person who must also send or receive is given the `sender` or `receiver` role as well.

use std::fmt;
use std::fmt::Write as _;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $( $(#[$vmeta])* $variant, )+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The stable snake_case name (as in JSON and the database).
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text, )+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or(UnknownName { kind: stringify!($name) })
            }
        }
    };
}

/// A name that is not one of the values of the enum named by `kind`.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("unknown {kind} name")]
pub struct UnknownName {
    /// Which enum.
    pub kind: &'static str,
}

named_enum! {
    /// A user's role.
    pub enum Role {
        /// Organisation administrator: users, certificates, settings; metadata, audit log.
        Admin = "admin",
        /// Uploads files (健診機関, 医療機関).
        Sender = "sender",
        /// Downloads and confirms deliveries (健診実施主体, 代行機関, 医療機関).
        Receiver = "receiver",
        /// Read-only view of the organisation's metadata.
        Viewer = "viewer",
        /// Operator administrator: organisations, routes, users, certificates; metadata.
        OpsAdmin = "ops_admin",
        /// Operator auditor: reads audit log, ledger, usage and metadata; changes nothing.
        Auditor = "auditor",
    }
}

impl Role {
    /// Whether this is a role of the operator's staff.
    pub fn is_operator(self) -> bool {
        matches!(self, Role::OpsAdmin | Role::Auditor)
    }

    /// Whether a machine (a device's client certificate) may hold this role. Machines send,
    /// receive or read metadata and the audit trail for their organisation; managing people
    /// and certificates, and every operator role, stay with named persons.
    pub fn is_machine_role(self) -> bool {
        matches!(self, Role::Sender | Role::Receiver | Role::Viewer)
    }

    /// The roles a device certificate gets when none are named at issue: what an
    /// organisation of this kind exchanges (a 医療機関 both sends and receives).
    pub fn machine_defaults(kind: OrgKindLite) -> &'static [Role] {
        match kind {
            OrgKindLite::Institution => &[Role::Sender],
            OrgKindLite::Insurer | OrgKindLite::Agent => &[Role::Receiver],
            OrgKindLite::Clinic => &[Role::Sender, Role::Receiver],
            OrgKindLite::Operator => &[],
        }
    }

    /// The kinds of organisation in which this role can be held at all.
    pub fn org_kinds(self) -> Kinds {
        match self {
            Role::Admin | Role::Viewer => Kinds::ORGS,
            Role::Sender => Kinds::SENDERS,
            Role::Receiver => Kinds::RECEIVERS,
            Role::OpsAdmin | Role::Auditor => Kinds::OPERATOR,
        }
    }
}

named_enum! {
    /// The kind of the user's organisation. Mirrors `kenshin_core::OrgKind` value for value
    /// (same names), without depending on it.
    pub enum OrgKindLite {
        /// 健診機関: sends result files.
        Institution = "institution",
        /// 健診実施主体 (保険者/事業者): receives.
        Insurer = "insurer",
        /// 代行機関: receives on behalf of insurers.
        Agent = "agent",
        /// 医療機関: sends and receives.
        Clinic = "clinic",
        /// 運用者: runs the service.
        Operator = "operator",
    }
}

named_enum! {
    /// A kind of resource.
    pub enum Resource {
        /// An upload and its metadata (name, size, receipt, state).
        Submission = "submission",
        /// A delivery's metadata (receiver, state, 受信完了).
        Delivery = "delivery",
        /// The file a delivery carries: health data.
        DeliveryContent = "delivery_content",
        /// A conversion report: lists rejected records, so health data.
        Report = "report",
        /// Conversion map files of a sender.
        Map = "map",
        /// The transparency ledger: entries, proofs, checkpoints.
        Ledger = "ledger",
        /// The audit log (event record).
        AuditLog = "audit_log",
        /// User accounts.
        User = "user",
        /// Client certificates.
        Certificate = "certificate",
        /// Routes between organisations.
        Route = "route",
        /// Organisations (the directory and their settings).
        Org = "org",
        /// Usage counts (billing).
        Usage = "usage",
        /// Service health and operational status.
        Health = "health",
    }
}

named_enum! {
    /// An action on a resource.
    pub enum Action {
        /// Create (upload, add).
        Create = "create",
        /// Read or list.
        Read = "read",
        /// Change.
        Update = "update",
        /// Delete, withdraw, revoke.
        Delete = "delete",
        /// Fetch content as a file.
        Download = "download",
        /// Confirm receipt (受信完了).
        Confirm = "confirm",
        /// Export in bulk (CSV, JSON).
        Export = "export",
    }
}

/// A set of organisation kinds, as a bit set usable in `const` context.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kinds(u8);

impl Kinds {
    const fn bit(kind: OrgKindLite) -> u8 {
        1 << kind as u8
    }

    /// 健診機関 and 医療機関: the kinds that send.
    pub const SENDERS: Kinds =
        Kinds(Self::bit(OrgKindLite::Institution) | Self::bit(OrgKindLite::Clinic));
    /// 健診実施主体, 代行機関 and 医療機関: the kinds that receive.
    pub const RECEIVERS: Kinds = Kinds(
        Self::bit(OrgKindLite::Insurer)
            | Self::bit(OrgKindLite::Agent)
            | Self::bit(OrgKindLite::Clinic),
    );
    /// Every kind but the operator.
    pub const ORGS: Kinds = Kinds(Self::SENDERS.0 | Self::RECEIVERS.0);
    /// The operator only.
    pub const OPERATOR: Kinds = Kinds(Self::bit(OrgKindLite::Operator));

    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: OrgKindLite) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    /// The kinds in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = OrgKindLite> {
        OrgKindLite::ALL
            .iter()
            .copied()
            .filter(move |&k| self.contains(k))
    }
}

impl fmt::Debug for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A set of actions, as a bit set usable in `const` context.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Actions(u8);

impl Actions {
    const fn of(actions: &[Action]) -> Actions {
        let mut bits = 0u8;
        let mut i = 0;
        while i < actions.len() {
            bits |= 1 << actions[i] as u8;
            i += 1;
        }
        Actions(bits)
    }

    /// Whether `action` is in the set.
    pub const fn contains(self, action: Action) -> bool {
        self.0 & (1 << action as u8) != 0
    }

    /// The actions in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL
            .iter()
            .copied()
            .filter(move |&a| self.contains(a))
    }
}

impl fmt::Debug for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// One grant: `role`, in an organisation of one of `kinds`, may do `actions` to `resource`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The role.
    pub role: Role,
    /// The organisation kinds the grant applies in.
    pub kinds: Kinds,
    /// The resource.
    pub resource: Resource,
    /// The actions granted.
    pub actions: Actions,
}

const fn rule(role: Role, kinds: Kinds, resource: Resource, actions: &[Action]) -> Rule {
    Rule {
        role,
        kinds,
        resource,
        actions: Actions::of(actions),
    }
}

use Action::{Confirm, Create, Delete, Download, Export, Read, Update};
use Resource as R;
use Role::{Admin, Auditor, OpsAdmin, Receiver, Sender, Viewer};

/// Every grant there is. Whatever is not here is denied.
pub const MATRIX: &[Rule] = &[
    // --- Organisation administrator -------------------------------------------------------
    rule(Admin, Kinds::SENDERS, R::Submission, &[Read]),
    rule(Admin, Kinds::ORGS, R::Delivery, &[Read]),
    rule(
        Admin,
        Kinds::SENDERS,
        R::Map,
        &[Create, Read, Update, Delete, Export],
    ),
    rule(Admin, Kinds::ORGS, R::Ledger, &[Read, Export]),
    rule(Admin, Kinds::ORGS, R::AuditLog, &[Read, Export]),
    rule(Admin, Kinds::ORGS, R::User, &[Create, Read, Update, Delete]),
    rule(
        Admin,
        Kinds::ORGS,
        R::Certificate,
        &[Create, Read, Update, Delete],
    ),
    rule(Admin, Kinds::ORGS, R::Route, &[Read]),
    rule(Admin, Kinds::ORGS, R::Org, &[Read, Update]),
    rule(Admin, Kinds::ORGS, R::Usage, &[Read, Export]),
    // --- Sender ---------------------------------------------------------------------------
    rule(
        Sender,
        Kinds::SENDERS,
        R::Submission,
        &[Create, Read, Delete],
    ),
    rule(Sender, Kinds::SENDERS, R::Delivery, &[Read]),
    rule(Sender, Kinds::SENDERS, R::Report, &[Read, Download]),
    rule(
        Sender,
        Kinds::SENDERS,
        R::Map,
        &[Create, Read, Update, Export],
    ),
    rule(Sender, Kinds::SENDERS, R::Ledger, &[Read]),
    rule(Sender, Kinds::SENDERS, R::Route, &[Read]),
    rule(Sender, Kinds::SENDERS, R::Org, &[Read]),
    // --- Receiver -------------------------------------------------------------------------
    rule(Receiver, Kinds::RECEIVERS, R::Delivery, &[Read, Confirm]),
    rule(
        Receiver,
        Kinds::RECEIVERS,
        R::DeliveryContent,
        &[Read, Download],
    ),
    rule(Receiver, Kinds::RECEIVERS, R::Ledger, &[Read]),
    rule(Receiver, Kinds::RECEIVERS, R::Route, &[Read]),
    rule(Receiver, Kinds::RECEIVERS, R::Org, &[Read]),
    // --- Viewer: metadata only ------------------------------------------------------------
    rule(Viewer, Kinds::SENDERS, R::Submission, &[Read]),
    rule(Viewer, Kinds::ORGS, R::Delivery, &[Read]),
    rule(Viewer, Kinds::ORGS, R::Ledger, &[Read]),
    rule(Viewer, Kinds::ORGS, R::Route, &[Read]),
    rule(Viewer, Kinds::ORGS, R::Org, &[Read]),
    rule(Viewer, Kinds::ORGS, R::Usage, &[Read]),
    // The organisation's own audit trail, for whoever reviews it (a person, or the
    // organisation's log collector as a device certificate).
    rule(Viewer, Kinds::ORGS, R::AuditLog, &[Read, Export]),
    // --- Operator administrator: runs the service, never sees content --------------------
    rule(OpsAdmin, Kinds::OPERATOR, R::Submission, &[Read]),
    rule(OpsAdmin, Kinds::OPERATOR, R::Delivery, &[Read]),
    rule(OpsAdmin, Kinds::OPERATOR, R::Map, &[Read]),
    rule(OpsAdmin, Kinds::OPERATOR, R::Ledger, &[Read, Export]),
    rule(OpsAdmin, Kinds::OPERATOR, R::AuditLog, &[Read, Export]),
    rule(
        OpsAdmin,
        Kinds::OPERATOR,
        R::User,
        &[Create, Read, Update, Delete],
    ),
    rule(
        OpsAdmin,
        Kinds::OPERATOR,
        R::Certificate,
        &[Create, Read, Update, Delete],
    ),
    rule(
        OpsAdmin,
        Kinds::OPERATOR,
        R::Route,
        &[Create, Read, Update, Delete],
    ),
    rule(
        OpsAdmin,
        Kinds::OPERATOR,
        R::Org,
        &[Create, Read, Update, Delete],
    ),
    rule(OpsAdmin, Kinds::OPERATOR, R::Usage, &[Read, Export]),
    rule(OpsAdmin, Kinds::OPERATOR, R::Health, &[Read]),
    // --- Operator auditor: reads, changes nothing ----------------------------------------
    rule(Auditor, Kinds::OPERATOR, R::Submission, &[Read]),
    rule(Auditor, Kinds::OPERATOR, R::Delivery, &[Read]),
    rule(Auditor, Kinds::OPERATOR, R::Ledger, &[Read, Export]),
    rule(Auditor, Kinds::OPERATOR, R::AuditLog, &[Read, Export]),
    rule(Auditor, Kinds::OPERATOR, R::User, &[Read]),
    rule(Auditor, Kinds::OPERATOR, R::Certificate, &[Read]),
    rule(Auditor, Kinds::OPERATOR, R::Route, &[Read]),
    rule(Auditor, Kinds::OPERATOR, R::Org, &[Read]),
    rule(Auditor, Kinds::OPERATOR, R::Usage, &[Read, Export]),
    rule(Auditor, Kinds::OPERATOR, R::Health, &[Read]),
];

/// Whether `role`, held in an organisation of kind `org_kind`, may perform `action` on
/// `resource`. Default deny: `true` only if a rule of [`MATRIX`] grants it.
pub fn allowed(role: Role, org_kind: OrgKindLite, resource: Resource, action: Action) -> bool {
    MATRIX.iter().any(|r| {
        r.role == role
            && r.resource == resource
            && r.kinds.contains(org_kind)
            && r.actions.contains(action)
    })
}

/// [`MATRIX`] as a Markdown table: one row per resource, one column per role, each cell the
/// granted actions, with the organisation kinds a grant is limited to in brackets when that
/// is narrower than where the role exists.
pub fn matrix_markdown() -> String {
    let mut out = String::new();
    out.push_str("| resource |");
    for role in Role::ALL {
        let _ = write!(out, " {role} |");
    }
    out.push_str("\n|---|");
    for _ in Role::ALL {
        out.push_str("---|");
    }
    out.push('\n');
    for &resource in Resource::ALL {
        let _ = write!(out, "| {resource} |");
        for &role in Role::ALL {
            let cell: Vec<String> = MATRIX
                .iter()
                .filter(|r| r.role == role && r.resource == resource)
                .map(|r| {
                    let actions: Vec<&str> = r.actions.iter().map(Action::as_str).collect();
                    let mut text = actions.join(", ");
                    if r.kinds != role.org_kinds() {
                        let kinds: Vec<&str> = r.kinds.iter().map(OrgKindLite::as_str).collect();
                        let _ = write!(text, " [{}]", kinds.join(", "));
                    }
                    text
                })
                .collect();
            if cell.is_empty() {
                out.push_str(" – |");
            } else {
                let _ = write!(out, " {} |", cell.join("; "));
            }
        }
        out.push('\n');
    }
    out.push_str("\nRoles exist in these organisation kinds:\n\n");
    for &role in Role::ALL {
        let kinds: Vec<&str> = role.org_kinds().iter().map(OrgKindLite::as_str).collect();
        let _ = writeln!(out, "- {role}: {}", kinds.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (role, kind, resource, action) combination.
    fn all() -> impl Iterator<Item = (Role, OrgKindLite, Resource, Action)> {
        Role::ALL.iter().flat_map(|&role| {
            OrgKindLite::ALL.iter().flat_map(move |&kind| {
                Resource::ALL.iter().flat_map(move |&res| {
                    Action::ALL.iter().map(move |&act| (role, kind, res, act))
                })
            })
        })
    }

    #[test]
    fn operator_roles_never_see_content_or_reports() {
        for (role, kind, res, act) in all() {
            if role.is_operator() && matches!(res, R::DeliveryContent | R::Report) {
                assert!(!allowed(role, kind, res, act), "{role} {kind} {res} {act}");
            }
            // Nor does anyone at all inside the operator organisation.
            if kind == OrgKindLite::Operator && matches!(res, R::DeliveryContent | R::Report) {
                assert!(!allowed(role, kind, res, act), "{role} {kind} {res} {act}");
            }
        }
    }

    #[test]
    fn machine_defaults_are_machine_roles_held_in_that_kind() {
        for &kind in OrgKindLite::ALL {
            for &role in Role::machine_defaults(kind) {
                assert!(role.is_machine_role(), "{role}");
                assert!(role.org_kinds().contains(kind), "{role} in {kind}");
            }
        }
        // No machine may manage people or certificates.
        for (role, kind, res, act) in all() {
            if role.is_machine_role() && matches!(res, R::User | R::Certificate) {
                assert!(!allowed(role, kind, res, act), "{role} {kind} {res} {act}");
            }
        }
    }

    #[test]
    fn viewers_cannot_create_confirm_download_or_change() {
        for (role, kind, res, act) in all() {
            // Exporting the audit trail is reading it in bulk.
            let reading = act == Read || (res == R::AuditLog && act == Export);
            if role == Viewer && !reading {
                assert!(!allowed(role, kind, res, act), "{kind} {res} {act}");
            }
            if role == Viewer {
                assert!(
                    !matches!(res, R::DeliveryContent | R::Report)
                        || !allowed(role, kind, res, act)
                );
            }
        }
    }

    #[test]
    fn receivers_cannot_create_submissions_and_senders_cannot_confirm() {
        for &kind in OrgKindLite::ALL {
            assert!(!allowed(Receiver, kind, R::Submission, Create), "{kind}");
            for &act in Action::ALL {
                assert!(
                    !allowed(Sender, kind, R::Delivery, act) || act == Read,
                    "{kind} {act}"
                );
            }
            assert!(!allowed(Sender, kind, R::Delivery, Confirm), "{kind}");
            assert!(
                !allowed(Sender, kind, R::DeliveryContent, Download),
                "{kind}"
            );
        }
    }

    #[test]
    fn only_receivers_touch_delivery_content_and_only_senders_reports() {
        for (role, kind, res, act) in all() {
            if allowed(role, kind, res, act) {
                if res == R::DeliveryContent {
                    assert_eq!(role, Receiver);
                    assert!(Kinds::RECEIVERS.contains(kind));
                }
                if res == R::Report {
                    assert_eq!(role, Sender);
                    assert!(Kinds::SENDERS.contains(kind));
                }
                if act == Confirm {
                    assert_eq!((role, res), (Receiver, R::Delivery));
                }
                if res == R::Submission && act == Create {
                    assert_eq!(role, Sender);
                }
            }
        }
    }

    #[test]
    fn roles_only_act_where_they_exist() {
        for (role, kind, res, act) in all() {
            if allowed(role, kind, res, act) {
                assert!(role.org_kinds().contains(kind), "{role} in {kind}");
                assert_eq!(role.is_operator(), kind == OrgKindLite::Operator);
            }
        }
        for r in MATRIX {
            let outside = Kinds(r.kinds.0 & !r.role.org_kinds().0);
            assert_eq!(outside.0, 0, "{r:?} grants outside the role's kinds");
            assert_ne!(r.actions.0, 0, "{r:?} grants nothing");
        }
    }

    #[test]
    fn auditor_changes_nothing() {
        for (role, kind, res, act) in all() {
            if role == Auditor && allowed(role, kind, res, act) {
                assert!(matches!(act, Read | Export), "{res} {act}");
            }
        }
    }

    #[test]
    fn expected_grants_exist() {
        use OrgKindLite::*;
        assert!(allowed(Sender, Institution, R::Submission, Create));
        assert!(allowed(Sender, Clinic, R::Submission, Create));
        assert!(!allowed(Sender, Insurer, R::Submission, Create));
        assert!(allowed(Receiver, Insurer, R::Delivery, Confirm));
        assert!(allowed(Receiver, Agent, R::DeliveryContent, Download));
        assert!(allowed(Receiver, Clinic, R::DeliveryContent, Download));
        assert!(!allowed(
            Receiver,
            Institution,
            R::DeliveryContent,
            Download
        ));
        assert!(allowed(Admin, Insurer, R::User, Create));
        assert!(!allowed(Admin, Operator, R::User, Create));
        assert!(allowed(OpsAdmin, Operator, R::Org, Create));
        assert!(!allowed(OpsAdmin, Insurer, R::Org, Read));
        assert!(allowed(Auditor, Operator, R::AuditLog, Export));
        assert!(!allowed(Admin, Insurer, R::DeliveryContent, Read));
    }

    #[test]
    fn names_round_trip() {
        for &r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        for &r in Resource::ALL {
            assert_eq!(r.as_str().parse::<Resource>(), Ok(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        for &a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(a));
        }
        for &k in OrgKindLite::ALL {
            assert_eq!(k.as_str().parse::<OrgKindLite>(), Ok(k));
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownName { kind: "Role" }));
    }

    /// Prints the table for the documentation:
    /// `cargo test -p kenshin-auth -- --ignored --nocapture print_matrix`.
    #[test]
    #[ignore]
    fn print_matrix() {
        println!("{}", matrix_markdown());
    }

    #[test]
    fn markdown_reflects_the_matrix() {
        let md = matrix_markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[0],
            "| resource | admin | sender | receiver | viewer | ops_admin | auditor |"
        );
        assert_eq!(lines.len(), 2 + Resource::ALL.len() + 3 + Role::ALL.len());
        let content = lines
            .iter()
            .find(|l| l.starts_with("| delivery_content |"))
            .unwrap();
        assert_eq!(
            *content,
            "| delivery_content | – | – | read, download | – | – | – |"
        );
        let submission = lines
            .iter()
            .find(|l| l.starts_with("| submission |"))
            .unwrap();
        assert_eq!(
            *submission,
            "| submission | read [institution, clinic] | create, read, delete | – | read [institution, clinic] | read | read |"
        );
        // Every cell is consistent with `allowed`.
        for &res in Resource::ALL {
            let line = lines
                .iter()
                .find(|l| l.starts_with(&format!("| {res} |")))
                .unwrap();
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            for (i, &role) in Role::ALL.iter().enumerate() {
                let cell = cells[i + 2];
                let any = OrgKindLite::ALL
                    .iter()
                    .any(|&k| Action::ALL.iter().any(|&a| allowed(role, k, res, a)));
                assert_eq!(cell != "–", any, "{res} {role}");
            }
        }
    }
}
