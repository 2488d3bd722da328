//! The use cases where their rules live: called in-process on a real data directory and
//! database, without HTTP or TLS, with a clock the test moves. Errors are matched as the
//! typed values the front ends turn into answers.

use std::sync::Arc;

use bytes::Bytes;
use kenshin_server::clock::ManualClock;
use kenshin_server::service::{self, AccountProblem, Caller, Error, Principal, Refusal};
use kenshin_server::AppState;
use kenshin_store::StoreError;
use time::{Duration, OffsetDateTime};

use crate::common::*;

/// A prepared data directory opened as the service's state, its clock standing still.
async fn service_state() -> (tempfile::TempDir, AppState, Arc<ManualClock>) {
    let config = test_config();
    let (dir, data) = prepared_data_dir(&config).await;
    let mut state = AppState::open(&data, config).await.unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    state.clock = clock.clone();
    (dir, state, clock)
}

/// The caller an organisation's device certificate stands for.
async fn device_of(state: &AppState, org: &str) -> Caller {
    let org = state.db.org_by_code(org).await.unwrap();
    let cert = state
        .db
        .list_certs(Some(org.code.as_str()))
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let roles = service::roles::stored_roles(cert.roles.as_deref().unwrap_or_default());
    Caller {
        org,
        principal: Principal::Certificate(cert),
        roles,
    }
}

/// The caller of a person of `org` with `role`, by a session of theirs.
async fn person_of(state: &AppState, org: &str, login: &str, role: &str) -> Caller {
    let org = state.db.org_by_code(org).await.unwrap();
    let (user, _) =
        service::accounts::create_account(&state.db, &org, login, "試験 太郎", role, None)
            .await
            .unwrap();
    let (_, session) = kenshin_auth::SessionToken::generate().unwrap();
    Caller::of_person(org, user, session)
}

async fn send(
    state: &AppState,
    caller: &Caller,
    to: &str,
    bytes: &'static [u8],
) -> Result<kenshin_core::api::SubmissionView, Error> {
    let to: kenshin_core::OrgCode = to.parse().unwrap();
    let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(bytes))]);
    service::submissions::send(
        state,
        caller,
        service::submissions::Upload {
            to: Some(&to),
            filename: "kekka.csv",
            body,
        },
    )
    .await
}

#[tokio::test]
async fn a_delivery_goes_through_its_lifecycle_and_expires_when_the_clock_says_so() {
    let (_dir, state, clock) = service_state().await;
    let sender = device_of(&state, INSTITUTION).await;
    let receiver = device_of(&state, INSURER).await;
    let stranger = device_of(&state, OTHER).await;

    let sent = send(&state, &sender, INSURER, b"id,value\n1,2\n")
        .await
        .unwrap();
    assert!(sent.receipt.is_some(), "a ledger receipt with the answer");
    let id = sent.deliveries[0].id;
    // Another organisation's delivery is not found, exactly like a missing one.
    assert!(matches!(
        service::deliveries::show(&state, &stranger, id).await,
        Err(Error::Store(StoreError::NotFound))
    ));
    // 受信完了 needs a download first.
    assert!(matches!(
        service::deliveries::confirm(&state, &receiver, id).await,
        Err(Error::Store(StoreError::NotDownloaded))
    ));
    let (record, stream) = service::deliveries::download(&state, &receiver, id)
        .await
        .unwrap();
    let bytes: Vec<Bytes> = futures::TryStreamExt::try_collect(stream).await.unwrap();
    assert_eq!(bytes.concat(), b"id,value\n1,2\n");
    assert_eq!(record.state, kenshin_core::DeliveryState::Downloaded);
    // Downloaded: the sender can no longer withdraw it.
    assert!(matches!(
        service::submissions::withdraw(&state, &sender, sent.id).await,
        Err(Error::Store(StoreError::AlreadyDownloaded))
    ));
    let confirmed = service::deliveries::confirm(&state, &receiver, id)
        .await
        .unwrap();
    assert_eq!(confirmed.state, kenshin_core::DeliveryState::Confirmed);

    // A second file, never confirmed: expired once the retention period has passed, not before.
    let second = send(&state, &sender, INSURER, b"id,value\n3,4\n")
        .await
        .unwrap();
    let days = i64::from(state.config.retention_days);
    clock.advance(Duration::days(days) - Duration::minutes(1));
    assert_eq!(
        service::relay::expire_due(&state, state.now())
            .await
            .unwrap(),
        0
    );
    clock.advance(Duration::minutes(2));
    assert_eq!(
        service::relay::expire_due(&state, state.now())
            .await
            .unwrap(),
        1
    );
    let expired = service::deliveries::show(&state, &receiver, second.deliveries[0].id)
        .await
        .unwrap();
    assert_eq!(expired.state, kenshin_core::DeliveryState::Expired);
    assert!(matches!(
        service::deliveries::download(&state, &receiver, second.deliveries[0].id).await,
        Err(Error::Store(StoreError::Gone(_)))
    ));
}

#[tokio::test]
async fn sending_is_refused_by_typed_rules() {
    let (_dir, state, _clock) = service_state().await;
    let sender = device_of(&state, INSTITUTION).await;
    let receiver = device_of(&state, INSURER).await;
    // No route to an organisation, whether or not it exists.
    for to in [OTHER, "nobody-here"] {
        let refused = send(&state, &sender, to, b"x").await.unwrap_err();
        assert_eq!(
            refused.refusal(),
            Some(&Refusal::NoRoute {
                sender: INSTITUTION.into(),
                receiver: to.into()
            })
        );
    }
    // An insurer does not send at all.
    let refused = send(&state, &receiver, INSTITUTION, b"x")
        .await
        .unwrap_err();
    assert!(
        matches!(refused, Error::NotPermitted { .. })
            || refused.refusal() == Some(&Refusal::CannotSend(kenshin_core::OrgKind::Insurer)),
        "{refused:?}"
    );
    // Without a receiver, the file is to be converted: not without a convert route.
    let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]);
    let refused = service::submissions::send(
        &state,
        &sender,
        service::submissions::Upload {
            to: None,
            filename: "export.csv",
            body,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        refused.refusal(),
        Some(&Refusal::NoConvertRoute {
            sender: INSTITUTION.into()
        })
    );
}

#[tokio::test]
async fn accounts_are_managed_by_people_of_the_organisation_only() {
    let (_dir, state, _clock) = service_state().await;
    let admin = person_of(&state, INSURER, "k.admin", "admin").await;
    let device = device_of(&state, INSURER).await;
    let new = |login: &str, last_day: Option<&str>| service::accounts::NewAccount {
        login: login.into(),
        name: "山田 花子".into(),
        role: "receiver".into(),
        valid_until: last_day.map(str::to_owned),
    };
    // A certificate never manages people.
    let refused = service::accounts::create_in(&state, &device, new("h.yamada", None))
        .await
        .unwrap_err();
    assert_eq!(refused.refusal(), Some(&Refusal::PersonOnly));
    // The request's own problems, each its own value.
    let refused = service::accounts::create_in(&state, &admin, new("h.yamada", Some("2027/03/31")))
        .await
        .unwrap_err();
    assert_eq!(refused.refusal(), Some(&Refusal::LastDay));
    let refused = service::accounts::create_in(&state, &admin, new("山田", None))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, Error::Account(AccountProblem::Login)),
        "{refused:?}"
    );
    let created = service::accounts::create_in(&state, &admin, new("h.yamada", Some("2027-03-31")))
        .await
        .unwrap();
    assert_eq!(created.account.login, "h.yamada");
    assert!(!created.initial_password.is_empty());
    // One's own account is not changed this way; another organisation's person is not found.
    let refused = service::accounts::change(
        &state,
        &admin,
        "k.admin",
        service::accounts::AccountChange::Disable,
    )
    .await
    .unwrap_err();
    assert_eq!(refused.refusal(), Some(&Refusal::OwnAccount));
    let outsider = person_of(&state, OTHER, "o.admin", "admin").await;
    assert!(matches!(
        service::accounts::change(
            &state,
            &outsider,
            "h.yamada",
            service::accounts::AccountChange::Disable
        )
        .await,
        Err(Error::NotFound)
    ));
    let disabled = service::accounts::change(
        &state,
        &admin,
        "h.yamada",
        service::accounts::AccountChange::Disable,
    )
    .await
    .unwrap();
    assert!(disabled.disabled);
    // A receiver may not manage people at all.
    let receiver = person_of(&state, INSURER, "r.person", "receiver").await;
    assert!(matches!(
        service::accounts::accounts_of(&state, &receiver).await,
        Err(Error::NotPermitted { .. })
    ));
}
