//! `map suggest`: a draft map from a sample export, made at the institution.
//!
//! Header names are matched against the profile's header fields and item names, through a
//! thesaurus of the names exports actually use (全角/半角, abbreviations such as γ-GTP/GGT,
//! 中性脂肪/TG, 最高血圧/収縮期血圧). Observed values of code items are matched against the
//! code lists and the usual spellings; what cannot be placed is listed, never guessed.

use std::collections::BTreeSet;
use std::io::Read;

use kenshin_profile::{HeaderField, ItemKind, Profile};

use crate::delimited::{DelimitedOptions, DelimitedReader, ReadError};
use crate::normalize::{lookup_key, parse_date, parse_number};

/// Rows of the sample looked at; a few hundred show every column's habits.
const SAMPLE_ROWS: usize = 2000;
/// Distinct values remembered per column.
const DISTINCT_PER_COLUMN: usize = 50;

/// Header-field synonyms (lookup keys).
const HEADER_SYNONYMS: [(HeaderField, &[&str]); 13] = [
    (
        HeaderField::InsurerNumber,
        &["保険者番号", "保険者no", "保険者コード", "保険者"],
    ),
    (
        HeaderField::Symbol,
        &["記号", "被保険者証記号", "保険証記号", "被保険者証等記号"],
    ),
    (
        HeaderField::Number,
        &["番号", "被保険者証番号", "保険証番号", "被保険者証等番号"],
    ),
    (HeaderField::Branch, &["枝番", "枝番号"]),
    (
        HeaderField::KanaName,
        &[
            "カナ氏名",
            "氏名カナ",
            "フリガナ",
            "ふりがな",
            "カナ",
            "氏名(カナ)",
            "受診者カナ",
        ],
    ),
    (
        HeaderField::Name,
        &["氏名", "受診者氏名", "名前", "氏名(漢字)"],
    ),
    (
        HeaderField::BirthDate,
        &["生年月日", "誕生日", "生年月日(西暦)", "生年月日(和暦)"],
    ),
    (HeaderField::Sex, &["性別", "性", "男女", "性別コード"]),
    (HeaderField::PostalCode, &["郵便番号", "〒"]),
    (HeaderField::Address, &["住所", "現住所"]),
    (
        HeaderField::ExamDate,
        &[
            "健診実施日",
            "受診日",
            "健診日",
            "実施日",
            "検査日",
            "受診年月日",
            "健診年月日",
        ],
    ),
    (
        HeaderField::InstitutionNumber,
        &["健診機関番号", "医療機関番号", "医療機関コード", "機関番号"],
    ),
    (
        HeaderField::TicketNumber,
        &["受診券整理番号", "受診券番号", "整理番号"],
    ),
];

/// Item synonyms: what exports call an item → the profile's standard name.
const ITEM_SYNONYMS: [(&str, &[&str]); 24] = [
    ("身長", &["身長(cm)", "height", "ht"]),
    ("体重", &["体重(kg)", "weight", "wt", "bw"]),
    ("BMI", &["bmi", "体格指数"]),
    (
        "腹囲(実測）",
        &["腹囲", "ウエスト", "腹囲(cm)", "腹囲(実測)", "waist"],
    ),
    (
        "収縮期血圧(1回目)",
        &[
            "収縮期血圧",
            "最高血圧",
            "血圧(上)",
            "血圧上",
            "sbp",
            "血圧1回目(上)",
            "収縮期血圧1回目",
        ],
    ),
    (
        "拡張期血圧(1回目)",
        &[
            "拡張期血圧",
            "最低血圧",
            "血圧(下)",
            "血圧下",
            "dbp",
            "血圧1回目(下)",
            "拡張期血圧1回目",
        ],
    ),
    (
        "収縮期血圧(2回目)",
        &["血圧2回目(上)", "収縮期血圧2回目", "最高血圧2"],
    ),
    (
        "拡張期血圧(2回目)",
        &["血圧2回目(下)", "拡張期血圧2回目", "最低血圧2"],
    ),
    (
        "空腹時中性脂肪(トリグリセリド)",
        &["中性脂肪", "tg", "トリグリセリド", "空腹時中性脂肪"],
    ),
    (
        "HDLコレステロール",
        &["hdl", "hdl-c", "hdlコレステロール", "hdl-cho"],
    ),
    (
        "LDLコレステロール",
        &["ldl", "ldl-c", "ldlコレステロール", "ldl-cho"],
    ),
    (
        "総コレステロール",
        &["tc", "t-cho", "総cho", "総コレステロール"],
    ),
    ("AST(GOT)", &["ast", "got", "ast(got)", "got(ast)"]),
    ("ALT(GPT)", &["alt", "gpt", "alt(gpt)", "gpt(alt)"]),
    (
        "γ-GT(γ-GTP)",
        &[
            "γ-gtp",
            "γgtp",
            "γ-gt",
            "ggt",
            "ggtp",
            "γ-gtp(γ-gt)",
            "ガンマgtp",
            "r-gtp",
            "γ-gt(γ-gtp)",
        ],
    ),
    (
        "空腹時血糖",
        &["血糖", "fbs", "空腹時血糖値", "血糖値", "glu"],
    ),
    ("随時血糖", &["随時血糖値"]),
    (
        "HbA1c(NGSP値)",
        &["hba1c", "hba1c(ngsp)", "ヘモグロビンa1c", "a1c"],
    ),
    ("尿糖", &["尿糖定性", "尿糖(定性)", "糖"]),
    (
        "尿蛋白",
        &[
            "尿蛋白定性",
            "尿たんぱく",
            "尿タンパク",
            "尿蛋白(定性)",
            "蛋白",
        ],
    ),
    (
        "血清クレアチニン",
        &["クレアチニン", "cre", "cr", "creatinine"],
    ),
    (
        "血色素量(ヘモグロビン値)",
        &["血色素量", "ヘモグロビン", "hb", "hgb"],
    ),
    ("ヘマトクリット値", &["ヘマトクリット", "ht値", "hct"]),
    ("赤血球数", &["赤血球", "rbc"]),
];

/// One column of the sample and where the draft puts it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Placement {
    pub column: String,
    /// `header.<field>` or a 17-digit item code; `None` when nothing fitted.
    pub target: Option<String>,
    pub target_name: Option<String>,
    /// How the match was made: `synonym`, `name`, `partial name`.
    pub how: Option<String>,
    /// Other items with the same name (different method codes) the staff may prefer.
    pub alternatives: Vec<String>,
    /// Observed values of a code item that neither the code list nor the usual spellings
    /// explain: they need a `value` row.
    pub unknown_values: Vec<String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Suggestion {
    pub placements: Vec<Placement>,
    /// The draft map file (CSV, UTF-8), ready for a spreadsheet.
    pub map_csv: String,
    pub rows_sampled: usize,
}

fn preferred(codes: &[&str]) -> usize {
    // JLAC10 positions 13-15 are the measurement method; 999 (その他) is the general form.
    codes
        .iter()
        .position(|c| c.get(12..15) == Some("999"))
        .unwrap_or(0)
}

/// Drafts a map for the sample export.
pub fn suggest<R: Read>(
    sample: R,
    profile: &Profile,
    options: DelimitedOptions,
) -> Result<Suggestion, ReadError> {
    let mut reader = DelimitedReader::new(sample, options)?;
    let encoding = reader.encoding();
    let delimiter = reader.delimiter();
    let header: Vec<String> = reader.header().map(<[String]>::to_vec).unwrap_or_default();
    let has_header = !header.is_empty();
    let mut distinct: Vec<BTreeSet<String>> = Vec::new();
    let mut rows = 0;
    for row in reader.by_ref().take(SAMPLE_ROWS) {
        let row = row?;
        rows += 1;
        if distinct.len() < row.fields.len() {
            distinct.resize(row.fields.len(), BTreeSet::new());
        }
        for (i, field) in row.fields.iter().enumerate() {
            let field = field.trim();
            if !field.is_empty() && distinct[i].len() < DISTINCT_PER_COLUMN {
                distinct[i].insert(field.to_owned());
            }
        }
    }
    let columns: Vec<String> = if has_header {
        header.clone()
    } else {
        (1..=distinct.len()).map(|i| format!("#{i}")).collect()
    };
    let mut used = BTreeSet::new();
    let mut placements = Vec::new();
    for (i, column) in columns.iter().enumerate() {
        let values = distinct.get(i).cloned().unwrap_or_default();
        let mut placement = place(column, &values, profile, has_header);
        if let Some(target) = &placement.target {
            // One column per target: the first wins, later ones are left for the staff.
            if !used.insert(target.clone()) {
                placement.target = None;
                placement.target_name = None;
                placement.how = None;
            }
        }
        placements.push(placement);
    }
    let map_csv = draft_csv(
        profile,
        &placements,
        &distinct,
        encoding,
        delimiter,
        has_header,
    );
    Ok(Suggestion {
        placements,
        map_csv,
        rows_sampled: rows,
    })
}

fn place(
    column: &str,
    values: &BTreeSet<String>,
    profile: &Profile,
    has_header: bool,
) -> Placement {
    let mut placement = Placement {
        column: column.to_owned(),
        target: None,
        target_name: None,
        how: None,
        alternatives: Vec::new(),
        unknown_values: Vec::new(),
    };
    let key = lookup_key(column);
    if has_header {
        for (field, synonyms) in HEADER_SYNONYMS {
            if key == lookup_key(field.label_ja()) || synonyms.iter().any(|s| lookup_key(s) == key)
            {
                placement.target = Some(format!("header.{}", field.key()));
                placement.target_name = Some(field.label_ja().to_owned());
                placement.how = Some("synonym".into());
                return placement;
            }
        }
    }
    let by_name = |name: &str| -> Vec<&str> {
        let wanted = lookup_key(name);
        profile
            .items
            .iter()
            .filter(|i| lookup_key(&i.name) == wanted)
            .map(|i| i.code.as_str())
            .collect()
    };
    let mut found: Option<(Vec<&str>, &str)> = None;
    if has_header {
        let direct = by_name(column);
        if !direct.is_empty() {
            found = Some((direct, "name"));
        } else if let Some((name, _)) = ITEM_SYNONYMS
            .iter()
            .find(|(_, synonyms)| synonyms.iter().any(|s| lookup_key(s) == key))
        {
            let codes = by_name(name);
            if !codes.is_empty() {
                found = Some((codes, "synonym"));
            }
        } else if key.chars().count() >= 2 {
            let partial: Vec<&str> = profile
                .items
                .iter()
                .filter(|i| {
                    let name = lookup_key(&i.name);
                    name.starts_with(&key) || key.starts_with(&name)
                })
                .map(|i| i.code.as_str())
                .collect();
            if !partial.is_empty() {
                found = Some((partial, "partial name"));
            }
        }
    }
    if let Some((codes, how)) = found {
        let chosen = preferred(&codes);
        let code = codes[chosen];
        let item = profile.item(code).expect("code from the profile");
        placement.target = Some(code.to_owned());
        placement.target_name = Some(item.name.clone());
        placement.how = Some(how.to_owned());
        placement.alternatives = codes
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != chosen)
            .map(|(_, c)| (*c).to_owned())
            .collect();
        if let ItemKind::Code { terms } = &item.kind {
            placement.unknown_values = values
                .iter()
                .filter(|v| {
                    let k = lookup_key(v);
                    !terms
                        .iter()
                        .any(|t| lookup_key(&t.code) == k || lookup_key(&t.term) == k)
                        && !crate::record::is_qualitative_spelling(terms, &k)
                        && !is_missing_token(v)
                })
                .cloned()
                .collect();
        }
        return placement;
    }
    // Without a header, dates are the only thing recognisable by their values alone.
    if !has_header && !values.is_empty() && values.iter().all(|v| parse_date(v).is_ok()) {
        placement.how = Some("dates: birth date or exam date?".into());
    } else if !values.is_empty() && values.iter().all(|v| parse_number(v).is_ok()) {
        placement.how = None;
    }
    placement
}

fn is_missing_token(value: &str) -> bool {
    matches!(
        lookup_key(value).as_str(),
        "未実施" | "未検査" | "実施せず" | "測定不能" | "判定不能" | "検査不能"
    )
}

fn draft_csv(
    profile: &Profile,
    placements: &[Placement],
    distinct: &[BTreeSet<String>],
    encoding: crate::delimited::SourceEncoding,
    delimiter: u8,
    has_header: bool,
) -> String {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let mut row = |fields: [&str; 7]| {
        let _ = out.write_record(fields);
    };
    row(["kind", "source", "item", "from", "to", "options", "note"]);
    let delimiter = match delimiter {
        b'\t' => "tab",
        b';' => "semicolon",
        _ => "comma",
    };
    let encoding = match encoding {
        crate::delimited::SourceEncoding::Utf8 => "utf-8",
        crate::delimited::SourceEncoding::ShiftJis => "shift_jis",
    };
    let header = if has_header { "present" } else { "absent" };
    for (key, value) in [
        ("id", "draft"),
        ("version", "1"),
        ("name", "map suggest の下書き / draft from map suggest"),
        ("profile", profile.id.as_str()),
        ("encoding", encoding),
        ("delimiter", delimiter),
        ("header", header),
    ] {
        row(["setting", "", "", key, value, "", ""]);
    }
    for placement in placements {
        let Some(target) = &placement.target else {
            continue;
        };
        let note = match (&placement.how, placement.alternatives.is_empty()) {
            (Some(how), true) => {
                format!("{how}: {}", placement.target_name.as_deref().unwrap_or(""))
            }
            (Some(how), false) => format!(
                "{how}: {} (other methods: {})",
                placement.target_name.as_deref().unwrap_or(""),
                placement.alternatives.join(" ")
            ),
            (None, _) => String::new(),
        };
        row(["column", &placement.column, target, "", "", "", &note]);
    }
    for (i, placement) in placements.iter().enumerate() {
        let Some(target) = &placement.target else {
            continue;
        };
        let Some(ItemKind::Code { terms }) = profile.item(target).map(|i| &i.kind) else {
            continue;
        };
        // Spell out how observed values map, so the staff can check them in one place.
        for value in distinct.get(i).into_iter().flatten() {
            let key = lookup_key(value);
            if let Some(code) = crate::record::qualitative_code_for(terms, &key) {
                row([
                    "value",
                    &placement.column,
                    "",
                    value,
                    &code,
                    "",
                    "usual spelling",
                ]);
            }
        }
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}
