//! Map files (変換テーブル): how one institution's export becomes standard records.
//!
//! A map file is a UTF-8 CSV that staff can edit in a spreadsheet, one rule per row
//! (`docs/MAP_FORMAT.md` describes it for them). Columns, by header name (English or
//! Japanese): `kind`/`種別`, `source`/`元の列`, `item`/`項目`, `from`/`元の値`, `to`/`標準値`,
//! `options`/`オプション`, `note`/`備考`. Row kinds:
//!
//! - `setting` — `from` = key, `to` = value: `id`, `version`, `name`, `profile`, `encoding`,
//!   `delimiter`, `header`, `institution_number`, `sheet` (an `.xlsx` export's worksheet).
//! - `column` — the export's column `source` (its header text, or `#3` for the third
//!   column) goes to `item` (a 17-digit item code, an item's unique standard name, or
//!   `header.<field>` such as `header.insurer_number` / `header.保険者番号`). Options:
//!   `multiply=<number>` (unit conversion), `split=<text>` (several values in one cell).
//! - `value` — in column `source` (or `*` for every column), the institution's `from` means the
//!   standard `to` (a code of the item's code list, or its standard term).
//! - `missing` — in column `source` (or `*`), the token `from` means `未実施`, `測定不能` or
//!   `空欄` (no value).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use kenshin_profile::{HeaderField, ItemKind, Profile};

use crate::normalize::{lookup_key, parse_number};

/// Where a rule reads from in the export.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SourceRef {
    /// A column by its header text.
    Name(String),
    /// A column by 1-based position (`#3`), for exports without a header row.
    Position(usize),
}

impl std::fmt::Display for SourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceRef::Name(name) => f.write_str(name),
            SourceRef::Position(n) => write!(f, "#{n}"),
        }
    }
}

/// Where a column's values go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Header(HeaderField),
    /// A profile item, by code.
    Item(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColumnRule {
    pub source: SourceRef,
    /// `source` as written in the map (`身長`, `#3`): the key of its value and missing rules.
    pub source_key: String,
    pub target: Target,
    pub multiply: Option<rust_decimal::Decimal>,
    pub split: Option<String>,
    /// 1-based line of the rule in the map file, for reports.
    pub line: u64,
}

/// What a missing-value token stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    NotPerformed,
    Unmeasurable,
    Blank,
}

/// A parsed, checked map file.
#[derive(Clone, Debug, PartialEq)]
pub struct MapFile {
    pub id: String,
    pub version: String,
    pub name: String,
    /// Profile id the map was written for.
    pub profile: String,
    pub settings: HashMap<String, String>,
    pub columns: Vec<ColumnRule>,
    /// Source column (or `*`) → lookup key of the institution's value → standard code or
    /// term. Nested so that a look-up borrows instead of building a key.
    values: HashMap<String, HashMap<String, String>>,
    /// Source column (or `*`) → lookup key of the token → meaning.
    missing: HashMap<String, HashMap<String, Missing>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("map file line {line}: {message}")]
pub struct MapError {
    pub line: u64,
    pub message: String,
}

fn err(line: u64, message: impl Into<String>) -> MapError {
    MapError {
        line,
        message: message.into(),
    }
}

/// Built-in missing-value tokens, used unless a map says otherwise for a token.
const DEFAULT_MISSING: [(&str, Missing); 11] = [
    ("未実施", Missing::NotPerformed),
    ("未検査", Missing::NotPerformed),
    ("未検", Missing::NotPerformed),
    ("実施せず", Missing::NotPerformed),
    ("未測定", Missing::NotPerformed),
    ("測定不能", Missing::Unmeasurable),
    ("測定不可", Missing::Unmeasurable),
    ("判定不能", Missing::Unmeasurable),
    ("検査不能", Missing::Unmeasurable),
    ("検査不可", Missing::Unmeasurable),
    ("", Missing::Blank),
];

const COLUMNS: [(&str, &str); 7] = [
    ("kind", "種別"),
    ("source", "元の列"),
    ("item", "項目"),
    ("from", "元の値"),
    ("to", "標準値"),
    ("options", "オプション"),
    ("note", "備考"),
];

/// Largest map file accepted: maps are small; anything bigger is a mistake or an attack.
const MAX_MAP_BYTES: u64 = 16 * 1024 * 1024;

impl MapFile {
    pub fn from_path(path: &Path, profile: &Profile) -> Result<MapFile, MapError> {
        let file = std::fs::File::open(path)
            .map_err(|e| err(0, format!("cannot open {}: {e}", path.display())))?;
        MapFile::from_reader(file, profile)
    }

    /// Parses and checks a map against the profile it will be used with: every item must
    /// exist, every value rule must name a code of its item's code list.
    ///
    /// The file may be UTF-8 (with or without a BOM) or Shift_JIS, as Japanese Excel saves
    /// 「CSV (コンマ区切り)」.
    pub fn from_reader<R: Read>(reader: R, profile: &Profile) -> Result<MapFile, MapError> {
        let mut bytes = Vec::new();
        reader
            .take(MAX_MAP_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| err(0, format!("cannot read the map file: {e}")))?;
        if bytes.len() as u64 > MAX_MAP_BYTES {
            return Err(err(0, "the map file is larger than 16 MiB"));
        }
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(not_utf8) => {
                let bytes = not_utf8.into_bytes();
                let (text, _, malformed) = encoding_rs::SHIFT_JIS.decode(&bytes);
                if malformed {
                    return Err(err(
                        0,
                        "the map file is neither UTF-8 nor Shift_JIS text; save it as CSV UTF-8 \
                         or as 「CSV (コンマ区切り)」",
                    ));
                }
                text.into_owned()
            }
        };
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(text.as_bytes());
        let headers = csv
            .headers()
            .map_err(|e| err(1, format!("cannot read the header row: {e}")))?
            .clone();
        let mut index = HashMap::new();
        for (position, name) in headers.iter().enumerate() {
            let name = name.trim();
            let column = COLUMNS
                .iter()
                .find(|(en, ja)| name.eq_ignore_ascii_case(en) || name == *ja)
                .map(|(en, _)| *en)
                .ok_or_else(|| {
                    err(1, format!("unknown column {name:?}; the columns are kind, source, item, from, to, options, note"))
                })?;
            index.insert(column, position);
        }
        for required in ["kind", "source", "item", "from", "to"] {
            if !index.contains_key(required) {
                return Err(err(1, format!("the column {required:?} is missing")));
            }
        }
        let mut map = MapFile {
            id: String::new(),
            version: String::new(),
            name: String::new(),
            profile: String::new(),
            settings: HashMap::new(),
            columns: Vec::new(),
            values: HashMap::new(),
            missing: HashMap::from([(
                "*".to_owned(),
                DEFAULT_MISSING
                    .iter()
                    .map(|(token, meaning)| (lookup_key(token), *meaning))
                    .collect(),
            )]),
        };
        let mut value_rules = Vec::new();
        for record in csv.records() {
            let record = record.map_err(|e| {
                err(
                    e.position().map(|p| p.line()).unwrap_or(0),
                    format!("malformed CSV: {e}"),
                )
            })?;
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            let get = |name: &str| {
                index
                    .get(name)
                    .and_then(|&i| record.get(i))
                    .unwrap_or("")
                    .trim()
            };
            let kind = get("kind");
            match kind {
                "" => continue, // blank spreadsheet rows
                "setting" | "設定" => {
                    let key = get("from");
                    let value = get("to").to_owned();
                    match key {
                        "id" => map.id = value,
                        "version" => map.version = value,
                        "name" => map.name = value,
                        "profile" => map.profile = value,
                        "encoding" | "delimiter" | "header" | "header_rows"
                        | "institution_number" | "sheet" => {
                            map.settings.insert(key.to_owned(), value);
                        }
                        other => return Err(err(line, format!("unknown setting {other:?}"))),
                    }
                }
                "column" | "列" => {
                    let source = parse_source(get("source"), line)?;
                    let target = resolve_target(get("item"), profile, line)?;
                    let mut rule = ColumnRule {
                        source_key: source.to_string(),
                        source,
                        target,
                        multiply: None,
                        split: None,
                        line,
                    };
                    for option in get("options")
                        .split(';')
                        .map(str::trim)
                        .filter(|o| !o.is_empty())
                    {
                        let (key, value) = option.split_once('=').ok_or_else(|| {
                            err(line, format!("option {option:?} must be key=value"))
                        })?;
                        match key.trim() {
                            "multiply" => {
                                let n = parse_number(value)
                                    .map_err(|m| err(line, format!("multiply: {m}")))?;
                                rule.multiply = Some(n.value);
                            }
                            "split" => rule.split = Some(value.to_owned()),
                            other => return Err(err(line, format!("unknown option {other:?}"))),
                        }
                    }
                    map.columns.push(rule);
                }
                "value" | "値" => {
                    let source = get("source");
                    if source.is_empty() {
                        return Err(err(line, "a value rule needs a source column (or *)"));
                    }
                    value_rules.push((
                        line,
                        source.to_owned(),
                        get("from").to_owned(),
                        get("to").to_owned(),
                    ));
                }
                "missing" | "欠損" => {
                    let meaning = match get("to") {
                        "未実施" | "not_performed" => Missing::NotPerformed,
                        "測定不能" | "unmeasurable" => Missing::Unmeasurable,
                        "空欄" | "blank" => Missing::Blank,
                        other => {
                            return Err(err(
                                line,
                                format!(
                                    "missing rules map to 未実施, 測定不能 or 空欄, not {other:?}"
                                ),
                            ))
                        }
                    };
                    let source = match get("source") {
                        "" => "*".to_owned(),
                        s => s.to_owned(),
                    };
                    map.missing
                        .entry(source)
                        .or_default()
                        .insert(lookup_key(get("from")), meaning);
                }
                other => {
                    return Err(err(
                        line,
                        format!("unknown kind {other:?}; use setting, column, value or missing"),
                    ))
                }
            }
        }
        if map.columns.is_empty() {
            return Err(err(0, "the map has no column rules"));
        }
        if !map.profile.is_empty() && map.profile != profile.id {
            return Err(err(
                0,
                format!(
                    "the map was written for profile {:?}, not {:?}",
                    map.profile, profile.id
                ),
            ));
        }
        // Value rules are checked against the items their column feeds.
        for (line, source, from, to) in value_rules {
            let targets: Vec<&ColumnRule> = map
                .columns
                .iter()
                .filter(|c| source == "*" || c.source.to_string() == source)
                .collect();
            if targets.is_empty() {
                return Err(err(line, format!("no column rule reads column {source:?}")));
            }
            let mut resolved = None;
            for rule in targets {
                if let Target::Item(code) = &rule.target {
                    if let Some(item) = profile.item(code) {
                        if let ItemKind::Code { terms } = &item.kind {
                            let code = terms
                                .iter()
                                .find(|t| t.code == to || lookup_key(&t.term) == lookup_key(&to))
                                .map(|t| t.code.clone());
                            match code {
                                Some(code) => resolved = Some(code),
                                None if source != "*" => {
                                    return Err(err(
                                        line,
                                        format!(
                                            "{to:?} is not in the code list of {} ({}): {}",
                                            item.name,
                                            item.code,
                                            terms
                                                .iter()
                                                .map(|t| format!("{}={}", t.code, t.term))
                                                .collect::<Vec<_>>()
                                                .join(", ")
                                        ),
                                    ))
                                }
                                None => {}
                            }
                        }
                    }
                }
            }
            // For text and header columns the value is used as written.
            map.values
                .entry(source)
                .or_default()
                .insert(lookup_key(&from), resolved.unwrap_or(to));
        }
        Ok(map)
    }

    /// The standard value the map gives an institution's value in `source`, if any.
    pub fn translate(&self, source: &str, value: &str) -> Option<&str> {
        if self.values.is_empty() {
            return None;
        }
        let key = lookup_key(value);
        self.values
            .get(source)
            .and_then(|m| m.get(&key))
            .or_else(|| self.values.get("*").and_then(|m| m.get(&key)))
            .map(String::as_str)
    }

    /// What a missing-value token in `source` stands for, if it is one.
    pub fn missing(&self, source: &str, value: &str) -> Option<Missing> {
        if value.is_empty() {
            return Some(Missing::Blank);
        }
        let key = lookup_key(value);
        self.missing
            .get(source)
            .and_then(|m| m.get(&key))
            .or_else(|| self.missing.get("*").and_then(|m| m.get(&key)))
            .copied()
    }

    /// `id@version`, as recorded with outputs.
    pub fn label(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }
}

fn parse_source(text: &str, line: u64) -> Result<SourceRef, MapError> {
    if text.is_empty() {
        return Err(err(line, "a column rule needs a source column"));
    }
    if let Some(n) = text.strip_prefix('#') {
        let n: usize = n
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| err(line, format!("{text:?}: column positions are #1, #2, …")))?;
        return Ok(SourceRef::Position(n));
    }
    Ok(SourceRef::Name(text.to_owned()))
}

fn resolve_target(text: &str, profile: &Profile, line: u64) -> Result<Target, MapError> {
    if let Some(field) = text.strip_prefix("header.") {
        return field
            .parse::<HeaderField>()
            .map(Target::Header)
            .map_err(|e| err(line, e));
    }
    if let Ok(field) = text.parse::<HeaderField>() {
        return Ok(Target::Header(field));
    }
    if profile.item(text).is_some() {
        return Ok(Target::Item(text.to_owned()));
    }
    let by_name: Vec<&str> = profile
        .items
        .iter()
        .filter(|i| i.name == text)
        .map(|i| i.code.as_str())
        .collect();
    match by_name.as_slice() {
        [code] => Ok(Target::Item((*code).to_owned())),
        [] => Err(err(
            line,
            format!(
                "{text:?} is neither an item code nor an item name of profile {}",
                profile.id
            ),
        )),
        several => Err(err(
            line,
            format!(
                "{text:?} names {} items ({}); write the 17-digit code of the one you mean",
                several.len(),
                several.join(", ")
            ),
        )),
    }
}
