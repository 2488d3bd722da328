//! The catalogues and templates agree, and every page renders in both languages.
#![recursion_limit = "512"]

use kenshin_ui::{text, Lang, Pages};
use serde_json::json;

fn catalogue_keys(lang: Lang) -> Vec<String> {
    let source = match lang {
        Lang::Ja => include_str!("../locales/ja.toml"),
        Lang::En => include_str!("../locales/en.toml"),
    };
    let table: toml::Table = source.parse().unwrap();
    let mut keys = Vec::new();
    for (section, value) in table {
        for key in value.as_table().unwrap().keys() {
            keys.push(format!("{section}.{key}"));
        }
    }
    keys.sort();
    keys
}

#[test]
fn every_template_file_is_registered() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut names: Vec<String> = Pages::names().map(str::to_owned).collect();
    names.sort();
    assert_eq!(files, names);
}

#[test]
fn both_catalogues_have_the_same_keys() {
    assert_eq!(catalogue_keys(Lang::Ja), catalogue_keys(Lang::En));
}

#[test]
fn every_literal_key_in_the_templates_exists() {
    let keys = catalogue_keys(Lang::Ja);
    for (name, source) in Pages::sources() {
        // `t("key")` and `t('key')` calls, not `split("…")` and the like.
        let calls = |quote: &'static str| {
            source.match_indices(quote).filter(move |(i, _)| {
                *i == 0
                    || !source.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && source.as_bytes()[i - 1] != b'_'
            })
        };
        for (i, _) in calls("t(\"") {
            let rest = &source[i + 3..];
            let key = &rest[..rest.find('"').unwrap()];
            if key.ends_with('.') || key.ends_with('_') {
                continue; // a prefix completed at render time, e.g. "role." ~ me.role
            }
            assert!(keys.iter().any(|k| k == key), "{name}: {key}");
        }
        for (i, _) in calls("t('") {
            let rest = &source[i + 3..];
            let key = &rest[..rest.find('\'').unwrap()];
            assert!(keys.iter().any(|k| k == key), "{name}: {key}");
        }
    }
}

fn context() -> serde_json::Value {
    let delivery = json!({
        "id": "0190f000-0000-7000-8000-000000000001",
        "submission_id": "0190f000-0000-7000-8000-000000000002",
        "sender": {"code": "inst-1", "name": "さくら健診センター"},
        "receiver": {"code": "ins-1", "name": "みどり健保 <script>"},
        "filename": "結果<b>.csv",
        "size": 1234,
        "sha256": "ab".repeat(32),
        "state": "downloaded",
        "created_at": "2026-11-21T01:00:00Z",
        "expires_at": "2026-12-21T01:00:00Z",
        "first_downloaded_at": "2026-11-21T02:00:00Z",
        "download_count": 1,
        "confirmed_at": null,
        "records": 12
    });
    json!({
        "title": "page.home",
        "path": "/x?a=<b>",
        "now": "2026-11-21T03:00:00Z",
        "idle_seconds": 900,
        "csrf": "token",
        "login_csrf": "token",
        "me": {"login": "a", "name": "山田 花子", "org": "inst-1", "org_name": "さくら", "role": "sender"},
        "nav": [{"href": "/", "key": "nav.home", "current": true}, {"href": "/upload", "key": "nav.upload", "current": false}],
        // One item usable as a submission (sent files) and as a delivery (inbox).
        "items": [{"id": "s1", "filename": "a<i>.csv", "size": 10, "state": "ready", "received_at": "2026-11-21T01:00:00Z",
                   "created_at": "2026-11-21T01:00:00Z", "expires_at": "2026-12-21T01:00:00Z",
                   "sender": {"code": "inst-1", "name": "さくら"}, "deliveries": [delivery.clone()]}],
        "total": 1,
        "s": {"id": "s1", "filename": "a.csv", "size": 10, "sha256": "00", "state": "delivered", "received_at": "2026-11-21T01:00:00Z",
              "deliveries": [delivery.clone()], "conversion": {"records_in": 3, "records_out": 2, "records_rejected": 1, "records_unrouted": 0},
              "held": [{"id": "h1", "reason": "unrouted", "insurer_number": "12345678", "filename": "a_<b>.csv", "records": 1, "size": 9,
                        "state": "held", "created_at": "2026-11-21T01:00:00Z", "expires_at": "2026-12-21T01:00:00Z", "download_count": 0},
                       {"id": "h2", "reason": "rejected", "filename": "a_rejected-rows.csv", "records": 1, "size": 9, "state": "released",
                        "created_at": "2026-11-21T01:00:00Z", "expires_at": "2026-12-21T01:00:00Z", "released_at": "2026-11-22T01:00:00Z",
                        "released_to": {"code": "ins-1", "name": "みどり"}, "download_count": 1}]},
        "d": delivery,
        "history": [{"index": 3, "at": "2026-11-21T01:00:00Z", "kind": "received"}],
        "checkpoint": "example.org/log\n4\nabc=\n",
        "chart": "<svg></svg>",
        "receivers": [{"code": "ins-1", "name": "みどり"}],
        "states": ["ready", "downloaded"],
        "rows": [{"at": "2026-11-21T01:00:00Z", "action": "login", "objects": ["user:a"], "outcome": "success", "source": "127.0.0.1"}],
        "usage": [{"month": "2026-11", "receiver": "ins-1", "records": 5, "deliveries": 1}],
        "orgs": [{"code": "ins-1", "name": "みどり", "kind": "insurer"}],
        "routes": [{"from": "inst-1", "to": "ins-1", "from_name": "さくら", "to_name": "みどり", "mode": "pass-through"}],
        "alerts": [],
        "queue_depth": 0,
        "ledger_size": 4,
        "org": {"code": "inst-1", "name": "さくら", "kind": "institution", "insurer_numbers": [], "certificate_required": false, "operator": false},
        "may_update": true,
        "maps": [{"org": "inst-1", "map": "m@1", "active": true, "activated_at": "2026-11-21T01:00:00Z", "sha256": "abcdef0123456789"}],
        "size": 4, "signed_at": "2026-11-21T01:00:00Z", "key": "example.org+abcd+AAAA", "org_code": "inst-1",
        "health": {"status": "ok", "version": "0.1.0", "database": {"ok": true}, "storage": {"ok": true, "free_bytes": 1000000},
                   "clock": {"synchronized": true, "max_error_us": 10, "now": "2026-11-21T01:00:00Z", "source": "adjtimex"}, "alerts": []},
        "step": "totp",
        "qr_svg": "<svg id=\"qr\"></svg>",
        "secret": "JBSWY3DPEHPK3PXP",
        "heading": "error.not_found_heading",
        "message": "error.not_found",
        "id": "s1",
        "accounts": [{"login": "a", "name": "山田 <b>", "role": "sender", "totp_enrolled": true, "must_change_password": false, "disabled": false, "valid_until": null}],
        "roles": ["admin", "sender"],
        "created": {"login": "b", "name": "佐藤", "role": "viewer", "initial_password": "xyz"},
        "me_login": "a",
        "q": {"from": "2026-11-01"},
        "export_query": "from=x&",
        "may_export": true,
        "versions": [{"org": "inst-1", "map_id": "m", "version": "1", "sha256": "abcdef0123456789", "created_at": "2026-11-21T01:00:00Z", "activated_at": null, "active": false}],
        "may_activate": true,
        "certs": [{"serial": "0123456789abcdef0123", "device": "端末", "person": null, "roles": ["sender", "viewer"], "not_after": "2027-01-01T00:00:00Z", "status": "valid", "reason": null}],
        "people": [{"login": "a", "name": "山田"}],
        "machine_roles": ["sender", "viewer"],
        "default_days": 365,
        "may_issue": true, "may_revoke": true,
        "issued": {"serial": "0123456789", "device": "端末", "person": null, "roles": "sender", "not_after": "2027-01-01T00:00:00Z", "password": "pw", "p12": "AAAA", "file": "x.p12"},
        "check": {"map": "m@1", "columns": 3, "items": 2, "r": {"records_in": 1, "records_out": 1, "records_rejected": 0, "input_encoding": "UTF-8", "input_delimiter": "comma", "finding_counts": [], "findings": []}},
        "r": {"converter": "kenshin-convert 0.1", "profile": "mhlw@2024.1", "map": "m@1", "input_encoding": "Shift_JIS",
              "input_delimiter": "comma", "records_in": 10, "records_out": 8, "records_rejected": 1, "records_unrouted": 1,
              "records_by_insurer": {"06999901": 8}, "errors": 1, "warnings": 2,
              "finding_counts": [{"item": "9A755000000000001", "item_name": "収縮期血圧", "rule": "blood_pressure", "severity": "warning", "count": 2}],
              "findings": [{"record": 3, "line": 4, "column": "血圧", "item": null, "item_name": "収縮期血圧", "rule": "blood_pressure", "severity": "warning", "message": "m", "value": "<script>"}],
              "rejected_records": [4], "unrouted_records": [5]},
        "draft": {"placements": [{"column": "身長", "source": "身長", "samples": ["170.1", "<b>"], "target": "9N001000000000001", "target_name": "身長", "how": "name", "alternatives": [], "unknown_values": []},
                                 {"column": "たばこ", "source": "#7", "samples": ["有"], "target": null, "target_name": null, "how": null, "alternatives": [], "unknown_values": ["<i>"]}],
                  "placed": 1, "rows": 2, "map_text": "kind,source\n<script>", "map_id": "m", "version": "1"},
        "item_choices": ["身長", "header.保険者番号"],
        "may_upload": true, "may_download": true, "may_confirm": true, "may_report": true,
        "search": {"sender": "<script>", "from": "2026-12-01", "to": "", "insurer_number": "", "format": "fhir"},
        "formats": ["std-csv", "mhlw-xml", "fhir", "pass-through"],
        "range": {"first": 1, "last": 1}, "prev": null, "next": "/inbox?offset=100",
        "bulk": {"done": 2, "failed": 1},
        "account": {"login": "a<b>", "name": "山田 花子", "role": "receiver"},
        "previous_login": {"at": "2026-11-21T01:00:00Z", "from": "192.0.2.1"}, "sessions_ended": 1, "recovery_codes": ["abcd-efgh"], "codes_error": true, "search_error": "日付は YYYY-MM-DD の形で指定してください",
        "receiving": {"formats": [{"code": "std-csv", "field": "std_csv", "chosen": true}, {"code": "mhlw-xml", "field": "mhlw_xml", "chosen": false}, {"code": "fhir", "field": "fhir", "chosen": true}],
                      "recipients": [{"id": 1, "recipient": "age1<script>", "label": "<b>", "added_at": "2026-11-21T01:00:00Z", "added_by": "user:a"}],
                      "kind": "x25519"},
        "notify": {"email": "a<b>@example.jp", "language": "ja", "defaults": true, "email_enabled": false,
                   "topics": [{"code": "delivery.arrived", "label": "<i>", "chosen": true}]},
        "notify_saved": true, "notify_error": "<script>",
        "webhooks": [{"id": "w1", "url": "https://h.example/<x>", "topics": ["<t>"], "created_at": "2026-11-21T01:00:00Z", "created_by": "user:a"}],
        "topics": [{"code": "delivery.arrived", "label": "<i>"}],
        "notifications": [{"id": "n1", "topic": "<t>", "channel": "webhook", "target": "endpoint:w1", "state": "failed", "created_at": "2026-11-21T01:00:00Z", "attempts": 2, "detail": "<HTTP 500>"}],
        "new_webhook": {"url": "https://h.example/<x>", "secret": "whsec_<s>"},
        "webhook_problem": {"text": "<bad>", "url": "http://<x>"},
        "may_manage": true, "kinds": ["institution", "insurer", "agent", "clinic"],
        "senders": [{"code": "inst-1", "name": "<s>"}], "receivers": [{"code": "ins-1", "name": "<r>"}],
        "insurers": [{"code": "ins-1", "name": "<r>"}], "agents": [{"code": "agent-1", "name": "<a>"}],
        "directory_error": "<e>", "notice_queue_depth": 0,
        "passkeys_enabled": true, "passkey_done": "account.passkey_added", "passkey_error": "<p>",
        "passkeys": [{"id": "abc", "label": "<l>", "created_at": "2026-11-21T01:00:00Z", "last_used_at": null}],
        "created": {"code": "ins-2", "name": "<n>", "admin": {"login": "a<b>", "password": "p<w>"}}
    })
}

#[test]
fn every_page_renders_in_both_languages_and_escapes_data() {
    let pages = Pages::new();
    for name in Pages::names().filter(|n| !matches!(*n, "base.html" | "macros.html")) {
        for lang in [Lang::Ja, Lang::En] {
            let html = pages
                .render(name, lang, context())
                .unwrap_or_else(|e| panic!("{name} {lang}: {e:#}"));
            assert!(html.starts_with("<!doctype html>"), "{name}");
            assert!(html.contains(&format!("<html lang=\"{lang}\">")), "{name}");
            assert!(!html.contains("<script>"), "{name}: unescaped data");
            assert!(!html.contains("<b>.csv"), "{name}: unescaped file name");
            // No catalogue key shows through untranslated.
            for key in ["nav.", "page.", "field.", "error.", "login.", "setup."] {
                assert!(
                    !html.contains(&format!(">{key}")),
                    "{name} {lang}: untranslated {key}"
                );
            }
        }
    }
}

#[test]
fn text_falls_back_to_the_key_and_accept_language_picks_japanese_first() {
    assert_eq!(text(Lang::En, "nav.inbox"), "Inbox");
    assert_eq!(text(Lang::Ja, "nav.inbox"), "受信箱");
    assert_eq!(text(Lang::Ja, "no.such.key"), "no.such.key");
    assert_eq!(
        Lang::from_accept_language("en-US,en;q=0.9,ja;q=0.8"),
        Lang::En
    );
    assert_eq!(Lang::from_accept_language("ja,en-US;q=0.9"), Lang::Ja);
    assert_eq!(Lang::from_accept_language("fr"), Lang::Ja);
}
