//! Drafts that place real exports: eight synthetic vendor export styles (encodings, header
//! shapes, date and number styles, answer spellings, Excel artefacts), each with its truth.
//! For every style the sample goes through `map suggest`, the *unedited* draft converts the
//! export, and every true value is looked up in the output: the share that landed on the right
//! item with the right standard value must be at least 95 %.
//!
//! The examinees are fictional, drawn from a fixed-seed generator with distributions like a
//! Japanese adult checkup population. An item counts as placed when it lands on an item of the
//! right name (the analyte): which JLAC10 method code an institution uses cannot be seen in its
//! data, so the draft takes the general form and lists the others as alternatives.
//!
//! `cargo test -p kenshin-convert --test draft_corpus -- --nocapture` prints the table that
//! `docs/PERFORMANCE.md` quotes.

use std::collections::BTreeMap;

use kenshin_convert::delimited::DelimitedOptions;
use kenshin_convert::suggest::suggest;
use kenshin_convert::{convert_delimited, MapFile, Routed};
use kenshin_profile::{CheckupRecord, HeaderField, Profile, Value};

/// The standard names of the items every style exports.
const ITEMS: [&str; 17] = [
    "身長",
    "体重",
    "BMI",
    "腹囲(実測）",
    "収縮期血圧(1回目)",
    "拡張期血圧(1回目)",
    "空腹時中性脂肪(トリグリセリド)",
    "HDLコレステロール",
    "LDLコレステロール",
    "AST(GOT)",
    "ALT(GPT)",
    "γ-GT(γ-GTP)",
    "空腹時血糖",
    "HbA1c(NGSP値)",
    "尿糖",
    "尿蛋白",
    "喫煙",
];

/// What a value truly is, in the standard's terms.
#[derive(Clone, Debug, PartialEq)]
enum Truth {
    Number(f64),
    /// A code of the item's code list.
    Code(&'static str),
    NotPerformed,
    Unmeasurable,
    /// Given in the export as "no value" (`*`, `ー`, empty): nothing must be delivered.
    Absent,
}

/// One fictional examinee.
#[derive(Clone, Debug)]
struct Person {
    insurer: &'static str,
    kana: String,
    birth: (i32, u8, u8),
    male: bool,
    exam: (i32, u8, u8),
    items: BTreeMap<&'static str, Truth>,
}

/// xorshift64*: a fixed-seed generator (no dependency, the same corpus on every machine).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        // Box–Muller.
        let (u, v) = (self.unit().max(1e-12), self.unit());
        mean + sd * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    fn lognormal(&mut self, median: f64, spread: f64) -> f64 {
        median * self.normal(0.0, spread).exp()
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (value * f).round() / f
}

const KANA: [&str; 12] = [
    "ヤマダ タロウ",
    "スズキ ハナコ",
    "サトウ ケンタ",
    "タナカ ミサキ",
    "イトウ ナオコ",
    "ワタナベ ショウ",
    "ナカムラ ユイ",
    "コバヤシ イチロウ",
    "カトウ ダイスケ",
    "ヨシダ アヤ",
    "ヤマモト ユミ",
    "マツモト リョウ",
];

fn people(seed: u64, n: usize) -> Vec<Person> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let male = rng.chance(0.55);
            let height = round(
                if male {
                    rng.normal(170.5, 6.0)
                } else {
                    rng.normal(157.5, 5.5)
                },
                1,
            );
            let bmi_true = rng.normal(23.0, 3.2).clamp(16.0, 38.0);
            let weight = round(bmi_true * (height / 100.0).powi(2), 1);
            let bmi = round(weight / (height / 100.0).powi(2), 1);
            let waist = round(bmi * 3.5 + rng.normal(2.0, 4.0), 1);
            let sbp = rng.normal(126.0, 15.0).clamp(88.0, 190.0).round();
            let dbp = (sbp * 0.62 + rng.normal(0.0, 6.0))
                .clamp(50.0, sbp - 15.0)
                .round();
            let tg = rng.lognormal(100.0, 0.5).clamp(30.0, 900.0).round();
            let hdl = rng
                .normal(if male { 55.0 } else { 66.0 }, 14.0)
                .clamp(25.0, 120.0)
                .round();
            let ldl = rng.normal(122.0, 30.0).clamp(40.0, 260.0).round();
            let ast = rng.lognormal(21.0, 0.35).clamp(8.0, 200.0).round();
            let alt = rng.lognormal(18.0, 0.55).clamp(5.0, 250.0).round();
            let ggt = rng.lognormal(26.0, 0.7).clamp(6.0, 600.0).round();
            let fbs = rng.normal(96.0, 12.0).clamp(65.0, 250.0).round();
            let a1c = round(rng.normal(5.6, 0.45).clamp(4.2, 11.0), 1);
            let urine = |rng: &mut Rng| {
                if rng.chance(0.85) {
                    "1"
                } else {
                    rng.pick(&["2", "3", "4"])
                }
            };
            let sugar = urine(&mut rng);
            let protein = urine(&mut rng);
            let smoking = if rng.chance(0.22) { "1" } else { "3" };
            let mut items = BTreeMap::new();
            for (name, value) in [
                ("身長", Truth::Number(height)),
                ("体重", Truth::Number(weight)),
                ("BMI", Truth::Number(bmi)),
                ("腹囲(実測）", Truth::Number(waist)),
                ("収縮期血圧(1回目)", Truth::Number(sbp)),
                ("拡張期血圧(1回目)", Truth::Number(dbp)),
                ("空腹時中性脂肪(トリグリセリド)", Truth::Number(tg)),
                ("HDLコレステロール", Truth::Number(hdl)),
                ("LDLコレステロール", Truth::Number(ldl)),
                ("AST(GOT)", Truth::Number(ast)),
                ("ALT(GPT)", Truth::Number(alt)),
                ("γ-GT(γ-GTP)", Truth::Number(ggt)),
                ("空腹時血糖", Truth::Number(fbs)),
                ("HbA1c(NGSP値)", Truth::Number(a1c)),
                ("尿糖", Truth::Code(sugar)),
                ("尿蛋白", Truth::Code(protein)),
                ("喫煙", Truth::Code(smoking)),
            ] {
                items.insert(name, value);
            }
            Person {
                insurer: rng.pick(&["06139911", "01130012", "31130015", "06271234"]),
                kana: rng.pick(&KANA).to_owned(),
                birth: (
                    1950 + (rng.next() % 50) as i32,
                    1 + (rng.next() % 12) as u8,
                    1 + (rng.next() % 28) as u8,
                ),
                male,
                exam: (
                    2025,
                    4 + (rng.next() % 9) as u8,
                    1 + (rng.next() % 28) as u8,
                ),
                items,
            }
        })
        .collect()
}

/// How a vendor writes its export.
struct Style {
    name: &'static str,
    what: &'static str,
    /// The header rows (none, one, or two).
    headers: Vec<Vec<String>>,
    /// The data row of one examinee (its truth may change: a token for a missing value).
    row: fn(&mut Person, &mut Rng) -> Vec<String>,
    delimiter: &'static str,
    shift_jis: bool,
    bom: bool,
}

fn number(person: &Person, name: &str) -> f64 {
    match person.items[name] {
        Truth::Number(n) => n,
        _ => unreachable!("{name} is a number in the generator"),
    }
}

fn code(person: &Person, name: &str) -> &'static str {
    match person.items[name] {
        Truth::Code(c) => c,
        _ => unreachable!(),
    }
}

/// A number as Excel writes it back: no trailing zeros.
fn excel(value: f64) -> String {
    let text = format!("{value}");
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

fn one(value: f64) -> String {
    format!("{value:.1}")
}

fn int(value: f64) -> String {
    format!("{value:.0}")
}

fn era(date: (i32, u8, u8), short: bool) -> String {
    let (y, m, d) = date;
    let (name, letter, start) = if (y, m, d) >= (2019, 5, 1) {
        ("令和", "R", 2018)
    } else if (y, m, d) >= (1989, 1, 8) {
        ("平成", "H", 1988)
    } else {
        ("昭和", "S", 1925)
    };
    if short {
        format!("{letter}{}.{m:02}.{d:02}", y - start)
    } else {
        format!("{name}{}年{m}月{d}日", y - start)
    }
}

fn urine(code: &str, spelling: [&'static str; 5]) -> String {
    spelling[code.parse::<usize>().unwrap() - 1].to_owned()
}

fn smoking(code: &str, yes: &str, no: &str) -> String {
    if code == "1" { yes } else { no }.to_owned()
}

/// The items in the order most styles write them, after the header fields.
fn item_values(p: &Person, excel_numbers: bool) -> Vec<String> {
    let f = |v: f64| if excel_numbers { excel(v) } else { one(v) };
    vec![
        f(number(p, "身長")),
        f(number(p, "体重")),
        f(number(p, "BMI")),
        f(number(p, "腹囲(実測）")),
        int(number(p, "収縮期血圧(1回目)")),
        int(number(p, "拡張期血圧(1回目)")),
        int(number(p, "空腹時中性脂肪(トリグリセリド)")),
        int(number(p, "HDLコレステロール")),
        int(number(p, "LDLコレステロール")),
        int(number(p, "AST(GOT)")),
        int(number(p, "ALT(GPT)")),
        int(number(p, "γ-GT(γ-GTP)")),
        int(number(p, "空腹時血糖")),
        one(number(p, "HbA1c(NGSP値)")),
    ]
}

fn header_row(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// The 17-digit codes a vendor's system uses for the items (its own measurement methods).
const CODES: [&str; 17] = [
    "9N001000000000001",
    "9N006000000000001",
    "9N011000000000001",
    "9N016160100000001",
    "9A751000000000001",
    "9A761000000000001",
    "3F015000002327101",
    "3F070000002327101",
    "3F077000002327101",
    "3B035000002327201",
    "3B045000002327201",
    "3B090000002327101",
    "3D010000001926101",
    "3D046000001906202",
    "1A020000000191111",
    "1A010000000191111",
    "9N736000000000011",
];

fn styles() -> Vec<Style> {
    vec![
        Style {
            name: "A",
            what: "Shift_JIS CSV, Japanese names, 和暦 S45.01.02, 男/女, (－)(＋), はい/いいえ",
            headers: vec![header_row(&[
                "保険者番号", "カナ氏名", "生年月日", "性別", "受診日", "身長", "体重", "BMI",
                "腹囲", "最高血圧", "最低血圧", "中性脂肪", "HDLコレステロール",
                "LDLコレステロール", "GOT", "GPT", "γ-GTP", "空腹時血糖", "HbA1c", "尿糖",
                "尿蛋白", "喫煙",
            ])],
            row: |p, _| {
                let mut row = vec![
                    p.insurer.to_owned(),
                    p.kana.clone(),
                    era(p.birth, true),
                    if p.male { "男" } else { "女" }.into(),
                    era(p.exam, true),
                ];
                row.extend(item_values(p, false));
                let spelling = ["(－)", "(±)", "(＋)", "(2＋)", "(3＋)"];
                row.push(urine(code(p, "尿糖"), spelling));
                row.push(urine(code(p, "尿蛋白"), spelling));
                row.push(smoking(code(p, "喫煙"), "はい", "いいえ"));
                row
            },
            delimiter: ",",
            shift_jis: true,
            bom: false,
        },
        Style {
            name: "B",
            what: "UTF-8 with BOM, abbreviations (HT WT SBP DBP TG HDL-C GOT GPT γ-GTP FBS A1c), M/F, 有/無",
            headers: vec![header_row(&[
                "保険者番号", "氏名カナ", "生年月日", "性別", "健診日", "HT", "WT", "BMI",
                "ウエスト", "SBP", "DBP", "TG", "HDL-C", "LDL-C", "GOT", "GPT", "γ-GTP", "FBS",
                "A1c", "尿糖", "尿蛋白", "喫煙",
            ])],
            row: |p, _| {
                let (by, bm, bd) = p.birth;
                let (ey, em, ed) = p.exam;
                let mut row = vec![
                    p.insurer.to_owned(),
                    p.kana.clone(),
                    format!("{by}/{bm:02}/{bd:02}"),
                    if p.male { "M" } else { "F" }.into(),
                    format!("{ey}/{em:02}/{ed:02}"),
                ];
                row.extend(item_values(p, false));
                let spelling = ["-", "±", "+", "2+", "3+"];
                row.push(urine(code(p, "尿糖"), spelling));
                row.push(urine(code(p, "尿蛋白"), spelling));
                row.push(smoking(code(p, "喫煙"), "有", "無"));
                row
            },
            delimiter: ",",
            shift_jis: false,
            bom: true,
        },
        Style {
            name: "C",
            what: "TSV, the items' 17-digit codes as headers, YYYYMMDD, 1/2, code-list codes",
            headers: vec![{
                let mut h = header_row(&["保険者番号", "カナ氏名", "生年月日", "性別", "健診実施日"]);
                h.extend(CODES.iter().map(|c| (*c).to_owned()));
                h
            }],
            row: |p, _| {
                let (by, bm, bd) = p.birth;
                let (ey, em, ed) = p.exam;
                let mut row = vec![
                    p.insurer.to_owned(),
                    p.kana.clone(),
                    format!("{by}{bm:02}{bd:02}"),
                    if p.male { "1" } else { "2" }.into(),
                    format!("{ey}{em:02}{ed:02}"),
                ];
                row.extend(item_values(p, false));
                row.push(code(p, "尿糖").into());
                row.push(code(p, "尿蛋白").into());
                row.push(code(p, "喫煙").into());
                row
            },
            delimiter: "\t",
            shift_jis: false,
            bom: false,
        },
        Style {
            name: "D",
            what: "two header rows: 5-character item codes, then Japanese names; 2024-04-01; 男性/女性; ○/×",
            headers: vec![
                {
                    let mut h = header_row(&["", "", "", "", ""]);
                    h.extend(CODES.iter().map(|c| c[..5].to_owned()));
                    h
                },
                header_row(&[
                    "保険者番号", "フリガナ", "生年月日", "性別", "健診年月日", "身長", "体重",
                    "BMI", "腹囲", "収縮期血圧", "拡張期血圧", "中性脂肪", "HDL", "LDL", "AST",
                    "ALT", "γ-GT", "血糖", "HbA1c", "尿糖", "尿蛋白", "喫煙",
                ]),
            ],
            row: |p, _| {
                let (by, bm, bd) = p.birth;
                let (ey, em, ed) = p.exam;
                let mut row = vec![
                    p.insurer.to_owned(),
                    p.kana.clone(),
                    format!("{by}-{bm:02}-{bd:02}"),
                    if p.male { "男性" } else { "女性" }.into(),
                    format!("{ey}-{em:02}-{ed:02}"),
                ];
                row.extend(item_values(p, false));
                let spelling = ["陰性", "疑陽性", "陽性", "2+", "3+"];
                row.push(urine(code(p, "尿糖"), spelling));
                row.push(urine(code(p, "尿蛋白"), spelling));
                row.push(smoking(code(p, "喫煙"), "○", "×"));
                row
            },
            delimiter: ",",
            shift_jis: false,
            bom: false,
        },
        Style {
            name: "E",
            what: "two header rows, names then 17-digit codes; Excel artefacts (165 for 165.0, <5, *), trailing empty columns",
            headers: vec![
                header_row(&[
                    "保険者番号", "カナ", "生年月日", "性別", "受診年月日", "身長", "体重", "BMI",
                    "腹囲", "血圧(上)", "血圧(下)", "TG", "HDL", "LDL", "AST", "ALT", "γ-GTP",
                    "血糖", "HbA1c", "尿糖", "尿蛋白", "喫煙", "", "",
                ]),
                {
                    let mut h = header_row(&["", "", "", "", ""]);
                    h.extend(CODES.iter().map(|c| (*c).to_owned()));
                    h.extend(["".to_owned(), "".to_owned()]);
                    h
                },
            ],
            row: |p, rng| {
                let (by, bm, bd) = p.birth;
                let (ey, em, ed) = p.exam;
                let mut row = vec![
                    p.insurer.to_owned(),
                    p.kana.clone(),
                    format!("{by}/{bm}/{bd}"),
                    if p.male { "1" } else { "2" }.into(),
                    format!("{ey}/{em}/{ed}"),
                ];
                row.extend(item_values(p, true));
                // A few values below the lower limit of the method, and a few not measured.
                if rng.chance(0.1) {
                    row[5 + 9] = "<5".into();
                    p.items.insert("AST(GOT)", Truth::Number(5.0));
                }
                if rng.chance(0.1) {
                    row[5 + 8] = "*".into();
                    p.items.insert("LDLコレステロール", Truth::Absent);
                }
                let spelling = ["-", "+-", "+", "++", "+++"];
                row.push(urine(code(p, "尿糖"), spelling));
                row.push(urine(code(p, "尿蛋白"), spelling));
                row.push(smoking(code(p, "喫煙"), "あり", "なし"));
                row.extend(["".to_owned(), "".to_owned()]);
                row
            },
            delimiter: ",",
            shift_jis: true,
            bom: false,
        },
        Style {
            name: "F",
            what: "no header at all (the vendor's column order), 1970/01/02, 1/2, codes",
            headers: vec![],
            row: |p, _| {
                let (by, bm, bd) = p.birth;
                let (ey, em, ed) = p.exam;
                let mut row = vec![
                    p.insurer.to_owned(),
                    p.kana.clone(),
                    format!("{by}/{bm:02}/{bd:02}"),
                    if p.male { "1" } else { "2" }.into(),
                    format!("{ey}/{em:02}/{ed:02}"),
                ];
                row.extend(item_values(p, false));
                row.push(code(p, "尿糖").into());
                row.push(code(p, "尿蛋白").into());
                row.push(code(p, "喫煙").into());
                row
            },
            delimiter: ",",
            shift_jis: false,
            bom: false,
        },
        Style {
            name: "I",
            what: "no header, another vendor's order (exam date first, 和暦 birth date, liver before lipids), TSV, Shift_JIS",
            headers: vec![],
            row: |p, _| {
                let (ey, em, ed) = p.exam;
                let mut row = vec![
                    format!("{ey}/{em}/{ed}"),
                    p.insurer.to_owned(),
                    if p.male { "男" } else { "女" }.into(),
                    era(p.birth, true),
                    p.kana.clone(),
                    one(number(p, "身長")),
                    one(number(p, "体重")),
                    one(number(p, "腹囲(実測）")),
                    one(number(p, "BMI")),
                    int(number(p, "収縮期血圧(1回目)")),
                    int(number(p, "拡張期血圧(1回目)")),
                    int(number(p, "AST(GOT)")),
                    int(number(p, "ALT(GPT)")),
                    int(number(p, "γ-GT(γ-GTP)")),
                    int(number(p, "空腹時血糖")),
                    one(number(p, "HbA1c(NGSP値)")),
                    int(number(p, "空腹時中性脂肪(トリグリセリド)")),
                    int(number(p, "HDLコレステロール")),
                    int(number(p, "LDLコレステロール")),
                ];
                row.push(code(p, "尿糖").into());
                row.push(code(p, "尿蛋白").into());
                row.push(code(p, "喫煙").into());
                row
            },
            delimiter: "\t",
            shift_jis: true,
            bom: false,
        },
        Style {
            name: "G",
            what: "Excel 「CSV (コンマ区切り)」: Shift_JIS, units in the headers, leading zero of 保険者番号 dropped, 165 for 165.0",
            headers: vec![header_row(&[
                "保険者番号", "氏名(カナ)", "生年月日", "性別", "健診実施日", "身長(cm)",
                "体重(kg)", "BMI(kg/m2)", "腹囲(cm)", "収縮期血圧(mmHg)", "拡張期血圧(mmHg)",
                "中性脂肪(mg/dl)", "HDLコレステロール(mg/dl)", "LDLコレステロール(mg/dl)",
                "AST(U/L)", "ALT(U/L)", "γ-GT(U/L)", "空腹時血糖(mg/dl)", "HbA1c(%)", "尿糖",
                "尿蛋白", "喫煙",
            ])],
            row: |p, _| {
                let (by, bm, bd) = p.birth;
                let (ey, em, ed) = p.exam;
                let mut row = vec![
                    p.insurer.trim_start_matches('0').to_owned(),
                    p.kana.clone(),
                    format!("{by}/{bm}/{bd}"),
                    if p.male { "男" } else { "女" }.into(),
                    format!("{ey}/{em}/{ed}"),
                ];
                row.extend(item_values(p, true));
                let spelling = ["－", "±", "＋", "２＋", "３＋"];
                row.push(urine(code(p, "尿糖"), spelling));
                row.push(urine(code(p, "尿蛋白"), spelling));
                row.push(smoking(code(p, "喫煙"), "はい", "いいえ"));
                row
            },
            delimiter: ",",
            shift_jis: true,
            bom: false,
        },
        Style {
            name: "H",
            what: "UTF-8, 令和6年4月1日 dates, 吸う/吸わない, 陰性/弱陽性/陽性, 未実施・測定不可・ー tokens",
            headers: vec![header_row(&[
                "保険者番号", "ふりがな", "生年月日(和暦)", "性別", "健診日", "身長", "体重",
                "BMI", "腹囲(実測)", "収縮期血圧", "拡張期血圧", "空腹時中性脂肪",
                "HDLコレステロール", "LDLコレステロール", "AST(GOT)", "ALT(GPT)", "γ-GT(γ-GTP)",
                "空腹時血糖", "HbA1c(NGSP値)", "尿糖", "尿蛋白", "喫煙",
            ])],
            row: |p, rng| {
                let mut row = vec![
                    p.insurer.to_owned(),
                    p.kana.clone(),
                    era(p.birth, false),
                    if p.male { "男" } else { "女" }.into(),
                    era(p.exam, false),
                ];
                row.extend(item_values(p, false));
                if rng.chance(0.1) {
                    row[5 + 13] = "未実施".into();
                    p.items.insert("HbA1c(NGSP値)", Truth::NotPerformed);
                }
                if rng.chance(0.05) {
                    row[5 + 8] = "測定不可".into();
                    p.items.insert("LDLコレステロール", Truth::Unmeasurable);
                }
                if rng.chance(0.1) {
                    row[5 + 3] = "ー".into();
                    p.items.insert("腹囲(実測）", Truth::Absent);
                }
                let spelling = ["陰性", "弱陽性", "陽性", "陽性(2+)", "陽性(3+)"];
                row.push(urine(code(p, "尿糖"), spelling));
                row.push(urine(code(p, "尿蛋白"), spelling));
                row.push(smoking(code(p, "喫煙"), "吸う", "吸わない"));
                row
            },
            delimiter: ",",
            shift_jis: false,
            bom: false,
        },
    ]
}

fn csv_line(fields: &[String], delimiter: &str) -> String {
    fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(delimiter)
        + "\r\n"
}

/// The export of `people` in `style` (their truth adjusted for the tokens written).
fn export(style: &Style, people: &mut [Person], seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut text = String::new();
    for header in &style.headers {
        text.push_str(&csv_line(header, style.delimiter));
    }
    for person in people.iter_mut() {
        text.push_str(&csv_line(&(style.row)(person, &mut rng), style.delimiter));
    }
    let mut bytes = if style.bom {
        vec![0xEF, 0xBB, 0xBF]
    } else {
        Vec::new()
    };
    if style.shift_jis {
        let (encoded, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
        assert!(!unmappable);
        bytes.extend_from_slice(&encoded);
    } else {
        bytes.extend_from_slice(text.as_bytes());
    }
    bytes
}

/// How many true values landed right, of how many, and the first misses (for the note).
fn score(
    profile: &Profile,
    people: &[Person],
    records: &[CheckupRecord],
) -> (u64, u64, Vec<String>) {
    let mut right = 0;
    let mut total = 0;
    let mut misses = Vec::new();
    let by_number: BTreeMap<u64, &CheckupRecord> =
        records.iter().map(|r| (r.source_record, r)).collect();
    for (i, person) in people.iter().enumerate() {
        let record = by_number.get(&(i as u64 + 1));
        let mut check = |what: String, ok: bool| {
            total += 1;
            if ok {
                right += 1;
            } else if misses.len() < 12 {
                misses.push(what);
            }
        };
        let header =
            |field: HeaderField| record.and_then(|r| r.header.get(field).map(str::to_owned));
        let date = |(y, m, d): (i32, u8, u8)| format!("{y:04}{m:02}{d:02}");
        let expected_insurer = person.insurer.to_owned();
        check(
            format!(
                "#{} insurer {:?}",
                i + 1,
                header(HeaderField::InsurerNumber)
            ),
            header(HeaderField::InsurerNumber) == Some(expected_insurer),
        );
        check(
            format!("#{} kana {:?}", i + 1, header(HeaderField::KanaName)),
            header(HeaderField::KanaName).as_deref() == Some(person.kana.as_str()),
        );
        check(
            format!("#{} birth {:?}", i + 1, header(HeaderField::BirthDate)),
            header(HeaderField::BirthDate) == Some(date(person.birth)),
        );
        check(
            format!("#{} sex {:?}", i + 1, header(HeaderField::Sex)),
            header(HeaderField::Sex).as_deref() == Some(if person.male { "1" } else { "2" }),
        );
        check(
            format!("#{} exam {:?}", i + 1, header(HeaderField::ExamDate)),
            header(HeaderField::ExamDate) == Some(date(person.exam)),
        );
        for name in ITEMS {
            let truth = &person.items[name];
            let found: Vec<&Value> = record
                .map(|r| {
                    r.values
                        .iter()
                        .filter(|v| profile.item(&v.code).is_some_and(|item| item.name == name))
                        .map(|v| &v.value)
                        .collect()
                })
                .unwrap_or_default();
            let ok = match (truth, found.as_slice()) {
                (Truth::Absent, []) => true,
                (Truth::Number(n), [Value::Number(text)]) => {
                    text.parse::<f64>().is_ok_and(|v| (v - n).abs() < 1e-9)
                }
                (Truth::Code(c), [Value::Code(codes)]) => codes == &[(*c).to_owned()],
                (Truth::NotPerformed, [Value::NotPerformed]) => true,
                (Truth::Unmeasurable, [Value::Unmeasurable]) => true,
                _ => false,
            };
            check(format!("#{} {name}: {truth:?} → {found:?}", i + 1), ok);
        }
    }
    (right, total, misses)
}

#[test]
fn unedited_drafts_place_at_least_95_percent_of_values_in_every_style() {
    let profile = Profile::default_profile();
    let mut failures = Vec::new();
    println!("| style | export | values placed correctly |");
    println!("|---|---|---|");
    for (n, style) in styles().iter().enumerate() {
        let mut people = people(0x5EED_0000 + n as u64, 120);
        let bytes = export(style, &mut people, 0xC0FF_EE00 + n as u64);
        let suggestion = suggest(&bytes[..], profile, DelimitedOptions::default())
            .unwrap_or_else(|e| panic!("style {}: the sample cannot be read: {e}", style.name));
        let map = match MapFile::from_reader(suggestion.map_csv.as_bytes(), profile) {
            Ok(map) => map,
            Err(err) => {
                failures.push(format!(
                    "style {}: the draft does not load: {err}\n{}",
                    style.name, suggestion.map_csv
                ));
                continue;
            }
        };
        let mut records = Vec::new();
        let converted = convert_delimited(
            &bytes[..],
            profile,
            &map,
            |record: &CheckupRecord| {
                records.push(record.clone());
                Ok(Routed::Delivered)
            },
            |_| {},
        );
        let (right, total, misses) = match converted {
            Ok(_) => score(profile, &people, &records),
            Err(err) => (0, 1, vec![format!("conversion failed: {err}")]),
        };
        let share = right as f64 / total as f64 * 100.0;
        println!(
            "| {} | {} | {right} / {total} = {share:.1} % |",
            style.name, style.what
        );
        if share < 95.0 {
            failures.push(format!(
                "style {} ({}): {share:.1} %; first misses:\n  {}\ndraft:\n{}",
                style.name,
                style.what,
                misses.join("\n  "),
                suggestion.map_csv
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
