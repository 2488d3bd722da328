//! The OpenAPI document describes every endpoint the router serves.

mod common;

use common::*;

#[tokio::test]
async fn the_openapi_document_names_every_endpoint() {
    let mut relay = Relay::start().await;
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(kenshin_client::tls_config(&relay.ca_pem(), None).unwrap())
        .build()
        .unwrap();
    let doc: serde_json::Value = http
        .get(format!("{}/api/v1/openapi.json", relay.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    // Every route of the API router, with its methods (crates/server/src/api/mod.rs).
    for (path, methods) in [
        ("/api/v1/submissions", &["post", "get"][..]),
        ("/api/v1/submissions/{id}", &["get", "delete"]),
        ("/api/v1/submissions/{id}/report", &["get"]),
        ("/api/v1/maps", &["post", "get"]),
        ("/api/v1/maps/{map_id}/{version}/activate", &["post"]),
        ("/api/v1/audit/access", &["get"]),
        ("/api/v1/ledger/entries", &["get"]),
        ("/api/v1/ledger/entries/{index}", &["get"]),
        ("/api/v1/ledger/proof/inclusion", &["get"]),
        ("/api/v1/ledger/proof/consistency", &["get"]),
        ("/api/v1/users", &["get", "post"]),
        ("/api/v1/users/{login}/disable", &["post"]),
        ("/api/v1/users/{login}/enable", &["post"]),
        ("/api/v1/users/{login}/reset-totp", &["post"]),
        ("/api/v1/deliveries", &["get"]),
        ("/api/v1/deliveries/{id}", &["get"]),
        ("/api/v1/deliveries/{id}/content", &["get"]),
        ("/api/v1/deliveries/{id}/confirm", &["post"]),
        ("/health", &["get"]),
        ("/metrics", &["get"]),
        ("/auth/login", &["post"]),
        ("/auth/logout", &["post"]),
        ("/auth/me", &["get"]),
        ("/auth/totp/enroll", &["post"]),
        ("/auth/totp/confirm", &["post"]),
        ("/auth/password", &["post"]),
        ("/ledger/checkpoint", &["get"]),
        ("/ledger/key", &["get"]),
    ] {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not in the OpenAPI document"));
        for method in methods {
            assert!(item.get(*method).is_some(), "{method} {path}");
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "SubmissionView",
        "DeliveryView",
        "ErrorBody",
        "ErrorCode",
        "Health",
    ] {
        assert!(schemas.contains_key(schema), "{schema}");
    }
    // The receipt's state is one of the documented values.
    let states = &schemas["SubmissionState"]["enum"];
    assert!(
        states.as_array().unwrap().iter().any(|s| s == "delivered"),
        "{states}"
    );
    relay.stop().await;
}
