//! The relay core end to end: real TLS 1.3 with client certificates, real SQLite, real files.

use crate::common::*;
use kenshin_client::ClientError;
use kenshin_core::api::ErrorCode;
use kenshin_core::{DeliveryState, EventKind, SubmissionState};

fn code_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Api { code, .. }) => code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn send_list_fetch_confirm_then_gone() {
    let mut relay = Relay::start().await;
    let sender = relay.client(INSTITUTION);
    let receiver = relay.client(INSURER);
    let content = sample_export(2_000, "ROUNDTRIP");

    let receipt = sender
        .send_stream(
            INSURER,
            "健診結果_2026.csv",
            Some(content.len() as u64),
            stream_of(content.clone()),
        )
        .await
        .unwrap();
    assert_eq!(receipt.size, content.len() as u64);
    assert_eq!(receipt.sha256, sha256_hex(&content));
    assert_eq!(receipt.state, SubmissionState::Delivered);
    assert_eq!(receipt.filename, "健診結果_2026.csv");
    assert_eq!(receipt.deliveries.len(), 1);
    assert_eq!(receipt.deliveries[0].receiver.code, INSURER);
    assert_eq!(receipt.deliveries[0].state, DeliveryState::Ready);
    let retention = receipt.deliveries[0].expires_at - receipt.received_at;
    assert_eq!(retention.whole_days(), 30);

    let inbox = receiver.list_deliveries(None, 100, 0).await.unwrap();
    assert_eq!(inbox.total, 1);
    let delivery = &inbox.items[0];
    assert_eq!(delivery.submission_id, receipt.id);
    assert_eq!(delivery.sender.code, INSTITUTION);
    assert_eq!(delivery.sha256, receipt.sha256);

    // Confirming before any download is refused: 受信完了 means the file arrived.
    assert_eq!(
        code_of(receiver.confirm(&delivery.id.to_string()).await),
        ErrorCode::NotDownloaded
    );

    let out = relay.dir.path().join("received.csv");
    let fetched = receiver
        .fetch_to_file(&delivery.id.to_string(), &out, |_, _| {})
        .await
        .unwrap();
    assert_eq!(fetched.sha256, receipt.sha256);
    assert_eq!(std::fs::read(&out).unwrap(), content);

    let status = sender.submission(&receipt.id.to_string()).await.unwrap();
    assert_eq!(status.deliveries[0].state, DeliveryState::Downloaded);
    assert!(status.deliveries[0].first_downloaded_at.is_some());

    assert_eq!(relay.blob_files().len(), 1);
    let confirmed = receiver.confirm(&delivery.id.to_string()).await.unwrap();
    assert_eq!(confirmed.state, DeliveryState::Confirmed);
    assert!(confirmed.confirmed_at.is_some() && confirmed.shredded_at.is_some());
    // Confirming again is harmless (batch jobs retry).
    let again = receiver.confirm(&delivery.id.to_string()).await.unwrap();
    assert_eq!(again.confirmed_at, confirmed.confirmed_at);

    // The content is gone, on the API and on disk; the metadata stays.
    let gone = receiver.open_content(&delivery.id.to_string()).await;
    assert_eq!(code_of(gone.map(|_| ())), ErrorCode::Gone);
    assert!(relay.blob_files().is_empty(), "blob not deleted");
    let db = relay.db().await;
    let object = db
        .object(receipt_object(&db, &receipt).await)
        .await
        .unwrap();
    assert!(object.wrapped_key.is_none() && object.shredded_at.is_some());
    let status = sender.submission(&receipt.id.to_string()).await.unwrap();
    assert_eq!(status.deliveries[0].state, DeliveryState::Confirmed);

    let kinds = event_kinds(&db, receipt.id).await;
    assert_eq!(
        kinds,
        [
            EventKind::Received,
            EventKind::Delivered,
            EventKind::Downloaded,
            EventKind::Confirmed,
            EventKind::Shredded
        ]
    );
    db.close().await;
    relay.stop().await;
}

async fn receipt_object(
    db: &kenshin_store::Database,
    receipt: &kenshin_core::api::SubmissionView,
) -> kenshin_core::ObjectId {
    let org = db.org_by_code(INSTITUTION).await.unwrap();
    db.submission(org.id, receipt.id).await.unwrap().object_id
}

#[tokio::test]
async fn other_organisations_get_404_everywhere() {
    let mut relay = Relay::start().await;
    let sender = relay.client(INSTITUTION);
    let receiver = relay.client(INSURER);
    let content = sample_export(10, "ISOLATION");
    let receipt = sender
        .send_stream(INSURER, "a.csv", None, stream_of(content))
        .await
        .unwrap();
    let submission = receipt.id.to_string();
    let delivery = receipt.deliveries[0].id.to_string();

    // A third organisation, and each party on the other's side of the API. Where the
    // certificate's role may do the action at all, another organisation's object is simply
    // not found; where it may not (an insurer's receiving system reading submissions), the
    // answer is 403 for every id alike, so neither tells whether the object exists.
    use ErrorCode::{Forbidden, NotFound};
    for (who, client, expected) in [
        (OTHER, relay.client(OTHER), Forbidden),
        (CLINIC, relay.client(CLINIC), NotFound),
        (INSURER, relay.client(INSURER), Forbidden),
    ] {
        assert_eq!(
            code_of(client.submission(&submission).await),
            expected,
            "{who}"
        );
        assert_eq!(
            code_of(client.withdraw(&submission).await),
            expected,
            "{who}"
        );
        match expected {
            NotFound => assert_eq!(
                client.list_submissions(None, 100, 0).await.unwrap().total,
                0,
                "{who}"
            ),
            _ => assert_eq!(
                code_of(client.list_submissions(None, 100, 0).await),
                Forbidden,
                "{who}"
            ),
        }
    }
    for (who, client, receives) in [
        (OTHER, relay.client(OTHER), true),
        (CLINIC, relay.client(CLINIC), true),
        (INSTITUTION, relay.client(INSTITUTION), false),
    ] {
        let expected = if receives { NotFound } else { Forbidden };
        assert_eq!(code_of(client.delivery(&delivery).await), NotFound, "{who}");
        assert_eq!(
            code_of(client.open_content(&delivery).await.map(|_| ())),
            expected,
            "{who}"
        );
        assert_eq!(code_of(client.confirm(&delivery).await), expected, "{who}");
        assert_eq!(
            client.list_deliveries(None, 100, 0).await.unwrap().total,
            0,
            "{who}"
        );
    }
    // An id that exists nowhere answers exactly like another organisation's.
    let fresh = kenshin_core::DeliveryId::new().to_string();
    let err_other = relay.client(OTHER).delivery(&delivery).await.unwrap_err();
    let err_none = relay.client(OTHER).delivery(&fresh).await.unwrap_err();
    assert_eq!(err_other.to_string(), err_none.to_string());
    // Nothing changed for the real parties.
    let status = sender.submission(&submission).await.unwrap();
    assert_eq!(status.deliveries[0].state, DeliveryState::Ready);
    assert_eq!(
        receiver.list_deliveries(None, 10, 0).await.unwrap().total,
        1
    );
    relay.stop().await;
}

#[tokio::test]
async fn senders_need_a_route_and_a_sending_kind() {
    let mut relay = Relay::start().await;
    let content = sample_export(3, "ROUTE");
    // No route from the institution to OTHER, and an organisation that does not exist: same answer.
    let no_route = relay
        .client(INSTITUTION)
        .send_stream(OTHER, "a.csv", None, stream_of(content.clone()))
        .await;
    let no_org = relay
        .client(INSTITUTION)
        .send_stream("nobody", "a.csv", None, stream_of(content.clone()))
        .await;
    assert_eq!(code_of(no_route), ErrorCode::NotFound);
    assert_eq!(code_of(no_org), ErrorCode::NotFound);
    // Insurers receive; they do not send.
    let insurer = relay
        .client(INSURER)
        .send_stream(INSTITUTION, "a.csv", None, stream_of(content.clone()))
        .await;
    assert_eq!(code_of(insurer), ErrorCode::Forbidden);
    for bad in ["../etc/passwd", ".hidden", "a/b.csv", ""] {
        let result = relay
            .client(INSTITUTION)
            .send_stream(INSURER, bad, None, stream_of(content.clone()))
            .await;
        assert_eq!(code_of(result), ErrorCode::InvalidRequest, "{bad:?}");
    }
    assert!(relay.blob_files().is_empty());
    assert!(relay.partial_files().is_empty());
    relay.stop().await;
}

#[tokio::test]
async fn blobs_never_hold_plaintext() {
    let mut relay = Relay::start().await;
    let marker = "PLAINTEXT-MARKER-7f3a9c";
    let content = sample_export(5_000, marker);
    relay
        .client(INSTITUTION)
        .send_stream(INSURER, "marker.csv", None, stream_of(content))
        .await
        .unwrap();
    relay.stop().await;
    // Everything under the data directory: blobs, database, WAL.
    let mut files = Vec::new();
    walk(relay.data.root(), &mut files);
    assert!(!relay.blob_files().is_empty());
    for file in files {
        // SQLite may remove its -wal/-shm files between listing and reading.
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => panic!("cannot read {}: {err}", file.display()),
        };
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "plaintext found in {}",
            file.display()
        );
    }
}

#[tokio::test]
async fn a_flipped_byte_in_a_blob_is_an_integrity_error() {
    let mut relay = Relay::start().await;
    let sender = relay.client(INSTITUTION);
    let receiver = relay.client(INSURER);
    // Two files: tampered at the start, and tampered deep inside (after the first chunks
    // have been sent).
    let small = sender
        .send_stream(
            INSURER,
            "small.csv",
            None,
            stream_of(sample_export(100, "S")),
        )
        .await
        .unwrap();
    let large_content = sample_export(40_000, "L");
    let large = sender
        .send_stream(INSURER, "large.csv", None, stream_of(large_content.clone()))
        .await
        .unwrap();
    let db = relay.db().await;
    let org = db.org_by_code(INSTITUTION).await.unwrap();
    for (receipt, offset_from_end) in [(&small, None), (&large, Some(100usize))] {
        let object = db.submission(org.id, receipt.id).await.unwrap().object_id;
        let path = relay
            .blob_files()
            .into_iter()
            .find(|p| p.file_name().unwrap().to_str() == Some(&object.to_string()))
            .unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let at = match offset_from_end {
            None => 40,
            Some(back) => bytes.len() - back,
        };
        bytes[at] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
    }

    let small_delivery = small.deliveries[0].id.to_string();
    let err = receiver
        .open_content(&small_delivery)
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::IntegrityError), "{err}");
    // A failed download is not a download: the delivery is still ready.
    assert_eq!(
        receiver.delivery(&small_delivery).await.unwrap().state,
        DeliveryState::Ready
    );

    let out = relay.dir.path().join("large.csv");
    let err = receiver
        .fetch_to_file(&large.deliveries[0].id.to_string(), &out, |_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Truncated { .. } | ClientError::Transport(_)
        ),
        "{err:?}"
    );
    assert!(!out.exists(), "a corrupt download must not be left behind");
    assert!(!relay.dir.path().join("large.csv.part").exists());

    // Give the server a moment to record the mid-stream failure.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let failures = db
        .list_events(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::IntegrityFailure)
        .count();
    assert_eq!(failures, 2);
    db.close().await;
    relay.stop().await;
}

#[tokio::test]
async fn withdrawal_before_download_destroys_and_after_download_is_refused() {
    let mut relay = Relay::start().await;
    let sender = relay.client(INSTITUTION);
    let receiver = relay.client(INSURER);

    let first = sender
        .send_stream(
            INSURER,
            "first.csv",
            None,
            stream_of(sample_export(10, "W1")),
        )
        .await
        .unwrap();
    let withdrawn = sender.withdraw(&first.id.to_string()).await.unwrap();
    assert_eq!(withdrawn.state, SubmissionState::Withdrawn);
    assert_eq!(withdrawn.deliveries[0].state, DeliveryState::Withdrawn);
    let delivery = first.deliveries[0].id.to_string();
    assert_eq!(
        code_of(receiver.open_content(&delivery).await.map(|_| ())),
        ErrorCode::Gone
    );
    assert_eq!(
        code_of(sender.withdraw(&first.id.to_string()).await),
        ErrorCode::Gone
    );
    assert!(relay.blob_files().is_empty());

    let second = sender
        .send_stream(
            INSURER,
            "second.csv",
            None,
            stream_of(sample_export(10, "W2")),
        )
        .await
        .unwrap();
    let out = relay.dir.path().join("second.csv");
    receiver
        .fetch_to_file(&second.deliveries[0].id.to_string(), &out, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        code_of(sender.withdraw(&second.id.to_string()).await),
        ErrorCode::AlreadyDownloaded
    );
    assert_eq!(
        sender
            .submission(&second.id.to_string())
            .await
            .unwrap()
            .state,
        SubmissionState::Delivered
    );
    relay.stop().await;
}

#[tokio::test]
async fn expiry_destroys_unconfirmed_deliveries() {
    let mut relay = Relay::start().await;
    let sender = relay.client(INSTITUTION);
    let receiver = relay.client(INSURER);
    let receipt = sender
        .send_stream(INSURER, "late.csv", None, stream_of(sample_export(10, "E")))
        .await
        .unwrap();
    let fresh = sender
        .send_stream(
            INSURER,
            "fresh.csv",
            None,
            stream_of(sample_export(10, "F")),
        )
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    // Nothing is due yet.
    assert_eq!(
        kenshin_server::service::relay::expire_due(relay.state(), now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(relay.blob_files().len(), 2);
    // At the first delivery's deadline (as if 30 days had gone by) only it is due; the
    // second was made later and has a later deadline.
    let db = relay.db().await;
    let expires = receipt.deliveries[0].expires_at;
    assert!(fresh.deliveries[0].expires_at > expires);
    let expired = kenshin_server::service::relay::expire_due(relay.state(), expires)
        .await
        .unwrap();
    assert_eq!(expired, 1);
    assert_eq!(relay.blob_files().len(), 1);
    assert_eq!(
        receiver
            .delivery(&fresh.deliveries[0].id.to_string())
            .await
            .unwrap()
            .state,
        DeliveryState::Ready
    );
    let view = receiver
        .delivery(&receipt.deliveries[0].id.to_string())
        .await
        .unwrap();
    assert_eq!(view.state, DeliveryState::Expired);
    assert_eq!(
        code_of(
            receiver
                .open_content(&view.id.to_string())
                .await
                .map(|_| ())
        ),
        ErrorCode::Gone
    );
    assert_eq!(relay.blob_files().len(), 1);
    let kinds = event_kinds(&db, receipt.id).await;
    assert_eq!(
        kinds,
        [
            EventKind::Received,
            EventKind::Delivered,
            EventKind::Expired,
            EventKind::Shredded
        ]
    );
    db.close().await;
    relay.stop().await;
}

#[tokio::test]
async fn oversize_and_aborted_uploads_leave_nothing() {
    let mut config = test_config();
    config.max_upload_bytes = 256 * 1024;
    let mut relay = Relay::start_with(config).await;
    let sender = relay.client(INSTITUTION);
    let big = vec![b'x'; 300 * 1024];
    // Announced length over the limit: refused before reading.
    let announced = sender
        .send_stream(
            INSURER,
            "big.bin",
            Some(big.len() as u64),
            stream_of(big.clone()),
        )
        .await;
    assert_eq!(code_of(announced), ErrorCode::PayloadTooLarge);
    // No length announced (chunked): refused once the limit is crossed.
    let chunked = sender
        .send_stream(INSURER, "big.bin", None, stream_of(big.clone()))
        .await;
    assert_eq!(code_of(chunked), ErrorCode::PayloadTooLarge);

    // A client that dies mid-upload: the body stream fails after some data.
    let failing = futures::stream::iter(vec![
        Ok(bytes::Bytes::from(vec![b'y'; 64 * 1024])),
        Err(std::io::Error::other("client crashed")),
    ]);
    let aborted = sender
        .send_stream(INSURER, "cut.bin", Some(200 * 1024), failing)
        .await;
    assert!(aborted.is_err());
    // Exactly at the limit is fine.
    let exact = vec![b'z'; 256 * 1024];
    sender
        .send_stream(INSURER, "exact.bin", None, stream_of(exact))
        .await
        .unwrap();

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(relay.blob_files().len(), 1);
    assert!(
        relay.partial_files().is_empty(),
        "{:?}",
        relay.partial_files()
    );
    let page = sender.list_submissions(None, 100, 0).await.unwrap();
    assert_eq!(page.total, 1);
    relay.stop().await;
}

#[tokio::test]
async fn listings_page_and_filter() {
    let mut relay = Relay::start().await;
    let sender = relay.client(INSTITUTION);
    for i in 0..5 {
        sender
            .send_stream(
                INSURER,
                &format!("f{i}.csv"),
                None,
                stream_of(sample_export(2, "P")),
            )
            .await
            .unwrap();
    }
    let page = sender.list_submissions(None, 2, 0).await.unwrap();
    assert_eq!((page.items.len(), page.total), (2, 5));
    assert_eq!(page.items[0].filename, "f4.csv", "newest first");
    let last = sender.list_submissions(None, 2, 4).await.unwrap();
    assert_eq!(last.items.len(), 1);
    assert_eq!(last.items[0].filename, "f0.csv");
    let ready = relay
        .client(INSURER)
        .list_deliveries(Some("ready"), 100, 0)
        .await
        .unwrap();
    assert_eq!(ready.total, 5);
    let confirmed = relay
        .client(INSURER)
        .list_deliveries(Some("confirmed"), 100, 0)
        .await
        .unwrap();
    assert_eq!(confirmed.total, 0);
    assert_eq!(
        code_of(
            relay
                .client(INSURER)
                .list_deliveries(Some("bogus"), 100, 0)
                .await
        ),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        code_of(sender.list_submissions(None, 0, 0).await),
        ErrorCode::InvalidRequest
    );
    relay.stop().await;
}

#[tokio::test]
async fn health_answers_without_a_certificate() {
    let mut relay = Relay::start().await;
    let health = relay.anonymous().health().await.unwrap();
    assert!(health.database.ok && health.storage.ok);
    assert!(matches!(health.status.as_str(), "ok" | "degraded"));
    assert_eq!(health.version, env!("CARGO_PKG_VERSION"));
    relay.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_json_errors() {
    let mut relay = Relay::start().await;
    let identity = relay.identity(INSURER);
    let tls = kenshin_client::tls_config(&relay.ca_pem(), Some(&identity)).unwrap();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    for (method, path, status) in [
        ("GET", "/api/v1/deliveries?limit=abc", 400),
        ("GET", "/api/v1/nothing", 404),
        ("PUT", "/api/v1/deliveries", 405),
        ("GET", "/api/v1/deliveries/not-a-uuid", 404),
    ] {
        let response = http
            .request(method.parse().unwrap(), format!("{}{path}", relay.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let body: kenshin_core::api::ErrorBody = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: not a JSON error body: {e}"));
        assert!(!body.error.message.is_empty());
    }
    // Outside the API, a person's browser gets the not-found page, with the pages' CSP.
    let page = http
        .get(format!("{}/nothing", relay.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 404);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("ページが見つかりません"));
    relay.stop().await;
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_is_refused() {
    let mut relay = Relay::start().await;
    let second = kenshin_server::RunningServer::start(
        &relay.data,
        kenshin_server::Config::load(&relay.data).unwrap(),
    )
    .await;
    let err = second
        .err()
        .expect("a second server started on the same data directory");
    assert!(err.to_string().contains("already serving"), "{err}");
    // The first one is unaffected.
    relay.anonymous().health().await.unwrap();
    relay.stop().await;
    // Once it stopped, the directory can be served again.
    let again = kenshin_server::RunningServer::start(
        &relay.data,
        kenshin_server::Config::load(&relay.data).unwrap(),
    )
    .await
    .unwrap();
    again.shutdown().await.unwrap();
}
