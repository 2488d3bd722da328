//! Security alerts: a revoked certificate in use and a burst of failed logins show on the
//! health endpoint (and, by the alert task, in the access log).

use crate::common::*;
use time::OffsetDateTime;

#[tokio::test]
async fn revoked_certificates_and_failed_login_bursts_raise_alerts() {
    let mut relay = Relay::start().await;
    assert!(relay.anonymous().health().await.unwrap().alerts.is_empty());

    // A revoked certificate keeps knocking.
    let db = relay.db().await;
    let cert = db.list_certs(Some(OTHER)).await.unwrap().pop().unwrap();
    db.revoke_cert(&cert.serial, "key-compromise", OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert!(relay
        .client(OTHER)
        .list_deliveries(None, 10, 0)
        .await
        .is_err());
    relay.state().access.flush().await;
    let health = relay.anonymous().health().await.unwrap();
    assert!(
        health.alerts.iter().any(|a| a.contains("revoked")),
        "{health:?}"
    );
    assert_eq!(health.status, "degraded");

    // A burst of failed logins.
    let tls = kenshin_client::tls_config(&relay.ca_pem(), None).unwrap();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    for i in 0..10 {
        http.post(format!("{}/auth/login", relay.url()))
            .json(&serde_json::json!({"login": format!("guess{i}"), "password": "x"}))
            .send()
            .await
            .unwrap();
    }
    relay.state().access.flush().await;
    let health = relay.anonymous().health().await.unwrap();
    assert!(
        health.alerts.iter().any(|a| a.contains("failed logins")),
        "{health:?}"
    );
    db.close().await;
    relay.stop().await;
}
