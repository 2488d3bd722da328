//! `/metrics`: Prometheus text with request rates, latencies, queue depth, ledger size and
//! storage — by route template only, never an id or an organisation.

use crate::common::*;

#[tokio::test]
async fn metrics_count_requests_by_template_and_name_no_tenant() {
    let mut relay = Relay::start().await;
    let receipt = relay
        .client(INSTITUTION)
        .send_stream(INSURER, "m.csv", None, stream_of(sample_export(3, "M")))
        .await
        .unwrap();
    let delivery = receipt.deliveries[0].id.to_string();
    relay.client(INSURER).delivery(&delivery).await.unwrap();
    relay.client(OTHER).delivery(&delivery).await.unwrap_err();
    relay.state().ledger.sequence().await.unwrap();

    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(kenshin_client::tls_config(&relay.ca_pem(), None).unwrap())
        .build()
        .unwrap();
    let response = http
        .get(format!("{}/metrics", relay.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    for line in [
        r#"kenshin_relay_http_requests_total{method="POST",route="/api/v1/submissions",status="201"} 1"#,
        r#"kenshin_relay_http_requests_total{method="GET",route="/api/v1/deliveries/{id}",status="200"} 1"#,
        r#"kenshin_relay_http_requests_total{method="GET",route="/api/v1/deliveries/{id}",status="404"} 1"#,
        "kenshin_relay_queue_depth 0",
        "kenshin_relay_jobs_dead 0",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
    assert!(text.contains("kenshin_relay_http_request_duration_seconds_bucket"));
    assert!(text.contains("kenshin_relay_conversion_job_duration_seconds"));
    let ledger: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("kenshin_relay_ledger_entries "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(ledger >= 2);
    assert!(text.contains("kenshin_relay_storage_free_bytes "));
    for secret in [
        delivery.as_str(),
        &receipt.id.to_string(),
        INSTITUTION,
        INSURER,
        OTHER,
    ] {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }
    relay.stop().await;
}
