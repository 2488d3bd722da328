//! Fake but plausible 特定健診 records for tests and demonstrations. Every person is invented:
//! names are drawn from common katakana family and given names, insurers and the institution
//! use numbers reserved here for fakes, addresses are in 架空市 ("fictional city").

use std::collections::HashMap;

use kenshin_profile::{
    CheckupRecord, Header, HeaderField, ItemKind, ItemValue, Profile, RangeFlag, Value, XmlDataType,
};
use time::{Date, Duration, Month};

/// The fake insurers records are spread over (保険者番号, 8 digits).
pub const SYNTHETIC_INSURERS: [&str; 3] = ["06999901", "06999902", "39999903"];
/// The fake 健診機関番号 of every synthetic record.
pub const SYNTHETIC_INSTITUTION: &str = "1399999901";

/// SplitMix64: small, fast, and the same sequence on every platform, so a seed reproduces a
/// data set exactly.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Normal by Box–Muller.
    fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        (median.ln() + self.normal(0.0, sigma)).exp()
    }
}

const FAMILY: [&str; 20] = [
    "ヤマダ",
    "スズキ",
    "タナカ",
    "サトウ",
    "ワタナベ",
    "イトウ",
    "ナカムラ",
    "コバヤシ",
    "カトウ",
    "ヨシダ",
    "ヤマモト",
    "ササキ",
    "マツモト",
    "イノウエ",
    "キムラ",
    "ハヤシ",
    "シミズ",
    "ヤマグチ",
    "モリ",
    "アベ",
];
const GIVEN_MALE: [&str; 12] = [
    "タロウ",
    "ジロウ",
    "ヒロシ",
    "タケシ",
    "マコト",
    "ケンタ",
    "ショウタ",
    "ダイスケ",
    "ユウキ",
    "カズヤ",
    "ツヨシ",
    "イサム",
];
const GIVEN_FEMALE: [&str; 12] = [
    "ハナコ",
    "ユミコ",
    "ケイコ",
    "ヨウコ",
    "サチコ",
    "マユミ",
    "アヤ",
    "ユイ",
    "ミホ",
    "ナオミ",
    "トモコ",
    "エミ",
];
const HISTORY: [&str; 6] = [
    "高血圧症（内服治療中）",
    "脂質異常症",
    "虫垂炎術後",
    "胃潰瘍（既往）",
    "2型糖尿病（食事療法）",
    "気管支喘息",
];
const DIAGNOSES: [&str; 3] = ["異常なし", "要経過観察", "要医療"];

// Item codes of the 第4期 table used here.
const HEIGHT: &str = "9N001000000000001";
const WEIGHT: &str = "9N006000000000001";
const BMI: &str = "9N011000000000001";
const WAIST: &str = "9N016160100000001";
const SBP1: &str = "9A751000000000001";
const SBP2: &str = "9A752000000000001";
const DBP1: &str = "9A761000000000001";
const DBP2: &str = "9A762000000000001";
const MEAL_TIME: &str = "9N141000000000011";
const TG_FASTING: &str = "3F015000002327101";
const TG_CASUAL: &str = "3F015129902327101";
const HDL: &str = "3F070000002327101";
const LDL: &str = "3F077000002327101";
const AST: &str = "3B035000002327201";
const ALT: &str = "3B045000002327201";
const GGT: &str = "3B090000002327101";
const FBG: &str = "3D010000001926101";
const CASUAL_BG: &str = "3D010129901926101";
const HBA1C: &str = "3D046000001906202";
const URINE_GLUCOSE: &str = "1A020000000191111";
const URINE_PROTEIN: &str = "1A010000000191111";
const NOT_DONE_REASON: &str = "9N512000000000011";
const HISTORY_ANY: &str = "9N056000000000011";
const HISTORY_TEXT: &str = "9N056160400000049";
const SYMPTOMS: &str = "9N061000000000011";
const SIGNS: &str = "9N066000000000011";
const MED_BP: &str = "9N701000000000011";
const MED_GLUCOSE: &str = "9N706000000000011";
const MED_LIPID: &str = "9N711000000000011";
const SMOKING: &str = "9N736000000000011";
const METABOLIC: &str = "9N501000000000011";
const GUIDANCE_LEVEL: &str = "9N506000000000011";
const DIAGNOSIS: &str = "9N511000000000049";
const DOCTOR: &str = "9N516000000000049";
const HEMATOCRIT: &str = "2A040000001930102";
const HEMOGLOBIN: &str = "2A030000001930101";
const RBC: &str = "2A020000001930101";
const ANEMIA_REASON: &str = "2A020161001930149";
const CREATININE: &str = "3C015000002327101";
const EGFR: &str = "8A065000002391901";
const CREATININE_TARGET: &str = "3C015161602399911";
const CREATININE_REASON: &str = "3C015161002399949";
const XRAY_FINDING: &str = "9N206160700000011";
const XRAY_FINDING_TEXT: &str = "9N206160800000049";
const XRAY_DATE: &str = "9N211161100000049";

/// Builds one record's values against the profile: values for items the profile lacks (or
/// holds in another type) are left out, so any profile can be used.
struct Values<'p> {
    profile: &'p Profile,
    values: Vec<ItemValue>,
}

impl Values<'_> {
    fn usable(&self, code: &str, types: &[XmlDataType]) -> bool {
        self.profile
            .item(code)
            .and_then(|item| item.xml.as_ref())
            .is_some_and(|xml| types.contains(&xml.data_type))
    }

    /// A measured number, formatted per the item and flagged outside its input range.
    fn number(&mut self, code: &str, x: f64) -> Option<f64> {
        if !self.usable(code, &[XmlDataType::PQ]) {
            return None;
        }
        let item = self.profile.item(code)?;
        let (int_digits, frac_digits) = match &item.kind {
            ItemKind::Numeric { format } => (format.integer_digits, format.fraction_digits),
            _ => (4, 1),
        };
        let max = 10f64.powi(i32::from(int_digits)) - 10f64.powi(-i32::from(frac_digits));
        let scale = 10f64.powi(i32::from(frac_digits));
        let x = ((x.clamp(0.0, max)) * scale).round() / scale;
        let text = format!("{x:.prec$}", prec = usize::from(frac_digits));
        let bound = |b: &Option<String>| b.as_deref().and_then(|s| s.trim().parse::<f64>().ok());
        let flag = item.input_range.as_ref().and_then(|range| {
            if bound(&range.high).is_some_and(|high| x > high) {
                Some(RangeFlag::High)
            } else if bound(&range.low).is_some_and(|low| x < low) {
                Some(RangeFlag::Low)
            } else {
                None
            }
        });
        self.values.push(ItemValue {
            code: code.into(),
            value: Value::Number(text.clone()),
            original: text,
            flag,
        });
        Some(x)
    }

    fn code(&mut self, code: &str, value: &str) {
        if !self.usable(code, &[XmlDataType::CD, XmlDataType::CO]) {
            return;
        }
        let original = match self.profile.item(code).map(|i| &i.kind) {
            Some(ItemKind::Code { terms }) => terms
                .iter()
                .find(|t| t.code == value)
                .map(|t| t.term.clone())
                .unwrap_or_else(|| value.to_string()),
            _ => value.to_string(),
        };
        self.values.push(ItemValue {
            code: code.into(),
            value: Value::Code(vec![value.to_string()]),
            original,
            flag: None,
        });
    }

    fn text(&mut self, code: &str, text: &str) {
        if !self.usable(code, &[XmlDataType::ST]) {
            return;
        }
        let value = match self.profile.item(code).map(|i| &i.kind) {
            Some(ItemKind::Date) => Value::Date(text.to_string()),
            _ => Value::Text(text.to_string()),
        };
        self.values.push(ItemValue {
            code: code.into(),
            value,
            original: text.to_string(),
            flag: None,
        });
    }

    fn missing(&mut self, code: &str, value: Value) {
        if self
            .profile
            .item(code)
            .and_then(|i| i.xml.as_ref())
            .is_none()
        {
            return;
        }
        let original = match value {
            Value::NotPerformed => "未実施",
            _ => "測定不能",
        };
        self.values.push(ItemValue {
            code: code.into(),
            value,
            original: original.into(),
            flag: None,
        });
    }
}

fn yyyymmdd(date: Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// `count` fake examinees of FY2024 (aged 40–74, as 特定健診 is), reproducible from `seed`.
///
/// Values cover the 特定健診 items (身体計測, 血圧, 脂質, 肝機能, 血糖, 尿, 既往歴・症状, 質問票,
/// 医師の判断) and, for some, the 詳細な健診 series groups (貧血検査, 血清クレアチニン) and a chest
/// X-ray with its date; about 3% of optional tests are 未実施, a few HbA1c results 測定不能,
/// and a few triglyceride results exceed the input range (flagged H). Items the profile does
/// not have are left out; values are in profile order.
pub fn synthetic_records(count: usize, seed: u64, profile: &Profile) -> Vec<CheckupRecord> {
    let mut rng = Rng(seed ^ 0x6B65_6E73_6869_6E00);
    let positions: HashMap<&str, usize> = profile
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.code.as_str(), i))
        .collect();
    let fiscal_start = Date::from_calendar_date(2024, Month::April, 1).expect("valid date");
    (0..count)
        .map(|i| {
            let mut record = one_record(&mut rng, profile, fiscal_start);
            record
                .values
                .sort_by_key(|v| positions.get(v.code.as_str()).copied());
            record.source_record = i as u64 + 1;
            record
        })
        .collect()
}

fn one_record(rng: &mut Rng, profile: &Profile, fiscal_start: Date) -> CheckupRecord {
    let male = rng.chance(0.5);
    let exam = fiscal_start + Duration::days(rng.below(365) as i64);
    let age = 40 + rng.below(35) as i32;
    let birth = exam - Duration::days(i64::from(age) * 365 + rng.below(365) as i64 + 10);
    let insurer = *rng.pick(&SYNTHETIC_INSURERS);

    let mut header = Header::default();
    header.set(HeaderField::InsurerNumber, insurer.into());
    header.set(HeaderField::Symbol, (1 + rng.below(9999)).to_string());
    header.set(HeaderField::Number, (1 + rng.below(999_999)).to_string());
    header.set(HeaderField::Branch, format!("{:02}", rng.below(4)));
    let given = if male {
        rng.pick(&GIVEN_MALE)
    } else {
        rng.pick(&GIVEN_FEMALE)
    };
    header.set(
        HeaderField::KanaName,
        format!("{}　{}", rng.pick(&FAMILY), given),
    );
    header.set(HeaderField::Sex, if male { "1" } else { "2" }.into());
    header.set(HeaderField::BirthDate, yyyymmdd(birth));
    header.set(
        HeaderField::PostalCode,
        format!("{:03}-{:04}", 100 + rng.below(900), rng.below(10_000)),
    );
    header.set(
        HeaderField::Address,
        format!(
            "架空県架空市架空町{}-{}-{}",
            1 + rng.below(9),
            1 + rng.below(30),
            1 + rng.below(20)
        ),
    );
    header.set(HeaderField::ExamDate, yyyymmdd(exam));
    header.set(HeaderField::InstitutionNumber, SYNTHETIC_INSTITUTION.into());
    if rng.chance(0.7) {
        header.set(
            HeaderField::TicketNumber,
            format!("{:011}", rng.below(100_000_000_000)),
        );
    }

    let mut v = Values {
        profile,
        values: Vec::new(),
    };
    let agef = f64::from(age);

    // 身体計測
    let height = if male {
        rng.normal(170.0, 6.0)
    } else {
        rng.normal(157.0, 5.5)
    };
    let target_bmi = rng.normal(23.0, 3.2).clamp(15.0, 40.0);
    let weight = target_bmi * (height / 100.0).powi(2);
    let height = v.number(HEIGHT, height).unwrap_or(height);
    let weight = v.number(WEIGHT, weight).unwrap_or(weight);
    let bmi = weight / (height / 100.0).powi(2);
    v.number(BMI, bmi);
    if rng.chance(0.03) {
        v.missing(WAIST, Value::NotPerformed);
    } else {
        let base = if male { 85.0 } else { 80.0 };
        v.number(WAIST, base + (bmi - 23.0) * 2.6 + rng.normal(0.0, 4.0));
    }

    // 血圧
    let sbp = rng.normal(112.0 + (agef - 40.0) * 0.6, 14.0);
    let dbp = sbp * 0.62 + rng.normal(0.0, 6.0);
    v.number(SBP1, sbp);
    v.number(DBP1, dbp);
    if rng.chance(0.6) {
        v.number(SBP2, sbp + rng.normal(-3.0, 4.0));
        v.number(DBP2, dbp + rng.normal(-2.0, 3.0));
    }

    // 採血時間 (食後): 2 = 10時間以上 (fasting), 3 = 3.5–10 h, 4 = under 3.5 h.
    let fasting = rng.chance(0.85);
    v.code(
        MEAL_TIME,
        if fasting {
            "2"
        } else if rng.chance(0.5) {
            "3"
        } else {
            "4"
        },
    );
    let tg = if rng.chance(0.03) {
        // Beyond the 入力範囲 (10–2000 mg/dL): kept and flagged.
        2000.0 + rng.normal(700.0, 250.0).abs() + 1.0
    } else {
        rng.log_normal(if male { 120.0 } else { 85.0 }, 0.5)
    };
    v.number(if fasting { TG_FASTING } else { TG_CASUAL }, tg);
    v.number(HDL, rng.normal(if male { 55.0 } else { 66.0 }, 14.0));
    if rng.chance(0.03) {
        v.missing(LDL, Value::NotPerformed);
    } else {
        v.number(LDL, rng.normal(125.0, 30.0));
    }
    v.number(AST, rng.log_normal(22.0, 0.3));
    v.number(ALT, rng.log_normal(if male { 24.0 } else { 17.0 }, 0.45));
    v.number(GGT, rng.log_normal(if male { 35.0 } else { 20.0 }, 0.6));
    let diabetic = rng.chance(0.08);
    let glucose = if diabetic {
        rng.normal(165.0, 30.0)
    } else {
        rng.normal(95.0, 9.0)
    };
    v.number(if fasting { FBG } else { CASUAL_BG }, glucose);
    if rng.chance(0.01) {
        // e.g. a haemoglobin variant: measured, no valid result.
        v.missing(HBA1C, Value::Unmeasurable);
    } else {
        v.number(HBA1C, 3.2 + glucose / 38.0 + rng.normal(0.0, 0.2));
    }

    // 尿検査 (1 −, 2 ±, 3 +, 4 ++, 5 +++)
    if !male && rng.chance(0.04) {
        v.missing(URINE_GLUCOSE, Value::NotPerformed);
        v.missing(URINE_PROTEIN, Value::NotPerformed);
        v.code(NOT_DONE_REASON, "1"); // 生理中
    } else {
        let sugar = if glucose > 180.0 {
            *rng.pick(&["3", "4", "5"])
        } else if rng.chance(0.02) {
            "2"
        } else {
            "1"
        };
        v.code(URINE_GLUCOSE, sugar);
        let protein = match rng.below(100) {
            0 => "4",
            1..=4 => "3",
            5..=12 => "2",
            _ => "1",
        };
        v.code(URINE_PROTEIN, protein);
    }

    // 既往歴・自覚症状・他覚症状 (1 特記すべきことあり, 2 なし)
    if rng.chance(0.25) {
        v.code(HISTORY_ANY, "1");
        let history = HISTORY[rng.below(HISTORY.len() as u64) as usize];
        v.text(HISTORY_TEXT, history);
    } else {
        v.code(HISTORY_ANY, "2");
    }
    v.code(SYMPTOMS, if rng.chance(0.1) { "1" } else { "2" });
    v.code(SIGNS, "2");

    // 質問票 (1 はい, 2 いいえ; 喫煙 1 はい, 2 以前は吸っていた, 3 いいえ)
    v.code(
        MED_BP,
        if sbp > 150.0 && rng.chance(0.5) {
            "1"
        } else {
            "2"
        },
    );
    v.code(
        MED_GLUCOSE,
        if diabetic && rng.chance(0.4) {
            "1"
        } else {
            "2"
        },
    );
    v.code(MED_LIPID, if rng.chance(0.12) { "1" } else { "2" });
    v.code(
        SMOKING,
        match rng.below(10) {
            0..=1 => "1",
            2..=3 => "2",
            _ => "3",
        },
    );

    // 詳細な健診: 貧血検査 (series group, reason as RSON).
    if rng.chance(0.1) {
        let hb = if male {
            rng.normal(14.8, 1.1)
        } else {
            rng.normal(12.9, 1.0)
        };
        v.number(HEMATOCRIT, hb * 3.0 + rng.normal(0.0, 1.0));
        v.number(HEMOGLOBIN, hb);
        v.number(RBC, hb * 33.0 + rng.normal(0.0, 15.0));
        v.text(ANEMIA_REASON, "貧血の既往歴あり");
    }
    // 詳細な健診: 血清クレアチニン and eGFR (series group with coded and free-text reasons).
    if rng.chance(0.2) {
        let cr = if male {
            rng.normal(0.9, 0.15)
        } else {
            rng.normal(0.66, 0.12)
        }
        .max(0.3);
        let cr = v.number(CREATININE, cr).unwrap_or(cr);
        let sex_factor = if male { 1.0 } else { 0.739 };
        v.number(
            EGFR,
            194.0 * cr.powf(-1.094) * agef.powf(-0.287) * sex_factor,
        );
        v.code(CREATININE_TARGET, "1");
        v.text(CREATININE_REASON, "血圧・血糖が基準値以上");
    }
    // 胸部X線 (一般, 直接撮影) with its 撮影年月日 (a date written as ST).
    if rng.chance(0.3) {
        if rng.chance(0.1) {
            v.code(XRAY_FINDING, "1");
            v.text(XRAY_FINDING_TEXT, "右上肺野に陳旧性陰影");
        } else {
            v.code(XRAY_FINDING, "2");
        }
        v.text(XRAY_DATE, &yyyymmdd(exam));
    }

    // 医師の判断
    let waist_over = v
        .values
        .iter()
        .find(|x| x.code == WAIST)
        .and_then(|x| match &x.value {
            Value::Number(n) => n.parse::<f64>().ok(),
            _ => None,
        })
        .is_some_and(|w| w >= if male { 85.0 } else { 90.0 });
    let risks =
        u8::from(sbp >= 130.0 || dbp >= 85.0) + u8::from(glucose >= 110.0) + u8::from(tg >= 150.0);
    let (metabolic, level) = match (waist_over, risks) {
        (true, 2..) => ("1", "1"),
        (true, 1) => ("2", "2"),
        _ => ("3", "3"),
    };
    v.code(METABOLIC, metabolic);
    v.code(GUIDANCE_LEVEL, level);
    let diagnosis = match risks {
        0 => DIAGNOSES[0],
        1 => DIAGNOSES[1],
        _ => DIAGNOSES[2],
    };
    v.text(DIAGNOSIS, diagnosis);
    v.text(DOCTOR, "カクウ　イチロウ");

    CheckupRecord {
        header,
        values: v.values,
        source_record: 0,
    }
}
