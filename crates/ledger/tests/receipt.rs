//! Offline receipts (c2sp.org/tlog-proof), including a real proof from the Go checksum
//! database.

use kenshin_ledger::{
    format_proof, inclusion_proof, leaf_hash, parse_proof, sign_checkpoint, verify_receipt,
    verify_receipt_for_leaf_hash, Checkpoint, MemoryNodeStore, NoteError, ProofError, ReceiptError,
    Signer, Verifier,
};

const SUMDB_VKEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
const SUMDB_ORIGIN: &str = "go.sum database tree";

/// A proof that github.com/transparency-dev/tessera v1.0.0 is in the Go checksum database,
/// with the log entry it proves, from transparency-dev/incubator,
/// cmd/tlog-verify/testdata/go.sum-database-tree-43930254.{tlog-proof,raw}.
const SUMDB_PROOF: &str = "c2sp.org/tlog-proof@v1
index 43930254
Q2cuq1e21q4UC1RQ6wtmXmCxk2q3Wqz/yFvD12P2KSM=
VdgHwjNYSv9fZVxvYzn8kySGvrjqeCnzdJqJILieWf4=
ARfBpZjsj3LSP42V4xBVdCKbHVa4WXSbuFAa0rUSCVQ=
0VYgz0Vmgz6jOM8H6edZBWHtO6+R7tPvN4EOwwRRSws=
vq+ifloynXE+ORFC1wymQT0cpNIJA1tqg2mQpA55+kc=
SCRewH6vHE1/Vwkt5yEW8xT7il0WbWltXjFIVqlGtQQ=
p//fIG8jgZie4MMwjHF7quCIJ4hErr7U4at0HV34MZQ=
D3K5YdBlxQcklrgF8vSbDyT05J5/mA9lzuhhp72uSOk=
jeYlYyH9FhYGwu+ZJmfPr8GvSNdgrydwqmJgHsygoR0=
p6RFgfGhu8Uuy0LyyZdI4MrSPOZkMe+ycwWJFfr8zTI=
AMZsxrVKBPSe8nSNVVCTyTxWns0CiNbChG/FoiSJWuM=
e+rtSmK5Pd1K5LgFwj7VSo5XJXOcq7OOcqPVZn1hqeM=
expmv1e6XiGr5NMUjMRkSZijlcBx+fZcpqQmUnawhOY=
+Wuic0YARH84k80/Q+KJIbhRCldxG8npjLFiHMLtEpo=
NOMeJqlyUxFXUKYRI/1YqAF4WJBfXJr8UM/SlWGqxgY=
Lm6+TAlLb2lvUs/3unZ2t6RSmJw8RO+WuEuUbAw3QEc=
Jhh2EDG15gDBoLmLiF88lVTgd+uvx3L0xczb8Y3kSq8=
taenaiKqtYMXS3gDzIF3q8VZzqAXqftHqL9BC39njaw=
kZNKypGwEANnt1+msLINnqrIrwX+0MGZUTTKXTfbloI=
A4NJSymjVJ5dvGPaGC3Gj04x8qVRKYfh0pP24mwd6Yk=
KQq808D9W4NUgr4ip+rF/RCyAUERYKKCwKiiAJfaFOc=
I3EVN3zM2rDjs5Q06Zr5gxhg+ksnX2h77E75uL+h3aI=
7iNSYSDhMeRkeV7r9krKbKelNPiqDCJU1i6xAn/Fbuw=
MYqdo6zSjxaAn+29EEjNRbPYm0myB3bheu+HTZIAbVY=
S7olT9TPLXk+bbawbV3sAzWMmhcpWrtjbw++9ZTiyn8=
xJ20xXM4QItt5vxFOtolZ5l18p7ej1+RimNkgWmoRFM=

go.sum database tree
58253265
lIyLAEe4zJUQAda6pFFg3yPOf7j1SgfMEDrpgoX39JU=

— sum.golang.org Az3grkvBHbFcpEFQ3BhGlktgB7pcswIW+ez91eWY6rNPtWfAey8bJO2rVoG2yO5zXvgiaikWVHqon+e14JhA+WXvpAY=
";
const SUMDB_ENTRY: &str =
    "github.com/transparency-dev/tessera v1.0.0 h1:4OT1V9xJLa5NnYlFWWlCdZkCm18/o12rdd+bCTje7XE=
github.com/transparency-dev/tessera v1.0.0/go.mod h1:TLvfjlkbmsmKVEJUtzO2eb9Q2IBnK3EJ0dI4G0oxEOU=
";
/// The entry's RFC 6962 leaf hash as quoted in the same repository's README.
const SUMDB_LEAF_HASH: &str = "0fa57c511c3b2ffcc0a05ad63172568d265aaf9844e9b636a0978795396f2ab1";

const ORIGIN: &str = "kenshin-relay.example/ledger";

/// A receipt for leaf 5 (entry 40414243) of the eight-leaf RFC 6962 reference tree, signed
/// with the pinned test key of tests/note.rs. Its proof is the published inclusion vector
/// for that leaf (tests/vectors.rs), here in base64.
const PINNED_RECEIPT: &str = "c2sp.org/tlog-proof@v1
extra QEFCQw==
index 5
vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=
yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=
037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=

kenshin-relay.example/ledger
8
XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=

— kenshin-relay.example/ledger M4xDaHe2cN8gwWirMYIJeFqGwsxulPtLy8O2o5amm2CsRRfi6gM21qAmMFSYhio5aKJTUoctvIfb6/g0ohuXcU0Brgs=
";

const RFC6962_LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

fn test_signer() -> Signer {
    Signer::from_seed(ORIGIN, &core::array::from_fn(|i| i as u8)).unwrap()
}

fn signed_log(entries: &[Vec<u8>], signer: &Signer) -> (MemoryNodeStore, String) {
    let mut tree = MemoryNodeStore::new();
    for entry in entries {
        tree.append_entry(entry).unwrap();
    }
    let checkpoint = Checkpoint {
        origin: ORIGIN.to_owned(),
        size: tree.size(),
        root: tree.root(),
        extensions: Vec::new(),
    };
    let signed = sign_checkpoint(&checkpoint, signer).unwrap();
    (tree, signed)
}

#[test]
fn verifies_a_real_sum_golang_org_proof() {
    let sumdb = Verifier::from_text(SUMDB_VKEY).unwrap();
    let leaf = leaf_hash(SUMDB_ENTRY.as_bytes());
    assert_eq!(hex::encode(leaf), SUMDB_LEAF_HASH);

    let verified = verify_receipt_for_leaf_hash(SUMDB_PROOF, &leaf, &sumdb, SUMDB_ORIGIN).unwrap();
    assert_eq!(verified.index, 43_930_254);
    assert_eq!(verified.checkpoint.size, 58_253_265);
    assert_eq!(verified.entry, None);

    let parsed = parse_proof(SUMDB_PROOF).unwrap();
    assert_eq!(parsed.proof.len(), 26);
    assert_eq!(parsed.extra, None);

    // The proof carries no entry, so the self-contained check has nothing to hash.
    assert!(matches!(
        verify_receipt(SUMDB_PROOF, &sumdb, SUMDB_ORIGIN),
        Err(ReceiptError::MissingEntry)
    ));

    let mut wrong_leaf = leaf;
    wrong_leaf[0] ^= 0xff;
    assert!(matches!(
        verify_receipt_for_leaf_hash(SUMDB_PROOF, &wrong_leaf, &sumdb, SUMDB_ORIGIN),
        Err(ReceiptError::Inclusion(ProofError::RootMismatch))
    ));
    let wrong_key = Verifier::from_text(&test_signer().verifier().to_text()).unwrap();
    assert!(matches!(
        verify_receipt_for_leaf_hash(SUMDB_PROOF, &leaf, &wrong_key, SUMDB_ORIGIN),
        Err(ReceiptError::Checkpoint(NoteError::NotSigned { .. }))
    ));
    assert!(matches!(
        verify_receipt_for_leaf_hash(SUMDB_PROOF, &leaf, &sumdb, "sum.golang.org"),
        Err(ReceiptError::Checkpoint(NoteError::OriginMismatch { .. }))
    ));
    for (from, to) in [
        ("index 43930254", "index 43930255"),
        ("Q2cuq1e2", "Q2cuq1e3"),
    ] {
        let altered = SUMDB_PROOF.replace(from, to);
        assert!(matches!(
            verify_receipt_for_leaf_hash(&altered, &leaf, &sumdb, SUMDB_ORIGIN),
            Err(ReceiptError::Inclusion(_))
        ));
    }
    let truncated = &SUMDB_PROOF[..SUMDB_PROOF.len() - 50];
    assert!(verify_receipt_for_leaf_hash(truncated, &leaf, &sumdb, SUMDB_ORIGIN).is_err());

    // Carried as the extra data, the same entry makes the proof a self-contained receipt.
    let (head, tail) = SUMDB_PROOF.split_once('\n').unwrap();
    let with_entry = format!(
        "{head}\nextra {}\n{tail}",
        base64_encode(SUMDB_ENTRY.as_bytes())
    );
    let verified = verify_receipt(&with_entry, &sumdb, SUMDB_ORIGIN).unwrap();
    assert_eq!(verified.entry.as_deref(), Some(SUMDB_ENTRY.as_bytes()));
    assert_eq!(verified.leaf_hash, leaf);
}

#[test]
fn pinned_receipt() {
    let signer = test_signer();
    let entries: Vec<Vec<u8>> = RFC6962_LEAVES
        .iter()
        .map(|e| hex::decode(e).unwrap())
        .collect();
    let (tree, signed) = signed_log(&entries, &signer);
    let proof = inclusion_proof(5, 8, &tree).unwrap();
    let receipt = format_proof(5, Some(&entries[5]), &proof, &signed).unwrap();
    assert_eq!(receipt, PINNED_RECEIPT);

    let parsed = parse_proof(&receipt).unwrap();
    assert_eq!(parsed.index, 5);
    assert_eq!(parsed.extra.as_deref(), Some(&entries[5][..]));
    assert_eq!(parsed.proof, proof);
    assert_eq!(parsed.checkpoint, signed);

    let verified = verify_receipt(&receipt, &signer.verifier(), ORIGIN).unwrap();
    assert_eq!(verified.index, 5);
    assert_eq!(verified.entry.as_deref(), Some(&entries[5][..]));
    assert_eq!(verified.checkpoint.size, 8);
}

#[test]
fn every_receipt_of_a_log_verifies() {
    let signer = test_signer();
    let entries: Vec<Vec<u8>> = (0..37u32)
        .map(|i| format!("{{\"op\":\"upload\",\"seq\":{i}}}").into_bytes())
        .collect();
    let (tree, signed) = signed_log(&entries, &signer);
    for (index, entry) in entries.iter().enumerate() {
        let index = index as u64;
        let proof = inclusion_proof(index, tree.size(), &tree).unwrap();
        let receipt = format_proof(index, Some(entry), &proof, &signed).unwrap();
        let verified = verify_receipt(&receipt, &signer.verifier(), ORIGIN).unwrap();
        assert_eq!(verified.index, index);
        assert_eq!(verified.entry.as_ref(), Some(entry));

        // Someone else's entry with this proof is not in the log at this index.
        let other = &entries[(index as usize + 1) % entries.len()];
        let forged = format_proof(index, Some(other), &proof, &signed).unwrap();
        assert!(matches!(
            verify_receipt(&forged, &signer.verifier(), ORIGIN),
            Err(ReceiptError::Inclusion(ProofError::RootMismatch))
        ));
    }
}

#[test]
fn any_changed_byte_breaks_the_receipt() {
    let verifier = test_signer().verifier();
    let original = PINNED_RECEIPT.as_bytes();
    for position in 0..original.len() {
        for bit in 0..8 {
            let mut changed = original.to_vec();
            changed[position] ^= 1 << bit;
            let Ok(text) = String::from_utf8(changed) else {
                continue;
            };
            assert!(
                verify_receipt(&text, &verifier, ORIGIN).is_err(),
                "accepted with bit {bit} of byte {position} flipped: {text:?}"
            );
        }
    }
}

#[test]
fn format_proof_checks_its_inputs() {
    let signer = test_signer();
    let entries = vec![b"a".to_vec(), b"b".to_vec()];
    let (tree, signed) = signed_log(&entries, &signer);
    let proof = inclusion_proof(1, 2, &tree).unwrap();
    assert!(matches!(
        format_proof(2, Some(b"c"), &proof, &signed),
        Err(ReceiptError::IndexOutOfRange { index: 2, size: 2 })
    ));
    assert!(matches!(
        format_proof(1, Some(b"b"), &proof, "not a note\n"),
        Err(ReceiptError::Checkpoint(NoteError::Malformed(_)))
    ));
    let not_a_checkpoint = sign_checkpoint_text("just text\n", &signer);
    assert!(matches!(
        format_proof(0, Some(b"a"), &proof, &not_a_checkpoint),
        Err(ReceiptError::Checkpoint(NoteError::Checkpoint(_)))
    ));
    assert!(matches!(
        format_proof(1, Some(b"b"), &[[0; 32]; 65], &signed),
        Err(ReceiptError::Malformed(_))
    ));
    // Without an entry the receipt is still a valid tlog-proof for verifiers that know the
    // leaf hash.
    let receipt = format_proof(1, None, &proof, &signed).unwrap();
    assert!(!receipt.contains("extra"));
    assert!(
        verify_receipt_for_leaf_hash(&receipt, &leaf_hash(b"b"), &signer.verifier(), ORIGIN)
            .is_ok()
    );
}

fn sign_checkpoint_text(body: &str, signer: &Signer) -> String {
    kenshin_ledger::sign_note(body, signer).unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
