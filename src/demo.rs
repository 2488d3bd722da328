//! `kenshin-relay demo`: a complete relay on this machine — demo organisations (two
//! institutions, an insurer, a clinic and the operator), pass-through routes and a converting
//! one with its map, people with their own client certificates (the operator's too), synthetic
//! sample files, and a mail sink: the notices people chose are written as `.eml` files into
//! `DATA/demo/mail/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kenshin_core::{OrgCode, OrgKind, RouteMode};
use kenshin_server::{Config, DataDir, RunningServer};
use kenshin_store::StoreError;
use time::OffsetDateTime;

use crate::files::{private_dir, write_public};

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Data directory (created if missing).
    #[arg(
        long,
        env = "KENSHIN_RELAY_DATA_DIR",
        default_value = "kenshin-relay-data"
    )]
    data_dir: PathBuf,
    /// Port to listen on (on 127.0.0.1); 0 picks a free one.
    #[arg(long, default_value_t = 8443)]
    port: u16,
}

struct DemoOrg {
    code: &'static str,
    kind: OrgKind,
    name: &'static str,
    insurer_numbers: &'static [&'static str],
}

/// Fictional organisations; the insurer number is a made-up value.
const ORGS: [DemoOrg; 5] = [
    DemoOrg {
        code: "demo-institution",
        kind: OrgKind::Institution,
        name: "さくら健診センター (demo)",
        insurer_numbers: &[],
    },
    DemoOrg {
        code: "demo-insurer",
        kind: OrgKind::Insurer,
        name: "みどり健康保険組合 (demo)",
        insurer_numbers: &["06999901"],
    },
    DemoOrg {
        code: "demo-clinic",
        kind: OrgKind::Clinic,
        name: "ひまわりクリニック (demo)",
        insurer_numbers: &[],
    },
    DemoOrg {
        code: "demo-converter",
        kind: OrgKind::Institution,
        name: "あおば健診プラザ (demo)",
        insurer_numbers: &[],
    },
    DemoOrg {
        code: "demo-operator",
        kind: OrgKind::Operator,
        name: "健診リレー運用センター (demo)",
        insurer_numbers: &[],
    },
];

/// Routes: the first three pass files through as they are; the converting institution's
/// files are converted with its map and split by 保険者番号.
const ROUTES: [(&str, &str, RouteMode); 4] = [
    ("demo-institution", "demo-insurer", RouteMode::PassThrough),
    ("demo-institution", "demo-clinic", RouteMode::PassThrough),
    ("demo-clinic", "demo-insurer", RouteMode::PassThrough),
    ("demo-converter", "demo-insurer", RouteMode::Convert),
];

/// People of the demo organisations: (organisation, login, name, role).
const PEOPLE: [(&str, &str, &str, &str); 5] = [
    ("demo-institution", "demo.sender", "佐藤 花子", "sender"),
    ("demo-institution", "demo.admin", "鈴木 一郎", "admin"),
    ("demo-insurer", "demo.receiver", "高橋 健", "receiver"),
    ("demo-converter", "demo.converter", "伊藤 真理", "sender"),
    ("demo-operator", "demo.ops", "中村 運用", "ops_admin"),
];

/// Who is told of what, by e-mail into the demo's mail sink: the insurer's receiver of
/// arrivals and reminders, the senders of their files' fate (their roles' defaults).
const MAIL: [(&str, &str); 4] = [
    ("demo.receiver", "demo.receiver@insurer.demo.invalid"),
    ("demo.sender", "demo.sender@institution.demo.invalid"),
    ("demo.admin", "demo.admin@institution.demo.invalid"),
    ("demo.converter", "demo.converter@converter.demo.invalid"),
];

/// The converting institution's map: its export's columns placed on the standard items.
const DEMO_MAP: &str = "kind,source,item,from,to,options,note
setting,,,id,demo-converter-main,,
setting,,,version,1,,
setting,,,profile,mhlw-tokutei-4ki,,
setting,,,name,あおば健診プラザ 健診システムの出力,,
setting,,,institution_number,1399999901,,
column,受診券整理番号,header.受診券整理番号,,,,
column,保険者番号,header.保険者番号,,,,
column,カナ氏名,header.カナ氏名,,,,
column,生年月日,header.生年月日,,,,
column,性別,header.性別,,,,
column,健診実施日,header.健診実施日,,,,
column,身長,9N001000000000001,,,,
column,体重,9N006000000000001,,,,
column,腹囲,9N016160100000001,,,,
column,収縮期血圧,9A751000000000001,,,,
column,拡張期血圧,9A761000000000001,,,,
column,HbA1c,3D046000001906202,,,,
column,尿糖,1A020000000190111,,,,
column,尿蛋白,1A010000000190111,,,,
";

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    crate::init_logging("text");
    let root = absolute(&args.data_dir)?;
    let data = DataDir::new(&root);
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    if !data.kek_path().exists() {
        let config = Config {
            listen,
            ..Config::default()
        };
        crate::init::initialise(&root, config).await?;
    }
    prepare(&data).await?;
    let mut config = Config::load(&data)?;
    config.listen = listen;
    // The demo's mail sink, unless the data directory's configuration names a mail server.
    if config.smtp_host.is_empty() && config.mail_dir.is_empty() {
        config.mail_dir = "demo/mail".into();
        config.smtp_from = "健診リレー demo <noreply@relay.demo.invalid>".into();
    }
    let signals = kenshin_server::Signals::install()?;
    if config.public_url.is_empty() {
        config.public_url = format!("https://localhost:{}", args.port);
    }
    let server = RunningServer::start(&data, config).await?;
    println!("{}", instructions(&data, server.addr.port()));
    signals.wait().await;
    server.shutdown().await
}

/// Creates what is missing of the demo organisations, routes, certificates and sample file.
async fn prepare(data: &DataDir) -> anyhow::Result<()> {
    let db = kenshin_server::open_database(data, &Config::load(data)?).await?;
    let ca = crate::init::load_ca(data)?;
    let demo = data.root().join("demo");
    private_dir(&demo)?;
    if !demo.join("ca.pem").exists() {
        write_public(&demo.join("ca.pem"), ca.cert_pem().as_bytes())?;
    }
    for org in &ORGS {
        let code: OrgCode = org.code.parse()?;
        match db.org_by_code(org.code).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                let numbers = org
                    .insurer_numbers
                    .iter()
                    .map(|n| n.parse())
                    .collect::<Result<Vec<_>, _>>()?;
                crate::admin::create_org(&db, code.clone(), org.kind, org.name, numbers).await?;
            }
            Err(err) => return Err(err.into()),
        }
        let dir = demo.join(org.code);
        // The operator's staff use their own certificates; it runs no batch jobs.
        if org.kind != OrgKind::Operator && !dir.join("cert.pem").exists() {
            crate::admin::issue_cert(&db, &ca, &code, "demo batch job", &dir, 825, None).await?;
        }
    }
    let routes = db.list_routes().await?;
    for (from, to, mode) in ROUTES {
        if routes
            .iter()
            .any(|r| r.sender.as_str() == from && r.receiver.as_str() == to)
        {
            continue;
        }
        db.create_route(
            &from.parse()?,
            &to.parse()?,
            mode,
            OffsetDateTime::now_utc(),
        )
        .await?;
    }
    let converter = db.org_by_code("demo-converter").await?;
    if db.list_maps(converter.id).await?.is_empty() {
        kenshin_server::service::maps::store_map_in(
            &db,
            converter.id,
            DEMO_MAP.as_bytes(),
            true,
            OffsetDateTime::now_utc(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("the demo map: {e}"))?;
    }
    // People for the web UI: one account each, initial passwords in a file only the owner
    // can read (the person changes it, and enrols TOTP, at first login).
    let passwords = demo.join("initial-passwords.txt");
    let mut created = String::new();
    for (org_code, login, name, role) in PEOPLE {
        if db.user_by_login(login).await?.is_some() {
            continue;
        }
        let org = db.org_by_code(org_code).await?;
        let (_, initial) =
            kenshin_server::service::accounts::create_account(&db, &org, login, name, role, None)
                .await?;
        created.push_str(&format!("{login} {}\n", initial.as_str()));
    }
    if !created.is_empty() {
        let mut previous = std::fs::read_to_string(&passwords).unwrap_or_default();
        previous.push_str(&created);
        let _ = std::fs::remove_file(&passwords);
        crate::files::write_secret(&passwords, previous.as_bytes())?;
    }
    // Each person's own client certificate, to import into the browser: the relay requires
    // it besides password and second factor (people_require_certificate).
    for (org_code, login, name, _) in PEOPLE {
        let dir = demo.join("people").join(login);
        if dir.join("client.p12").exists() {
            continue;
        }
        let user = db
            .user_by_login(login)
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo person {login} is missing"))?;
        crate::admin::issue_cert_for(
            &db,
            &ca,
            &org_code.parse()?,
            &format!("{name} のブラウザ"),
            crate::admin::CertHolder::Person(&user),
            &dir,
            825,
            None,
        )
        .await?;
    }
    for (login, address) in MAIL {
        let Some(user) = db.user_by_login(login).await? else {
            continue;
        };
        let current = db.person_notifications(user.org_id, user.id).await?;
        if current.email.is_none() {
            let settings = kenshin_store::PersonNotifications {
                email: Some(address.into()),
                language: "ja".into(),
                topics: None,
            };
            db.set_person_notifications(user.org_id, user.id, &settings, OffsetDateTime::now_utc())
                .await?;
        }
    }
    let mail = demo.join("mail");
    if !mail.exists() {
        private_dir(&mail)?;
    }
    let sample = demo.join("sample-results.csv");
    if !sample.exists() {
        write_public(&sample, sample_csv().as_bytes())?;
    }
    let convert = demo.join("sample-convert.csv");
    if !convert.exists() {
        write_public(&convert, sample_convert_csv().as_bytes())?;
    }
    db.close().await;
    Ok(())
}

/// The converting institution's export: the sample's people, one whose 保険者番号 no
/// organisation receives yet (held until a route takes it), and one without a birth date
/// (returned to the sender).
fn sample_convert_csv() -> String {
    let mut csv = sample_csv();
    csv.push_str("90000000011,06999909,キムラ サトシ,1966-07-07,1,2026-04-20,168.2,64.0,82.5,128,80,5.6,-,-\r\n");
    csv.push_str("90000000012,06999901,モリ アヤ,,2,2026-04-21,158.9,51.3,71.0,110,66,5.3,-,-\r\n");
    csv
}

/// A small synthetic checkup export (fictional people, fake numbers), in the style of an
/// institution's own CSV layout.
fn sample_csv() -> String {
    const PEOPLE: [(&str, &str, &str); 6] = [
        ("ヤマダ タロウ", "1968-05-14", "1"),
        ("スズキ ハナコ", "1975-11-02", "2"),
        ("タナカ ケンジ", "1959-03-27", "1"),
        ("サトウ ミユキ", "1982-08-09", "2"),
        ("イトウ マサル", "1971-01-30", "1"),
        ("ワタナベ ユイ", "1990-12-18", "2"),
    ];
    let mut csv = String::from(
        "受診券整理番号,保険者番号,カナ氏名,生年月日,性別,健診実施日,身長,体重,腹囲,収縮期血圧,拡張期血圧,HbA1c,尿糖,尿蛋白\r\n",
    );
    for (i, (kana, birth, sex)) in PEOPLE.iter().enumerate() {
        let height = 150.0 + (i as f64 * 4.3) % 30.0;
        let weight = 48.0 + (i as f64 * 7.1) % 35.0;
        let _ = write!(
            csv,
            "{:011},06999901,{kana},{birth},{sex},2026-04-{:02},{height:.1},{weight:.1},{:.1},{},{},{:.1},{},{}\r\n",
            90_000_000_001u64 + i as u64,
            i + 6,
            70.0 + (i as f64 * 3.7) % 25.0,
            112 + i * 7,
            68 + i * 3,
            5.2 + (i as f64 * 0.3),
            if i % 3 == 0 { "(-)" } else { "-" },
            if i == 2 { "(+)" } else { "-" },
        );
    }
    csv
}

fn instructions(data: &DataDir, port: u16) -> String {
    let root = data.root().display();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "kenshin-relay".into());
    let server = format!("https://localhost:{port}");
    let mut text = String::new();
    let _ = writeln!(text, "健診リレー デモ / Kenshin Relay demo");
    let _ = writeln!(
        text,
        "  server: {server}   (TLS 1.3, client certificates required for /api)"
    );
    let _ = writeln!(text, "  data:   {root}");
    let _ = writeln!(text, "  CA:     {root}/demo/ca.pem");
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "Organisations / 組織 (certificates in {root}/demo/<code>/):"
    );
    for org in &ORGS {
        let _ = writeln!(
            text,
            "  {:<18} {:<12} {}",
            org.code,
            org.kind.label_ja(),
            org.name
        );
    }
    let _ = writeln!(
        text,
        "Routes / 経路: {}",
        ROUTES
            .map(|(a, b, mode)| match mode {
                RouteMode::Convert => format!("{a} → {b} (変換 / convert)"),
                _ => format!("{a} → {b}"),
            })
            .join(", ")
    );
    let _ = writeln!(text);
    let _ = writeln!(text, "Web UI / ブラウザ: {server}/");
    let _ = writeln!(
        text,
        "  logins / ログインID: {}",
        PEOPLE
            .map(|(org, login, _, role)| format!("{login} ({org}, {role})"))
            .join(", ")
    );
    let _ = writeln!(
        text,
        "  initial passwords / 初期パスワード: {root}/demo/initial-passwords.txt (0600)"
    );
    let _ = writeln!(
        text,
        "  personal certificates / 本人の証明書: {root}/demo/people/<login>/client.p12 (password: client.p12.password)"
    );
    let _ = writeln!(
        text,
        "    import it into the browser first / 先にブラウザへ取り込む: Chrome/Edge 設定 → プライバシーとセキュリティ → セキュリティ → 証明書の管理 → 個人 → インポート"
    );
    let _ = writeln!(
        text,
        "  first login: register an authenticator app (QR code), then set your own password"
    );
    let _ = writeln!(text);
    let _ = writeln!(text, "Try it in another terminal / 別の端末で試す:");
    let _ = writeln!(text, "  KR={exe}");
    let _ = writeln!(
        text,
        "  export KENSHIN_RELAY_SERVER={server} KENSHIN_RELAY_CA={root}/demo/ca.pem"
    );
    let inst = format!(
        "--cert {root}/demo/demo-institution/cert.pem --key {root}/demo/demo-institution/key.pem"
    );
    let ins =
        format!("--cert {root}/demo/demo-insurer/cert.pem --key {root}/demo/demo-insurer/key.pem");
    let _ = writeln!(
        text,
        "  # 健診機関が送信 / the institution sends the sample file to the insurer"
    );
    let _ = writeln!(
        text,
        "  $KR client {inst} send {root}/demo/sample-results.csv --to demo-insurer"
    );
    let _ = writeln!(
        text,
        "  # 保険者が受信箱を確認・受信・受信完了 / the insurer lists, fetches and confirms"
    );
    let _ = writeln!(text, "  $KR client {ins} list inbox");
    let _ = writeln!(
        text,
        "  $KR client {ins} fetch <DELIVERY_ID> --out received.csv"
    );
    let _ = writeln!(text, "  $KR client {ins} confirm <DELIVERY_ID>");
    let _ = writeln!(
        text,
        "  # 送信状況 / the institution sees the delivery state"
    );
    let _ = writeln!(text, "  $KR client {inst} list sent");
    let _ = writeln!(text);
    let _ = writeln!(text, "With curl:");
    let curl_inst = format!("curl --cacert {root}/demo/ca.pem --cert {root}/demo/demo-institution/cert.pem --key {root}/demo/demo-institution/key.pem");
    let curl_ins = format!("curl --cacert {root}/demo/ca.pem --cert {root}/demo/demo-insurer/cert.pem --key {root}/demo/demo-insurer/key.pem");
    let _ = writeln!(text, "  {curl_inst} --data-binary @{root}/demo/sample-results.csv '{server}/api/v1/submissions?to=demo-insurer&filename=sample-results.csv'");
    let _ = writeln!(text, "  {curl_ins} {server}/api/v1/deliveries");
    let _ = writeln!(
        text,
        "  {curl_ins} -o received.csv {server}/api/v1/deliveries/<DELIVERY_ID>/content"
    );
    let _ = writeln!(
        text,
        "  {curl_ins} -X POST {server}/api/v1/deliveries/<DELIVERY_ID>/confirm"
    );
    let _ = writeln!(text, "  curl --cacert {root}/demo/ca.pem {server}/health");
    let _ = writeln!(text);
    let conv = format!(
        "--cert {root}/demo/demo-converter/cert.pem --key {root}/demo/demo-converter/key.pem"
    );
    let _ = writeln!(
        text,
        "Conversion / 変換 (demo-converter → its map → standard formats, split by 保険者番号):"
    );
    let _ = writeln!(
        text,
        "  $KR client {conv} send {root}/demo/sample-convert.csv"
    );
    let _ = writeln!(
        text,
        "  # 6 records go to demo-insurer; 1 is held (保険者番号 06999909: nobody receives it yet), 1 returned (no 生年月日)"
    );
    let _ = writeln!(text, "  $KR client {conv} report <SUBMISSION_ID>");
    let _ = writeln!(text, "  $KR client {conv} held <SUBMISSION_ID>");
    let _ = writeln!(
        text,
        "  # an insurer for 06999909 and a converting route: the held record is delivered at once"
    );
    let _ = writeln!(
        text,
        "  $KR admin --data-dir {root} org create --code demo-insurer-2 --kind insurer --name あおぞら健保 --insurer-number 06999909"
    );
    let _ = writeln!(
        text,
        "  $KR admin --data-dir {root} route create --from demo-converter --to demo-insurer-2 --mode convert"
    );
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "Operator console / 運用コンソール: {server}/ops  (login demo.ops with its certificate {root}/demo/people/demo.ops/client.p12)"
    );
    let _ = writeln!(
        text,
        "Notifications / 通知: the e-mails people chose are written to {root}/demo/mail/*.eml (open them with any mail program);"
    );
    let _ = writeln!(
        text,
        "  each person chooses on /account, an organisation's admin adds webhooks on /organisation"
    );
    let _ = writeln!(text);
    let _ = write!(text, "Ctrl-C で停止 / press Ctrl-C to stop.");
    text
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()?.join(path)
    })
}
