//! The PKCS#11 provider against a real SoftHSM2 token.
//!
//! SoftHSM reads its configuration (`SOFTHSM2_CONF`) once, at `C_Initialize`, and the provider
//! initialises a module once per process and never finalises it, so every test in this binary
//! shares one token directory, created on first use, with a supply of initialised tokens;
//! each test takes tokens of its own from it. (They are all made up front because SoftHSM's
//! `C_GetSlotList` updates its slot table without a lock: initialising a token while another
//! thread lists slots can make tokens vanish from that list.)
//! Without SoftHSM2 (`apt-get install softhsm2`) the tests print why they skip, except under
//! `CI=true`, where they fail. `KENSHIN_TEST_SOFTHSM2_MODULE` overrides the module path.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::cipher::{EncryptingKey, UnboundCipherKey, AES_256};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::{AuthPin, Ulong};
use kenshin_crypto::{CryptoError, DataKey, KeyProvider, LocalKeyFile, Sha256, WrappedKey};
use kenshin_pkcs11::{Pkcs11Config, Pkcs11Kek};
use zeroize::Zeroizing;

const MODULE_PATHS: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];
const SO_PIN: &str = "so-pin-8613";
const USER_PIN: &str = "user-pin-2718";
const WRONG_PIN: &str = "not-the-pin-31415";
/// Layout of the provider's wrapped keys (see the crate documentation).
const WRAPPED_LEN: usize = 61;
const WRAP_VERSION: u8 = 2;

/// Tokens initialised at set-up; raise it when tests need more.
const TOKENS: usize = 16;

struct SoftHsm {
    module: PathBuf,
    /// Labels of the initialised tokens; [`SoftHsm::new_token`] hands them out.
    tokens: Vec<String>,
    next_token: AtomicUsize,
}

static SOFTHSM: OnceLock<Option<SoftHsm>> = OnceLock::new();

/// The shared SoftHSM set-up, or `None` (with the reason printed) if SoftHSM2 is not
/// installed. Under `CI=true` a missing SoftHSM2 fails the test instead.
fn softhsm(test: &str) -> Option<&'static SoftHsm> {
    let looked_for = match std::env::var("KENSHIN_TEST_SOFTHSM2_MODULE") {
        Ok(path) if !path.is_empty() => path,
        _ => MODULE_PATHS.join(", "),
    };
    let hsm = SOFTHSM.get_or_init(|| {
        let module = match std::env::var_os("KENSHIN_TEST_SOFTHSM2_MODULE") {
            Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
            _ => MODULE_PATHS.iter().map(PathBuf::from).find(|p| p.is_file()),
        }
        .filter(|path| path.is_file())?;
        let root = token_root();
        let conf = root.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                 slots.removable = false\n",
                root.join("tokens").display()
            ),
        )
        .unwrap();
        std::fs::create_dir(root.join("tokens")).unwrap();
        // Before anything loads the module: SoftHSM reads this at C_Initialize only.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        let tokens = init_tokens(&module);
        Some(SoftHsm {
            module,
            tokens,
            next_token: AtomicUsize::new(0),
        })
    });
    match hsm {
        Some(hsm) => Some(hsm),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "{test}: SoftHSM2 is not installed (looked for {looked_for}) but CI=true; install \
             it with `apt-get install softhsm2`, or set KENSHIN_TEST_SOFTHSM2_MODULE"
        ),
        None => {
            eprintln!(
                "skipping {test}: SoftHSM2 is not installed (looked for {looked_for}); install it \
                 with `apt-get install softhsm2`"
            );
            None
        }
    }
}

/// A directory for this process's tokens under the target directory, removing those of test
/// processes that have exited (each process has its own: `cargo nextest` runs one per test).
fn token_root() -> PathBuf {
    let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kenshin-pkcs11-softhsm");
    std::fs::create_dir_all(&parent).unwrap();
    if Path::new("/proc/self").exists() {
        for entry in std::fs::read_dir(&parent).unwrap().flatten() {
            let name = entry.file_name();
            let alive = name
                .to_str()
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
            if !alive {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let root = parent.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir(&root).unwrap();
    root
}

fn context(module: &Path) -> Pkcs11 {
    let context = Pkcs11::new(module).unwrap();
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(err) => panic!("C_Initialize: {err}"),
    }
    context
}

/// Initialises [`TOKENS`] tokens, each with [`SO_PIN`] and [`USER_PIN`], and returns their
/// labels.
fn init_tokens(module: &Path) -> Vec<String> {
    let context = context(module);
    let labels: Vec<String> = (0..TOKENS).map(|i| format!("token-{i:02}")).collect();
    for label in &labels {
        // SoftHSM always offers one slot with an uninitialised token (a new one appears
        // when the slots are listed after it is used).
        let slot = context
            .get_all_slots()
            .unwrap()
            .into_iter()
            .find(|slot| !context.get_token_info(*slot).unwrap().token_initialized())
            .expect("SoftHSM offers a slot with an uninitialised token");
        context
            .init_token(slot, &AuthPin::from(SO_PIN), label)
            .unwrap();
        let session = context.open_rw_session(slot).unwrap();
        session
            .login(UserType::So, Some(&AuthPin::from(SO_PIN)))
            .unwrap();
        session.init_pin(&AuthPin::from(USER_PIN)).unwrap();
    }
    // List once more, so that the slot table is complete before the tests read it.
    context.get_all_slots().unwrap();
    labels
}

impl SoftHsm {
    fn context(&self) -> Pkcs11 {
        context(&self.module)
    }

    /// A token of the caller's own, with [`USER_PIN`].
    fn new_token(&self) -> String {
        let index = self.next_token.fetch_add(1, Ordering::Relaxed);
        self.tokens
            .get(index)
            .unwrap_or_else(|| panic!("only {TOKENS} tokens are made at set-up; raise TOKENS"))
            .clone()
    }

    fn config(&self, token_label: &str, key_label: &str) -> Pkcs11Config {
        Pkcs11Config {
            module: self.module.clone(),
            token_label: token_label.to_owned(),
            key_label: key_label.to_owned(),
            pin: Zeroizing::new(USER_PIN.to_owned()),
        }
    }

    /// A user session on the token, for inspecting or planting objects directly. If a
    /// provider of this process is logged in to the token the session shares its login.
    fn user_session(&self, token_label: &str) -> Session {
        let context = self.context();
        let slot = context
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|slot| context.get_token_info(*slot).unwrap().label() == token_label)
            .unwrap();
        let session = context.open_rw_session(slot).unwrap();
        match session.login(UserType::User, Some(&AuthPin::from(USER_PIN))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(err) => panic!("C_Login: {err}"),
        }
        session
    }
}

fn hsm_message<T: std::fmt::Debug>(result: Result<T, CryptoError>) -> String {
    match result {
        Err(CryptoError::Hsm(message)) => {
            assert!(!message.contains(USER_PIN), "PIN in message: {message}");
            assert!(!message.contains(WRONG_PIN), "PIN in message: {message}");
            message
        }
        other => panic!("expected an HSM error, got {other:?}"),
    }
}

fn assert_key_unwrap(result: Result<DataKey, CryptoError>) {
    assert!(
        matches!(result, Err(CryptoError::KeyUnwrap)),
        "expected KeyUnwrap, got {result:?}"
    );
}

#[test]
fn generate_then_open_gives_the_same_key() {
    let Some(hsm) = softhsm("generate_then_open_gives_the_same_key") else {
        return;
    };
    let token = hsm.new_token();
    let config = hsm.config(&token, "kek-1");
    let generated = Pkcs11Kek::generate(&config).unwrap();
    let id = generated.kek_id().to_owned();
    assert!(id.starts_with("hsm-"), "{id}");
    assert_eq!(id.len(), 4 + 16);
    assert!(id[4..].bytes().all(|b| b.is_ascii_hexdigit()), "{id}");

    let key = DataKey::generate().unwrap();
    let wrapped = generated.wrap(&key, b"object-1").unwrap();
    drop(generated);

    // Opened afresh (the first provider's login ended with it).
    let opened = Pkcs11Kek::open(&config).unwrap();
    assert_eq!(opened.kek_id(), id);
    assert_eq!(opened.key_label(), "kek-1");
    assert_eq!(opened.token_label(), token);
    let unwrapped = opened.unwrap(&wrapped, b"object-1").unwrap();
    assert_eq!(unwrapped.expose_secret(), key.expose_secret());

    // Two providers on one key at once share the login and agree.
    let again = Pkcs11Kek::open(&config).unwrap();
    assert_eq!(again.kek_id(), id);
    let unwrapped = again.unwrap(&wrapped, b"object-1").unwrap();
    assert_eq!(unwrapped.expose_secret(), key.expose_secret());

    let shown = format!("{again:?}");
    assert!(shown.contains(&id) && !shown.contains(USER_PIN), "{shown}");
}

#[test]
fn wrap_unwrap_round_trip() {
    let Some(hsm) = softhsm("wrap_unwrap_round_trip") else {
        return;
    };
    let token = hsm.new_token();
    let kek = Pkcs11Kek::generate(&hsm.config(&token, "kek")).unwrap();
    let key = DataKey::generate().unwrap();
    for context in [&b"object-1"[..], b"", &[0xAA; 4096][..]] {
        let wrapped = kek.wrap(&key, context).unwrap();
        let bytes = wrapped.as_bytes();
        assert_eq!(bytes.len(), WRAPPED_LEN);
        assert_eq!(bytes[0], WRAP_VERSION);
        assert!(!bytes.windows(32).any(|w| w == key.expose_secret()));
        let stored = WrappedKey::from_bytes(bytes.to_vec());
        let unwrapped = kek.unwrap(&stored, context).unwrap();
        assert_eq!(unwrapped.expose_secret(), key.expose_secret());
    }
    let first = kek.wrap(&key, b"c").unwrap();
    let second = kek.wrap(&key, b"c").unwrap();
    assert_ne!(first, second, "every wrap uses a fresh nonce");
}

#[test]
fn wrong_context_and_damage_are_key_unwrap_errors() {
    let Some(hsm) = softhsm("wrong_context_and_damage_are_key_unwrap_errors") else {
        return;
    };
    let token = hsm.new_token();
    let kek = Pkcs11Kek::generate(&hsm.config(&token, "kek")).unwrap();
    let key = DataKey::generate().unwrap();
    let wrapped = kek.wrap(&key, b"object-1").unwrap();

    for other in [&b"object-2"[..], b"object-", b"object-10", b""] {
        assert_key_unwrap(kek.unwrap(&wrapped, other));
    }

    let good = wrapped.into_bytes();
    // Every single bit of every byte (the version byte included) matters.
    for index in 0..good.len() {
        for bit in [0x01, 0x80] {
            let mut bad = good.clone();
            bad[index] ^= bit;
            assert_key_unwrap(kek.unwrap(&WrappedKey::from_bytes(bad), b"object-1"));
        }
    }
    for version in [0, 1, 3, 0xFF] {
        let mut bad = good.clone();
        bad[0] = version;
        assert_key_unwrap(kek.unwrap(&WrappedKey::from_bytes(bad), b"object-1"));
    }
    for bad in [
        good[..WRAPPED_LEN - 1].to_vec(),
        [good.as_slice(), &[0]].concat(),
        good[..13].to_vec(),
        vec![WRAP_VERSION],
        Vec::new(),
    ] {
        assert_key_unwrap(kek.unwrap(&WrappedKey::from_bytes(bad), b"object-1"));
    }
    // And the provider still works after all those failures.
    let unwrapped = kek
        .unwrap(&WrappedKey::from_bytes(good), b"object-1")
        .unwrap();
    assert_eq!(unwrapped.expose_secret(), key.expose_secret());
}

#[test]
fn another_key_cannot_unwrap() {
    let Some(hsm) = softhsm("another_key_cannot_unwrap") else {
        return;
    };
    let token = hsm.new_token();
    let first = Pkcs11Kek::generate(&hsm.config(&token, "kek-a")).unwrap();
    let second = Pkcs11Kek::generate(&hsm.config(&token, "kek-b")).unwrap();
    assert_ne!(first.kek_id(), second.kek_id());
    let key = DataKey::generate().unwrap();
    let wrapped = first.wrap(&key, b"object-1").unwrap();
    assert_key_unwrap(second.unwrap(&wrapped, b"object-1"));
    let wrapped = second.wrap(&key, b"object-1").unwrap();
    assert_key_unwrap(first.unwrap(&wrapped, b"object-1"));

    // A key of the same label on another token is another key too.
    let other_token = hsm.new_token();
    let third = Pkcs11Kek::generate(&hsm.config(&other_token, "kek-a")).unwrap();
    assert_ne!(third.kek_id(), first.kek_id());
    let wrapped = first.wrap(&key, b"object-1").unwrap();
    assert_key_unwrap(third.unwrap(&wrapped, b"object-1"));
}

#[test]
fn file_provider_and_hsm_refuse_each_others_wrapped_keys() {
    let Some(hsm) = softhsm("file_provider_and_hsm_refuse_each_others_wrapped_keys") else {
        return;
    };
    let token = hsm.new_token();
    let kek = Pkcs11Kek::generate(&hsm.config(&token, "kek")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = LocalKeyFile::create(&dir.path().join("kek")).unwrap();
    assert_ne!(file.kek_id(), kek.kek_id());

    let key = DataKey::generate().unwrap();
    let by_file = file.wrap(&key, b"object-1").unwrap();
    assert_eq!(
        by_file.as_bytes().len(),
        WRAPPED_LEN,
        "same length, other version"
    );
    assert_key_unwrap(kek.unwrap(&by_file, b"object-1"));
    // Even with the version byte changed to the HSM's.
    let mut relabelled = by_file.into_bytes();
    relabelled[0] = WRAP_VERSION;
    assert_key_unwrap(kek.unwrap(&WrappedKey::from_bytes(relabelled), b"object-1"));

    let by_hsm = kek.wrap(&key, b"object-1").unwrap();
    assert_key_unwrap(file.unwrap(&by_hsm, b"object-1"));
}

#[test]
fn concurrent_wraps_from_eight_threads() {
    let Some(hsm) = softhsm("concurrent_wraps_from_eight_threads") else {
        return;
    };
    let token = hsm.new_token();
    let kek = Arc::new(Pkcs11Kek::generate(&hsm.config(&token, "kek")).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let kek = Arc::clone(&kek);
            std::thread::spawn(move || {
                let mut wrapped = Vec::new();
                for round in 0..40 {
                    let key = DataKey::generate().unwrap();
                    let context = format!("object-{thread}-{round}");
                    let sealed = kek.wrap(&key, context.as_bytes()).unwrap();
                    let opened = kek.unwrap(&sealed, context.as_bytes()).unwrap();
                    assert_eq!(opened.expose_secret(), key.expose_secret());
                    wrapped.push((context, sealed, key));
                }
                wrapped
            })
        })
        .collect();
    let mut all = Vec::new();
    for thread in threads {
        all.extend(thread.join().unwrap());
    }
    assert_eq!(all.len(), 8 * 40);
    // Everything wrapped concurrently still unwraps, and nothing was mixed up.
    for (context, sealed, key) in &all {
        let opened = kek.unwrap(sealed, context.as_bytes()).unwrap();
        assert_eq!(opened.expose_secret(), key.expose_secret());
    }
    let mut nonces: Vec<&[u8]> = all.iter().map(|(_, w, _)| &w.as_bytes()[1..13]).collect();
    nonces.sort_unstable();
    nonces.dedup();
    assert_eq!(nonces.len(), all.len(), "nonces are unique");
}

/// Providers opened and dropped on one token from many threads at once: the shared login
/// is never lost under a provider still in use, nor kept by a provider already gone.
#[test]
fn concurrent_opens_and_drops_share_one_login() {
    let Some(hsm) = softhsm("concurrent_opens_and_drops_share_one_login") else {
        return;
    };
    let token = hsm.new_token();
    let config = hsm.config(&token, "kek");
    let id = Pkcs11Kek::generate(&config).unwrap().kek_id().to_owned();
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let config = config.clone();
            let id = id.clone();
            std::thread::spawn(move || {
                for round in 0..10 {
                    let kek = Pkcs11Kek::open(&config).unwrap();
                    assert_eq!(kek.kek_id(), id);
                    let key = DataKey::generate().unwrap();
                    let context = format!("{thread}-{round}");
                    let wrapped = kek.wrap(&key, context.as_bytes()).unwrap();
                    let opened = kek.unwrap(&wrapped, context.as_bytes()).unwrap();
                    assert_eq!(opened.expose_secret(), key.expose_secret());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // All gone: the process is logged out, so the token checks a wrong PIN itself again.
    let message = hsm_message(Pkcs11Kek::open(&config.clone().with_pin(WRONG_PIN)));
    assert_eq!(message, format!("wrong PIN for token {token:?}"));
}

#[test]
fn the_key_cannot_be_read_out_of_the_token() {
    let Some(hsm) = softhsm("the_key_cannot_be_read_out_of_the_token") else {
        return;
    };
    let token = hsm.new_token();
    let kek = Pkcs11Kek::generate(&hsm.config(&token, "kek")).unwrap();
    let session = hsm.user_session(&token);
    let keys = session
        .find_objects(&[Attribute::Label(b"kek".to_vec())])
        .unwrap();
    assert_eq!(keys.len(), 1);
    let key = keys[0];

    // CKA_VALUE is refused (cryptoki leaves out attributes the token calls sensitive).
    let value = session
        .get_attributes(key, &[AttributeType::Value])
        .unwrap();
    assert!(
        !value.iter().any(|a| matches!(a, Attribute::Value(_))),
        "the key's value was readable"
    );
    let attributes = session
        .get_attributes(
            key,
            &[
                AttributeType::Class,
                AttributeType::KeyType,
                AttributeType::ValueLen,
                AttributeType::Token,
                AttributeType::Private,
                AttributeType::Sensitive,
                AttributeType::AlwaysSensitive,
                AttributeType::Extractable,
                AttributeType::NeverExtractable,
                AttributeType::Wrap,
                AttributeType::Unwrap,
                AttributeType::Id,
                AttributeType::AllowedMechanisms,
            ],
        )
        .unwrap();
    let mut seen = 0;
    for attribute in attributes {
        seen += 1;
        match attribute {
            Attribute::Class(class) => assert_eq!(class, ObjectClass::SECRET_KEY),
            Attribute::KeyType(kind) => assert_eq!(kind, KeyType::AES),
            Attribute::ValueLen(len) => assert_eq!(usize::from(len), 32),
            Attribute::Token(flag)
            | Attribute::Private(flag)
            | Attribute::Sensitive(flag)
            | Attribute::AlwaysSensitive(flag)
            | Attribute::NeverExtractable(flag) => assert!(flag),
            Attribute::Extractable(flag) | Attribute::Wrap(flag) | Attribute::Unwrap(flag) => {
                assert!(!flag)
            }
            Attribute::Id(id) => assert_eq!(id.len(), 16),
            Attribute::AllowedMechanisms(mechanisms) => assert_eq!(mechanisms.len(), 2),
            other => panic!("unexpected attribute {other:?}"),
        }
    }
    assert_eq!(seen, 13, "every attribute was reported");

    // Wrapping it out under another key is refused too.
    let wrapping_key = session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(false),
                Attribute::ValueLen(Ulong::new(32)),
                Attribute::Wrap(true),
            ],
        )
        .unwrap();
    assert!(session
        .wrap_key(&Mechanism::AesKeyWrap, wrapping_key, key)
        .is_err());
    drop(session);
    // The provider's login outlived the inspecting session.
    let wrapped = kek.wrap(&DataKey::generate().unwrap(), b"c").unwrap();
    kek.unwrap(&wrapped, b"c").unwrap();
}

#[test]
fn wrong_pin_is_reported_without_the_pin() {
    let Some(hsm) = softhsm("wrong_pin_is_reported_without_the_pin") else {
        return;
    };
    let token = hsm.new_token();
    let mut config = hsm.config(&token, "kek");
    Pkcs11Kek::generate(&config).unwrap();

    // Nobody in this process is logged in to the token now: the token checks the PIN.
    config.pin = Zeroizing::new(WRONG_PIN.to_owned());
    let message = hsm_message(Pkcs11Kek::open(&config));
    assert_eq!(message, format!("wrong PIN for token {token:?}"));
    assert_eq!(
        CryptoError::Hsm(message).to_string(),
        format!("HSM: wrong PIN for token {token:?}")
    );

    // While a provider is logged in, the token would not check it: the provider does.
    config.pin = Zeroizing::new(USER_PIN.to_owned());
    let open = Pkcs11Kek::open(&config).unwrap();
    config.pin = Zeroizing::new(WRONG_PIN.to_owned());
    let message = hsm_message(Pkcs11Kek::open(&config));
    assert!(message.starts_with("wrong PIN for token"), "{message}");
    let message = hsm_message(Pkcs11Kek::generate(
        &hsm.config(&token, "other").with_pin(WRONG_PIN),
    ));
    assert!(message.starts_with("wrong PIN for token"), "{message}");

    // The logged-in provider is unaffected.
    let wrapped = open.wrap(&DataKey::generate().unwrap(), b"c").unwrap();
    open.unwrap(&wrapped, b"c").unwrap();

    config.pin = Zeroizing::new(String::new());
    let message = hsm_message(Pkcs11Kek::open(&config));
    assert!(message.contains("no PIN"), "{message}");
}

trait WithPin {
    fn with_pin(self, pin: &str) -> Self;
}

impl WithPin for Pkcs11Config {
    fn with_pin(mut self, pin: &str) -> Self {
        self.pin = Zeroizing::new(pin.to_owned());
        self
    }
}

#[test]
fn missing_token_key_and_duplicate_generate_are_clear() {
    let Some(hsm) = softhsm("missing_token_key_and_duplicate_generate_are_clear") else {
        return;
    };
    let token = hsm.new_token();

    let message = hsm_message(Pkcs11Kek::open(&hsm.config("no-such-token", "kek")));
    assert!(
        message.starts_with("no token labelled \"no-such-token\" in PKCS#11 module"),
        "{message}"
    );
    assert!(
        message.contains(&format!("{token:?}")),
        "the labels found are listed: {message}"
    );

    let message = hsm_message(Pkcs11Kek::open(&hsm.config(&token, "no-such-key")));
    assert_eq!(
        message,
        format!(
            "no secret key labelled \"no-such-key\" on token {token:?}; create one with \
             Pkcs11Kek::generate, or correct the key label"
        )
    );

    let config = hsm.config(&token, "kek");
    let kek = Pkcs11Kek::generate(&config).unwrap();
    let message = hsm_message(Pkcs11Kek::generate(&config));
    assert!(
        message.starts_with(&format!(
            "token {token:?} already has a secret key labelled \"kek\"; refusing"
        )),
        "{message}"
    );
    // The refused generate created nothing: the label still names one key.
    assert_eq!(Pkcs11Kek::open(&config).unwrap().kek_id(), kek.kek_id());

    let message = hsm_message(Pkcs11Kek::open(&hsm.config(&token, "")));
    assert!(message.contains("no key label"), "{message}");
}

#[test]
fn unsuitable_keys_are_refused() {
    let Some(hsm) = softhsm("unsuitable_keys_are_refused") else {
        return;
    };
    let token = hsm.new_token();
    {
        // Planted directly, before any provider logs in to the token.
        let session = hsm.user_session(&token);
        let plant = |label: &str, attributes: &[Attribute]| {
            let mut template = vec![
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Label(label.as_bytes().to_vec()),
            ];
            template.extend_from_slice(attributes);
            session
                .generate_key(&Mechanism::AesKeyGen, &template)
                .unwrap();
        };
        plant(
            "aes-128",
            &[
                Attribute::ValueLen(Ulong::new(16)),
                Attribute::Sensitive(true),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
            ],
        );
        plant(
            "readable",
            &[
                Attribute::ValueLen(Ulong::new(32)),
                Attribute::Sensitive(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
            ],
        );
        plant(
            "no-decrypt",
            &[
                Attribute::ValueLen(Ulong::new(32)),
                Attribute::Sensitive(true),
                Attribute::Encrypt(true),
                Attribute::Decrypt(false),
            ],
        );
        plant(
            "gcm-only",
            &[
                Attribute::ValueLen(Ulong::new(32)),
                Attribute::Sensitive(true),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::AllowedMechanisms(vec![cryptoki::mechanism::MechanismType::AES_GCM]),
            ],
        );
        for _ in 0..2 {
            plant(
                "twice",
                &[
                    Attribute::ValueLen(Ulong::new(32)),
                    Attribute::Sensitive(true),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                ],
            );
        }
    }
    let expect = |label: &str, needle: &str| {
        let message = hsm_message(Pkcs11Kek::open(&hsm.config(&token, label)));
        assert!(message.contains(needle), "{label}: {message}");
    };
    expect("aes-128", "is not an AES-256 key (it is 16 bytes long");
    expect("readable", "is not sensitive");
    expect("no-decrypt", "may not both encrypt and decrypt");
    expect("gcm-only", "must allow CKM_AES_ECB");
    expect("twice", "2 secret keys are labelled \"twice\"");
    let message = hsm_message(Pkcs11Kek::generate(&hsm.config(&token, "twice")));
    assert!(message.contains("already has a secret key"), "{message}");
}

/// The same key material imported into two tokens (as replicas of one HSM would hold it):
/// both give the same KEK id, either unwraps what the other wrapped, and the format and id are
/// exactly those documented, recomputed here with aws-lc.
#[test]
fn replicas_agree_and_the_format_is_as_documented() {
    let Some(hsm) = softhsm("replicas_agree_and_the_format_is_as_documented") else {
        return;
    };
    let material = [0x5Au8; 32];
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let token = hsm.new_token();
        {
            let session = hsm.user_session(&token);
            session
                .create_object(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Label(b"kek".to_vec()),
                    Attribute::Value(material.to_vec()),
                ])
                .unwrap();
        }
        replicas.push(Pkcs11Kek::open(&hsm.config(&token, "kek")).unwrap());
    }
    let [a, b] = &replicas[..] else {
        unreachable!()
    };
    assert_eq!(a.kek_id(), b.kek_id());

    // kek id = "hsm-" ‖ hex(SHA-256(label ‖ AES-256-ECB(check block))[..8])
    let mut block = *b"kenshin-relay-id";
    let ecb = EncryptingKey::ecb(UnboundCipherKey::new(&AES_256, &material).unwrap()).unwrap();
    ecb.encrypt(&mut block).unwrap();
    let mut hash = Sha256::new();
    hash.update(b"kenshin-relay/kek-id/pkcs11/v1\0");
    hash.update(&block);
    let expected_id = format!("hsm-{}", hex::encode(&hash.finish()[..8]));
    assert_eq!(a.kek_id(), expected_id);

    let key = DataKey::generate().unwrap();
    let wrapped = a.wrap(&key, b"object-7").unwrap();
    let unwrapped = b.unwrap(&wrapped, b"object-7").unwrap();
    assert_eq!(unwrapped.expose_secret(), key.expose_secret());

    // Open the wrapped key with aws-lc, from the documented layout alone.
    let bytes = wrapped.as_bytes();
    let mut aad = b"kenshin-relay/data-key-wrap/pkcs11/v1\0".to_vec();
    aad.push(2);
    aad.extend_from_slice(&(expected_id.len() as u16).to_be_bytes());
    aad.extend_from_slice(expected_id.as_bytes());
    aad.extend_from_slice(b"object-7");
    let gcm = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &material).unwrap());
    let mut in_out = bytes[13..].to_vec();
    let plain = gcm
        .open_in_place(
            Nonce::try_assume_unique_for_key(&bytes[1..13]).unwrap(),
            Aad::from(aad),
            &mut in_out,
        )
        .unwrap();
    assert_eq!(plain, key.expose_secret());
}

#[test]
fn module_errors_are_clear() {
    // No SoftHSM needed: these modules never load.
    let dir = tempfile::tempdir().unwrap();
    let config = |module: PathBuf| Pkcs11Config {
        module,
        token_label: "kenshin".to_owned(),
        key_label: "kek".to_owned(),
        pin: Zeroizing::new(USER_PIN.to_owned()),
    };

    let missing = dir.path().join("libmissing.so");
    let message = hsm_message(Pkcs11Kek::open(&config(missing.clone())));
    assert!(
        message.starts_with(&format!(
            "PKCS#11 module {}: no such file",
            missing.display()
        )),
        "{message}"
    );
    assert!(message.contains("apt-get install softhsm2"), "{message}");

    let garbage = dir.path().join("libgarbage.so");
    std::fs::write(&garbage, b"this is not a shared library").unwrap();
    let message = hsm_message(Pkcs11Kek::open(&config(garbage.clone())));
    assert!(
        message.starts_with(&format!(
            "{} could not be loaded as a PKCS#11 module",
            garbage.display()
        )),
        "{message}"
    );

    let message = hsm_message(Pkcs11Kek::open(&config(dir.path().to_owned())));
    assert!(message.contains("not a regular file"), "{message}");
}

#[test]
fn a_library_that_is_not_a_pkcs11_module_is_named() {
    // Any shared library without C_GetFunctionList will do; libc is always there.
    let Some(libc) = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/aarch64-linux-gnu/libc.so.6",
    ]
    .iter()
    .map(Path::new)
    .find(|path| path.is_file()) else {
        eprintln!("skipping a_library_that_is_not_a_pkcs11_module_is_named: no libc.so.6 found");
        return;
    };
    let message = hsm_message(Pkcs11Kek::open(&Pkcs11Config {
        module: libc.to_owned(),
        token_label: "kenshin".to_owned(),
        key_label: "kek".to_owned(),
        pin: Zeroizing::new(USER_PIN.to_owned()),
    }));
    assert_eq!(
        message,
        format!(
            "{} is not a PKCS#11 module: it does not export C_GetFunctionList",
            libc.display()
        )
    );
}
