//! `map suggest`: a draft map from a sample export, made at the institution.
//!
//! Header names are matched against the profile's header fields and item names, through a
//! thesaurus of the names exports actually use (全角/半角, abbreviations such as γ-GTP/GGT,
//! 中性脂肪/TG, 最高血圧/収縮期血圧). Observed values of code items are matched against the
//! code lists and the usual spellings, and answers such as 有/無・あり/なし・○/× are proposed as
//! value rows; what cannot be placed is listed, never guessed.
//!
//! Header shapes: one row of names; several rows (item codes and names, in either order: the
//! draft says `header_rows`); headers that are item codes (17 characters, the leading 15, 10 or 5
//! of them); no header at all, where columns are placed by their values — 保険者番号 (6–8
//! digits), dates (the older column is 生年月日), kana names, sex codes, body measurements by
//! their relation (BMI = weight / height²), blood pressure as the pair whose first is always
//! higher, and laboratory values by how they are distributed in adult checkups, in the order
//! result forms list them. Placements made from values alone are marked so in the draft.

use std::collections::BTreeSet;
use std::io::Read;

use kenshin_profile::{HeaderField, ItemKind, Profile};

use crate::delimited::{DelimitedOptions, DelimitedReader, HeaderMode, ReadError};
#[cfg(test)]
use crate::map::MapFile;
use crate::normalize::{fold_width, lookup_key, parse_date, parse_number, parse_sex};

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
    /// How the draft's `column` rows name the column: its label, or `#N` (its position) when
    /// there is no header or the label is not unique.
    #[serde(default)]
    pub source: String,
    /// A few of the column's values, for the staff to see what it holds.
    #[serde(default)]
    pub samples: Vec<String>,
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

/// Leading rows taken for header rows at most.
const MAX_HEADER_ROWS: usize = 3;
/// Cells of the sample looked at, at most: a wide hostile sample stops early (memory stays
/// bounded whatever the shape; 2,000 rows of 500 columns still fit).
const MAX_SAMPLE_CELLS: usize = 1_000_000;
/// Numeric columns tried as height, weight and BMI, at most (the search is cubic).
const MAX_BMI_CANDIDATES: usize = 48;
/// Rows a height/weight/BMI triple is tried on.
const BMI_ROWS: usize = 200;

/// Drafts a map for the sample export.
pub fn suggest<R: Read>(
    sample: R,
    profile: &Profile,
    options: DelimitedOptions,
) -> Result<Suggestion, ReadError> {
    // Read every row as data, then decide how many leading rows are headers: the reader's own
    // guess knows one header row only.
    let forced = options.header;
    let raw = DelimitedOptions {
        header: HeaderMode::Absent,
        header_rows: 1,
        ..options
    };
    let mut reader = DelimitedReader::new(sample, raw)?;
    let encoding = reader.encoding();
    let delimiter = reader.delimiter();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut cells = 0;
    for row in reader.by_ref().take(SAMPLE_ROWS + MAX_HEADER_ROWS) {
        let fields = row?.fields;
        cells += fields.len().max(1);
        rows.push(fields);
        if cells > MAX_SAMPLE_CELLS && rows.len() > MAX_HEADER_ROWS {
            break;
        }
    }
    let header_count = match forced {
        HeaderMode::Absent => 0,
        HeaderMode::Present => header_rows(&rows).max(1),
        HeaderMode::Auto => header_rows(&rows),
    };
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let header_count = header_count.min(rows.len());
    let (headers, data) = rows.split_at_mut(header_count);
    // The cells move into their columns: the sample is held once.
    let columns: Vec<Column> = (0..width).map(|i| Column::of(i, headers, data)).collect();
    let rows_sampled = data.len();
    let headers_present = !headers.is_empty();

    let mut placements: Vec<Placement> = columns
        .iter()
        .map(|column| place_by_labels(column, profile))
        .collect();
    if !headers_present {
        place_by_values(&columns, &mut placements, profile);
    }
    // One column per target: the first wins, later ones are left for the staff.
    let mut used = BTreeSet::new();
    for placement in &mut placements {
        if let Some(target) = &placement.target {
            if !used.insert(target.clone()) {
                placement.target = None;
                placement.target_name = None;
                placement.how = Some("already placed in another column".into());
            }
        }
    }
    let sources = sources(&placements, &columns, header_count);
    for ((placement, column), source) in placements.iter_mut().zip(&columns).zip(sources) {
        placement.unknown_values = unknown_values(placement, column, profile);
        placement.samples = column.distinct.iter().take(3).cloned().collect();
        placement.source = source;
    }
    let map_csv = draft_csv(
        profile,
        &placements,
        &columns,
        encoding,
        delimiter,
        header_count,
    );
    Ok(Suggestion {
        placements,
        map_csv,
        rows_sampled,
    })
}

/// How many leading rows are headers: rows that hold labels, not values (few numbers or
/// dates), followed by rows that do.
fn header_rows(rows: &[Vec<String>]) -> usize {
    let value_like = |row: &Vec<String>| {
        let filled: Vec<&String> = row.iter().filter(|f| !f.trim().is_empty()).collect();
        if filled.is_empty() {
            return 1.0;
        }
        let values = filled
            .iter()
            .filter(|f| parse_number(f.trim()).is_ok() || parse_date(f.trim()).is_ok())
            .count();
        values as f64 / filled.len() as f64
    };
    let mut count = 0;
    while count < MAX_HEADER_ROWS && count < rows.len() && value_like(&rows[count]) < 0.3 {
        count += 1;
    }
    // Only headers if values follow.
    if rows.get(count).is_some_and(|row| value_like(row) >= 0.3) {
        count
    } else {
        0
    }
}

/// One column of the sample: its labels on the header rows, and what its values look like.
struct Column {
    /// 1-based position.
    position: usize,
    /// (header row, label) for each non-empty label.
    labels: Vec<(usize, String)>,
    /// Distinct values (at most [`DISTINCT_PER_COLUMN`]).
    distinct: BTreeSet<String>,
    /// Each data row's value, trimmed ('' when empty or missing).
    cells: Vec<String>,
}

impl Column {
    fn of(i: usize, headers: &[Vec<String>], data: &mut [Vec<String>]) -> Column {
        let labels = headers
            .iter()
            .enumerate()
            .filter_map(|(r, row)| {
                row.get(i)
                    .map(|l| l.trim())
                    .filter(|l| !l.is_empty())
                    .map(|l| (r, l.to_owned()))
            })
            .collect();
        let cells: Vec<String> = data
            .iter_mut()
            .map(|row| {
                row.get_mut(i)
                    .map(|f| {
                        let cell = std::mem::take(f);
                        match cell.trim() {
                            trimmed if trimmed.len() == cell.len() => cell,
                            trimmed => trimmed.to_owned(),
                        }
                    })
                    .unwrap_or_default()
            })
            .collect();
        let mut distinct = BTreeSet::new();
        for cell in &cells {
            if !cell.is_empty() && distinct.len() < DISTINCT_PER_COLUMN {
                distinct.insert(cell.clone());
            }
        }
        Column {
            position: i + 1,
            labels,
            distinct,
            cells,
        }
    }

    fn filled(&self) -> impl Iterator<Item = &str> {
        self.cells
            .iter()
            .map(String::as_str)
            .filter(|c| !c.is_empty() && !is_missing_token(c) && !is_blank_token(c))
    }

    /// The share of filled cells that `test` accepts (0 when none is filled).
    fn share(&self, test: impl Fn(&str) -> bool) -> f64 {
        let (mut yes, mut all) = (0usize, 0usize);
        for cell in self.filled() {
            all += 1;
            if test(cell) {
                yes += 1;
            }
        }
        if all == 0 {
            0.0
        } else {
            yes as f64 / all as f64
        }
    }

    /// The numbers of the column, per row (`None` where a cell is not a number).
    fn numbers(&self) -> Vec<Option<f64>> {
        self.cells
            .iter()
            .map(|c| {
                parse_number(c)
                    .ok()
                    .filter(|n| n.bound.is_none())
                    .and_then(|n| n.value.to_string().parse::<f64>().ok())
            })
            .collect()
    }

    fn label(&self) -> String {
        self.labels
            .first()
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| format!("#{}", self.position))
    }
}

fn empty_placement(column: &Column) -> Placement {
    Placement {
        column: column.label(),
        source: String::new(),
        samples: Vec::new(),
        target: None,
        target_name: None,
        how: None,
        alternatives: Vec::new(),
        unknown_values: Vec::new(),
    }
}

/// Places a column by its labels: the first label (of any header row) that names a header
/// field or an item wins.
fn place_by_labels(column: &Column, profile: &Profile) -> Placement {
    let mut placement = empty_placement(column);
    // Names before codes: the draft's `source` is what a clerk reads.
    let mut labels: Vec<&String> = column.labels.iter().map(|(_, l)| l).collect();
    labels.sort_by_key(|l| l.is_ascii());
    for label in labels {
        if let Some(found) = place_label(label, profile) {
            placement = found;
            placement.column = label.clone();
            return placement;
        }
    }
    if !column.labels.is_empty() && column.share(|v| parse_date(v).is_ok()) > 0.9 {
        placement.how = Some("dates: birth date or exam date?".into());
    }
    placement
}

fn header_placement(field: HeaderField, how: &str) -> Placement {
    Placement {
        column: String::new(),
        source: String::new(),
        samples: Vec::new(),
        target: Some(format!("header.{}", field.key())),
        target_name: Some(field.label_ja().to_owned()),
        how: Some(how.to_owned()),
        alternatives: Vec::new(),
        unknown_values: Vec::new(),
    }
}

fn item_placement(profile: &Profile, codes: &[&str], how: &str) -> Option<Placement> {
    if codes.is_empty() {
        return None;
    }
    let chosen = preferred(codes);
    let item = profile.item(codes[chosen])?;
    Some(Placement {
        column: String::new(),
        source: String::new(),
        samples: Vec::new(),
        target: Some(item.code.clone()),
        target_name: Some(item.name.clone()),
        how: Some(how.to_owned()),
        alternatives: codes
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != chosen)
            .map(|(_, c)| (*c).to_owned())
            .collect(),
        unknown_values: Vec::new(),
    })
}

/// A label without a trailing unit or note in brackets: `身長(cm)` → `身長`.
fn without_brackets(label: &str) -> Option<String> {
    let folded = fold_width(label);
    let trimmed = folded.trim_end();
    let open = trimmed.rfind(['(', '（', '[', '［'])?;
    let close_ok = trimmed.ends_with([')', '）', ']', '］']);
    (open > 0 && close_ok).then(|| trimmed[..open].trim().to_owned())
}

fn place_label(label: &str, profile: &Profile) -> Option<Placement> {
    place_label_exact(label, profile)
        .or_else(|| without_brackets(label).and_then(|bare| place_label_exact(&bare, profile)))
}

fn place_label_exact(label: &str, profile: &Profile) -> Option<Placement> {
    let key = lookup_key(label);
    if key.is_empty() {
        return None;
    }
    for (field, synonyms) in HEADER_SYNONYMS {
        if key == lookup_key(field.label_ja())
            || key == field.key()
            || synonyms.iter().any(|s| lookup_key(s) == key)
        {
            return Some(header_placement(field, "synonym"));
        }
    }
    // An item code: the whole 17 characters, or its leading 15, 10 or 5 (JLAC10 analyte).
    let code: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase();
    if code.len() == key.len()
        && matches!(code.len(), 5 | 10 | 15 | 17)
        && code.starts_with(|c: char| c.is_ascii_digit())
        && code.chars().any(|c| c.is_ascii_uppercase())
    {
        if let Some(item) = profile.item(&code) {
            return item_placement(profile, &[item.code.as_str()], "item code");
        }
        for len in [15, 10, 5] {
            if code.len() < len {
                continue;
            }
            let prefix = &code[..len];
            let codes: Vec<&str> = profile
                .items
                .iter()
                .filter(|i| i.code.starts_with(prefix))
                .map(|i| i.code.as_str())
                .collect();
            // A prefix names one analyte: all its items share one name.
            let names: BTreeSet<&str> = codes
                .iter()
                .filter_map(|c| profile.item(c).map(|i| i.name.as_str()))
                .collect();
            if !codes.is_empty() && names.len() == 1 {
                return item_placement(profile, &codes, "item code");
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
    let direct = by_name(label);
    if !direct.is_empty() {
        return item_placement(profile, &direct, "name");
    }
    if let Some((name, _)) = ITEM_SYNONYMS
        .iter()
        .find(|(_, synonyms)| synonyms.iter().any(|s| lookup_key(s) == key))
    {
        return item_placement(profile, &by_name(name), "synonym");
    }
    if key.chars().count() >= 2 {
        let partial: Vec<&str> = profile
            .items
            .iter()
            .filter(|i| {
                let name = lookup_key(&i.name);
                name.starts_with(&key) || key.starts_with(&name)
            })
            .map(|i| i.code.as_str())
            .collect();
        let names: BTreeSet<&str> = partial
            .iter()
            .filter_map(|c| profile.item(c).map(|i| i.name.as_str()))
            .collect();
        // Only an unambiguous partial name: 「血圧」 alone fits several items.
        if names.len() == 1 {
            return item_placement(profile, &partial, "partial name");
        }
    }
    None
}

/// Typical adult checkup values of laboratory items (median, spread of the logarithm), in the
/// order result forms list them: placing a column without a header compares its values with
/// these.
const LAB_TYPICAL: [(&str, f64, f64); 7] = [
    ("空腹時中性脂肪(トリグリセリド)", 100.0, 0.5),
    ("HDLコレステロール", 60.0, 0.25),
    ("LDLコレステロール", 120.0, 0.25),
    ("AST(GOT)", 21.0, 0.35),
    ("ALT(GPT)", 18.0, 0.55),
    ("γ-GT(γ-GTP)", 26.0, 0.7),
    ("空腹時血糖", 96.0, 0.13),
];

fn is_kana(value: &str) -> bool {
    let mut letters = 0;
    for c in value.chars() {
        match c {
            'ァ'..='ヺ' | 'ぁ'..='ゖ' | 'ー' | 'ｦ'..='ﾟ' => letters += 1,
            ' ' | '　' | '・' => {}
            _ => return false,
        }
    }
    letters > 0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Places the columns of an export without a header by their values alone.
fn place_by_values(columns: &[Column], placements: &mut [Placement], profile: &Profile) {
    let how = "values";
    let free = |placements: &[Placement], i: usize| placements[i].target.is_none();
    let set = |placements: &mut [Placement], i: usize, mut p: Placement| {
        p.column = format!("#{}", columns[i].position);
        placements[i] = p;
    };
    let by_name = |name: &str| -> Vec<&str> {
        profile
            .items
            .iter()
            .filter(|i| i.name == name)
            .map(|i| i.code.as_str())
            .collect()
    };
    // 保険者番号: 6 to 8 digits everywhere.
    if let Some(i) = (0..columns.len()).find(|&i| {
        columns[i].share(|v| v.len() >= 6 && v.len() <= 8 && v.bytes().all(|b| b.is_ascii_digit()))
            > 0.95
    }) {
        set(
            placements,
            i,
            header_placement(HeaderField::InsurerNumber, how),
        );
    }
    // Kana names.
    if let Some(i) =
        (0..columns.len()).find(|&i| free(placements, i) && columns[i].share(is_kana) > 0.95)
    {
        set(placements, i, header_placement(HeaderField::KanaName, how));
    }
    // Dates: the older column is the birth date, the newer the exam date.
    let dates: Vec<(usize, f64)> = (0..columns.len())
        .filter(|&i| free(placements, i) && columns[i].share(|v| parse_date(v).is_ok()) > 0.95)
        .map(|i| {
            let years: Vec<f64> = columns[i]
                .filled()
                .filter_map(|v| parse_date(v).ok())
                .map(|d| f64::from(d.year()))
                .collect();
            (i, median(years))
        })
        .collect();
    match dates.as_slice() {
        [] => {}
        [(i, year)] => {
            let field = if *year < 2000.0 {
                HeaderField::BirthDate
            } else {
                HeaderField::ExamDate
            };
            set(placements, *i, header_placement(field, how));
        }
        more => {
            let oldest = more.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
            let newest = more.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
            set(
                placements,
                oldest,
                header_placement(HeaderField::BirthDate, how),
            );
            set(
                placements,
                newest,
                header_placement(HeaderField::ExamDate, how),
            );
        }
    }
    // Sex: the first column of sex codes with both sexes.
    if let Some(i) = (0..columns.len()).find(|&i| {
        free(placements, i) && columns[i].share(|v| parse_sex(v).is_ok()) > 0.99 && {
            let sexes: BTreeSet<&str> = columns[i]
                .filled()
                .filter_map(|v| parse_sex(v).ok())
                .collect();
            sexes.len() == 2
        }
    }) {
        set(placements, i, header_placement(HeaderField::Sex, how));
    }
    let numbers: Vec<Vec<Option<f64>>> = columns.iter().map(Column::numbers).collect();
    // Each column's shape, worked out once.
    let is_numeric: Vec<bool> = columns
        .iter()
        .map(|c| c.share(|v| parse_number(v).is_ok()) > 0.95)
        .collect();
    let has_decimals: Vec<bool> = columns
        .iter()
        .map(|c| c.share(|v| v.contains('.')) > 0.5)
        .collect();
    let numeric = |placements: &[Placement], i: usize| free(placements, i) && is_numeric[i];
    let decimals = |i: usize| has_decimals[i];
    let small_codes = |i: usize| {
        columns[i]
            .filled()
            .all(|v| matches!(v, "1" | "2" | "3" | "4" | "5"))
    };
    // Height, weight and BMI: the three columns where BMI = weight / height².
    let candidates: Vec<usize> = (0..columns.len())
        .filter(|&i| numeric(placements, i) && !small_codes(i))
        .take(MAX_BMI_CANDIDATES)
        .collect();
    'bmi: for &h in &candidates {
        for &w in &candidates {
            for &b in &candidates {
                if h == w || w == b || h == b {
                    continue;
                }
                let (mut fits, mut rows) = (0, 0);
                let rows_of = numbers[h].iter().zip(&numbers[w]).zip(&numbers[b]);
                for ((hv, wv), bv) in rows_of.take(BMI_ROWS) {
                    if let (Some(hv), Some(wv), Some(bv)) = (*hv, *wv, *bv) {
                        rows += 1;
                        if hv > 0.0 && (wv / (hv / 100.0).powi(2) - bv).abs() <= 0.3 {
                            fits += 1;
                        } else if rows - fits > BMI_ROWS / 10 {
                            break; // not this triple
                        }
                    }
                }
                if rows >= 3 && fits as f64 >= rows as f64 * 0.9 {
                    for (i, name) in [(h, "身長"), (w, "体重"), (b, "BMI")] {
                        if let Some(p) = item_placement(profile, &by_name(name), how) {
                            set(placements, i, p);
                        }
                    }
                    break 'bmi;
                }
            }
        }
    }
    let column_median = |i: usize| median(numbers[i].iter().flatten().copied().collect());
    // Blood pressure: two whole-number columns side by side, the first always the higher.
    for i in 0..columns.len().saturating_sub(1) {
        let (s, d) = (i, i + 1);
        if !(numeric(placements, s) && numeric(placements, d)) || decimals(s) || decimals(d) {
            continue;
        }
        let pairs: Vec<(f64, f64)> = numbers[s]
            .iter()
            .zip(&numbers[d])
            .filter_map(|(a, b)| a.zip(*b))
            .collect();
        let higher = pairs.iter().filter(|(a, b)| a > b).count();
        let (ms, md) = (column_median(s), column_median(d));
        if pairs.len() >= 3
            && higher as f64 >= pairs.len() as f64 * 0.98
            && (95.0..=170.0).contains(&ms)
            && (55.0..=105.0).contains(&md)
        {
            for (i, name) in [(s, "収縮期血圧(1回目)"), (d, "拡張期血圧(1回目)")] {
                if let Some(p) = item_placement(profile, &by_name(name), how) {
                    set(placements, i, p);
                }
            }
            break;
        }
    }
    // HbA1c: one decimal, around 5–6 %; 腹囲: one decimal, 60–110 cm.
    for (name, range) in [("HbA1c(NGSP値)", 4.3..=8.5), ("腹囲(実測）", 60.0..=110.0)] {
        if let Some(i) = (0..columns.len())
            .find(|&i| numeric(placements, i) && decimals(i) && range.contains(&column_median(i)))
        {
            if let Some(p) = item_placement(profile, &by_name(name), how) {
                set(placements, i, p);
            }
        }
    }
    // Laboratory values: whole numbers, compared with typical values, in the forms' order.
    let lab: Vec<usize> = (0..columns.len())
        .filter(|&i| numeric(placements, i) && !decimals(i) && !small_codes(i))
        .collect();
    if !lab.is_empty() && lab.len() <= LAB_TYPICAL.len() {
        let stats: Vec<(f64, f64)> = lab
            .iter()
            .map(|&i| {
                let logs: Vec<f64> = numbers[i]
                    .iter()
                    .flatten()
                    .filter(|v| **v > 0.0)
                    .map(|v| v.ln())
                    .collect();
                let mean = logs.iter().sum::<f64>() / logs.len().max(1) as f64;
                let sd = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>()
                    / logs.len().max(1) as f64)
                    .sqrt();
                (mean, sd)
            })
            .collect();
        let cost = |c: usize, t: usize| {
            let (mean, sd) = stats[c];
            let (median, spread) = (LAB_TYPICAL[t].1, LAB_TYPICAL[t].2);
            ((mean - median.ln()) / 0.15).powi(2) + ((sd - spread) / 0.1).powi(2)
        };
        // Every way to give the columns distinct items, the order of the forms a tie-breaker.
        let mut best: Option<(f64, Vec<usize>)> = None;
        let mut chosen = Vec::with_capacity(lab.len());
        assign(
            lab.len(),
            LAB_TYPICAL.len(),
            &mut chosen,
            &mut |assignment: &[usize]| {
                let mut total: f64 = assignment
                    .iter()
                    .enumerate()
                    .map(|(c, &t)| cost(c, t))
                    .sum();
                for a in 0..assignment.len() {
                    for b in a + 1..assignment.len() {
                        if assignment[a] > assignment[b] {
                            total += 1.0;
                        }
                    }
                }
                if best.as_ref().is_none_or(|(cost, _)| total < *cost) {
                    best = Some((total, assignment.to_vec()));
                }
            },
        );
        if let Some((_, assignment)) = best {
            for (c, t) in assignment.into_iter().enumerate() {
                if let Some(p) = item_placement(profile, &by_name(LAB_TYPICAL[t].0), how) {
                    set(placements, lab[c], p);
                }
            }
        }
    }
    // Code columns in the forms' order: 尿糖, 尿蛋白 (the five-step scale), then 喫煙 (はい/いいえ).
    let codes: Vec<usize> = (0..columns.len())
        .filter(|&i| free(placements, i) && small_codes(i) && columns[i].filled().next().is_some())
        .collect();
    for (&i, name) in codes.iter().zip(["尿糖", "尿蛋白", "喫煙"]) {
        if let Some(p) = item_placement(profile, &by_name(name), how) {
            set(placements, i, p);
        }
    }
}

/// Calls `each` with every injective assignment of `columns` columns to `targets` targets.
fn assign(columns: usize, targets: usize, chosen: &mut Vec<usize>, each: &mut dyn FnMut(&[usize])) {
    if chosen.len() == columns {
        each(chosen);
        return;
    }
    for t in 0..targets {
        if !chosen.contains(&t) {
            chosen.push(t);
            assign(columns, targets, chosen, each);
            chosen.pop();
        }
    }
}

/// Answers meaning yes and no, for items whose code list is はい/いいえ.
const YES: [&str; 12] = [
    "はい",
    "有",
    "有り",
    "あり",
    "○",
    "〇",
    "yes",
    "y",
    "吸う",
    "吸っている",
    "する",
    "喫煙",
];
const NO: [&str; 12] = [
    "いいえ",
    "無",
    "無し",
    "なし",
    "×",
    "✕",
    "no",
    "n",
    "吸わない",
    "吸っていない",
    "しない",
    "非喫煙",
];

/// The code of the answer `value` for a yes/no code list, if it is a usual spelling of one.
fn yes_no_code(terms: &[kenshin_profile::CodeTerm], value: &str) -> Option<String> {
    let key = lookup_key(value);
    let code_of = |term: &str| {
        terms
            .iter()
            .find(|t| lookup_key(&t.term) == term)
            .map(|t| t.code.clone())
    };
    if YES.iter().any(|y| lookup_key(y) == key) {
        code_of("はい")
    } else if NO.iter().any(|n| lookup_key(n) == key) {
        code_of("いいえ")
    } else {
        None
    }
}

fn is_missing_token(value: &str) -> bool {
    matches!(
        lookup_key(value).as_str(),
        "未実施"
            | "未検査"
            | "未検"
            | "実施せず"
            | "未測定"
            | "測定不能"
            | "測定不可"
            | "判定不能"
            | "検査不能"
            | "検査不可"
    )
}

/// What number columns take for "no value".
fn is_blank_token(value: &str) -> bool {
    matches!(fold_width(value).as_str(), "-" | "--" | "ー" | "*")
}

/// Values of a code item that neither the code list, the usual spellings, a yes/no answer
/// nor a missing-value token explain: they need a `value` row.
fn unknown_values(placement: &Placement, column: &Column, profile: &Profile) -> Vec<String> {
    let Some(ItemKind::Code { terms }) = placement
        .target
        .as_deref()
        .and_then(|t| profile.item(t))
        .map(|i| &i.kind)
    else {
        return Vec::new();
    };
    column
        .distinct
        .iter()
        .filter(|v| {
            let k = lookup_key(v);
            !terms
                .iter()
                .any(|t| lookup_key(&t.code) == k || lookup_key(&t.term) == k)
                && !crate::record::is_qualitative_spelling(terms, &k)
                && yes_no_code(terms, v).is_none()
                && !is_missing_token(v)
        })
        .cloned()
        .collect()
}

/// How the draft names each column: its label when no other header cell has the same name
/// (the map finds it on any header row), else its position `#N`.
fn sources(placements: &[Placement], columns: &[Column], header_rows: usize) -> Vec<String> {
    let mut label_count = std::collections::HashMap::new();
    for column in columns {
        for (_, label) in &column.labels {
            *label_count.entry(lookup_key(label)).or_insert(0) += 1;
        }
    }
    placements
        .iter()
        .zip(columns)
        .map(|(placement, column)| {
            if header_rows > 0 && label_count.get(&lookup_key(&placement.column)) == Some(&1) {
                placement.column.clone()
            } else {
                format!("#{}", column.position)
            }
        })
        .collect()
}

/// A draft as the staff fixed it in a form: its id and version set, a `column` row for each
/// column they placed (`(source, item)`: a code, a standard name or `header.…`), a `value`
/// row for each answer they mapped (`(source, from, to)`). Empty entries are skipped; the map
/// loader checks the rest and names the line of any mistake.
pub fn edit_draft(
    map_csv: &str,
    id: &str,
    version: &str,
    columns: &[(String, String)],
    values: &[(String, String, String)],
) -> String {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(map_csv.trim_start_matches('\u{FEFF}').as_bytes());
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(Vec::new());
    for record in reader.records().flatten() {
        let mut fields: Vec<String> = record.iter().map(str::to_owned).collect();
        if fields.first().map(String::as_str) == Some("setting") && fields.len() >= 5 {
            match fields[3].as_str() {
                "id" if !id.trim().is_empty() => fields[4] = id.trim().to_owned(),
                "version" if !version.trim().is_empty() => fields[4] = version.trim().to_owned(),
                _ => {}
            }
        }
        let _ = out.write_record(&fields);
    }
    for (source, item) in columns {
        if !source.trim().is_empty() && !item.trim().is_empty() {
            let _ = out.write_record([
                "column",
                source.trim(),
                item.trim(),
                "",
                "",
                "",
                "画面で指定 / set in the form",
            ]);
        }
    }
    for (source, from, to) in values {
        if !source.trim().is_empty() && !to.trim().is_empty() {
            let _ = out.write_record([
                "value",
                source.trim(),
                "",
                from,
                to.trim(),
                "",
                "画面で指定 / set in the form",
            ]);
        }
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn draft_csv(
    profile: &Profile,
    placements: &[Placement],
    columns: &[Column],
    encoding: crate::delimited::SourceEncoding,
    delimiter: u8,
    header_rows: usize,
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
    let header = if header_rows > 0 { "present" } else { "absent" };
    let rows = header_rows.to_string();
    let mut settings = vec![
        ("id", "draft"),
        ("version", "1"),
        ("name", "map suggest の下書き / draft from map suggest"),
        ("profile", profile.id.as_str()),
        ("encoding", encoding),
        ("delimiter", delimiter),
        ("header", header),
    ];
    if header_rows > 1 {
        settings.push(("header_rows", rows.as_str()));
    }
    for (key, value) in settings {
        row(["setting", "", "", key, value, "", ""]);
    }
    let sources: Vec<&String> = placements.iter().map(|p| &p.source).collect();
    for (placement, source) in placements.iter().zip(&sources) {
        let Some(target) = &placement.target else {
            continue;
        };
        let what = placement.target_name.as_deref().unwrap_or("");
        let note = match (placement.how.as_deref(), placement.alternatives.is_empty()) {
            (Some("values"), _) => format!(
                "値から推定 / placed by its values: {what} — 確認してください / please check"
            ),
            (Some(how), true) => format!("{how}: {what}"),
            (Some(how), false) => format!(
                "{how}: {what} (other methods: {})",
                placement.alternatives.join(" ")
            ),
            (None, _) => String::new(),
        };
        row(["column", source, target, "", "", "", &note]);
    }
    for ((placement, column), source) in placements.iter().zip(columns).zip(sources) {
        let Some(target) = &placement.target else {
            continue;
        };
        let Some(ItemKind::Code { terms }) = profile.item(target).map(|i| &i.kind) else {
            continue;
        };
        // Spell out how observed values map, so the staff can check them in one place.
        for value in &column.distinct {
            let key = lookup_key(value);
            if terms
                .iter()
                .any(|t| lookup_key(&t.code) == key || lookup_key(&t.term) == key)
            {
                continue;
            }
            if let Some(code) = crate::record::qualitative_code_for(terms, &key) {
                row(["value", source, "", value, &code, "", "usual spelling"]);
            } else if let Some(code) = yes_no_code(terms, value) {
                row([
                    "value",
                    source,
                    "",
                    value,
                    &code,
                    "",
                    "はい/いいえ の言い換え / yes-no answer",
                ]);
            }
        }
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Shows a draft's placements as a clerk edited the draft: columns the edited map places are
/// placed (`how` = `map`), and answers it maps are no longer unknown.
pub fn apply_edits(suggestion: &mut Suggestion, map_csv: &str, profile: &Profile) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(map_csv.trim_start_matches('\u{FEFF}').as_bytes());
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for record in reader.records().flatten() {
        match record.get(0) {
            Some("column") => columns.push((
                record.get(1).unwrap_or("").to_owned(),
                record.get(2).unwrap_or("").to_owned(),
            )),
            Some("value") => values.push((
                record.get(1).unwrap_or("").to_owned(),
                record.get(3).unwrap_or("").to_owned(),
            )),
            _ => {}
        }
    }
    for placement in &mut suggestion.placements {
        if placement.target.is_none() {
            if let Some((_, item)) = columns.iter().find(|(s, _)| *s == placement.source) {
                let found = profile.item(item).or_else(|| {
                    profile
                        .items
                        .iter()
                        .find(|i| lookup_key(&i.name) == lookup_key(item))
                });
                placement.target_name =
                    Some(found.map_or_else(|| item.clone(), |i| i.name.clone()));
                placement.target = Some(found.map_or_else(|| item.clone(), |i| i.code.clone()));
                placement.how = Some("map".into());
            }
        }
        placement.unknown_values.retain(|v| {
            !values
                .iter()
                .any(|(s, from)| (*s == placement.source || s == "*") && from == v)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample made to be expensive: 600 numeric columns, no header. The draft still comes
    /// back (the cubic search for height/weight/BMI is bounded), one placement per column.
    #[test]
    fn a_very_wide_sample_is_drafted_within_bounds() {
        let mut csv = String::new();
        for row in 0..200 {
            let fields: Vec<String> = (0..600)
                .map(|c| format!("{}.{}", 100 + (row * 7 + c * 13) % 90, c % 10))
                .collect();
            csv.push_str(&fields.join(","));
            csv.push_str("\r\n");
        }
        let options = DelimitedOptions {
            max_fields: 2000,
            ..DelimitedOptions::default()
        };
        let suggestion = suggest(csv.as_bytes(), Profile::default_profile(), options).unwrap();
        assert_eq!(suggestion.placements.len(), 600);
        assert_eq!(suggestion.rows_sampled, 200);
    }

    /// Whatever the header looks like, an empty or one-line sample never panics.
    #[test]
    fn tiny_samples_are_drafted() {
        for sample in ["", "a", "保険者番号\r\n", "1,2\r\n", "\u{FEFF}\r\n\r\n"] {
            for header in [HeaderMode::Auto, HeaderMode::Present, HeaderMode::Absent] {
                let options = DelimitedOptions {
                    header,
                    ..DelimitedOptions::default()
                };
                let _ = suggest(sample.as_bytes(), Profile::default_profile(), options);
            }
        }
    }

    #[test]
    fn a_draft_edited_in_the_form_keeps_its_rows_and_gains_the_fixes() {
        let draft = "kind,source,item,from,to,options,note\r\nsetting,,,id,draft,,\r\nsetting,,,version,1,,\r\ncolumn,身長,9N001000000000001,,,,\r\ncolumn,尿糖,1A020000000190111,,,,\r\n";
        let edited = edit_draft(
            draft,
            "inst-a",
            "2",
            &[("たばこ".into(), "喫煙".into()), ("空".into(), " ".into())],
            &[("尿糖".into(), "強陽性".into(), "5".into())],
        );
        assert!(edited.contains("setting,,,id,inst-a"), "{edited}");
        assert!(edited.contains("setting,,,version,2"));
        assert!(edited.contains("column,身長,9N001000000000001"));
        assert!(edited.contains("column,たばこ,喫煙"));
        assert!(!edited.contains("column,空"), "empty fixes are skipped");
        assert!(edited.contains("value,尿糖,,強陽性,5"));
        let map = MapFile::from_reader(edited.as_bytes(), Profile::default_profile());
        assert!(map.is_ok(), "{map:?}");
    }
}
