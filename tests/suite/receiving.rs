//! What receivers import, sealed to their own key, end to end over TLS: an export converted
//! through the service reaches one receiver as XSD-valid MHLW archives and another as FHIR
//! Bundles sealed to its age recipient, which Debian's `age -d` opens and an independent FHIR
//! validator accepts; a pass-through file to a sealed receiver opens byte-identical; nothing
//! under the data directory opens either.

use std::path::{Path, PathBuf};

use crate::common::conversion::*;
use crate::common::*;
use kenshin_core::SubmissionState;
use tokio::process::Command;

/// The tools these tests need; outside CI a missing one skips with the reason.
fn tools_or_skip(tools: &[(&str, &str)]) -> bool {
    for (tool, package) in tools {
        if std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_err()
        {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{tool} is required under CI (apt-get install {package})");
            }
            eprintln!("skipping: {tool} not found (apt-get install {package})");
            return false;
        }
    }
    true
}

async fn kr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .args(args)
        .output()
        .await
        .unwrap()
}

/// `kenshin-relay client …` as `org`'s device.
async fn client(relay: &Relay, org: &str, args: &[&str]) -> std::process::Output {
    let dir = relay.cert_dir(org);
    Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .env("KENSHIN_RELAY_LOG", "warn")
        .args(["client", "--server", &relay.url()])
        .arg("--ca")
        .arg(relay.data.ca_cert_path())
        .arg("--cert")
        .arg(dir.join("cert.pem"))
        .arg("--key")
        .arg(dir.join("key.pem"))
        .args(args)
        .output()
        .await
        .unwrap()
}

async fn admin(relay: &Relay, args: &[&str]) -> String {
    let dir = relay.data.root().to_str().unwrap().to_owned();
    let mut all = vec!["admin", "--data-dir", &dir];
    all.extend_from_slice(args);
    let out = kr(&all).await;
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A new age identity (Debian's `age-keygen`): the key file and its recipient.
async fn age_keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let public = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .await
        .unwrap();
    (
        key,
        String::from_utf8(public.stdout).unwrap().trim().to_owned(),
    )
}

async fn age_decrypt(key: &Path, file: &Path) -> Vec<u8> {
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(key)
        .arg(file)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "age -d: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// No file under `root` holds an age identity.
fn no_identity_under(root: &Path) {
    let mut files = Vec::new();
    walk(root, &mut files);
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes
                .windows(b"AGE-SECRET-KEY-".len())
                .any(|w| w == b"AGE-SECRET-KEY-"),
            "{} holds an age identity",
            file.display()
        );
    }
}

const FULL_MAP: &str = "kind,source,item,from,to,options,note
setting,,,id,inst-convert-full,,
setting,,,version,1,,
setting,,,profile,mhlw-tokutei-4ki,,
column,保険者番号,header.insurer_number,,,,
column,記号,header.symbol,,,,
column,番号,header.number,,,,
column,カナ氏名,header.kana_name,,,,
column,生年月日,header.birth_date,,,,
column,性別,header.sex,,,,
column,受診日,header.exam_date,,,,
column,健診機関番号,header.institution_number,,,,
column,身長,9N001000000000001,,,,
column,体重,9N006000000000001,,,,
column,最高血圧,9A751000000000001,,,,
column,最低血圧,9A761000000000001,,,,
column,尿糖,1A020000000190111,,,,
value,尿糖,,陰性,1,,
";

fn full_export() -> String {
    let mut csv = String::from(
        "保険者番号,記号,番号,カナ氏名,生年月日,性別,受診日,健診機関番号,身長,体重,最高血圧,最低血圧,尿糖\r\n",
    );
    for (insurer, kana, birth, sex, height, sbp, dbp) in [
        (
            "06999901",
            "ケンシン タロウ",
            "S45.1.1",
            "男",
            "165.0",
            "120",
            "80",
        ),
        (
            "06999901",
            "ケンシン ハナコ",
            "1980/2/3",
            "女",
            "152.5",
            "118",
            "76",
        ),
        (
            "06999902",
            "ホケン ジロウ",
            "H2.3.4",
            "1",
            "171.2",
            "132",
            "88",
        ),
        (
            "06999902",
            "ホケン サチコ",
            "1975-05-06",
            "2",
            "149.8",
            "999",
            "70",
        ),
    ] {
        csv.push_str(&format!(
            "{insurer},あ１,123,{kana},{birth},{sex},2026/4/1,1399999901,{height},60.0,{sbp},{dbp},陰性\r\n"
        ));
    }
    csv
}

fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.retain(|p| p.extension().and_then(|e| e.to_str()) == Some("xml"));
    files.sort();
    files
}

#[tokio::test]
async fn receivers_get_xsd_valid_mhlw_archives_and_sealed_fhir_bundles() {
    if !tools_or_skip(&[
        ("xmllint", "libxml2-utils"),
        ("age", "age"),
        ("node", "nodejs"),
    ]) {
        return;
    }
    let validator = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fhir-validator");
    if !validator.join("node_modules/@medplum/core").is_dir() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "the FHIR validator is required under CI (npm ci in tests/fhir-validator)"
        );
        eprintln!("skipping: npm ci in tests/fhir-validator first");
        return;
    }
    let relay = Relay::start().await;
    set_up(&relay).await;
    let work = tempfile::tempdir().unwrap();

    // The insurer takes MHLW XML and the standard CSV; the agent FHIR, sealed to its key.
    let said = admin(
        &relay,
        &["org", "output", "--org", INSURER, "mhlw-xml,std-csv"],
    )
    .await;
    assert!(said.contains("mhlw-xml, std-csv"), "{said}");
    let (key, recipient) = age_keygen(work.path(), "agent-key.txt").await;
    let said = admin(
        &relay,
        &[
            "org",
            "recipient",
            "add",
            "--org",
            AGENT,
            &recipient,
            "--label",
            "取込端末",
        ],
    )
    .await;
    assert!(said.contains(&recipient), "{said}");
    admin(&relay, &["org", "output", "--org", AGENT, "fhir"]).await;
    // A device certificate may not change them (least privilege); the organisation's admin may,
    // and reads the same settings through the API.
    let agent = relay.client(AGENT);
    let refused = agent.set_output_formats(&["std-csv"]).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Some(kenshin_core::api::ErrorCode::Forbidden)
    );
    let db = relay.db().await;
    let admin_person =
        crate::common::people::person(&relay, &db, AGENT, "agent-admin", "admin").await;
    let (status, body) = admin_person
        .call(reqwest::Method::GET, "/api/v1/org/receiving")
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let settings: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(settings["formats"], serde_json::json!(["fhir"]));
    assert_eq!(settings["recipients"][0]["recipient"], recipient.as_str());
    assert_eq!(settings["recipients"][0]["label"], "取込端末");
    assert_eq!(settings["recipient_kind"], "x25519");
    // A secret key pasted by mistake, a key of the other kind, a duplicate: refused in Japanese.
    for (bad, says) in [
        (
            "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
            "age の公開鍵として読めません",
        ),
        (recipient.as_str(), "登録済み"),
    ] {
        let (status, body) = admin_person
            .post_json(
                "/api/v1/org/receiving/recipients",
                serde_json::json!({"recipient": bad}),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{body}"
        );
    }
    let pq = age::pq::Identity::generate().to_public().to_string();
    let (status, body) = admin_person
        .post_json(
            "/api/v1/org/receiving/recipients",
            serde_json::json!({"recipient": pq}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("混在できません"),
        "{body}"
    );

    let sender = relay.client(CONVERTER);
    sender
        .upload_map(FULL_MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let export = full_export();
    let receipt = sender
        .send_stream(
            "",
            "export.csv",
            None,
            stream_of(export.clone().into_bytes()),
        )
        .await
        .unwrap();
    let done = wait_converted(&sender, &receipt.id.to_string()).await;
    assert_eq!(done.state, SubmissionState::Delivered, "{done:?}");
    let summary = done.conversion.clone().unwrap();
    assert_eq!(
        (summary.records_in, summary.records_out),
        (4, 4),
        "{summary:?}"
    );

    // The insurer: one MHLW archive named by the archive rules, and the standard CSV.
    let insurer = relay.client(INSURER);
    let inbox = insurer.list_deliveries(None, 10, 0).await.unwrap();
    let mut names: Vec<(String, Option<String>)> = inbox
        .items
        .iter()
        .map(|d| (d.filename.clone(), d.format.clone()))
        .collect();
    names.sort();
    let today = time::OffsetDateTime::now_utc()
        .to_offset(time::macros::offset!(+9))
        .date();
    let archive_name = format!(
        "1399999901_06999901_{:04}{:02}{:02}1_1.zip",
        today.year(),
        u8::from(today.month()),
        today.day()
    );
    assert_eq!(
        names,
        [
            (archive_name.clone(), Some("mhlw-xml".to_owned())),
            (
                "export_06999901.std.csv".to_owned(),
                Some("std-csv".to_owned())
            ),
        ]
    );
    let zip = inbox
        .items
        .iter()
        .find(|d| d.format.as_deref() == Some("mhlw-xml"))
        .unwrap();
    assert_eq!(zip.insurer_number.as_deref(), Some("06999901"));
    assert!(zip.sealed.is_none(), "the insurer registered no recipient");
    let zip_path = work.path().join(&archive_name);
    insurer
        .fetch_to_file(&zip.id.to_string(), &zip_path, |_, _| {})
        .await
        .unwrap();
    let profile = kenshin_profile::Profile::default_profile();
    let records: Vec<kenshin_profile::CheckupRecord> = kenshin_mhlw::read_archive(
        std::io::BufReader::new(std::fs::File::open(&zip_path).unwrap()),
        profile,
        &kenshin_mhlw::Limits::default(),
    )
    .unwrap()
    .map(Result::unwrap)
    .collect();
    assert_eq!(records.len(), 2);
    let height = records[1].value("9N001000000000001").unwrap();
    assert_eq!(height.value, kenshin_profile::Value::Number("152.5".into()));
    // Every document validates against the official schemas.
    let unpacked = work.path().join("unpacked");
    zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap())
        .unwrap()
        .extract(&unpacked)
        .unwrap();
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/mhlw/xsd-2024");
    let documents = xml_files(&unpacked);
    assert_eq!(documents.len(), 4, "2 documents, index, summary");
    for file in documents {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        let schema = match &name[..4] {
            "ix08" => "ix08_V08.xsd",
            "su08" => "su08_V08.xsd",
            _ => "hc08_V08.xsd",
        };
        let out = Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(xsd.join(schema))
            .arg(&file)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The agent: FHIR Bundles of its insurer's examinees, as an age file to its recipient.
    let inbox = agent.list_deliveries(None, 10, 0).await.unwrap();
    assert_eq!(inbox.total, 1);
    let sealed = &inbox.items[0];
    assert_eq!(sealed.filename, "export_06999902.fhir.ndjson.age");
    assert_eq!(sealed.format.as_deref(), Some("fhir"));
    let content = sealed.sealed.clone().expect("sealed to the agent");
    assert_eq!(content.format, "age");
    let age_path = work.path().join(&sealed.filename);
    agent
        .fetch_to_file(&sealed.id.to_string(), &age_path, |_, _| {})
        .await
        .unwrap();
    assert!(std::fs::read(&age_path)
        .unwrap()
        .starts_with(b"age-encryption.org/v1\n"));
    let ndjson = age_decrypt(&key, &age_path).await;
    assert_eq!(ndjson.len() as u64, content.size);
    assert_eq!(sha256_hex(&ndjson), content.sha256);
    let bundles: Vec<serde_json::Value> = ndjson
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(bundles.len(), 2);
    for bundle in &bundles {
        assert_eq!(bundle["type"], "document");
        let first = &bundle["entry"][0]["resource"];
        assert_eq!(first["resourceType"], "Composition");
        assert_eq!(first["type"]["coding"][0]["code"], "53576-5");
    }
    // Values, units and the input-range flag survive: 999 mmHg is above the input range.
    let observation = |bundle: &serde_json::Value, code: &str| -> serde_json::Value {
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["resource"])
            .find(|r| {
                r["resourceType"] == "Observation"
                    && r["code"]["coding"].as_array().unwrap().iter().any(|c| {
                        c["system"] == "urn:oid:1.2.392.200119.6.1005" && c["code"] == code
                    })
            })
            .cloned()
            .unwrap_or_else(|| panic!("no Observation {code}"))
    };
    let height = observation(&bundles[0], "9N001000000000001");
    assert_eq!(height["valueQuantity"]["value"], serde_json::json!(171.2));
    assert_eq!(height["valueQuantity"]["code"], "cm");
    // A laboratory item's 17-digit code is its JLAC10 code too; a measurement has none.
    let urine = observation(&bundles[0], "1A020000000190111");
    let systems: Vec<&str> = urine["code"]["coding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["system"].as_str().unwrap())
        .collect();
    assert!(systems.contains(&"urn:oid:1.2.392.200119.4.504"), "{urine}");
    assert!(!height["code"]["coding"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["system"] == "urn:oid:1.2.392.200119.4.504"));
    let systolic = observation(&bundles[1], "9A751000000000001");
    assert_eq!(systolic["valueQuantity"]["value"], serde_json::json!(999));
    assert_eq!(systolic["interpretation"][0]["coding"][0]["code"], "HX");
    // An independent FHIR R4 validator accepts every Bundle.
    let opened = work.path().join("opened.ndjson");
    std::fs::write(&opened, &ndjson).unwrap();
    let out = Command::new("node")
        .current_dir(&validator)
        .arg("validate.mjs")
        .arg(&opened)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "validator: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The client opens it locally with the identity and checks the content.
    let fetched = work.path().join("fetched.ndjson");
    let id = sealed.id.to_string();
    let out = client(
        &relay,
        AGENT,
        &[
            "fetch",
            &id,
            "--identity",
            key.to_str().unwrap(),
            "--out",
            fetched.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&fetched).unwrap(), ndjson);
    // With a wrong key the client says so, and writes nothing.
    let (other_key, _) = age_keygen(work.path(), "other.txt").await;
    let wrong = work.path().join("wrong.ndjson");
    let out = client(
        &relay,
        AGENT,
        &[
            "fetch",
            &id,
            "--identity",
            other_key.to_str().unwrap(),
            "--out",
            wrong.to_str().unwrap(),
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("この秘密鍵では開けません"));
    assert!(!wrong.exists());

    // The change of recipients is in the ledger; no identity is anywhere the server keeps.
    let kinds: Vec<kenshin_core::EventKind> = relay
        .db()
        .await
        .list_events(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.contains(&kenshin_core::EventKind::RecipientsChanged),
        "{kinds:?}"
    );
    no_identity_under(relay.data.root());
}

#[tokio::test]
async fn a_pass_through_file_to_a_sealed_receiver_opens_byte_identical_with_age() {
    if !tools_or_skip(&[("age", "age")]) {
        return;
    }
    let relay = Relay::start().await;
    let work = tempfile::tempdir().unwrap();
    let (key, recipient) = age_keygen(work.path(), "insurer-key.txt").await;
    admin(
        &relay,
        &["org", "recipient", "add", "--org", INSURER, &recipient],
    )
    .await;
    let listed = admin(&relay, &["org", "recipient", "list", "--org", INSURER]).await;
    assert!(listed.contains(&recipient), "{listed}");

    let sent = sample_export(2000, "sealed-pass-through");
    let receipt = relay
        .client(INSTITUTION)
        .send_stream(INSURER, "results.csv", None, stream_of(sent.clone()))
        .await
        .unwrap();
    // The sender's receipt binds what it sent, not the age file.
    assert_eq!(receipt.sha256, sha256_hex(&sent));
    assert_eq!(receipt.size, sent.len() as u64);

    let insurer = relay.client(INSURER);
    let delivery = insurer.list_deliveries(None, 10, 0).await.unwrap().items[0].clone();
    assert_eq!(delivery.filename, "results.csv.age");
    let content = delivery.sealed.clone().unwrap();
    assert_eq!(
        (content.size, content.sha256.as_str()),
        (sent.len() as u64, receipt.sha256.as_str())
    );
    let age_path = work.path().join("results.csv.age");
    insurer
        .fetch_to_file(&delivery.id.to_string(), &age_path, |_, _| {})
        .await
        .unwrap();
    let opened = age_decrypt(&key, &age_path).await;
    assert!(opened == sent, "age -d gives the bytes the sender sent");
    no_identity_under(relay.data.root());

    // Removing the recipient (the use case the API and the CLI share): later files are not
    // sealed; the earlier one stays sealed.
    let state = relay.state();
    let org = state.db.org_by_code(INSURER).await.unwrap();
    kenshin_server::service::receivers::remove_recipient_in(
        &state.db,
        &org,
        &recipient,
        "test",
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let second = relay
        .client(INSTITUTION)
        .send_stream(
            INSURER,
            "second.csv",
            None,
            stream_of(b"a,b\r\n1,2\r\n".to_vec()),
        )
        .await
        .unwrap();
    let plain = insurer
        .delivery(&second.deliveries[0].id.to_string())
        .await
        .unwrap();
    assert!(plain.sealed.is_none(), "{plain:?}");
    assert_eq!(plain.filename, "second.csv");
    assert!(insurer
        .delivery(&delivery.id.to_string())
        .await
        .unwrap()
        .sealed
        .is_some());
}

#[tokio::test]
async fn an_organisation_admin_chooses_formats_and_registers_a_key_in_the_web() {
    let relay = Relay::start().await;
    let db = relay.db().await;
    let admin_person =
        crate::common::people::person(&relay, &db, INSURER, "midori-admin", "admin").await;
    let (status, page) = admin_person.page("/organisation", "ja").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    for says in [
        "受け取るファイルの形式",
        "特定健診 XML（mhlw-xml）",
        "FHIR 健診結果報告書（fhir）",
        "暗号化されたファイルの開き方",
        "age -d -i key.txt",
        "公開鍵は登録されていません",
    ] {
        assert!(page.contains(says), "{says} missing");
    }
    // Formats: the standard CSV and the XML archive.
    let (status, path, page) = admin_person
        .form(
            "/organisation/formats",
            &[("std_csv", "on"), ("mhlw_xml", "on")],
        )
        .await;
    assert_eq!(
        (status, path.as_str()),
        (reqwest::StatusCode::OK, "/organisation")
    );
    assert!(page.contains("受け取る形式を保存しました"), "{page}");
    let org = db.org_by_code(INSURER).await.unwrap();
    assert_eq!(
        db.receiver_settings(org.id).await.unwrap().formats,
        ["std-csv", "mhlw-xml"]
    );
    // None at all is refused with the reason.
    let (status, _, page) = admin_person.form("/organisation/formats", &[]).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    assert!(page.contains("形式を 1 つ以上選んでください"));
    // A secret key pasted by mistake is refused, and named for what it is.
    let (status, _, page) = admin_person
        .form(
            "/organisation/recipients",
            &[(
                "recipient",
                "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
            )],
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    assert!(page.contains("秘密鍵（AGE-SECRET-KEY-…）は絶対に貼り付けないでください"));
    let recipient = age::pq::Identity::generate().to_public().to_string();
    let (status, _, page) = admin_person
        .form(
            "/organisation/recipients",
            &[("recipient", &recipient), ("label", "情報システム課")],
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(page.contains("公開鍵を登録しました"), "{page}");
    assert!(page.contains(&recipient) && page.contains("情報システム課"));
    let id = db.recipients(org.id).await.unwrap()[0].id.to_string();
    let (status, _, page) = admin_person
        .form("/organisation/recipients", &[("remove", &id)])
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(page.contains("公開鍵を削除しました"));
    assert!(db.recipients(org.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_receiver_searches_downloads_a_zip_and_confirms_in_bulk() {
    let relay = Relay::start().await;
    let sender = relay.client(INSTITUTION);
    let mut sent = Vec::new();
    for i in 0..3 {
        let body = sample_export(50, &format!("BULK-{i}"));
        let receipt = sender
            .send_stream(
                INSURER,
                &format!("file-{i}.csv"),
                None,
                stream_of(body.clone()),
            )
            .await
            .unwrap();
        sent.push((receipt.deliveries[0].id.to_string(), body));
    }
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(
            kenshin_client::tls_config(&relay.ca_pem(), Some(&relay.identity(INSURER))).unwrap(),
        )
        .build()
        .unwrap();
    let api = |path: &str| format!("{}{path}", relay.url());
    let total = |page: serde_json::Value| page["total"].as_u64().unwrap();
    // Search: by sender and format, by days, with a precise refusal of a malformed day.
    for (query, expected) in [
        ("?sender=inst-sakura&format=pass-through", 3),
        ("?format=fhir", 0),
        ("?from=2000-01-01&to=2000-01-31", 0),
        ("?from=2000-01-01", 3),
        ("?insurer_number=06999901", 0),
    ] {
        let page: serde_json::Value = http
            .get(api(&format!("/api/v1/deliveries{query}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(total(page), expected, "{query}");
    }
    let bad = http
        .get(api("/api/v1/deliveries?from=2026/1/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("YYYY-MM-DD"));

    // One ZIP of two files, streamed; each recorded as downloaded.
    let zip_of = |ids: Vec<&str>| {
        http.post(api("/api/v1/deliveries/bulk/archive"))
            .json(&serde_json::json!({ "ids": ids }))
            .send()
    };
    let answer = zip_of(vec![&sent[0].0, &sent[1].0]).await.unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
    assert_eq!(answer.headers()["content-type"], "application/zip");
    let bytes = answer.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, ["file-0.csv", "file-1.csv"]);
    for (i, name) in ["file-0.csv", "file-1.csv"].iter().enumerate() {
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name(name).unwrap(), &mut content).unwrap();
        assert!(content == sent[i].1, "{name} is the file as sent");
    }
    // An id that is not the receiver's refuses the whole request before any byte.
    let refused = zip_of(vec![&sent[2].0, "01a251a3-fc13-73bb-9fcb-567199fb927b"])
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::NOT_FOUND);
    let insurer = relay.client(INSURER);
    assert_eq!(
        insurer.delivery(&sent[2].0).await.unwrap().state,
        kenshin_core::DeliveryState::Ready,
        "nothing was recorded for the refused request"
    );

    // Bulk 受信完了: the downloaded two are confirmed; the third, never downloaded, is not.
    let confirmed: serde_json::Value = http
        .post(api("/api/v1/deliveries/bulk/confirm"))
        .json(&serde_json::json!({ "ids": [&sent[0].0, &sent[1].0, &sent[2].0] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let results = confirmed["results"].as_array().unwrap();
    assert_eq!(results[0]["delivery"]["state"], "confirmed");
    assert_eq!(results[1]["delivery"]["state"], "confirmed");
    assert_eq!(results[2]["error"]["code"], "not_downloaded", "{confirmed}");

    // The batch job: `client fetch --all` into a directory, then again with --confirm: the
    // second run finds the file there already (resumable, idempotent) and confirms it.
    let dir = relay.dir.path().join("inbox-all");
    let dir_arg = dir.to_str().unwrap().to_owned();
    let fetch_all = |extra: &'static [&'static str]| {
        let mut args = vec!["--json", "fetch", "--all", "--out", &dir_arg];
        args.extend_from_slice(extra);
        let relay = &relay;
        async move { Ok::<_, std::io::Error>(client(relay, INSURER, &args).await) }
    };
    let first = fetch_all(&[]).await.unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(first["fetched"].as_array().unwrap().len(), 1, "{first}");
    assert!(std::fs::read(dir.join("file-2.csv")).unwrap() == sent[2].1);
    let second = fetch_all(&["--confirm"]).await.unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let second: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(second["fetched"].as_array().unwrap().len(), 0, "{second}");
    assert_eq!(second["present"].as_array().unwrap().len(), 1, "{second}");
    assert_eq!(second["confirmed"].as_array().unwrap().len(), 1, "{second}");
    let third = fetch_all(&["--confirm"]).await.unwrap();
    let third: serde_json::Value = serde_json::from_slice(&third.stdout).unwrap();
    assert_eq!(
        (
            third["fetched"].as_array().unwrap().len(),
            third["confirmed"].as_array().unwrap().len()
        ),
        (0, 0),
        "nothing left: {third}"
    );
}

/// Records held because no route took their 保険者番号 reach a receiver that registered a key
/// and chose MHLW XML as that: written in its format, sealed, and the sender's held copy (which
/// the server could read) destroyed.
#[tokio::test]
async fn held_records_reach_a_sealed_receiver_in_its_format() {
    if !tools_or_skip(&[("age", "age")]) {
        return;
    }
    let relay = Relay::start().await;
    set_up(&relay).await;
    let work = tempfile::tempdir().unwrap();
    let sender = relay.client(CONVERTER);
    sender
        .upload_map(FULL_MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let mut export = full_export();
    export.push_str(
        "12345678,あ１,9,ミライ ケン,1990/1/1,1,2026/4/1,1399999901,168.0,60.0,120,80,陰性\r\n",
    );
    let receipt = sender
        .send_stream("", "export.csv", None, stream_of(export.into_bytes()))
        .await
        .unwrap();
    let done = wait_converted(&sender, &receipt.id.to_string()).await;
    assert_eq!(done.conversion.unwrap().records_unrouted, 1);

    // A new insurer takes 12345678, wants MHLW XML, sealed to its key; then the route.
    let (key, recipient) = age_keygen(work.path(), "new-key.txt").await;
    admin(
        &relay,
        &[
            "org",
            "create",
            "--code",
            "ins-new",
            "--kind",
            "insurer",
            "--name",
            "みらい健保",
            "--insurer-number",
            "12345678",
        ],
    )
    .await;
    admin(&relay, &["org", "output", "--org", "ins-new", "mhlw-xml"]).await;
    admin(
        &relay,
        &["org", "recipient", "add", "--org", "ins-new", &recipient],
    )
    .await;
    admin(
        &relay,
        &[
            "route", "create", "--from", CONVERTER, "--to", "ins-new", "--mode", "convert",
        ],
    )
    .await;
    // The route's release queued a job; the relay's worker runs it.
    relay.state().jobs.notify_one();
    let state = relay.state();
    let org = state.db.org_by_code("ins-new").await.unwrap();
    let filter = kenshin_store::ListFilter {
        limit: 10,
        ..Default::default()
    };
    let mut deliveries = Vec::new();
    for _ in 0..300 {
        deliveries = state.db.list_deliveries(org.id, &filter).await.unwrap().0;
        if !deliveries.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        relay.state().jobs.notify_one();
    }
    assert_eq!(deliveries.len(), 1, "released as one MHLW archive");
    let delivery = &deliveries[0];
    assert_eq!(delivery.format.as_deref(), Some("mhlw-xml"));
    assert!(
        delivery.filename.ends_with(".zip.age"),
        "{}",
        delivery.filename
    );
    assert!(delivery.filename.starts_with("1399999901_12345678_"));
    assert!(delivery.sealed_content.is_some());
    // What the server stores is an age file; the receiver's key opens it into the archive.
    let object = state.db.object(delivery.object_id).await.unwrap();
    let mut sealed = Vec::new();
    std::io::Read::read_to_end(&mut state.vault.open_reader(&object).unwrap(), &mut sealed)
        .unwrap();
    assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
    let path = work.path().join("released.zip.age");
    std::fs::write(&path, &sealed).unwrap();
    let archive = age_decrypt(&key, &path).await;
    let records: Vec<kenshin_profile::CheckupRecord> = kenshin_mhlw::read_archive(
        std::io::Cursor::new(archive),
        kenshin_profile::Profile::default_profile(),
        &kenshin_mhlw::Limits::default(),
    )
    .unwrap()
    .map(Result::unwrap)
    .collect();
    assert_eq!(records.len(), 1);
    // The sender's held copy is gone: released, and its object destroyed.
    let batch = &sender
        .submission(&receipt.id.to_string())
        .await
        .unwrap()
        .held[0];
    assert_eq!(batch.state.as_str(), "released");
    let held = state.db.held_batch_by_id(&batch.id).await.unwrap();
    assert!(state
        .db
        .object(held.object_id)
        .await
        .unwrap()
        .wrapped_key
        .is_none());
}

/// Two conversions for one insurer on one day make two archives, numbered 1 and 2 in their
/// names (同日作成回数), so the receiver's system never overwrites one with the other.
#[tokio::test]
async fn archives_of_one_day_are_numbered() {
    let relay = Relay::start().await;
    set_up(&relay).await;
    admin(&relay, &["org", "output", "--org", INSURER, "mhlw-xml"]).await;
    let sender = relay.client(CONVERTER);
    sender
        .upload_map(FULL_MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    for copy in ["first.csv", "second.csv"] {
        let receipt = sender
            .send_stream("", copy, None, stream_of(full_export().into_bytes()))
            .await
            .unwrap();
        wait_converted(&sender, &receipt.id.to_string()).await;
    }
    let today = time::OffsetDateTime::now_utc()
        .to_offset(time::macros::offset!(+9))
        .date();
    let day = format!(
        "{:04}{:02}{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    );
    let mut names: Vec<String> = relay
        .client(INSURER)
        .list_deliveries(None, 10, 0)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|d| d.filename)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("1399999901_06999901_{day}1_1.zip"),
            format!("1399999901_06999901_{day}2_1.zip"),
        ]
    );
}
