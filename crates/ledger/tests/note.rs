//! Signed notes and checkpoints, including interoperability with Go's
//! `golang.org/x/mod/sumdb/note` and with real checkpoints of the Go checksum database.

use kenshin_ledger::{
    open_checkpoint, open_note, sign_checkpoint, sign_note, Checkpoint, NoteError, Signer,
    Verifier, MAX_SIGNATURES,
};

// Keys and notes from golang/mod, sumdb/note/note.go (package documentation) and
// sumdb/note/note_test.go (TestNewSigner, TestSign, TestOpen).
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                          then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

// The Go checksum database's verifier key, as built into the go command (quoted by
// transparency-dev/formats log/id_test.go and transparency-dev/incubator
// cmd/tlog-verify/main_test.go). Its base64 part contains '+'.
const SUMDB_VKEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
const SUMDB_ORIGIN: &str = "go.sum database tree";

/// A checkpoint served by sum.golang.org, from transparency-dev/incubator,
/// cmd/tlog-verify/testdata/go.sum-database-tree-43930254.tlog-proof.
const SUMDB_CHECKPOINT: &str = "go.sum database tree\n\
58253265\n\
lIyLAEe4zJUQAda6pFFg3yPOf7j1SgfMEDrpgoX39JU=\n\
\n\
— sum.golang.org Az3grkvBHbFcpEFQ3BhGlktgB7pcswIW+ez91eWY6rNPtWfAey8bJO2rVoG2yO5zXvgiaikWVHqon+e14JhA+WXvpAY=\n";

/// A sum.golang.org checkpoint after a witness added two cosignatures (an Ed25519 note
/// signature and a timestamped c2sp.org/tlog-cosignature), from transparency-dev/witness
/// (the "Addressable witness" README). The witness key is unknown here, as a log client's
/// usually is.
const SUMDB_COSIGNED: &str = "go.sum database tree\n\
15081221\n\
BoMMe1wd25Tco0mYGROkyqxHZWx+hcSCtMV315Lu6Lg=\n\
\n\
— sum.golang.org Az3grilD7vQqTrv66jRgKM84Y80KTprrSt4bKmiOPxgmS5ZVBTeCl6dUvjYnN13R+C8j0jGY1WnUADGMkok3U0m2Zgo=\n\
— test.example.com qTGhC3917mAr6hGh+T55tNjxaej/D/GQivJZRIj7XGdAcQOTqfMWIPgp/v/904LEduN/h2sSRtHUJXUL4b9Gm7Bz4Qc=\n\
— test.example.com /Pa7Y/dUvWMAAAAAQVwkQVi81ArPV7BIaQYrMIxyzY0m8a4BdeeBhSKd3PviPK4/3Sd+NKSc5N7PDTCfAkUSVniN+R2oKIggA4iiDQ==\n";

// A Kenshin Relay checkpoint pinned byte for byte: the eight-leaf RFC 6962 reference tree
// (root 5dc9da79…4328, see tests/vectors.rs) signed with the key whose seed is the bytes
// 0x00, 0x01, …, 0x1f. Ed25519 signatures are deterministic, so the text never changes; it
// was also reproduced independently with Python's `cryptography` (OpenSSL) while writing
// this test.
const OUR_ORIGIN: &str = "kenshin-relay.example/ledger";
const OUR_SKEY: &str =
    "PRIVATE+KEY+kenshin-relay.example/ledger+338c4368+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f";
const OUR_VKEY: &str =
    "kenshin-relay.example/ledger+338c4368+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
const OUR_CHECKPOINT: &str = "kenshin-relay.example/ledger\n\
8\n\
XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\
\n\
— kenshin-relay.example/ledger M4xDaHe2cN8gwWirMYIJeFqGwsxulPtLy8O2o5amm2CsRRfi6gM21qAmMFSYhio5aKJTUoctvIfb6/g0ohuXcU0Brgs=\n";

fn our_seed() -> [u8; 32] {
    core::array::from_fn(|i| i as u8)
}

fn rfc6962_root() -> [u8; 32] {
    hex::decode("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn go_signer_key_round_trips() {
    let signer = Signer::from_text(PETER_SKEY).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f_20a3);
    assert_eq!(&*signer.to_text(), PETER_SKEY);
    assert_eq!(signer.verifier().to_text(), PETER_VKEY);
    assert_eq!(signer.verifier(), Verifier::from_text(PETER_VKEY).unwrap());
}

#[test]
fn signs_exactly_like_go() {
    let signer = Signer::from_text(PETER_SKEY).unwrap();
    let note = sign_note(PETER_TEXT, &signer).unwrap();
    assert_eq!(note, format!("{PETER_TEXT}\n{PETER_SIG}"));
}

#[test]
fn opens_go_notes() {
    let peter = Verifier::from_text(PETER_VKEY).unwrap();
    let enoch = Verifier::from_text(ENOCH_VKEY).unwrap();
    let both = format!("{PETER_TEXT}\n{PETER_SIG}{ENOCH_SIG}");

    let opened = open_note(&both, &peter).unwrap();
    assert_eq!(opened.body, PETER_TEXT);
    assert_eq!(opened.other_signatures.len(), 1);
    assert_eq!(opened.other_signatures[0].name, "EnochRoot");
    assert_eq!(opened.other_signatures[0].key_id, 0xaf0c_fe78);
    assert_eq!(opened.other_signatures[0].signature.len(), 64);

    // EnochRoot's is a real signature over the same text (Go's doubly-signed example).
    let opened = open_note(&both, &enoch).unwrap();
    assert_eq!(opened.other_signatures[0].name, "PeterNeumann");

    let only_enoch = format!("{PETER_TEXT}\n{ENOCH_SIG}");
    assert!(matches!(
        open_note(&only_enoch, &peter),
        Err(NoteError::NotSigned {
            key_id: 0xc74f_20a3,
            ..
        })
    ));
}

#[test]
fn rejects_the_notes_go_rejects() {
    let peter = Verifier::from_text(PETER_VKEY).unwrap();
    let malformed = [
        PETER_TEXT.to_owned(),
        format!("{PETER_TEXT}\n"),
        format!("{PETER_TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{PETER_TEXT}\n{PETER_SIG}"),
        format!(
            "{PETER_TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        ),
        format!("{PETER_TEXT}\n{PETER_SIG}Unexpected line.\n"),
    ];
    for note in malformed {
        assert!(
            matches!(open_note(&note, &peter), Err(NoteError::Malformed(_))),
            "{note:?}"
        );
    }

    // A signature by the trusted key that does not verify (four base64 characters inserted).
    let bad = format!("{PETER_TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert!(matches!(
        open_note(&bad, &peter),
        Err(NoteError::InvalidSignature {
            key_id: 0xc74f_20a3,
            ..
        })
    ));
    // ... even after a good one: every signature by a trusted key must verify.
    let bad_second = format!(
        "{PETER_TEXT}\n{PETER_SIG}{}ABCD{}",
        &PETER_SIG[..60],
        &PETER_SIG[60..]
    );
    assert!(matches!(
        open_note(&bad_second, &peter),
        Err(NoteError::InvalidSignature { .. })
    ));

    // Go's limit of 100 signatures.
    let many = format!("{PETER_TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES));
    assert!(open_note(&many, &peter).is_ok());
    let too_many = format!("{PETER_TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES + 1));
    assert!(matches!(
        open_note(&too_many, &peter),
        Err(NoteError::TooManySignatures)
    ));
}

#[test]
fn verifier_key_manglings_are_rejected() {
    // As Go's TestNewVerifier: every proper substring and every single-byte increment.
    let bytes = PETER_VKEY.as_bytes();
    for i in 0..=bytes.len() {
        for j in i + 1..=bytes.len() {
            if i == 0 && j == bytes.len() {
                continue;
            }
            let key = &PETER_VKEY[i..j];
            assert!(Verifier::from_text(key).is_err(), "{key:?}");
        }
    }
    for i in 0..bytes.len() {
        let mut mangled = bytes.to_vec();
        mangled[i] += 1;
        let key = String::from_utf8(mangled).unwrap();
        assert!(Verifier::from_text(&key).is_err(), "{key:?}");
    }
    // Wrong key length and unknown algorithm, each with a matching key ID.
    for key in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(
            matches!(
                Verifier::from_text(key),
                Err(NoteError::MalformedVerifierKey(_))
            ),
            "{key:?}"
        );
    }
}

#[test]
fn signer_key_manglings_are_rejected() {
    // As Go's TestNewSigner. Errors never quote the key.
    let bytes = PETER_SKEY.as_bytes();
    let secret = &PETER_SKEY[PETER_SKEY.rfind('+').unwrap() + 1..];
    let check = |key: &str| match Signer::from_text(key) {
        Ok(_) => panic!("accepted {key:?}"),
        Err(err) => assert!(!err.to_string().contains(&secret[..8]), "{err}"),
    };
    for i in 0..=bytes.len() {
        for j in i + 1..=bytes.len() {
            if i == 0 && j == bytes.len() {
                continue;
            }
            check(&PETER_SKEY[i..j]);
        }
    }
    for i in 0..bytes.len() {
        let mut mangled = bytes.to_vec();
        mangled[i] += 1;
        check(&String::from_utf8(mangled).unwrap());
    }
}

#[test]
fn invalid_names_are_refused() {
    for name in ["", "a b", "a+b", "a\nb"] {
        assert!(matches!(
            Signer::from_seed(name, &our_seed()),
            Err(NoteError::InvalidName)
        ));
        assert!(matches!(
            Verifier::from_public_key(name, &[0; 32]),
            Err(NoteError::InvalidName)
        ));
    }
}

#[test]
fn opens_real_sum_golang_org_checkpoints() {
    let sumdb = Verifier::from_text(SUMDB_VKEY).unwrap();
    assert_eq!(sumdb.name(), "sum.golang.org");
    assert_eq!(sumdb.key_id(), 0x033d_e0ae);
    assert_eq!(sumdb.to_text(), SUMDB_VKEY);

    let checkpoint = open_checkpoint(SUMDB_CHECKPOINT, &sumdb, SUMDB_ORIGIN).unwrap();
    assert_eq!(checkpoint.origin, SUMDB_ORIGIN);
    assert_eq!(checkpoint.size, 58_253_265);
    assert_eq!(
        hex::encode(checkpoint.root),
        "948c8b0047b8cc951001d6baa45160df23ce7fb8f54a07cc103ae98285f7f495"
    );

    let opened = open_note(SUMDB_COSIGNED, &sumdb).unwrap();
    let checkpoint = opened.checkpoint().unwrap();
    assert_eq!(checkpoint.size, 15_081_221);
    assert_eq!(opened.other_signatures.len(), 2);
    assert!(opened
        .other_signatures
        .iter()
        .all(|signature| signature.name == "test.example.com"));
    // The timestamped cosignature: 8-byte timestamp and 64-byte signature after the key ID.
    assert_eq!(opened.other_signatures[1].signature.len(), 72);

    // The origin is checked: the same note is not a checkpoint of another log.
    assert!(matches!(
        open_checkpoint(SUMDB_CHECKPOINT, &sumdb, "sum.golang.org"),
        Err(NoteError::OriginMismatch { .. })
    ));
    // A different size or root breaks the signature.
    let altered = SUMDB_CHECKPOINT.replace("58253265", "58253266");
    assert!(matches!(
        open_checkpoint(&altered, &sumdb, SUMDB_ORIGIN),
        Err(NoteError::InvalidSignature { .. })
    ));
    // And our key is not theirs.
    let ours = Verifier::from_text(OUR_VKEY).unwrap();
    assert!(matches!(
        open_checkpoint(SUMDB_CHECKPOINT, &ours, SUMDB_ORIGIN),
        Err(NoteError::NotSigned { .. })
    ));
}

#[test]
fn pinned_checkpoint() {
    let signer = Signer::from_seed(OUR_ORIGIN, &our_seed()).unwrap();
    assert_eq!(&*signer.to_text(), OUR_SKEY);
    assert_eq!(signer.verifier().to_text(), OUR_VKEY);
    assert_eq!(
        Signer::from_text(OUR_SKEY).unwrap().key_id(),
        signer.key_id()
    );

    let checkpoint = Checkpoint {
        origin: OUR_ORIGIN.to_owned(),
        size: 8,
        root: rfc6962_root(),
        extensions: Vec::new(),
    };
    let signed = sign_checkpoint(&checkpoint, &signer).unwrap();
    assert_eq!(signed, OUR_CHECKPOINT);

    let verifier = Verifier::from_text(OUR_VKEY).unwrap();
    assert_eq!(
        open_checkpoint(&signed, &verifier, OUR_ORIGIN).unwrap(),
        checkpoint
    );
}

#[test]
fn any_changed_byte_breaks_the_checkpoint() {
    let verifier = Verifier::from_text(OUR_VKEY).unwrap();
    let original = OUR_CHECKPOINT.as_bytes();
    let mut tried = 0;
    for position in 0..original.len() {
        for bit in 0..8 {
            let mut changed = original.to_vec();
            changed[position] ^= 1 << bit;
            // A &str cannot hold invalid UTF-8; such inputs never reach the parser.
            let Ok(text) = String::from_utf8(changed) else {
                continue;
            };
            tried += 1;
            assert!(
                open_checkpoint(&text, &verifier, OUR_ORIGIN).is_err(),
                "accepted with bit {bit} of byte {position} flipped: {text:?}"
            );
        }
    }
    assert!(tried > 1000);
    // Dropping or duplicating any single byte fails too.
    for position in 0..original.len() {
        for changed in [
            [&original[..position], &original[position + 1..]].concat(),
            [&original[..=position], &original[position..]].concat(),
        ] {
            if let Ok(text) = String::from_utf8(changed) {
                assert!(
                    open_checkpoint(&text, &verifier, OUR_ORIGIN).is_err(),
                    "{text:?}"
                );
            }
        }
    }
}

#[test]
fn witness_cosignatures_are_tolerated() {
    let log = Signer::from_seed(OUR_ORIGIN, &our_seed()).unwrap();
    let witness = Signer::generate("witness.example/w1").unwrap();
    let body = Checkpoint {
        origin: OUR_ORIGIN.to_owned(),
        size: 8,
        root: rfc6962_root(),
        extensions: Vec::new(),
    }
    .to_body()
    .unwrap();
    let by_witness = sign_note(&body, &witness).unwrap();
    let witness_line = by_witness.rsplit_once("\n\n").unwrap().1;
    let cosigned = format!("{OUR_CHECKPOINT}{witness_line}");

    let opened = open_note(&cosigned, &log.verifier()).unwrap();
    assert_eq!(opened.other_signatures.len(), 1);
    assert_eq!(opened.other_signatures[0].name, "witness.example/w1");
    assert_eq!(opened.other_signatures[0].key_id, witness.key_id());
    // Each party verifies with its own key.
    assert!(open_note(&cosigned, &witness.verifier()).is_ok());

    // A key with the log's name but another key ID is a different key: ignored, not an
    // error, as the specification requires.
    let impostor = Signer::generate(OUR_ORIGIN).unwrap();
    let by_impostor = sign_note(&body, &impostor).unwrap();
    let impostor_line = by_impostor.rsplit_once("\n\n").unwrap().1;
    let with_impostor = format!("{OUR_CHECKPOINT}{impostor_line}");
    let opened = open_note(&with_impostor, &log.verifier()).unwrap();
    assert_eq!(opened.other_signatures[0].key_id, impostor.key_id());
}

#[test]
fn sign_note_refuses_bad_text() {
    let signer = Signer::from_seed(OUR_ORIGIN, &our_seed()).unwrap();
    for text in ["", "no newline", "a\n\nb\n", "\n", "tab\there\n", "cr\r\n"] {
        assert!(
            matches!(sign_note(text, &signer), Err(NoteError::Malformed(_))),
            "{text:?}"
        );
    }
    let long_line = format!("{}\n", "x".repeat(64 * 1024 + 1));
    assert!(matches!(
        sign_note(&long_line, &signer),
        Err(NoteError::LineTooLong { line: 1 })
    ));
    let huge = "x\n".repeat(600 * 1024);
    assert!(matches!(
        sign_note(&huge, &signer),
        Err(NoteError::TooLarge)
    ));
}

#[test]
fn open_note_limits() {
    let signer = Signer::from_seed(OUR_ORIGIN, &our_seed()).unwrap();
    let verifier = signer.verifier();
    let long_line = format!("{}\n", "x".repeat(64 * 1024));
    let note = sign_note(&long_line, &signer).unwrap();
    assert!(open_note(&note, &verifier).is_ok());

    let too_long = format!("{}\n\n{}", "x".repeat(64 * 1024 + 1), PETER_SIG);
    assert!(matches!(
        open_note(&too_long, &verifier),
        Err(NoteError::LineTooLong { line: 1 })
    ));
    let long_signature = format!("a\n\n— x {}\n", "A".repeat(64 * 1024 + 4));
    assert!(matches!(
        open_note(&long_signature, &verifier),
        Err(NoteError::LineTooLong { line: 3 })
    ));
    let huge = format!("{}\n{PETER_SIG}", "x\n".repeat(600 * 1024));
    assert!(matches!(
        open_note(&huge, &verifier),
        Err(NoteError::TooLarge)
    ));
}

#[test]
fn generated_keys_work_and_differ() {
    let a = Signer::generate(OUR_ORIGIN).unwrap();
    let b = Signer::generate(OUR_ORIGIN).unwrap();
    assert_ne!(a.verifier().public_key(), b.verifier().public_key());
    let restored = Signer::from_text(&a.to_text()).unwrap();
    let note = sign_note("hello\n", &restored).unwrap();
    assert!(open_note(&note, &a.verifier()).is_ok());
    assert!(open_note(&note, &b.verifier()).is_err());
    assert_eq!(
        Verifier::from_text(&a.verifier().to_text()).unwrap(),
        a.verifier()
    );
}

#[cfg(unix)]
mod key_files {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn create_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.key");
        let created = Signer::create_file(&path, OUR_ORIGIN).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let content = std::fs::read_to_string(&path).unwrap();
        assert_eq!(content, format!("{}\n", &*created.to_text()));

        let loaded = Signer::load_file(&path).unwrap();
        assert_eq!(loaded.verifier(), created.verifier());

        // Never overwritten.
        assert!(matches!(
            Signer::create_file(&path, OUR_ORIGIN),
            Err(NoteError::KeyFile { .. })
        ));
        assert_eq!(
            Signer::load_file(&path).unwrap().verifier(),
            created.verifier()
        );
    }

    #[test]
    fn load_refuses_unsafe_or_invalid_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, content: &[u8], mode: u32| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            path
        };
        // The Go signer key loads, without or with a final newline.
        assert!(Signer::load_file(&write("go", PETER_SKEY.as_bytes(), 0o600)).is_ok());
        let with_newline = format!("{PETER_SKEY}\n");
        assert!(Signer::load_file(&write("go-nl", with_newline.as_bytes(), 0o400)).is_ok());

        let refused = [
            write("group", with_newline.as_bytes(), 0o640),
            write("other", with_newline.as_bytes(), 0o604),
            write("empty", b"", 0o600),
            write(
                "two-newlines",
                format!("{PETER_SKEY}\n\n").as_bytes(),
                0o600,
            ),
            write("verifier", PETER_VKEY.as_bytes(), 0o600),
            write("binary", &[0xff; 40], 0o600),
            write("huge", &vec![b'A'; 5000], 0o600),
            dir.path().join("missing"),
            dir.path().to_owned(),
        ];
        for path in refused {
            match Signer::load_file(&path) {
                Err(NoteError::KeyFile {
                    path: reported,
                    reason,
                }) => {
                    assert_eq!(reported, path);
                    assert!(!reason.contains("AYEKFALV"), "{reason}");
                }
                other => panic!("{}: {other:?}", path.display()),
            }
        }
    }
}
