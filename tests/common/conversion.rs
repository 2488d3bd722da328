//! A converting sender: an institution with convert routes to an insurer and an agent (which
//! receives for another insurer), its map and an export with findings of every kind.

use std::time::Duration;

use kenshin_core::api::SubmissionView;
use kenshin_core::{OrgCode, OrgKind, RouteMode, SubmissionState};
use time::OffsetDateTime;

use super::*;

pub const CONVERTER: &str = "inst-convert";
pub const AGENT: &str = "agent-kyokai";

pub const MAP: &str = "kind,source,item,from,to,options,note
setting,,,id,inst-convert-main,,
setting,,,version,1,,
setting,,,profile,mhlw-tokutei-4ki,,
column,保険者番号,header.insurer_number,,,,
column,生年月日,header.birth_date,,,,
column,性別,header.sex,,,,
column,受診日,header.exam_date,,,,
column,身長,9N001000000000001,,,,
column,体重,9N006000000000001,,,,
column,最高血圧,9A751000000000001,,,,
column,最低血圧,9A761000000000001,,,,
column,尿糖,1A020000000190111,,,,
value,尿糖,,陰性,1,,
";

pub fn export() -> String {
    let mut csv =
        String::from("保険者番号,生年月日,性別,受診日,身長,体重,最高血圧,最低血圧,尿糖\r\n");
    let rows = [
        ("06999901", "S45.1.1", "男", "120", "80", "陰性"),
        ("06999901", "1980/2/3", "女", "118", "76", "(+)"),
        ("06999902", "H2.3.4", "1", "132", "88", "-"),
        // Systolic below diastolic: both left empty (originals kept), the examinee delivered.
        ("06999901", "1975-05-06", "2", "70", "90", "陰性"),
        ("12345678", "1990/1/1", "1", "120", "80", "陰性"), // nobody takes this insurer: held
        ("06999902", "令和元年5月1日", "2", "110", "70", "±"),
        ("06999901", "19600101", "1", "140", "90", "陰性"),
        ("06999901", "", "2", "125", "85", "陰性"), // no 生年月日: rejected, returned to the sender
    ];
    for (insurer, birth, sex, sbp, dbp, urine) in rows {
        csv.push_str(&format!(
            "{insurer},{birth},{sex},2026/4/1,165.0,60.0,{sbp},{dbp},{urine}\r\n"
        ));
    }
    csv
}

/// [`export`]'s rows `copies` times: a conversion long enough to be interrupted.
pub fn long_export(copies: usize) -> Vec<u8> {
    let sample = export();
    let (header, rows) = sample.split_once("\r\n").unwrap();
    let mut csv = format!("{header}\r\n");
    for _ in 0..copies {
        csv.push_str(rows);
    }
    csv.into_bytes()
}

pub async fn set_up(relay: &Relay) {
    set_up_on(&relay.data).await
}

/// [`set_up`] on a data directory not yet served.
pub async fn set_up_on(data: &DataDir) {
    let db = open_db(data).await;
    let ca = kenshin_relay::init::load_ca(data).unwrap();
    let now = OffsetDateTime::now_utc();
    for (code, kind, name) in [
        (CONVERTER, OrgKind::Institution, "さくら健診センター 変換"),
        (AGENT, OrgKind::Agent, "けんしん代行センター"),
    ] {
        let code: OrgCode = code.parse().unwrap();
        kenshin_relay::admin::create_org(&db, code.clone(), kind, name, vec![])
            .await
            .unwrap();
        let dir = data.root().join("certs").join(code.as_str());
        kenshin_relay::admin::issue_cert(&db, &ca, &code, "batch", &dir, 30, None)
            .await
            .unwrap();
    }
    for to in [INSURER, AGENT] {
        db.create_route(
            &CONVERTER.parse().unwrap(),
            &to.parse().unwrap(),
            RouteMode::Convert,
            now,
        )
        .await
        .unwrap();
    }
    // OTHER (保険者番号 06999902) delegated receiving to the agent.
    let other = db.org_by_code(OTHER).await.unwrap();
    let agent = db.org_by_code(AGENT).await.unwrap();
    db.delegate(other.id, agent.id, now).await.unwrap();
    db.close().await;
}

pub async fn wait_converted(client: &kenshin_client::RelayClient, id: &str) -> SubmissionView {
    for _ in 0..200 {
        let view = client.submission(id).await.unwrap();
        if !matches!(
            view.state,
            SubmissionState::Received | SubmissionState::Converting
        ) {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the submission was not converted in time");
}
