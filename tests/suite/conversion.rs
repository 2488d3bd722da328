//! Conversion in the service, end to end over TLS: an institution's export is converted with
//! its active map, split by 保険者番号 into one delivery per receiving organisation (an
//! insurer, and an agent that receives for another insurer), unknown insurers are held back
//! and reported to the sender, and the input is destroyed.

use crate::common::conversion::*;
use crate::common::*;
use kenshin_client::ClientError;
use kenshin_core::api::ErrorCode;
use kenshin_core::{EventKind, SubmissionState};

#[tokio::test]
async fn an_export_is_converted_split_by_insurer_and_the_input_destroyed() {
    let mut relay = Relay::start().await;
    set_up(&relay).await;
    let sender = relay.client(CONVERTER);

    // No active map yet: refused before anything is stored.
    let early = sender
        .send_stream("", "export.csv", None, stream_of(export().into_bytes()))
        .await;
    assert!(
        matches!(
            early,
            Err(ClientError::Api {
                code: ErrorCode::InvalidState,
                ..
            })
        ),
        "{early:?}"
    );
    // A map that names an item that does not exist is refused with its line.
    let bad = MAP.replace("9N001000000000001", "9N001000000000999");
    let err = sender.upload_map(bad.into_bytes(), true).await.unwrap_err();
    assert!(err.to_string().contains("line 9"), "{err}");
    let map = sender
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    assert!(map.active);
    assert_eq!(
        (map.map_id.as_str(), map.version.as_str()),
        ("inst-convert-main", "1")
    );
    // Versions are immutable.
    let again = sender.upload_map(MAP.as_bytes().to_vec(), false).await;
    assert!(again.is_err());

    let receipt = sender
        .send_stream("", "export.csv", None, stream_of(export().into_bytes()))
        .await
        .unwrap();
    assert_eq!(receipt.state, SubmissionState::Received);
    assert!(receipt.deliveries.is_empty());
    let done = wait_converted(&sender, &receipt.id.to_string()).await;
    assert_eq!(done.state, SubmissionState::Delivered);
    let summary = done.conversion.clone().expect("conversion summary");
    assert_eq!(
        (
            summary.records_in,
            summary.records_out,
            summary.records_rejected,
            summary.records_unrouted
        ),
        (8, 6, 1, 1)
    );
    assert_eq!(summary.map.as_deref(), Some("inst-convert-main@1"));
    assert!(summary.profile.unwrap().starts_with("mhlw-tokutei-4ki@"));
    assert!(summary.converter.unwrap().starts_with("kenshin-convert"));
    let mut by_receiver: Vec<(String, Option<u64>)> = done
        .deliveries
        .iter()
        .map(|d| (d.receiver.code.clone(), d.records))
        .collect();
    by_receiver.sort();
    assert_eq!(
        by_receiver,
        [(AGENT.to_owned(), Some(2)), (INSURER.to_owned(), Some(4))]
    );

    // The insurer gets the standard CSV of its own three examinees.
    let insurer = relay.client(INSURER);
    let inbox = insurer.list_deliveries(None, 10, 0).await.unwrap();
    assert_eq!(inbox.total, 1);
    let delivery = &inbox.items[0];
    // Outputs are split by 保険者番号 and named by it.
    assert_eq!(delivery.filename, "export_06999901.std.csv");
    assert_eq!(delivery.insurer_number.as_deref(), Some("06999901"));
    assert_eq!(delivery.format.as_deref(), Some("std-csv"));
    let out = relay.dir.path().join("insurer.csv");
    insurer
        .fetch_to_file(&delivery.id.to_string(), &out, |_, _| {})
        .await
        .unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let mut csv = csv::Reader::from_reader(text.trim_start_matches('\u{FEFF}').as_bytes());
    let header = csv.headers().unwrap().clone();
    let insurer_column = header.iter().position(|h| h == "保険者番号").unwrap();
    let urine = header
        .iter()
        .position(|h| h.starts_with("尿糖[1A020000000190111]"))
        .unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| &r[insurer_column] == "06999901"));
    assert_eq!(
        &rows[0][urine + 1],
        "陰性",
        "the original value is kept beside the standard one"
    );

    // The agent receives for the insurer that delegated to it.
    let agent = relay.client(AGENT);
    assert_eq!(
        agent.list_deliveries(None, 10, 0).await.unwrap().items[0].records,
        Some(2)
    );
    // OTHER itself receives nothing: its records went to its agent.
    assert_eq!(
        relay
            .client(OTHER)
            .list_deliveries(None, 10, 0)
            .await
            .unwrap()
            .total,
        0
    );

    // The sender's report names the held-back and the rejected records; receivers cannot read it.
    let report = sender.report(&receipt.id.to_string()).await.unwrap();
    assert_eq!(report["unrouted_records"], serde_json::json!([5]));
    assert_eq!(report["input_sha256"], receipt.sha256.as_str());
    assert_eq!(report["rejected_records"], serde_json::json!([8]));
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "blood_pressure"));
    // (An insurer's receiving system may not read reports at all: 403 for any id.)
    let denied = insurer.report(&receipt.id.to_string()).await.unwrap_err();
    assert_eq!(denied.code(), Some(ErrorCode::Forbidden));

    // The input was destroyed; the outputs and the report remain (encrypted).
    let db = relay.db().await;
    let sender_org = db.org_by_code(CONVERTER).await.unwrap();
    let input = db
        .submission(sender_org.id, receipt.id)
        .await
        .unwrap()
        .object_id;
    assert!(db.object(input).await.unwrap().wrapped_key.is_none());
    assert!(!relay
        .blob_files()
        .iter()
        .any(|p| p.ends_with(input.to_string())));
    let kinds: Vec<EventKind> = event_kinds(&db, receipt.id).await;
    assert!(
        kinds.contains(&EventKind::Converted) && kinds.contains(&EventKind::Shredded),
        "{kinds:?}"
    );
    let usage = db.usage(None).await.unwrap();
    let count = |code: &str| usage.iter().find(|u| u.org_code == code).map(|u| u.records);
    assert_eq!((count(INSURER), count(AGENT)), (Some(4), Some(2)));
    db.close().await;
    relay.stop().await;
}

#[tokio::test]
async fn an_unusable_export_is_rejected_with_a_report_and_nothing_delivered() {
    let mut relay = Relay::start().await;
    set_up(&relay).await;
    let sender = relay.client(CONVERTER);
    sender
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    // A Shift_JIS export with an invalid byte sequence.
    let mut bytes = encoding_rs::SHIFT_JIS.encode(&export()).0.into_owned();
    bytes.extend_from_slice(&[0x85, 0x40, b'\r', b'\n']);
    let receipt = sender
        .send_stream("", "broken.csv", None, stream_of(bytes))
        .await
        .unwrap();
    let done = wait_converted(&sender, &receipt.id.to_string()).await;
    assert_eq!(done.state, SubmissionState::Rejected);
    assert!(done.deliveries.is_empty());
    let report = sender.report(&receipt.id.to_string()).await.unwrap();
    let reason = report["unusable"].as_str().unwrap();
    assert!(reason.contains("line 10"), "{reason}");
    relay.stop().await;
}

#[tokio::test]
async fn an_mhlw_archive_is_converted_without_a_map() {
    let mut relay = Relay::start().await;
    set_up(&relay).await;
    let sender = relay.client(CONVERTER);
    let profile = kenshin_profile::Profile::default_profile();
    let records = kenshin_mhlw::synthetic_records(30, 11, profile);
    let to_insurer = records
        .iter()
        .filter(|r| r.header.get(kenshin_profile::HeaderField::InsurerNumber) == Some("06999901"))
        .count() as u64;
    let meta = kenshin_mhlw::ArchiveMeta::new(
        "1399999901",
        "テスト健診センター",
        kenshin_mhlw::Party::insurer("06999901"),
        time::macros::date!(2026 - 04 - 30),
    );
    // An MHLW archive goes to one insurer; the service routes it by the 保険者番号 inside.
    let mut archive = std::io::Cursor::new(Vec::new());
    let only_first: Vec<_> = records
        .into_iter()
        .filter(|r| r.header.get(kenshin_profile::HeaderField::InsurerNumber) == Some("06999901"))
        .collect();
    kenshin_mhlw::write_archive(&mut archive, only_first, profile, &meta).unwrap();
    let archive_bytes = archive.into_inner();
    let receipt = sender
        .send_stream("", "results.zip", None, stream_of(archive_bytes.clone()))
        .await
        .unwrap();
    let done = wait_converted(&sender, &receipt.id.to_string()).await;
    assert_eq!(done.state, SubmissionState::Delivered, "{done:?}");
    let summary = done.conversion.unwrap();
    assert_eq!(summary.records_in, to_insurer);
    assert_eq!(summary.records_out + summary.records_rejected, to_insurer);
    assert!(summary.map.is_none(), "archives need no map");
    assert_eq!(done.deliveries.len(), 1);
    assert_eq!(done.deliveries[0].receiver.code, INSURER);
    let report = sender.report(&receipt.id.to_string()).await.unwrap();
    assert!(report.get("notes").is_none(), "{report}");

    // The same results as the field often sends them: no summary (su08), DATA in lower case.
    let mut original = zip::ZipArchive::new(std::io::Cursor::new(archive_bytes)).unwrap();
    let mut results_only = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..original.len() {
        let mut entry = original.by_index(i).unwrap();
        let name = entry.name().to_owned();
        if name.ends_with("su08_V08.xml") || entry.is_dir() {
            continue;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        results_only
            .start_file(
                name.replace("/DATA/", "/data/"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
        std::io::Write::write_all(&mut results_only, &bytes).unwrap();
    }
    let results_only = results_only.finish().unwrap().into_inner();
    let receipt = sender
        .send_stream("", "results_only.zip", None, stream_of(results_only))
        .await
        .unwrap();
    let done = wait_converted(&sender, &receipt.id.to_string()).await;
    assert_eq!(done.state, SubmissionState::Delivered, "{done:?}");
    assert_eq!(done.conversion.unwrap().records_in, to_insurer);
    let report = sender.report(&receipt.id.to_string()).await.unwrap();
    assert!(
        report["notes"][0]
            .as_str()
            .unwrap()
            .contains("su08_V08.xml"),
        "the report says how the archive was read: {report}"
    );
    relay.stop().await;
}

/// A batch script knows the outcome: `client send --wait` waits for the conversion and, like
/// `client status`, exits 0 only when every record was delivered.
#[tokio::test]
async fn batch_scripts_get_the_outcome_as_the_exit_code() {
    let mut relay = Relay::start().await;
    set_up(&relay).await;
    relay
        .client(CONVERTER)
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let export_path = work.path().join("export.csv");
    std::fs::write(&export_path, export()).unwrap();
    let path = export_path.to_str().unwrap();
    // The export has a record rejected (systolic below diastolic) and one no receiver takes.
    let (code, view) = client_cli(&relay, CONVERTER, &["send", path, "--wait"]).await;
    assert_eq!(view["state"], "delivered", "{view}");
    assert_eq!(view["conversion"]["records_rejected"], 1, "{view}");
    assert_eq!(code, Some(5), "some records rejected");
    let id = view["id"].as_str().unwrap().to_owned();
    let (code, _) = client_cli(&relay, CONVERTER, &["status", &id]).await;
    assert_eq!(code, Some(5), "status says the same");
    // A plain file to a receiver: delivered, exit 0.
    let (code, view) = client_cli(
        &relay,
        INSTITUTION,
        &["send", path, "--to", INSURER, "--wait"],
    )
    .await;
    assert_eq!(view["state"], "delivered", "{view}");
    assert_eq!(code, Some(0));
    relay.stop().await;
}

/// `kenshin-relay client --json …` as `org`'s device: the exit code and the printed JSON.
async fn client_cli(relay: &Relay, org: &str, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let dir = relay.cert_dir(org);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .env("KENSHIN_RELAY_LOG", "warn")
        .args(["client", "--json", "--server", &relay.url()])
        .arg("--ca")
        .arg(relay.data.ca_cert_path())
        .arg("--cert")
        .arg(dir.join("cert.pem"))
        .arg("--key")
        .arg(dir.join("key.pem"))
        .args(args)
        .output()
        .await
        .unwrap();
    let view: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), view)
}

/// An export saved from Excel (`.xlsx`) converts exactly as the same rows in CSV do.
#[tokio::test]
async fn an_excel_workbook_converts_like_its_csv() {
    let mut relay = Relay::start().await;
    set_up(&relay).await;
    let sender = relay.client(CONVERTER);
    sender
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let rows: Vec<Vec<String>> = export()
        .lines()
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect();
    let workbook = kenshin_convert::xlsx::write_simple(&rows);
    let from_csv = sender
        .send_stream("", "export.csv", None, stream_of(export().into_bytes()))
        .await
        .unwrap();
    let from_xlsx = sender
        .send_stream("", "健診結果.xlsx", None, stream_of(workbook))
        .await
        .unwrap();
    let csv = wait_converted(&sender, &from_csv.id.to_string()).await;
    let xlsx = wait_converted(&sender, &from_xlsx.id.to_string()).await;
    assert_eq!(xlsx.state, SubmissionState::Delivered, "{xlsx:?}");
    let counts = |view: &kenshin_core::api::SubmissionView| {
        let c = view.conversion.clone().unwrap();
        (
            c.records_in,
            c.records_out,
            c.records_rejected,
            c.records_unrouted,
        )
    };
    assert_eq!(counts(&xlsx), counts(&csv));
    assert_eq!(counts(&xlsx).0, 8);
    let mut receivers: Vec<_> = xlsx
        .deliveries
        .iter()
        .map(|d| d.receiver.code.clone())
        .collect();
    receivers.sort();
    assert_eq!(receivers, [AGENT.to_owned(), INSURER.to_owned()]);
    relay.stop().await;
}

/// `kenshin-relay convert` reads a workbook as it reads the same rows in CSV.
#[test]
fn the_convert_command_reads_a_workbook() {
    let work = tempfile::tempdir().unwrap();
    let rows: Vec<Vec<String>> = export()
        .lines()
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect();
    std::fs::write(
        work.path().join("kekka.xlsx"),
        kenshin_convert::xlsx::write_simple(&rows),
    )
    .unwrap();
    std::fs::write(work.path().join("export.csv"), export()).unwrap();
    std::fs::write(work.path().join("map.csv"), MAP).unwrap();
    let convert = |input: &str, out: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
            .current_dir(work.path())
            .args(["convert", input, "--map", "map.csv", "--out", out, "--json"])
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
        report
    };
    let from_xlsx = convert("kekka.xlsx", "out-xlsx");
    let from_csv = convert("export.csv", "out-csv");
    for field in [
        "records_in",
        "records_out",
        "records_rejected",
        "records_unrouted",
    ] {
        assert_eq!(from_xlsx[field], from_csv[field], "{field}: {from_xlsx}");
    }
    assert_eq!(from_xlsx["records_in"], 8);
    // A map is drafted from the workbook as from its CSV.
    let draft = |input: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
            .current_dir(work.path())
            .args(["map", "suggest", input, "--json"])
            .output()
            .unwrap();
        let suggestion: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
        suggestion["placements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| !p["target"].is_null())
            .count()
    };
    assert_eq!(draft("kekka.xlsx"), draft("export.csv"));
    assert_eq!(
        draft("export.csv"),
        9,
        "every column of the export is placed"
    );
}

/// A file of another kind sent for conversion (an old .xls, a PDF) is rejected with a report
/// that says, in Japanese first, what it is and what to send instead.
#[tokio::test]
async fn another_kind_of_file_is_rejected_saying_what_to_send_instead() {
    let mut relay = Relay::start().await;
    set_up(&relay).await;
    let sender = relay.client(CONVERTER);
    sender
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let mut xls = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
    xls.extend(std::iter::repeat_n(0u8, 2048));
    let sent = sender
        .send_stream("", "kekka.xls", None, stream_of(xls))
        .await
        .unwrap();
    let view = wait_converted(&sender, &sent.id.to_string()).await;
    assert_eq!(view.state, SubmissionState::Rejected);
    let report = sender.report(&sent.id.to_string()).await.unwrap();
    let why = report["unusable"].as_str().unwrap();
    assert!(
        why.contains("変換できません") && why.contains(".xls"),
        "{why}"
    );
    assert!(why.contains("CSV UTF-8") && why.contains(".xlsx"), "{why}");
    relay.stop().await;
}

/// The same content sent again to the same receiver while the first is within its retention
/// period is refused under --json (a script) unless --allow-duplicate; another receiver is fine.
#[tokio::test]
async fn the_same_content_is_not_sent_twice_without_saying_so() {
    let mut relay = Relay::start().await;
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("kekka.csv");
    std::fs::write(&path, sample_export(3, "DUPLICATE-CHECK")).unwrap();
    let path = path.to_str().unwrap();
    let (code, first) = client_cli(&relay, INSTITUTION, &["send", path, "--to", INSURER]).await;
    assert_eq!(code, Some(0), "{first}");
    let (code, refused) = client_cli(&relay, INSTITUTION, &["send", path, "--to", INSURER]).await;
    assert_eq!(code, Some(1), "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("送信済み")
            && message.contains(first["id"].as_str().unwrap())
            && message.contains("--allow-duplicate"),
        "{message}"
    );
    // To another receiver it is a new file.
    let (code, _) = client_cli(&relay, INSTITUTION, &["send", path, "--to", CLINIC]).await;
    assert_eq!(code, Some(0));
    let (code, again) = client_cli(
        &relay,
        INSTITUTION,
        &["send", path, "--to", INSURER, "--allow-duplicate"],
    )
    .await;
    assert_eq!(code, Some(0), "{again}");
    assert_ne!(again["id"], first["id"]);
    // The receiver finds both copies by their content.
    let sha = first["sha256"].as_str().unwrap();
    let receiver = reqwest::Client::builder()
        .tls_backend_preconfigured(
            kenshin_client::tls_config(&relay.ca_pem(), Some(&relay.identity(INSURER))).unwrap(),
        )
        .build()
        .unwrap();
    let page: serde_json::Value = receiver
        .get(format!("{}/api/v1/deliveries?sha256={sha}", relay.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 2, "{page}");
    let refused = receiver
        .get(format!("{}/api/v1/deliveries?sha256=ABC", relay.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::BAD_REQUEST);
    relay.stop().await;
}

/// Nothing is lost: records no route takes are held for the sender (per 保険者番号, encrypted,
/// counted, downloadable) and reach their receiver as soon as a route exists; rows that cannot
/// be identified are returned to the sender as sent, with the reason; what is never released
/// expires with a ledger entry.
#[tokio::test]
async fn unrouted_records_are_held_released_when_a_route_appears_and_rejected_rows_returned() {
    let mut relay = Relay::start().await;
    set_up(&relay).await;
    let sender = relay.client(CONVERTER);
    sender
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let receipt = sender
        .send_stream("", "export.csv", None, stream_of(export().into_bytes()))
        .await
        .unwrap();
    let id = receipt.id.to_string();
    let done = wait_converted(&sender, &id).await;
    assert_eq!(done.state, SubmissionState::Delivered);
    let unrouted = done
        .held
        .iter()
        .find(|h| h.reason == kenshin_core::HeldReason::Unrouted)
        .expect("the unrouted record is held")
        .clone();
    let returned = done
        .held
        .iter()
        .find(|h| h.reason == kenshin_core::HeldReason::Rejected)
        .expect("the rejected row is returned")
        .clone();
    assert_eq!(done.held.len(), 2, "{:?}", done.held);
    assert_eq!(unrouted.insurer_number.as_deref(), Some("12345678"));
    assert_eq!((unrouted.records, returned.records), (1, 1));
    assert_eq!(unrouted.state, kenshin_core::HeldState::Held);
    let report = sender.report(&id).await.unwrap();
    assert_eq!(report["held_by_insurer"]["12345678"], 1, "{report}");

    // The sender reads both: the held record in the standard CSV, the rejected row as sent.
    let held_csv =
        String::from_utf8(sender.held_content(&id, &unrouted.id).await.unwrap()).unwrap();
    assert!(held_csv.starts_with('\u{FEFF}'));
    assert!(held_csv.contains("12345678"), "{held_csv}");
    let rows = String::from_utf8(sender.held_content(&id, &returned.id).await.unwrap()).unwrap();
    let mut lines = rows.trim_start_matches('\u{FEFF}').lines();
    assert_eq!(
        lines.next(),
        Some("行番号,変換できなかった理由,保険者番号,生年月日,性別,受診日,身長,体重,最高血圧,最低血圧,尿糖")
    );
    let row = lines.next().unwrap();
    assert!(row.starts_with("9,") && row.contains("生年月日"), "{row}");
    assert!(
        row.ends_with("06999901,,2,2026/4/1,165.0,60.0,125,85,陰性"),
        "{row}"
    );
    // Nobody else can: a receiver of the same file gets 403, another sender 404.
    let insurer = relay.client(INSURER);
    assert!(insurer.held_content(&id, &unrouted.id).await.is_err());
    let other = relay.client(INSTITUTION);
    assert_eq!(
        other
            .held_content(&id, &unrouted.id)
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::NotFound)
    );

    // A route appears for 12345678 (the operator's command line): the held record goes out.
    let data_dir = relay.data.root().to_str().unwrap().to_owned();
    // (Run without blocking the test's runtime, which also runs the relay.)
    let admin = |args: &'static [&'static str]| {
        let data_dir = data_dir.clone();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
                .args(["admin", "--data-dir", &data_dir])
                .args(args)
                .output()
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    };
    admin(&[
        "org",
        "create",
        "--code",
        "ins-late",
        "--kind",
        "insurer",
        "--name",
        "おそい健康保険組合",
        "--insurer-number",
        "12345678",
    ])
    .await;
    let said = admin(&[
        "route", "create", "--from", CONVERTER, "--to", "ins-late", "--mode", "convert",
    ])
    .await;
    assert!(said.contains("保留中だった記録 1 件"), "{said}");
    let after = sender.submission(&id).await.unwrap();
    let released = after.held.iter().find(|h| h.id == unrouted.id).unwrap();
    assert_eq!(released.state, kenshin_core::HeldState::Released);
    assert_eq!(released.released_to.as_ref().unwrap().code, "ins-late");
    assert!(after
        .deliveries
        .iter()
        .any(|d| d.receiver.code == "ins-late"));
    // The new insurer receives it like any delivery, with the same content.
    let db = relay.db().await;
    let ca = kenshin_relay::init::load_ca(&relay.data).unwrap();
    let late: kenshin_core::OrgCode = "ins-late".parse().unwrap();
    let dir = relay.data.root().join("certs").join("ins-late");
    kenshin_relay::admin::issue_cert(&db, &ca, &late, "batch", &dir, 30, None)
        .await
        .unwrap();
    let late_client = relay.client("ins-late");
    let inbox = late_client.list_deliveries(None, 10, 0).await.unwrap();
    assert_eq!(inbox.total, 1);
    assert_eq!(inbox.items[0].records, Some(1));
    assert_eq!(inbox.items[0].filename, "export_12345678.std.csv");
    let out = relay.dir.path().join("late.csv");
    late_client
        .fetch_to_file(&inbox.items[0].id.to_string(), &out, |_, _| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), held_csv);
    // The command line lists both batches and saves the one still kept (the returned rows).
    let saved_to = relay.dir.path().join("held");
    let (code, listed) = client_cli(
        &relay,
        CONVERTER,
        &["held", &id, "--out", saved_to.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, Some(0), "{listed}");
    assert_eq!(listed["held"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed["saved"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        std::fs::read_to_string(saved_to.join("export_rejected-rows.csv")).unwrap(),
        rows
    );
    // Released records are the receiver's now: the sender can no longer fetch them.
    let gone = sender.held_content(&id, &unrouted.id).await.unwrap_err();
    assert_eq!(gone.code(), Some(ErrorCode::Gone), "{gone}");

    // The returned rows are never released; at the end of the retention period they are
    // destroyed, with a ledger entry.
    let state = relay.state();
    let later = state.now() + time::Duration::days(31);
    let expired = kenshin_server::service::relay::expire_held_due(state, later)
        .await
        .unwrap();
    assert_eq!(expired, 1);
    let batch = db
        .held_batch(
            db.org_by_code(CONVERTER).await.unwrap().id,
            receipt.id,
            &returned.id,
        )
        .await
        .unwrap();
    assert_eq!(batch.state, kenshin_core::HeldState::Expired);
    assert!(db
        .object(batch.object_id)
        .await
        .unwrap()
        .wrapped_key
        .is_none());
    // The report and the list of findings hold values of the export: they go too.
    let files = kenshin_server::service::relay::expire_reports_due(state, later)
        .await
        .unwrap();
    assert_eq!(files, 1);
    let gone = sender.report(&id).await.unwrap_err();
    assert_eq!(gone.code(), Some(ErrorCode::Gone), "{gone}");
    let kinds = event_kinds(&db, receipt.id).await;
    for kind in [
        EventKind::Held,
        EventKind::Released,
        EventKind::Expired,
        EventKind::Shredded,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} in {kinds:?}");
    }
    assert_eq!(
        kinds.iter().filter(|k| **k == EventKind::Held).count(),
        2,
        "one entry per held batch"
    );
    db.close().await;
    relay.stop().await;
}

/// The operator changes a route between pass-through and conversion, and removes one, from
/// the command line; a route that is not there is named in the refusal.
#[tokio::test]
async fn the_operator_updates_and_deletes_routes() {
    let mut relay = Relay::start().await;
    set_up(&relay).await;
    let data_dir = relay.data.root().to_str().unwrap().to_owned();
    let admin = |args: Vec<&'static str>| {
        let data_dir = data_dir.clone();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
                .env("KENSHIN_RELAY_LOG", "warn")
                .args(["admin", "--json", "--data-dir", &data_dir])
                .args(args)
                .output()
                .await
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (ok, said, err) = admin(vec![
        "route",
        "update",
        "--from",
        CONVERTER,
        "--to",
        INSURER,
        "--mode",
        "pass-through",
    ])
    .await;
    assert!(ok, "{err}");
    let route: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert_eq!(route["mode"], "pass-through", "{route}");
    let db = relay.db().await;
    let sender = db.org_by_code(CONVERTER).await.unwrap();
    assert!(!db
        .conversion_receivers(sender.id)
        .await
        .unwrap()
        .contains_key("06999901"));
    let (ok, _, err) = admin(vec![
        "route", "update", "--from", CONVERTER, "--to", INSURER, "--mode", "convert",
    ])
    .await;
    assert!(ok, "{err}");
    assert!(db
        .conversion_receivers(sender.id)
        .await
        .unwrap()
        .contains_key("06999901"));
    let (ok, _, err) = admin(vec![
        "route", "delete", "--from", CONVERTER, "--to", INSURER,
    ])
    .await;
    assert!(ok, "{err}");
    assert!(db
        .route_between(sender.id, INSURER)
        .await
        .unwrap()
        .is_none());
    let (ok, _, err) = admin(vec![
        "route", "delete", "--from", CONVERTER, "--to", INSURER,
    ])
    .await;
    assert!(!ok);
    assert!(err.contains("経路はありません"), "{err}");
    db.close().await;
    relay.stop().await;
}
