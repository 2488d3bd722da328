//! The OpenAPI document is the API: Schemathesis generates requests from the document the
//! relay serves (valid ones and, in its negative mode, invalid ones) and sends them to a live
//! relay over TLS 1.3 — as a sending institution's device (client certificate), as a receiving
//! insurer's device, and as an institution's administrator (a person's session) — and checks
//! every answer against the document: no 5xx, only documented status codes, content types,
//! headers and bodies, and invalid input refused. Real ids, indexes and logins are mixed into
//! the generated ones, so that requests reach existing objects as well as missing ones.
//!
//! Schemathesis is a Python program (`pip install schemathesis`); `.ci/run` installs it into a
//! virtualenv and names it in `KENSHIN_TEST_SCHEMATHESIS`. Without it this test says why it
//! skips and passes, except under `CI=true`, where it fails.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use kenshin_core::api::LedgerEntryView;

/// What every answer is checked for.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance,\
                      negative_data_rejection";

/// Test cases per operation and phase: with about thirty operations, three identities and two
/// cores this keeps the whole run within about two minutes.
const MAX_EXAMPLES: &str = "40";

/// The same requests on every run, so that CI is reproducible; `KENSHIN_FUZZ_SEED` explores
/// others.
const DEFAULT_SEED: &str = "20260412";

/// One run takes 15–20 s on two cores; one that has not finished by then has hung: it is
/// killed and the test fails.
const HARD_TIMEOUT: Duration = Duration::from_secs(180);

/// The Schemathesis executable: `KENSHIN_TEST_SCHEMATHESIS`, or `schemathesis` on the PATH.
fn schemathesis() -> Option<PathBuf> {
    let found = match std::env::var_os("KENSHIN_TEST_SCHEMATHESIS") {
        Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
        None => std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("schemathesis"))
                .find(|p| p.is_file())
        }),
    };
    if found.is_none() {
        let why = "schemathesis is not installed (pip install schemathesis, or set \
                   KENSHIN_TEST_SCHEMATHESIS to its executable)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{why}; .ci/run installs it");
        }
        eprintln!("skipped: {why}");
    }
    found
}

/// Real values to mix into the generated ones.
struct Known {
    /// Submission and delivery ids.
    ids: Vec<String>,
    submissions: Vec<String>,
    /// Ledger indexes of the callers' entries.
    indexes: Vec<u64>,
    /// Tree sizes up to the latest checkpoint's.
    sizes: Vec<u64>,
    logins: Vec<String>,
}

/// Something for the operations to find: files sent (one downloaded and confirmed, one
/// downloaded, one waiting), their ledger entries, and people.
async fn populate_objects(relay: &Relay) -> (Known, people::Person) {
    let sender = relay.client(INSTITUTION);
    let receiver = relay.client(INSURER);
    let mut ids = Vec::new();
    let mut submissions = Vec::new();
    for (i, receiver_org) in [INSURER, INSURER, INSURER, CLINIC].into_iter().enumerate() {
        let receipt = sender
            .send_stream(
                receiver_org,
                &format!("fuzz-{i}.csv"),
                None,
                stream_of(sample_export(3, "FUZZ")),
            )
            .await
            .unwrap();
        submissions.push(receipt.id.to_string());
        ids.push(receipt.id.to_string());
        ids.push(receipt.deliveries[0].id.to_string());
    }
    // The first delivery downloaded and confirmed, the second downloaded.
    for (n, confirm) in [(1, true), (3, false)] {
        let delivery = &ids[n];
        let target = relay.dir.path().join(format!("fuzz-download-{n}.csv"));
        receiver
            .fetch_to_file(delivery, &target, |_, _| {})
            .await
            .unwrap();
        if confirm {
            receiver.confirm(delivery).await.unwrap();
        }
    }
    let entries: Vec<LedgerEntryView> = sender.ledger_entries(None, None).await.unwrap();
    let indexes: Vec<u64> = entries.iter().map(|e| e.index).collect();
    let latest = relay
        .state()
        .ledger
        .checkpoint()
        .await
        .unwrap()
        .map(|c| c.size)
        .unwrap_or(0);
    let sizes = vec![0, 1, latest / 2, latest];
    let db = relay.db().await;
    let admin = people::person(relay, &db, INSTITUTION, "fuzz-admin", "admin").await;
    people::person(relay, &db, INSTITUTION, "fuzz-sender", "sender").await;
    db.close().await;
    let logins = vec!["fuzz-admin".into(), "fuzz-sender".into()];
    let known = Known {
        ids,
        submissions,
        indexes,
        sizes,
        logins,
    };
    (known, admin)
}

/// `schemathesis.toml`: dictionaries of the known values, each used for about half of the
/// values of its parameters.
fn config(known: &Known) -> String {
    fn strings(values: &[String]) -> String {
        let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        format!("[{}]", quoted.join(", "))
    }
    fn numbers(values: &[u64]) -> String {
        let numbers: Vec<String> = values.iter().map(u64::to_string).collect();
        format!("[{}]", numbers.join(", "))
    }
    let orgs = [INSURER, CLINIC, OTHER].map(String::from);
    let mut toml = String::new();
    for (name, values) in [
        ("ids", strings(&known.ids)),
        ("submissions", strings(&known.submissions)),
        ("indexes", numbers(&known.indexes)),
        ("sizes", numbers(&known.sizes)),
        ("logins", strings(&known.logins)),
        ("orgs", strings(&orgs)),
    ] {
        writeln!(toml, "[dictionaries.{name}]\nvalues = {values}\n").unwrap();
    }
    let bind = |name: &str| format!("{{ dictionary = \"{name}\", probability = 0.5 }}");
    writeln!(toml, "[parameters]").unwrap();
    for (parameter, dictionary) in [
        ("path.id", "ids"),
        ("path.index", "indexes"),
        ("path.login", "logins"),
        ("query.submission", "submissions"),
        ("query.index", "indexes"),
        ("query.size", "sizes"),
        ("query.from", "sizes"),
    ] {
        writeln!(toml, "{parameter:?} = {}", bind(dictionary)).unwrap();
    }
    // `to` is a receiver on uploads, a tree size on consistency proofs.
    for (path, dictionary) in [
        ("/api/v1/submissions", "orgs"),
        ("/api/v1/ledger/proof/consistency", "sizes"),
    ] {
        writeln!(
            toml,
            "\n[[operations]]\ninclude-path = {path:?}\nparameters = {{ \"query.to\" = {} }}",
            bind(dictionary)
        )
        .unwrap();
    }
    toml
}

/// Who Schemathesis is.
enum Identity<'a> {
    /// An organisation's device certificate, under `relay.cert_dir(name)`.
    Device(&'a str),
    /// A person's session: its cookie and CSRF token.
    Person(&'a people::Person),
}

/// Runs Schemathesis against the relay as `identity`; returns whether it found nothing, and
/// its output.
async fn run(
    executable: &Path,
    relay: &Relay,
    identity: &Identity<'_>,
    document: &Path,
    work: &Path,
    seed: &str,
) -> (bool, String) {
    let (name, mut command) = (
        match identity {
            Identity::Device(org) => format!("device of {org}"),
            Identity::Person(_) => "fuzz-admin (session)".to_owned(),
        },
        tokio::process::Command::new(executable),
    );
    command
        .arg("--config-file")
        .arg(work.join("schemathesis.toml"))
        .arg("run")
        .arg(document)
        .args(["--url", &relay.url()])
        .arg("--tls-verify")
        .arg(relay.data.ca_cert_path());
    match identity {
        Identity::Device(org) => {
            let certs = relay.cert_dir(org);
            command
                .arg("--request-cert")
                .arg(certs.join("cert.pem"))
                .arg("--request-cert-key")
                .arg(certs.join("key.pem"));
        }
        Identity::Person(person) => {
            command
                .args(["--header", &format!("Cookie: {}", person.cookie)])
                .args(["--header", &format!("x-csrf-token: {}", person.csrf)])
                // Logging out would leave the rest of the run without a session.
                .args(["--exclude-path", "/auth/logout"]);
        }
    }
    command
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", seed])
        .args(["--workers", "1"])
        .args(["--request-timeout", "30"])
        .args(["--generation-database", "none"])
        .arg("--no-color")
        // Its caches and reports stay in the test's directory.
        .current_dir(work)
        .env("HOME", work)
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .kill_on_drop(true);
    let started = Instant::now();
    let output = tokio::time::timeout(HARD_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis as {name} ran past {HARD_TIMEOUT:?}"))
        .expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "== schemathesis as {name}: {} in {:.0?}\n{text}",
        output.status,
        started.elapsed()
    );
    (output.status.success(), format!("== as {name}\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_against_a_live_relay() {
    let Some(executable) = schemathesis() else {
        return;
    };
    let version = std::process::Command::new(&executable)
        .arg("--version")
        .output()
        .expect("schemathesis --version");
    eprintln!("{}", String::from_utf8_lossy(&version.stdout).trim());
    let mut relay = Relay::start().await;
    let (known, admin) = populate_objects(&relay).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("schemathesis.toml"), config(&known)).unwrap();
    // The document itself needs a client certificate, like the rest of /api.
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(
            kenshin_client::tls_config(&relay.ca_pem(), Some(&relay.identity(INSTITUTION)))
                .unwrap(),
        )
        .build()
        .unwrap();
    let response = http
        .get(format!("{}/api/v1/openapi.json", relay.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let document = work.path().join("openapi.json");
    std::fs::write(&document, response.bytes().await.unwrap()).unwrap();

    let seed = std::env::var("KENSHIN_FUZZ_SEED").unwrap_or_else(|_| DEFAULT_SEED.into());
    eprintln!("seed {seed} (KENSHIN_FUZZ_SEED)");
    let mut failures = Vec::new();
    // A sender's device reaches submissions and maps; a receiver's, deliveries; an
    // administrator's session, people and accounts. All of them the ledger and the document.
    for identity in [
        Identity::Device(INSTITUTION),
        Identity::Device(INSURER),
        Identity::Person(&admin),
    ] {
        let (ok, output) = run(
            &executable,
            &relay,
            &identity,
            &document,
            work.path(),
            &seed,
        )
        .await;
        if !ok {
            failures.push(output);
        }
    }
    relay.stop().await;
    assert!(
        failures.is_empty(),
        "schemathesis found failures (seed {seed}):\n{}",
        failures.join("\n")
    );
}
