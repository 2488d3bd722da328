//! The web pages over real HTTPS with people's sessions, without a browser: what each page
//! shows, to whom, and what it refuses. (The browser flows are in tests/browser.rs.)

mod common;

use common::conversion::*;
use common::people::*;
use common::*;
use reqwest::StatusCode;

impl Person {
    /// A page as HTML, in the language of `lang`.
    async fn page(&self, path: &str, lang: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", format!("{}; kr_lang={lang}", self.cookie))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }
}

#[tokio::test]
async fn the_sender_reads_the_conversion_report_and_nobody_else_does() {
    let mut relay = Relay::start().await;
    set_up(&relay).await;
    let client = relay.client(CONVERTER);
    client
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let receipt = client
        .send_stream("", "export.csv", None, stream_of(export().into_bytes()))
        .await
        .unwrap();
    let id = receipt.id.to_string();
    wait_converted(&client, &id).await;

    let db = relay.db().await;
    let sender = person(&relay, &db, CONVERTER, "conv.sender", "sender").await;
    let (status, html) = sender
        .page(&format!("/submissions/{id}/report"), "ja")
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("変換レポート"));
    assert!(html.contains("血圧の大小"), "the rule is named in Japanese");
    assert!(html.contains("<svg"), "findings by rule as a chart");
    assert!(html.contains("data-testid=\"rejected\">4<"), "{html}");
    let (_, english) = sender
        .page(&format!("/submissions/{id}/report"), "en")
        .await;
    assert!(
        english.contains("Conversion report") && english.contains("Systolic not above diastolic")
    );
    let csv = sender
        .http
        .get(format!("{}/submissions/{id}/report.csv", sender.base))
        .header("cookie", &sender.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("report-"));
    let bytes = csv.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "a BOM for Excel");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(
        text.starts_with("レコード,行,列,項目,規則,重大度,内容,値"),
        "{text}"
    );
    assert!(text.contains("血圧の大小"));

    // A viewer of the same organisation, the insurer's receiver and the operator cannot.
    let viewer = person(&relay, &db, CONVERTER, "conv.viewer", "viewer").await;
    assert_eq!(
        viewer
            .page(&format!("/submissions/{id}/report"), "ja")
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let receiver = person(&relay, &db, INSURER, "ins.receiver", "receiver").await;
    assert_eq!(
        receiver
            .page(&format!("/submissions/{id}/report"), "ja")
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Another institution's sender: the same not-found page as for a missing file.
    let stranger = person(&relay, &db, INSTITUTION, "inst.sender", "sender").await;
    let (status, html) = stranger
        .page(&format!("/submissions/{id}/report"), "ja")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("ページが見つかりません"));
    let missing = kenshin_core::SubmissionId::new().to_string();
    let (missing_status, missing_html) = stranger
        .page(&format!("/submissions/{missing}/report"), "ja")
        .await;
    assert_eq!(
        (missing_status, missing_html.replace(&missing, "ID")),
        (status, html.replace(&id, "ID")),
        "a missing file and another organisation's look the same"
    );
    db.close().await;
    relay.stop().await;
}
