//! Normalisation of institution values: widths, numbers, dates (西暦 and 和暦), sex.
//!
//! Every function takes the source text and either returns the standard form or says, in a
//! short message without the value itself, what is wrong — findings go into reports and the
//! value is shown beside the message only where the sender reads it.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use time::{Date, Month};

/// Folds full-width ASCII (Ａ１．＋) to half-width, the ideographic space to a space, and the
/// many dashes and minus signs to '-', then trims. Japanese text is otherwise unchanged.
pub fn fold_width(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let folded = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c),
            '\u{3000}' => ' ',
            '\u{2212}' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}'
            | '\u{FE63}' => '-',
            _ => c,
        };
        out.push(folded);
    }
    out.trim().to_owned()
}

/// A key for dictionary look-ups: width-folded, ASCII lowercased, inner spaces removed, so
/// that `（＋）`, `(+)` and `( + )` are the same entry.
pub fn lookup_key(text: &str) -> String {
    fold_width(text)
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A parsed number: the value and, for `<5` / `5未満` style results, which side it bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Number {
    pub value: Decimal,
    pub bound: Option<Bound>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// `<5`, `5未満`: below the value.
    Below,
    /// `>500`, `500以上`, `500超`: above (or at) the value.
    Above,
}

/// Parses a number as institutions write it: full-width digits, thousands separators, a
/// leading `+`, and bounds such as `<5`, `≦5`, `5未満`, `>500`, `500以上`.
pub fn parse_number(text: &str) -> Result<Number, &'static str> {
    let folded = fold_width(text);
    let mut body = folded.as_str();
    let mut bound = None;
    for (prefix, b) in [
        ("<=", Bound::Below),
        ("≦", Bound::Below),
        ("≤", Bound::Below),
        ("<", Bound::Below),
        (">=", Bound::Above),
        ("≧", Bound::Above),
        ("≥", Bound::Above),
        (">", Bound::Above),
    ] {
        if let Some(rest) = body.strip_prefix(prefix) {
            body = rest.trim_start();
            bound = Some(b);
            break;
        }
    }
    if bound.is_none() {
        for (suffix, b) in [
            ("未満", Bound::Below),
            ("以下", Bound::Below),
            ("以上", Bound::Above),
            ("超", Bound::Above),
        ] {
            if let Some(rest) = body.strip_suffix(suffix) {
                body = rest.trim_end();
                bound = Some(b);
                break;
            }
        }
    }
    let body = body.strip_prefix('+').unwrap_or(body);
    if body.is_empty() {
        return Err("数字がありません");
    }
    // Thousands separators only between digit groups of three ("1,234.5").
    let cleaned: String = if body.contains(',') {
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let groups: Vec<&str> = int.trim_start_matches('-').split(',').collect();
        let well_formed = groups.len() > 1
            && !groups[0].is_empty()
            && groups[0].len() <= 3
            && groups[1..].iter().all(|g| g.len() == 3);
        if !well_formed {
            return Err("桁区切りのコンマの位置が違います");
        }
        let mut s = int.replace(',', "");
        if !frac.is_empty() || body.contains('.') {
            s.push('.');
            s.push_str(frac);
        }
        s
    } else {
        body.to_owned()
    };
    let valid = cleaned
        .trim_start_matches('-')
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.')
        && cleaned.bytes().filter(|&b| b == b'.').count() <= 1
        && cleaned.bytes().any(|b| b.is_ascii_digit());
    if !valid {
        return Err("数値ではありません");
    }
    let value = Decimal::from_str(&cleaned).map_err(|_| "数値が大きすぎます")?;
    Ok(Number { value, bound })
}

/// Formats a number for an item with `fraction_digits` decimals, rounding half away from zero
/// (四捨五入), and checks it fits in `integer_digits`.
pub fn format_number(
    value: Decimal,
    integer_digits: u8,
    fraction_digits: u8,
) -> Result<String, &'static str> {
    let rounded = value.round_dp_with_strategy(
        u32::from(fraction_digits),
        RoundingStrategy::MidpointAwayFromZero,
    );
    let text = format!("{:.*}", usize::from(fraction_digits), rounded);
    let int_len = text
        .trim_start_matches('-')
        .split('.')
        .next()
        .map(str::len)
        .unwrap_or(0);
    if int_len > usize::from(integer_digits) {
        return Err("項目の桁数を超えています");
    }
    Ok(text)
}

/// A Japanese era (元号) for 和暦 dates: its letter, name, one-character short name and first day.
struct Era {
    letter: &'static str,
    name: &'static str,
    short: &'static str,
    start: (i32, u8, u8),
}

/// Newest first: an era ends the day before the next one (the one above it) starts.
const ERAS: [Era; 5] = [
    Era {
        letter: "R",
        name: "令和",
        short: "令",
        start: (2019, 5, 1),
    },
    Era {
        letter: "H",
        name: "平成",
        short: "平",
        start: (1989, 1, 8),
    },
    Era {
        letter: "S",
        name: "昭和",
        short: "昭",
        start: (1926, 12, 25),
    },
    Era {
        letter: "T",
        name: "大正",
        short: "大",
        start: (1912, 7, 30),
    },
    Era {
        letter: "M",
        name: "明治",
        short: "明",
        start: (1868, 10, 23),
    },
];

/// Parses a date in the styles institutions use: `2024/4/1`, `2024-04-01`, `20240401`,
/// `2024年4月1日`, and 和暦 `R6.4.1`, `R06/04/01`, `令和6年4月1日`, `令和元年5月1日`,
/// `H31.4.30`, `S45.1.1`. A 和暦 date must lie within its era.
pub fn parse_date(text: &str) -> Result<Date, &'static str> {
    let folded = fold_width(text);
    let s = folded.as_str();
    if s.is_empty() {
        return Err("日付が空です");
    }
    for (index, era) in ERAS.iter().enumerate() {
        let rest = s
            .strip_prefix(era.name)
            .or_else(|| s.strip_prefix(era.short))
            .or_else(|| s.strip_prefix(era.letter))
            .or_else(|| s.strip_prefix(&era.letter.to_ascii_lowercase()));
        if let Some(rest) = rest {
            let (year, month, day) = split_ymd(rest.trim())?;
            if year == 0 {
                return Err("和暦の0年はありません");
            }
            let (start_year, start_month, start_day) = era.start;
            let date = make_date(start_year + year as i32 - 1, month, day)?;
            let first = make_date(start_year, start_month, start_day)?;
            let next_start = index
                .checked_sub(1)
                .map(|newer| {
                    let (y, m, d) = ERAS[newer].start;
                    make_date(y, m, d)
                })
                .transpose()?;
            if date < first || next_start.is_some_and(|next| date >= next) {
                return Err("その元号の期間外の日付です");
            }
            return Ok(date);
        }
    }
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        let year = s[0..4].parse().map_err(|_| "年が読めません")?;
        let month = s[4..6].parse().map_err(|_| "月が読めません")?;
        let day = s[6..8].parse().map_err(|_| "日が読めません")?;
        return make_date(year, month, day);
    }
    let (year, month, day) = split_ymd(s)?;
    if !(1868..=2200).contains(&year) {
        return Err("年が範囲外です（1868〜2200年）");
    }
    make_date(year as i32, month, day)
}

/// `6.4.1`, `06/04/01`, `6年4月1日`, `元年5月1日`, `2024-4-1` → (year, month, day).
fn split_ymd(text: &str) -> Result<(u32, u8, u8), &'static str> {
    let text = text.replacen('元', "1", 1);
    let parts: Vec<&str> = text
        .split(['.', '/', '-', '年', '月', '日'])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() != 3 || parts.iter().any(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err("日付ではありません");
    }
    let year = parts[0].parse().map_err(|_| "年が読めません")?;
    let month = parts[1].parse().map_err(|_| "月が読めません")?;
    let day = parts[2].parse().map_err(|_| "日が読めません")?;
    Ok((year, month, day))
}

fn make_date(year: i32, month: u8, day: u8) -> Result<Date, &'static str> {
    let month = Month::try_from(month).map_err(|_| "存在しない月です")?;
    Date::from_calendar_date(year, month, day).map_err(|_| "存在しない日付です")
}

/// `YYYYMMDD`, the standard CSV's date form.
pub fn format_date(date: Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Sex as the standard code: `1` male, `2` female.
pub fn parse_sex(text: &str) -> Result<&'static str, &'static str> {
    match lookup_key(text).as_str() {
        "1" | "男" | "男性" | "m" | "male" | "おとこ" => Ok("1"),
        "2" | "女" | "女性" | "f" | "female" | "おんな" => Ok("2"),
        _ => Err("性別コードではありません（1/2、男/女、M/F）"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u8, d: u8) -> Date {
        make_date(y, m, d).unwrap()
    }

    #[test]
    fn widths_fold() {
        assert_eq!(fold_width("　１２３．５　"), "123.5");
        assert_eq!(fold_width("（＋）"), "(+)");
        assert_eq!(fold_width("−３"), "-3");
        assert_eq!(fold_width("陽性"), "陽性");
        assert_eq!(lookup_key(" ( ＋ ) "), "(+)");
        assert_eq!(lookup_key("ＡＢＣ"), "abc");
    }

    #[test]
    fn numbers_as_institutions_write_them() {
        let n = |s: &str| parse_number(s).unwrap();
        assert_eq!(n("172.5").value, Decimal::from_str("172.5").unwrap());
        assert_eq!(n("１７２．５").value, Decimal::from_str("172.5").unwrap());
        assert_eq!(n("1,234").value, Decimal::from(1234));
        assert_eq!(n("+5").value, Decimal::from(5));
        assert_eq!(n("<5").bound, Some(Bound::Below));
        assert_eq!(n("＜５").bound, Some(Bound::Below));
        assert_eq!(n("5未満").bound, Some(Bound::Below));
        assert_eq!(n("500以上").bound, Some(Bound::Above));
        assert_eq!(n("-3.2").value, Decimal::from_str("-3.2").unwrap());
        for bad in ["", "abc", "1.2.3", "12,34", ",123", "1,2345", "陽性", "--1"] {
            assert!(parse_number(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn numbers_round_half_away_from_zero_to_the_format() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(format_number(d("172.45"), 3, 1).unwrap(), "172.5");
        assert_eq!(format_number(d("172.44"), 3, 1).unwrap(), "172.4");
        assert_eq!(format_number(d("172"), 3, 1).unwrap(), "172.0");
        assert_eq!(format_number(d("5.25"), 2, 1).unwrap(), "5.3");
        assert_eq!(
            format_number(d("1234"), 3, 0),
            Err("項目の桁数を超えています")
        );
        assert_eq!(
            format_number(d("999.96"), 3, 1),
            Err("項目の桁数を超えています")
        );
    }

    #[test]
    fn western_dates() {
        for s in [
            "2024/4/1",
            "2024-04-01",
            "20240401",
            "2024年4月1日",
            "２０２４／４／１",
        ] {
            assert_eq!(parse_date(s).unwrap(), date(2024, 4, 1), "{s}");
        }
        for bad in ["2024/2/30", "2024/13/1", "abc", "", "24/4/1", "20241301"] {
            assert!(parse_date(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn japanese_era_dates() {
        assert_eq!(parse_date("R6.4.1").unwrap(), date(2024, 4, 1));
        assert_eq!(parse_date("R06/04/01").unwrap(), date(2024, 4, 1));
        assert_eq!(parse_date("令和6年4月1日").unwrap(), date(2024, 4, 1));
        assert_eq!(parse_date("令和元年5月1日").unwrap(), date(2019, 5, 1));
        assert_eq!(parse_date("H31.4.30").unwrap(), date(2019, 4, 30));
        assert_eq!(parse_date("平成元年1月8日").unwrap(), date(1989, 1, 8));
        assert_eq!(parse_date("S45.1.1").unwrap(), date(1970, 1, 1));
        assert_eq!(parse_date("昭和64年1月7日").unwrap(), date(1989, 1, 7));
        assert_eq!(parse_date("Ｒ６．４．１").unwrap(), date(2024, 4, 1));
        // Outside the era: Heisei ended on 2019-04-30, Reiwa began on 2019-05-01.
        assert!(parse_date("H31.5.1").is_err());
        assert!(parse_date("R1.4.30").is_err());
        assert!(parse_date("昭和64年1月8日").is_err());
        assert!(parse_date("R0.1.1").is_err());
    }

    #[test]
    fn sex_codes() {
        assert_eq!(parse_sex("1"), Ok("1"));
        assert_eq!(parse_sex("女"), Ok("2"));
        assert_eq!(parse_sex("Ｍ"), Ok("1"));
        assert!(parse_sex("3").is_err());
    }

    proptest! {
        #[test]
        fn any_valid_date_round_trips_in_every_style(days in 0i32..60_000) {
            let d = date(1900, 1, 1) + time::Duration::days(i64::from(days));
            let y = d.year(); let m = u8::from(d.month()); let day = d.day();
            for text in [format!("{y}/{m}/{day}"), format!("{y}-{m:02}-{day:02}"), format_date(d), format!("{y}年{m}月{day}日")] {
                prop_assert_eq!(parse_date(&text).unwrap(), d);
            }
            // The era that contains the date writes it back to the same day.
            let era = ERAS.iter().find(|e| d >= make_date(e.start.0, e.start.1, e.start.2).unwrap()).unwrap();
            let era_year = y - era.start.0 + 1;
            prop_assert_eq!(parse_date(&format!("{}{era_year}.{m}.{day}", era.letter)).unwrap(), d);
        }

        #[test]
        fn formatted_numbers_parse_back(mantissa in -99_999i64..99_999, scale in 0u32..3) {
            let value = Decimal::new(mantissa, scale);
            if let Ok(text) = format_number(value, 5, 2) {
                let back = parse_number(&text).unwrap().value;
                prop_assert_eq!(back, value.round_dp(2));
            }
        }

        #[test]
        fn folding_is_idempotent(text in "\\PC{0,40}") {
            let once = fold_width(&text);
            prop_assert_eq!(fold_width(&once), once.clone());
        }
    }
}
