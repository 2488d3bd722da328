//! Output for people (aligned text) and for scripts (`--json`).

use serde::Serialize;

/// Prints `value` as JSON on stdout, or the human text.
pub fn emit<T: Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) {
    if json {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(err) => eprintln!("error: cannot encode output: {err}"),
        }
    } else {
        let text = human();
        if !text.is_empty() {
            println!("{text}");
        }
    }
}

/// Errors go to stderr; with `--json` also as `{"error": {...}}` on stdout so scripts can parse.
pub fn print_error(err: &anyhow::Error, json: bool) {
    if json {
        let code = err
            .downcast_ref::<kenshin_client::ClientError>()
            .and_then(|e| e.code())
            .map(|c| c.as_str())
            .unwrap_or("error");
        let body = serde_json::json!({"error": {"code": code, "message": format!("{err:#}")}});
        println!("{body}");
    }
    eprintln!("error: {err:#}");
}

pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub fn time(at: time::OffsetDateTime) -> String {
    kenshin_core::api::timestamp::format(at)
}

pub fn opt_time(at: Option<time::OffsetDateTime>) -> String {
    at.map(time).unwrap_or_else(|| "-".into())
}
