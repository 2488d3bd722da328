//! Profiles and their items.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A versioned target format: its identity and items, in output order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Stable identifier, e.g. `mhlw-tokutei-4ki`.
    pub id: String,
    /// Version of this profile, e.g. `2024.1`; recorded with every output.
    pub version: String,
    /// Human name, e.g. `特定健診 第4期 (MHLW public items)`.
    pub name: String,
    pub items: Vec<Item>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl Profile {
    /// Builds a profile and its index; duplicate item codes are an error.
    pub fn new(
        id: String,
        version: String,
        name: String,
        items: Vec<Item>,
    ) -> Result<Profile, ProfileError> {
        let mut index = HashMap::with_capacity(items.len());
        for (position, item) in items.iter().enumerate() {
            if index.insert(item.code.clone(), position).is_some() {
                return Err(ProfileError::DuplicateItem {
                    code: item.code.clone(),
                });
            }
        }
        Ok(Profile {
            id,
            version,
            name,
            items,
            index,
        })
    }

    /// The item with this code (17-digit item code, or a header field's key).
    pub fn item(&self, code: &str) -> Option<&Item> {
        self.index.get(code).map(|&i| &self.items[i])
    }

    /// `id@version`, as recorded with outputs.
    pub fn label(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }
}

/// One item of a profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The item's code: the 17-digit MHLW/JLAC10-style code for results; for items without
    /// one (spare items of an official list) a profile-specific identifier.
    pub code: String,
    /// Standard name (標準項目名), e.g. `身長`.
    pub name: String,
    /// Category (区分), e.g. `身体計測`.
    pub category: String,
    pub kind: ItemKind,
    /// Display unit, e.g. `cm`.
    pub unit: Option<String>,
    /// UCUM unit code for XML, e.g. `cm`, `mg/dL`.
    pub ucum: Option<String>,
    /// Largest value in bytes of the standard CSV (UTF-8); 512 unless the profile says less.
    pub max_bytes: u16,
    /// 入力範囲: values outside are kept, flagged H or L.
    pub input_range: Option<Range>,
    /// 基準値 by sex, for reports.
    pub reference: Option<ReferenceRanges>,
    /// Checkup programmes that use the item (e.g. `特定健診:1` = required), as listed.
    pub programs: Vec<String>,
    /// How the item is written in MHLW XML; `None` for items that have no XML form.
    pub xml: Option<XmlInfo>,
}

/// What values an item takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ItemKind {
    /// A number written with the given format (`NNN.N`: up to 3 integer digits, 1 decimal).
    Numeric { format: NumberFormat },
    /// One of a list of codes, each with its standard term (`1` → `－`).
    Code { terms: Vec<CodeTerm> },
    /// Free text.
    Text,
    /// A date (written `YYYYMMDD` in the standard CSV).
    Date,
}

impl ItemKind {
    /// The name of the kind in profile files: `numeric`, `code`, `text` or `date`.
    pub fn type_name(&self) -> &'static str {
        match self {
            ItemKind::Numeric { .. } => "numeric",
            ItemKind::Code { .. } => "code",
            ItemKind::Text => "text",
            ItemKind::Date => "date",
        }
    }
}

/// A numeric format such as `NNN.N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberFormat {
    pub integer_digits: u8,
    pub fraction_digits: u8,
}

impl NumberFormat {
    /// Parses `NNN.N`, `N.NN`, `NNNNN`.
    pub fn parse(text: &str) -> Option<NumberFormat> {
        let (int, frac) = match text.split_once('.') {
            Some((i, f)) => (i, f),
            None => (text, ""),
        };
        let all_n = |s: &str| s.bytes().all(|b| b == b'N');
        let valid =
            !int.is_empty() && all_n(int) && all_n(frac) && int.len() < 20 && frac.len() < 10;
        valid.then_some(NumberFormat {
            integer_digits: int.len() as u8,
            fraction_digits: frac.len() as u8,
        })
    }
}

impl NumberFormat {
    /// A numeric item whose format the profile does not give (an empty `format` cell).
    ///
    /// It exists so that a profile with such an item can still be loaded and then reported by
    /// [`Profile::check`] instead of being refused outright; it prints as the empty string.
    pub const UNSPECIFIED: NumberFormat = NumberFormat {
        integer_digits: 0,
        fraction_digits: 0,
    };

    /// Whether the profile gave a format (see [`NumberFormat::UNSPECIFIED`]).
    pub fn is_specified(&self) -> bool {
        self.integer_digits > 0
    }

    /// Bytes of the longest value the format allows (`NNN.N` → 5), without a sign.
    pub fn width(&self) -> usize {
        let point = usize::from(self.fraction_digits > 0);
        usize::from(self.integer_digits) + point + usize::from(self.fraction_digits)
    }
}

impl fmt::Display for NumberFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for _ in 0..self.integer_digits {
            f.write_str("N")?;
        }
        if self.fraction_digits > 0 {
            f.write_str(".")?;
            for _ in 0..self.fraction_digits {
                f.write_str("N")?;
            }
        }
        Ok(())
    }
}

/// A code of a code list with its standard term.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeTerm {
    pub code: String,
    pub term: String,
}

/// An inclusive numeric range; bounds are kept as the decimal text of the source table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub low: Option<String>,
    pub high: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRanges {
    pub male: Option<Range>,
    pub female: Option<Range>,
}

/// How an item appears in MHLW 特定健診 XML (HL7 CDA R2 observations).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XmlInfo {
    pub data_type: XmlDataType,
    /// OID of the code system of CD/CO values (e.g. `1.2.392.200119.6.2102`).
    pub code_system: Option<String>,
    /// Method code (`1.2.392.200119.6.1007`), when the item distinguishes methods.
    pub method_code: Option<String>,
    /// Series group (一連検査グループ), when any, written `<group item code>:<relation>`: the
    /// table's XMLITEM_BAT (the item that names the group) and XMLITEM_BATREL (`COMP`, `RSON`,
    /// `RSON1`), e.g. `3C015161002399949:COMP`.
    pub series_group: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum XmlDataType {
    /// Physical quantity: a number with a UCUM unit.
    PQ,
    /// Coded value with a code system.
    CD,
    /// Coded ordinal.
    CO,
    /// String.
    ST,
}

impl XmlDataType {
    /// The HL7 data type name as written in MHLW item tables and profile files.
    pub fn as_str(self) -> &'static str {
        match self {
            XmlDataType::PQ => "PQ",
            XmlDataType::CD => "CD",
            XmlDataType::CO => "CO",
            XmlDataType::ST => "ST",
        }
    }

    /// Parses `PQ`, `CD`, `CO` or `ST` (exactly; tables and profiles write them upper-case).
    pub fn parse(text: &str) -> Option<XmlDataType> {
        match text {
            "PQ" => Some(XmlDataType::PQ),
            "CD" => Some(XmlDataType::CD),
            "CO" => Some(XmlDataType::CO),
            "ST" => Some(XmlDataType::ST),
            _ => None,
        }
    }
}

impl fmt::Display for XmlDataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("item {code} appears twice in the profile")]
    DuplicateItem { code: String },
    /// A row of a profile file is wrong; `line` is 1-based in the file.
    #[error("line {line}, column {column}: {message}")]
    Invalid {
        line: u64,
        column: String,
        message: String,
    },
    #[error("profile file: {0}")]
    Io(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats_parse_and_print() {
        let f = NumberFormat::parse("NNN.N").unwrap();
        assert_eq!((f.integer_digits, f.fraction_digits), (3, 1));
        assert_eq!(f.to_string(), "NNN.N");
        assert_eq!(NumberFormat::parse("NNNNN").unwrap().fraction_digits, 0);
        assert!(NumberFormat::parse("256").is_none());
        assert!(NumberFormat::parse("").is_none());
        assert!(NumberFormat::parse(".N").is_none());
    }
}
