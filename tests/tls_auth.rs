//! Transport security: TLS 1.3 only, and every /api request needs a valid, registered,
//! unrevoked client certificate from the relay's own CA.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use kenshin_client::{tls_config, ClientError, ClientIdentity, RelayClient};
use kenshin_core::api::ErrorCode;
use time::OffsetDateTime;

fn api_code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Api { code, .. }) => code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn api_requires_a_client_certificate_but_health_does_not() {
    let mut relay = Relay::start().await;
    let anonymous = relay.anonymous();
    assert!(anonymous.health().await.is_ok());
    assert_eq!(
        api_code(anonymous.list_deliveries(None, 10, 0).await),
        ErrorCode::ClientCertificateRequired
    );
    assert_eq!(
        api_code(
            anonymous
                .send_stream(INSURER, "a.csv", None, stream_of(b"x".to_vec()))
                .await
        ),
        ErrorCode::ClientCertificateRequired
    );
    relay.stop().await;
}

#[tokio::test]
async fn a_certificate_from_another_ca_fails_the_handshake() {
    let mut relay = Relay::start().await;
    let rogue_ca = kenshin_pki::CertificateAuthority::generate("Rogue CA").unwrap();
    // Same organisation code, same shape: only the issuer differs.
    let rogue = rogue_ca.issue_client(INSTITUTION, "rogue", 30).unwrap();
    let identity = ClientIdentity {
        cert_pem: rogue.cert_pem.as_bytes().to_vec(),
        key_pem: rogue.key_pem.as_bytes().to_vec(),
    };
    let client = RelayClient::new(&relay.url(), &relay.ca_pem(), Some(&identity)).unwrap();
    let err = client.list_deliveries(None, 10, 0).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    relay.stop().await;
}

#[tokio::test]
async fn an_unregistered_certificate_of_our_ca_is_refused() {
    let mut relay = Relay::start().await;
    let ca = kenshin_relay::init::load_ca(&relay.data).unwrap();
    // Issued by the CA but never registered (e.g. the database was restored from an older
    // backup): the handshake passes, the API does not.
    let stray = ca.issue_client(INSTITUTION, "stray", 30).unwrap();
    let identity = ClientIdentity {
        cert_pem: stray.cert_pem.as_bytes().to_vec(),
        key_pem: stray.key_pem.as_bytes().to_vec(),
    };
    let client = RelayClient::new(&relay.url(), &relay.ca_pem(), Some(&identity)).unwrap();
    assert_eq!(
        api_code(client.list_deliveries(None, 10, 0).await),
        ErrorCode::CertificateUnknown
    );
    relay.stop().await;
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_at_once_and_then_at_the_handshake() {
    let mut relay = Relay::start().await;
    let client = relay.client(INSURER);
    client.list_deliveries(None, 10, 0).await.unwrap();

    let db = relay.db().await;
    let org = db.org_by_code(INSURER).await.unwrap();
    let cert = db
        .list_certs(Some(org.code.as_str()))
        .await
        .unwrap()
        .pop()
        .unwrap();
    let (_, number) = db
        .revoke_cert(&cert.serial, "key-compromise", OffsetDateTime::now_utc())
        .await
        .unwrap();
    let ca = kenshin_relay::init::load_ca(&relay.data).unwrap();
    kenshin_relay::init::write_crl(&db, &ca, &relay.data, number)
        .await
        .unwrap();

    // The very next request is refused, even on an established connection.
    assert_eq!(
        api_code(client.list_deliveries(None, 10, 0).await),
        ErrorCode::CertificateRevoked
    );
    // Once the server has loaded the new CRL, new connections fail the handshake.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let fresh = relay.client(INSURER);
        match fresh.list_deliveries(None, 10, 0).await {
            Err(ClientError::Transport(_)) => break,
            Err(ClientError::Api { code, .. }) => assert_eq!(code, ErrorCode::CertificateRevoked),
            other => panic!("revoked certificate accepted: {other:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server did not load the new CRL"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Others are unaffected.
    relay
        .client(INSTITUTION)
        .list_submissions(None, 10, 0)
        .await
        .unwrap();
    db.close().await;
    relay.stop().await;
}

#[tokio::test]
async fn a_tls12_only_client_is_refused() {
    let mut relay = Relay::start().await;
    let identity = relay.identity(INSURER);
    // Same trust and identity as a good client, but only TLS 1.2 on offer.
    let good = tls_config(&relay.ca_pem(), Some(&identity)).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&relay.ca_pem()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let chain = rustls::pki_types::CertificateDer::pem_slice_iter(&identity.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&identity.key_pem).unwrap();
    let tls12 = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    drop(good);
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls12)
        .build()
        .unwrap();
    let err = http
        .get(format!("{}/health", relay.url()))
        .send()
        .await
        .unwrap_err();
    let chain = format!("{:?}", err);
    assert!(
        chain.to_lowercase().contains("protocol")
            || chain.to_lowercase().contains("version")
            || err.is_connect(),
        "{chain}"
    );
    relay.stop().await;
}
