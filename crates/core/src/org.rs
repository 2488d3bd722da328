//! Organisations, the codes that name them, and routes between them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::validate::InvalidValue;

/// What an organisation is in the exchange (DESIGN §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    /// 健診機関: sends result files.
    Institution,
    /// 健診実施主体 (保険者/事業者): receives converted files; holds 保険者番号.
    Insurer,
    /// 代行機関: receives on behalf of insurers.
    Agent,
    /// 医療機関: plain point-to-point sender or receiver.
    Clinic,
    /// 運用者: runs the service; sees metadata, never content.
    Operator,
}

impl OrgKind {
    pub const ALL: [OrgKind; 5] = [
        OrgKind::Institution,
        OrgKind::Insurer,
        OrgKind::Agent,
        OrgKind::Clinic,
        OrgKind::Operator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Institution => "institution",
            OrgKind::Insurer => "insurer",
            OrgKind::Agent => "agent",
            OrgKind::Clinic => "clinic",
            OrgKind::Operator => "operator",
        }
    }

    /// Japanese name, as staff know the role.
    pub fn label_ja(self) -> &'static str {
        match self {
            OrgKind::Institution => "健診機関",
            OrgKind::Insurer => "健診実施主体",
            OrgKind::Agent => "代行機関",
            OrgKind::Clinic => "医療機関",
            OrgKind::Operator => "運用者",
        }
    }

    /// Whether organisations of this kind may upload files.
    pub fn may_send(self) -> bool {
        matches!(self, OrgKind::Institution | OrgKind::Clinic)
    }

    /// Whether organisations of this kind may receive files.
    pub fn may_receive(self) -> bool {
        matches!(self, OrgKind::Insurer | OrgKind::Agent | OrgKind::Clinic)
    }
}

impl fmt::Display for OrgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrgKind {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrgKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                InvalidValue::new(
                    "organisation kind",
                    s,
                    "one of institution, insurer, agent, clinic, operator",
                )
            })
    }
}

/// The short, stable, ASCII code that names an organisation in URLs, certificates and the CLI.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrgCode(String);

impl OrgCode {
    pub const MAX_LEN: usize = 32;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for OrgCode {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(OrgCode(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "organisation code",
                s,
                "1 to 32 characters of A-Z, a-z, 0-9, '-' and '_'",
            ))
        }
    }
}

impl TryFrom<String> for OrgCode {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<OrgCode> for String {
    fn from(value: OrgCode) -> Self {
        value.0
    }
}

impl fmt::Display for OrgCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 保険者番号: the 8-digit number that identifies an insurer in checkup data.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InsurerNumber(String);

impl InsurerNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for InsurerNumber {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(InsurerNumber(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "保険者番号 (insurer number)",
                s,
                "exactly 8 ASCII digits",
            ))
        }
    }
}

impl TryFrom<String> for InsurerNumber {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<InsurerNumber> for String {
    fn from(value: InsurerNumber) -> Self {
        value.0
    }
}

impl fmt::Display for InsurerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How files travel along a route from a sender to a receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteMode {
    /// The receiver gets the sender's bytes unchanged (point-to-point exchange).
    PassThrough,
    /// The sender's export is converted with its map into the standard format and split by
    /// 保険者番号: the receiver gets the records of its insurers.
    Convert,
}

impl RouteMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteMode::PassThrough => "pass-through",
            RouteMode::Convert => "convert",
        }
    }
}

impl fmt::Display for RouteMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RouteMode {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pass-through" => Ok(RouteMode::PassThrough),
            "convert" => Ok(RouteMode::Convert),
            _ => Err(InvalidValue::new(
                "route mode",
                s,
                "pass-through or convert",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_codes_are_short_ascii() {
        assert!("INST-0001".parse::<OrgCode>().is_ok());
        assert!("a_b".parse::<OrgCode>().is_ok());
        assert!("".parse::<OrgCode>().is_err());
        assert!("../etc".parse::<OrgCode>().is_err());
        assert!("健診".parse::<OrgCode>().is_err());
        assert!("x".repeat(33).parse::<OrgCode>().is_err());
    }

    #[test]
    fn insurer_numbers_are_eight_digits() {
        assert!("06139999".parse::<InsurerNumber>().is_ok());
        assert!("1234567".parse::<InsurerNumber>().is_err());
        assert!("１２３４５６７８".parse::<InsurerNumber>().is_err());
        let err = "12a45678".parse::<InsurerNumber>().unwrap_err();
        assert!(err.to_string().contains("8 ASCII digits"));
    }

    #[test]
    fn kinds_parse_and_print() {
        for kind in OrgKind::ALL {
            assert_eq!(kind.as_str().parse::<OrgKind>().unwrap(), kind);
        }
        assert!("hospital".parse::<OrgKind>().is_err());
    }
}
