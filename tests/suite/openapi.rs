//! The OpenAPI document describes every endpoint the router serves, every answer each can
//! give, and exactly the limits the handlers enforce. (`tests/api_fuzz.rs` has a schema-driven
//! fuzzer check the live relay against it.)

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// An HTTPS client presenting `org`'s device certificate (None: no certificate).
fn http_as(relay: &Relay, org: Option<&str>) -> reqwest::Client {
    let identity = org.map(|org| relay.identity(org));
    reqwest::Client::builder()
        .tls_backend_preconfigured(
            kenshin_client::tls_config(&relay.ca_pem(), identity.as_ref()).unwrap(),
        )
        .build()
        .unwrap()
}

/// The document, as an organisation's device reads it.
async fn document(relay: &Relay) -> Value {
    let response = http_as(relay, Some(INSTITUTION))
        .get(format!("{}/api/v1/openapi.json", relay.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Asserts an answer is `status` with the API's `{"error": {"code", "message"}}` body.
async fn assert_error(response: reqwest::Response, status: StatusCode, code: &str, what: &str) {
    assert_eq!(response.status(), status, "{what}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/json", "{what}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
}

#[tokio::test]
async fn the_document_needs_a_client_certificate_or_a_session() {
    let mut relay = Relay::start().await;
    let anonymous = http_as(&relay, None)
        .get(format!("{}/api/v1/openapi.json", relay.url()))
        .send()
        .await
        .unwrap();
    assert_error(
        anonymous,
        StatusCode::UNAUTHORIZED,
        "client_certificate_required",
        "anonymous",
    )
    .await;
    // Any organisation's device may read it, a receiver's as well as a sender's.
    for org in [INSTITUTION, INSURER] {
        let response = http_as(&relay, Some(org))
            .get(format!("{}/api/v1/openapi.json", relay.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{org}");
    }
    // And a person with a session.
    let db = relay.db().await;
    let person = people::person(&relay, &db, INSURER, "doc-reader", "viewer").await;
    let (status, body) = person
        .call(reqwest::Method::GET, "/api/v1/openapi.json")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"openapi\""));
    db.close().await;
    relay.stop().await;
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_named_in_the_access_log() {
    let mut relay = Relay::start().await;
    let doc = document(&relay).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    // The router and the document come from one route table (`api::routes`): each documented
    // operation reaches its handler — without credentials it is refused by the handler's own
    // checks, never by the fallbacks ("no such endpoint", "does not accept that method").
    let anonymous = http_as(&relay, None);
    let operations = operations(&doc);
    assert!(operations.len() >= 30, "{} operations", operations.len());
    let mut actions = std::collections::BTreeSet::new();
    for (method, path, operation) in &operations {
        let url = url_of(&relay, path, operation, &[])
            .replace("{", "x")
            .replace("}", "x");
        let response = anonymous
            .request(method.to_uppercase().parse().unwrap(), &url)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(
            !body.contains("no such endpoint") && !body.contains("does not accept that method"),
            "{method} {path}: {status} {body}"
        );
        // Each names the action the access log records for it.
        let action = operation["x-access-action"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no x-access-action"));
        assert!(
            action.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{action}"
        );
        actions.insert(action.to_owned());
    }
    for action in [
        "submission_create",
        "delivery_download",
        "ledger_read",
        "audit_export",
    ] {
        assert!(actions.contains(action), "{action} in {actions:?}");
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

/// The operations of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    operations
}

#[tokio::test]
async fn every_error_answer_is_documented_in_the_error_format() {
    let mut relay = Relay::start().await;
    let doc = document(&relay).await;
    for (method, path, operation) in operations(&doc) {
        let responses = operation["responses"].as_object().unwrap();
        for (status, response) in responses {
            let status: u16 = status.parse().unwrap();
            if status < 400 || (path == "/health" && status == 503) {
                continue;
            }
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(
                schema, "#/components/schemas/ErrorBody",
                "{method} {path} {status}: {response}"
            );
        }
        // Whatever reaches the database may find it unavailable, or fail.
        if !["/health", "/metrics", "/ledger/key"].contains(&path.as_str()) {
            for status in ["500", "503"] {
                assert!(responses.contains_key(status), "{method} {path} {status}");
            }
        }
        // Every API call needs a caller; whatever takes parameters or a body can be malformed.
        if path.starts_with("/api/v1/") {
            for status in ["401", "403"] {
                assert!(responses.contains_key(status), "{method} {path} {status}");
            }
        }
        let takes_input = operation["parameters"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
            || operation.get("requestBody").is_some();
        if takes_input && path != "/api/v1/submissions/{id}/report" || path == "/auth/login" {
            assert!(responses.contains_key("400"), "{method} {path} 400");
        }
        let json_body = operation["requestBody"]["content"]
            .get("application/json")
            .is_some();
        if json_body {
            assert!(responses.contains_key("415"), "{method} {path} 415");
        }
    }
    relay.stop().await;
}

/// A request for every GET operation with every required parameter at its documented
/// minimum (or `0`), `overrides` replacing some.
fn url_of(relay: &Relay, path: &str, operation: &Value, overrides: &[(&str, String)]) -> String {
    let mut url_path = path.to_owned();
    let mut query = Vec::new();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let name = parameter["name"].as_str().unwrap();
        let value = match overrides.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => value.clone(),
            None if parameter["required"] == true => parameter["schema"]["minimum"]
                .as_u64()
                .unwrap_or(0)
                .to_string(),
            None => continue,
        };
        match parameter["in"].as_str().unwrap() {
            "path" => url_path = url_path.replace(&format!("{{{name}}}"), &value),
            "query" => query.push(format!("{name}={value}")),
            other => panic!("{other} parameter"),
        }
    }
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    format!("{}{url_path}{query}", relay.url())
}

#[tokio::test]
async fn integers_outside_the_documented_bounds_are_refused_and_the_bounds_are_accepted() {
    let mut relay = Relay::start().await;
    // Something in the ledger, so that a size of 1 is a real checkpoint.
    relay
        .client(INSTITUTION)
        .send_stream(
            INSURER,
            "bounds.csv",
            None,
            stream_of(sample_export(2, "BOUNDS")),
        )
        .await
        .unwrap();
    let doc = document(&relay).await;
    // A device that may also read the audit log, so that every operation gets as far as its
    // parameters.
    device_client(&relay, INSTITUTION, "bounds-device", "sender,viewer").await;
    let http = http_as(&relay, Some("bounds-device"));
    let mut checked = Vec::new();
    for (method, path, operation) in operations(&doc) {
        if method != "get" || !path.starts_with("/api/v1/") {
            continue;
        }
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let schema = &parameter["schema"];
            if schema["type"] != "integer" {
                continue;
            }
            let name = parameter["name"].as_str().unwrap();
            let maximum = schema["maximum"].as_u64().unwrap_or_else(|| {
                panic!("{path} {name}: an integer parameter without a documented maximum")
            });
            let minimum = schema["minimum"]
                .as_i64()
                .unwrap_or_else(|| panic!("{path} {name}: no documented minimum"));
            assert!(
                maximum <= i64::MAX as u64,
                "{path} {name}: the database stores signed 64-bit integers"
            );
            let mut outside = vec![(u128::from(maximum) + 1).to_string()];
            // Far beyond: above what a 64-bit unsigned integer holds.
            outside.push("18446744073709551616".into());
            outside.push("15654365025476222976".into());
            outside.push((i128::from(minimum) - 1).to_string());
            for value in outside {
                let url = url_of(&relay, &path, &operation, &[(name, value.clone())]);
                let response = http.get(&url).send().await.unwrap();
                assert_error(
                    response,
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &format!("{path} {name}={value}"),
                )
                .await;
            }
            checked.push(format!("{path} {name}"));
        }
    }
    for expected in [
        "/api/v1/submissions limit",
        "/api/v1/submissions offset",
        "/api/v1/deliveries limit",
        "/api/v1/deliveries offset",
        "/api/v1/ledger/entries limit",
        "/api/v1/ledger/entries after",
        "/api/v1/ledger/entries/{index} index",
        "/api/v1/ledger/proof/inclusion index",
        "/api/v1/ledger/proof/inclusion size",
        "/api/v1/ledger/proof/consistency from",
        "/api/v1/ledger/proof/consistency to",
        "/api/v1/audit/access limit",
        "/api/v1/audit/access after",
    ] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected}: {checked:?}"
        );
    }
    // The documented bounds themselves are taken.
    for url in [
        "/api/v1/submissions?limit=1&offset=9223372036854775807",
        "/api/v1/submissions?limit=1000",
        "/api/v1/deliveries?limit=1000&offset=0",
        "/api/v1/ledger/entries?limit=10000&after=9223372036854775807",
        "/api/v1/ledger/entries?limit=1",
        "/api/v1/ledger/proof/consistency?from=0&to=1",
        "/api/v1/ledger/proof/inclusion?index=0&size=1",
        "/api/v1/audit/access?limit=100000&after=9223372036854775807",
    ] {
        let response = http
            .get(format!("{}{url}", relay.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
    }
    relay.stop().await;
}

#[tokio::test]
async fn the_raw_ledger_entry_is_the_documented_octet_stream() {
    let mut relay = Relay::start().await;
    let client = relay.client(INSTITUTION);
    let receipt = client
        .send_stream(
            INSURER,
            "entry.csv",
            None,
            stream_of(sample_export(2, "ENTRY")),
        )
        .await
        .unwrap();
    let doc = document(&relay).await;
    let documented = doc["paths"]["/api/v1/ledger/entries/{index}"]["get"]["responses"]["200"]
        ["content"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(documented, ["application/octet-stream"]);
    let entries = client
        .ledger_entries(Some(&receipt.id.to_string()), None)
        .await
        .unwrap();
    let entry = &entries[0];
    let response = http_as(&relay, Some(INSTITUTION))
        .get(format!(
            "{}/api/v1/ledger/entries/{}",
            relay.url(),
            entry.index
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    assert_eq!(response.bytes().await.unwrap(), entry.entry.as_bytes());
    // Not a number, or not one the ledger can hold: refused in the error format.
    for index in ["x", "-1", "9223372036854775808", "1.5"] {
        let response = http_as(&relay, Some(INSTITUTION))
            .get(format!("{}/api/v1/ledger/entries/{index}", relay.url()))
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request", index).await;
    }
    relay.stop().await;
}

#[tokio::test]
async fn malformed_bodies_and_paths_are_answered_in_the_error_format() {
    let mut relay = Relay::start().await;
    let http = http_as(&relay, Some(INSTITUTION));
    let login = format!("{}/auth/login", relay.url());
    // Not JSON at all, JSON of the wrong shape, no content type, another content type.
    let response = http
        .post(&login)
        .header("content-type", "application/json")
        .body("{\"login\": ")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "syntax",
    )
    .await;
    let response = http
        .post(&login)
        .json(&json!({"login": 7, "password": []}))
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "shape",
    )
    .await;
    let response = http
        .post(&login)
        .body("{\"login\": \"a\", \"password\": \"b\"}")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request",
        "no content type",
    )
    .await;
    let response = http
        .post(&login)
        .header("content-type", "text/plain")
        .body("{\"login\": \"a\", \"password\": \"b\"}")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request",
        "text/plain",
    )
    .await;
    // The same on the API's own JSON body, for a person allowed to send it.
    let db = relay.db().await;
    let admin = people::person(&relay, &db, INSTITUTION, "body-admin", "admin").await;
    let response = admin
        .http
        .post(format!("{}/api/v1/users", relay.url()))
        .header("cookie", &admin.cookie)
        .header("x-csrf-token", &admin.csrf)
        .header("content-type", "application/json")
        .body("[")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "users",
    )
    .await;
    let response = admin
        .http
        .post(format!("{}/api/v1/users", relay.url()))
        .header("cookie", &admin.cookie)
        .header("x-csrf-token", &admin.csrf)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request",
        "users without a content type",
    )
    .await;
    db.close().await;
    // A path parameter that is not UTF-8 once decoded.
    for path in [
        "/api/v1/submissions/%FF",
        "/api/v1/deliveries/%FF%FE/content",
        "/api/v1/maps/%C3/1/activate",
    ] {
        let method = if path.ends_with("activate") {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let response = http
            .request(method, format!("{}{path}", relay.url()))
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request", path).await;
    }
    relay.stop().await;
}
