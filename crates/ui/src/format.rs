//! How times, sizes and countdowns are shown. Times are stored and sent in UTC; people in
//! Japan read them in JST (UTC+9, no daylight saving).

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::Lang;

const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(offset) => offset,
    Err(_) => panic!("JST"),
};

fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// `2026-11-21 18:20 JST` (both languages: the service is used in Japan).
pub fn when(text: &str, _lang: Lang) -> String {
    match parse(text) {
        Some(at) => {
            let at = at.to_offset(JST);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} JST",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute()
            )
        }
        None => String::new(),
    }
}

/// `1.2 MB`, `532 B`: decimal units, as file managers show them.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The time left until `until`, seen at `now`: `あと3日4時間` / `3 d 4 h left`; `期限切れ` /
/// `expired` when past.
pub fn remaining(until: &str, now: &str, lang: Lang) -> String {
    let (Some(until), Some(now)) = (parse(until), parse(now)) else {
        return String::new();
    };
    let left = until - now;
    if left.is_negative() || left.is_zero() {
        return crate::text(lang, "time.expired").to_owned();
    }
    let days = left.whole_days();
    let hours = left.whole_hours() - days * 24;
    let minutes = left.whole_minutes() - left.whole_hours() * 60;
    match (lang, days) {
        (Lang::Ja, 0) => format!("あと{hours}時間{minutes}分"),
        (Lang::Ja, _) => format!("あと{days}日{hours}時間"),
        (Lang::En, 0) => format!("{hours} h {minutes} min left"),
        (Lang::En, _) => format!("{days} d {hours} h left"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_jst() {
        assert_eq!(
            when("2026-11-21T15:20:11.123Z", Lang::Ja),
            "2026-11-22 00:20 JST"
        );
        assert_eq!(when("not a time", Lang::En), "");
    }

    #[test]
    fn sizes_and_countdowns() {
        assert_eq!(bytes(532), "532 B");
        assert_eq!(bytes(1_234_567), "1.2 MB");
        let now = "2026-11-21T00:00:00Z";
        assert_eq!(
            remaining("2026-11-24T04:30:00Z", now, Lang::Ja),
            "あと3日4時間"
        );
        assert_eq!(
            remaining("2026-11-21T02:05:00Z", now, Lang::En),
            "2 h 5 min left"
        );
        assert_eq!(remaining("2026-11-20T00:00:00Z", now, Lang::En), "expired");
    }
}
