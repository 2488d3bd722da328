//! Published known-answer tests for RFC 6962 Merkle trees.
//!
//! The eight-leaf reference tree, its roots, node hashes and proofs are the vectors every
//! Certificate Transparency implementation tests against. They were taken from
//! transparency-dev/merkle, `testonly/constants.go` (leaves, all node hashes, roots) and
//! `proof/verify_test.go` (inclusion and consistency proofs), and checked digit for digit
//! against the original C++ implementation, google/certificate-transparency,
//! `cpp/merkletree/merkle_tree_test.cc` (`kInputs`, `kSHA256Roots`, `kSHA256Paths`,
//! `kSHA256Proofs`). In both, inclusion vectors number leaves from 1; they are converted to
//! 0-based indices below.
//!
//! The subtree vector comes from transparency-dev/merkle, `testonly/vectors_test.go`, which
//! reproduces the "Subtree Test Vectors" appendix of draft-ietf-plants-merkle-tree-certs.

use std::convert::Infallible;

use aws_lc_rs::digest;
use kenshin_ledger::{
    consistency_proof, inclusion_proof, leaf_hash, root, subtree_hash, verify_consistency,
    verify_inclusion, Hash, MemoryNodeStore, NodeStore, ProofError, TreeError, EMPTY_ROOT,
};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Roots of the trees of 1 to 8 leaves.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Every perfect subtree of the eight-leaf tree, by level and index.
const NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// (0-based leaf index, tree size, proof).
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (first size, second size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// A hash that is no node of the reference tree.
const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

fn h(hex_text: &str) -> Hash {
    hex::decode(hex_text).unwrap().try_into().unwrap()
}

fn hashes(list: &[&str]) -> Vec<Hash> {
    list.iter().map(|text| h(text)).collect()
}

fn reference_tree() -> MemoryNodeStore {
    let mut store = MemoryNodeStore::new();
    for leaf in LEAVES {
        store.append_entry(&hex::decode(leaf).unwrap()).unwrap();
    }
    store
}

fn tree_root(size: u64) -> Hash {
    if size == 0 {
        EMPTY_ROOT
    } else {
        h(ROOTS[usize::try_from(size).unwrap() - 1])
    }
}

#[test]
fn empty_tree_root() {
    assert_eq!(
        EMPTY_ROOT,
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert_eq!(root(0, &MemoryNodeStore::new()), Ok(EMPTY_ROOT));
}

#[test]
fn roots_while_appending() {
    let mut store = MemoryNodeStore::new();
    for (i, leaf) in LEAVES.iter().enumerate() {
        store.append_entry(&hex::decode(leaf).unwrap()).unwrap();
        assert_eq!(store.root(), h(ROOTS[i]), "size {}", i + 1);
        // Earlier roots stay reachable from the same store.
        for size in 0..=i as u64 + 1 {
            assert_eq!(root(size, &store), Ok(tree_root(size)));
        }
    }
}

#[test]
fn stored_nodes_are_the_perfect_subtrees() {
    let store = reference_tree();
    for (level, nodes) in NODES.iter().enumerate() {
        for (index, node) in nodes.iter().enumerate() {
            assert_eq!(
                store.get(level as u8, index as u64),
                Ok(Some(h(node))),
                "level {level} index {index}"
            );
        }
        assert_eq!(store.get(level as u8, nodes.len() as u64), Ok(None));
    }
    assert_eq!(store.get(4, 0), Ok(None));
}

#[test]
fn leaf_hashes() {
    for (i, leaf) in LEAVES.iter().enumerate() {
        assert_eq!(leaf_hash(&hex::decode(leaf).unwrap()), h(NODES[0][i]));
    }
}

#[test]
fn inclusion_proofs_match_and_verify() {
    let store = reference_tree();
    for (index, size, proof) in INCLUSION {
        let expected = hashes(proof);
        assert_eq!(
            inclusion_proof(index, size, &store),
            Ok(expected.clone()),
            "index {index} size {size}"
        );
        let leaf = h(NODES[0][index as usize]);
        let root = tree_root(size);
        assert_eq!(
            verify_inclusion(&leaf, index, size, &expected, &root),
            Ok(())
        );
        for (description, probe) in corrupt_inclusion(index, size, &expected, &root, &leaf) {
            assert!(
                verify_inclusion(
                    &probe.leaf,
                    probe.index,
                    probe.size,
                    &probe.proof,
                    &probe.root
                )
                .is_err(),
                "index {index} size {size}: accepted with {description}"
            );
        }
    }
}

#[test]
fn consistency_proofs_match_and_verify() {
    let store = reference_tree();
    for (m, n, proof) in CONSISTENCY {
        let expected = hashes(proof);
        assert_eq!(
            consistency_proof(m, n, &store),
            Ok(expected.clone()),
            "{m} -> {n}"
        );
        let (root_m, root_n) = (tree_root(m), tree_root(n));
        assert_eq!(
            verify_consistency(m, n, &root_m, &root_n, &expected),
            Ok(())
        );
        if expected.is_empty() {
            continue;
        }
        for (description, probe) in corrupt_consistency(m, n, &root_m, &root_n, &expected) {
            assert!(
                verify_consistency(probe.m, probe.n, &probe.root_m, &probe.root_n, &probe.proof)
                    .is_err(),
                "{m} -> {n}: accepted with {description}"
            );
        }
    }
}

/// The edge cases of transparency-dev/merkle `TestVerifyConsistency` and the C++
/// `VerifyConsistencyProof`, where ours differ only in that an empty tree must have the
/// empty root.
#[test]
fn consistency_edge_cases() {
    let a = h(SOME_HASH);
    let b = h(ROOTS[0]);
    type Case<'a> = (u64, u64, Hash, Hash, &'a [Hash], Result<(), ProofError>);
    let cases: [Case; 11] = [
        (0, 0, a, b, &[], Err(ProofError::RootMismatch)),
        (1, 1, a, b, &[], Err(ProofError::RootMismatch)),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, &[], Ok(())),
        (0, 1, EMPTY_ROOT, b, &[], Ok(())),
        (1, 1, b, b, &[], Ok(())),
        (1, 0, a, b, &[], Err(ProofError::SizeOrder { m: 1, n: 0 })),
        (2, 1, a, b, &[], Err(ProofError::SizeOrder { m: 2, n: 1 })),
        (1, 2, a, b, &[], Err(ProofError::WrongLength)),
        (
            0,
            0,
            EMPTY_ROOT,
            EMPTY_ROOT,
            &[EMPTY_ROOT],
            Err(ProofError::WrongLength),
        ),
        (
            0,
            1,
            EMPTY_ROOT,
            EMPTY_ROOT,
            &[EMPTY_ROOT],
            Err(ProofError::WrongLength),
        ),
        (
            1,
            1,
            EMPTY_ROOT,
            EMPTY_ROOT,
            &[EMPTY_ROOT],
            Err(ProofError::WrongLength),
        ),
    ];
    for (m, n, root_m, root_n, proof, expected) in cases {
        assert_eq!(
            verify_consistency(m, n, &root_m, &root_n, proof),
            expected,
            "{m} -> {n}"
        );
    }
}

#[test]
fn inclusion_edge_cases() {
    let some = h(SOME_HASH);
    for (index, size) in [(0, 0), (0, 1), (1, 0), (2, 1)] {
        assert!(verify_inclusion(&some, index, size, &[], &EMPTY_ROOT).is_err());
        assert!(verify_inclusion(&EMPTY_ROOT, index, size, &[], &some).is_err());
    }
    let leaf = leaf_hash(b"data");
    assert_eq!(verify_inclusion(&leaf, 0, 1, &[], &leaf), Ok(()));
}

#[test]
fn subtree_hash_vector() {
    // Leaves d[i] = i as one byte, i < 130. Every valid subtree [start, end) in order of end,
    // then start, is written as "[start, end) <hex hash>\n" into one running SHA-256.
    const MAX: u64 = 130;
    let mut store = MemoryNodeStore::new();
    for i in 0..MAX {
        store.append_entry(&[i as u8]).unwrap();
    }
    let mut running = digest::Context::new(&digest::SHA256);
    for end in 1..=MAX {
        for start in 0..end {
            match subtree_hash(start, end, &store) {
                Ok(hash) => {
                    let line = format!("[{start}, {end}) {}\n", hex::encode(hash));
                    running.update(line.as_bytes());
                }
                Err(TreeError::<Infallible>::InvalidRange { .. }) => {}
                Err(err) => panic!("[{start}, {end}): {err}"),
            }
        }
    }
    assert_eq!(
        hex::encode(running.finish()),
        "94a95384a8c69acea9b50d035a58285b3a777cb7a724005faa5e1f1e1190007f"
    );
}

struct InclusionProbe {
    leaf: Hash,
    index: u64,
    size: u64,
    proof: Vec<Hash>,
    root: Hash,
}

/// The corruptions of transparency-dev/merkle `corruptInclusionProof`.
fn corrupt_inclusion(
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
    leaf: &Hash,
) -> Vec<(String, InclusionProbe)> {
    let some = h(SOME_HASH);
    let probe = |leaf: Hash, index: u64, size: u64, proof: Vec<Hash>, root: Hash| InclusionProbe {
        leaf,
        index,
        size,
        proof,
        root,
    };
    let mut probes = vec![
        (
            "index + 1".into(),
            probe(*leaf, index + 1, size, proof.to_vec(), *root),
        ),
        (
            "index ^ 2".into(),
            probe(*leaf, index ^ 2, size, proof.to_vec(), *root),
        ),
        (
            "size * 2".into(),
            probe(*leaf, index, size * 2, proof.to_vec(), *root),
        ),
        (
            "size / 2".into(),
            probe(*leaf, index, size / 2, proof.to_vec(), *root),
        ),
        (
            "wrong leaf".into(),
            probe(leaf_hash(b"WrongLeaf"), index, size, proof.to_vec(), *root),
        ),
        (
            "empty root".into(),
            probe(*leaf, index, size, proof.to_vec(), EMPTY_ROOT),
        ),
        (
            "random root".into(),
            probe(*leaf, index, size, proof.to_vec(), some),
        ),
        (
            "trailing root".into(),
            probe(*leaf, index, size, [proof, &[*root]].concat(), *root),
        ),
        (
            "preceding root".into(),
            probe(*leaf, index, size, [&[*root], proof].concat(), *root),
        ),
    ];
    if let Some(previous) = index.checked_sub(1) {
        probes.push((
            "index - 1".into(),
            probe(*leaf, previous, size, proof.to_vec(), *root),
        ));
    }
    for i in 0..proof.len() {
        let mut wrong = proof.to_vec();
        wrong[i][0] ^= 8;
        probes.push((
            format!("modified proof[{i}]"),
            probe(*leaf, index, size, wrong, *root),
        ));
    }
    if !proof.is_empty() {
        probes.push((
            "removed component".into(),
            probe(*leaf, index, size, proof[..proof.len() - 1].to_vec(), *root),
        ));
    }
    if proof.len() > 1 {
        let wrong = [&[proof[0], some], &proof[1..]].concat();
        probes.push((
            "inserted component".into(),
            probe(*leaf, index, size, wrong, *root),
        ));
    }
    probes
}

struct ConsistencyProbe {
    m: u64,
    n: u64,
    root_m: Hash,
    root_n: Hash,
    proof: Vec<Hash>,
}

/// The corruptions of transparency-dev/merkle `corruptConsistencyProof`.
fn corrupt_consistency(
    m: u64,
    n: u64,
    root_m: &Hash,
    root_n: &Hash,
    proof: &[Hash],
) -> Vec<(String, ConsistencyProbe)> {
    let wrong_root = leaf_hash(b"WrongRoot");
    let probe = |m: u64, n: u64, root_m: Hash, root_n: Hash, proof: Vec<Hash>| ConsistencyProbe {
        m,
        n,
        root_m,
        root_n,
        proof,
    };
    let mut probes = vec![
        (
            "m - 1".into(),
            probe(m - 1, n, *root_m, *root_n, proof.to_vec()),
        ),
        (
            "m + 1".into(),
            probe(m + 1, n, *root_m, *root_n, proof.to_vec()),
        ),
        (
            "m ^ 2".into(),
            probe(m ^ 2, n, *root_m, *root_n, proof.to_vec()),
        ),
        (
            "n * 2".into(),
            probe(m, n * 2, *root_m, *root_n, proof.to_vec()),
        ),
        (
            "n / 2".into(),
            probe(m, n / 2, *root_m, *root_n, proof.to_vec()),
        ),
        (
            "wrong root_m".into(),
            probe(m, n, wrong_root, *root_n, proof.to_vec()),
        ),
        (
            "wrong root_n".into(),
            probe(m, n, *root_m, wrong_root, proof.to_vec()),
        ),
        (
            "swapped roots".into(),
            probe(m, n, *root_n, *root_m, proof.to_vec()),
        ),
        (
            "empty proof".into(),
            probe(m, n, *root_m, *root_n, Vec::new()),
        ),
        (
            "trailing root_m".into(),
            probe(m, n, *root_m, *root_n, [proof, &[*root_m]].concat()),
        ),
        (
            "trailing root_n".into(),
            probe(m, n, *root_m, *root_n, [proof, &[*root_n]].concat()),
        ),
        (
            "preceding root_m".into(),
            probe(m, n, *root_m, *root_n, [&[*root_m], proof].concat()),
        ),
        (
            "preceding root_n".into(),
            probe(m, n, *root_m, *root_n, [&[*root_n], proof].concat()),
        ),
        (
            "preceding proof[0]".into(),
            probe(m, n, *root_m, *root_n, [&[proof[0]], proof].concat()),
        ),
        (
            "truncated proof".into(),
            probe(m, n, *root_m, *root_n, proof[..proof.len() - 1].to_vec()),
        ),
    ];
    for i in 0..proof.len() {
        let mut wrong = proof.to_vec();
        wrong[i][0] ^= 16;
        probes.push((
            format!("modified proof[{i}]"),
            probe(m, n, *root_m, *root_n, wrong),
        ));
    }
    probes
}

/// Real proofs from a production Certificate Transparency log, Google Argon 2020, as saved in
/// golang/mod, sumdb/tlog/testdata/argon2020 (responses to get-sth, get-entries for leaf
/// 10000, get-proof-by-hash and get-sth-consistency?first=3654490) and checked there by
/// `TestCertificateTransparency` with the old root quoted in sumdb/tlog/ct_test.go.
mod argon2020 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    use super::*;

    const SIZE: u64 = 961_984_013;
    const ROOT: &str = "dwlueapdd7LaOEnX2W2Wp9v2XE+KzejHRQGHwEx0oaM=";
    const OLD_SIZE: u64 = 3_654_490;
    const OLD_ROOT: &str = "AuIZ5V6sDUj1vn3Y1K85oOaQ7y+FJJKtyRTl1edIKBQ=";
    const LEAF_INDEX: u64 = 10_000;
    const LEAF_INPUT: &str = "AAAAAAFelPhqUwAAAAViMIIFXjCCBEagAwIBAgIRAOodHzZdqWIFzYyl/SovhCMwDQYJKoZIhvcNAQELBQAwgZAxCzAJBgNVBAYTAkdCMRswGQYDVQQIExJHcmVhdGVyIE1hbmNoZXN0ZXIxEDAOBgNVBAcTB1NhbGZvcmQxGjAYBgNVBAoTEUNPTU9ETyBDQSBMaW1pdGVkMTYwNAYDVQQDEy1DT01PRE8gUlNBIERvbWFpbiBWYWxpZGF0aW9uIFNlY3VyZSBTZXJ2ZXIgQ0EwHhcNMTcwMjE1MDAwMDAwWhcNMjAwNDE2MjM1OTU5WjBfMSEwHwYDVQQLExhEb21haW4gQ29udHJvbCBWYWxpZGF0ZWQxHTAbBgNVBAsTFFBvc2l0aXZlU1NMIFdpbGRjYXJkMRswGQYDVQQDDBIqLmxhbmRsb3Jkcy5jb20uYXUwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQCtPBKKHj4zdrGlCjgTHzb5gx9JCs97DwvBz60f14gDufF2haWbOxyJ0a3opAMsZnOr8HkARVCwxdqG/PTfACcb0QM7FOlzvxGqxataTYiChwvkkif8F9GlJw69HuHgzhusPf1Ytfk3ps1PRC14MkyrS4kwPrk/Le4XdkqRpRw62wG4V6IkbzsNMEOl1H8EgUbfyapdOcVxHjIzvBVy56fBRKG05Fr5wNq3Acak5kYZdNsLhhmlrqAfAjiombW3hb3V5blJdRC0BDdYHv2+zKey6LqJ1FDoXo6IzbzPpC+aifZy47YX+/N1U64Qn5xlDg7mOP8JXfkNJHbU1TJZHif5AgMBAAGjggHhMIIB3TAfBgNVHSMEGDAWgBSQr2o6lFoL2JDqElZz30O0Oija5zAdBgNVHQ4EFgQUNQSLjkoz01I+iuuoC5lgEp0anhcwDgYDVR0PAQH/BAQDAgWgMAwGA1UdEwEB/wQCMAAwHQYDVR0lBBYwFAYIKwYBBQUHAwEGCCsGAQUFBwMCME8GA1UdIARIMEYwOgYLKwYBBAGyMQECAgcwKzApBggrBgEFBQcCARYdaHR0cHM6Ly9zZWN1cmUuY29tb2RvLmNvbS9DUFMwCAYGZ4EMAQIBMFQGA1UdHwRNMEswSaBHoEWGQ2h0dHA6Ly9jcmwuY29tb2RvY2EuY29tL0NPTU9ET1JTQURvbWFpblZhbGlkYXRpb25TZWN1cmVTZXJ2ZXJDQS5jcmwwgYUGCCsGAQUFBwEBBHkwdzBPBggrBgEFBQcwAoZDaHR0cDovL2NydC5jb21vZG9jYS5jb20vQ09NT0RPUlNBRG9tYWluVmFsaWRhdGlvblNlY3VyZVNlcnZlckNBLmNydDAkBggrBgEFBQcwAYYYaHR0cDovL29jc3AuY29tb2RvY2EuY29tMC8GA1UdEQQoMCaCEioubGFuZGxvcmRzLmNvbS5hdYIQbGFuZGxvcmRzLmNvbS5hdTANBgkqhkiG9w0BAQsFAAOCAQEACyHqxUzrexToY7tOv4+kyGPP2D27P1tQpyzeAl1bPObiMhNK2b9vvBLDWAaqm8c0YL1h+DBdLoWzf3xFsIkTCVCjWJTNSNlcYtgRk6or1s7jWsfXzWqsnPjPPmTIOCw7EfH7Yme3oxPs3UUsmShAgPwNohAtL9GqlqMiKM6v1WU3NHt01jEoNP23LRa6KeNK6AH6WHJykzL223IlhgXjHTeuQj6lR+TNrQXJuhwTXYe+20rrpPQxc1Pn7AqnvfWgmicRQ7gdIcr4V6+ecTvLfNOaJ0ZYe5G5giuAAdTm7F57pk04f4gyZNYKrj88mvbkoriN8b6jcWExtrYO6bm2TwAA";
    const AUDIT_PATH: [&str; 30] = [
        "T46AmJsuOM/gFiGlUp+IJJebp+1Z5qratFNW7U0JyOQ=",
        "9Jj1Feodn42uRYEfffkV4HF/EIPFQ5Zo9IwkxbQ2uhk=",
        "D53/1oCNebF4J59HHgioovKZxrmrKcVuCVhy3Izg8Ck=",
        "wSFDgGSrsXRPA+1c8WHoAFCsWeUv8NDyP/Q/SgsyVyY=",
        "516/RcwsgdwdzHn18v1dJHqBkgFUbNhmCIWOGjsMJaE=",
        "naTFY2ajLFgrgs5XUl+zJYZnnlJksLGsA1VYwpLfqbY=",
        "mKBRJo6qao+0Kdh/rhGkZUbHUAxMhrtrclrTpIbNjIg=",
        "Co4ueOFE7lpifLio94irxxsv1wFMMaK3tPu2ZQkHlro=",
        "yRgy800K6JMYCC05sWfqF2kvCg2riT/pVM+nEa6V5+0=",
        "n2O38XJZC8/Wpbwi9HhgVizlUyeUHVZvYyQB1607MRc=",
        "go3tAjuNfNSCj87y2Rg1xOroDknGN1eaf3cgvzObf7Q=",
        "8D0Mj3/J7ySSnFb0afIHYXv6rlOhECnsebY6XKi1IR8=",
        "6rcez46ZU8M5vPiWVMAUfJfAOV0pPP/mch/lYzZhj/M=",
        "2rtIeXrPvSdUyHc5maIgSAVB2BzaKaupWxSAiVayDE4=",
        "nniW/IMFQPN5xw8UsHFn7CRStYbm1gLu7NNa6kkRqJQ=",
        "mRPPi7sQS22MduIEyvcNzCNFqIt6kLwYPkNKrVtIcu8=",
        "JvTivzESNS9wHI8aph5a7uieVmtS/p9PciMZ5D6GyOo=",
        "UTyQd+Ym0wY4zG+qK806bBORwi1CSVvFQ/KknnqoZj8=",
        "hXODrqN+ff+U6zPqRQ+ZQKs6im1fPcxIerDSfNwflhE=",
        "II6GE+WY/DrpZzfHztLwkR46o37zVkNLCyPYlf68zA0=",
        "d609kWWcNBllbA8Jb/ad4XAVVGnScLRmtP8FYyr+Dck=",
        "rikBsP0G0gioXRpBFED2CzQdSLrGPvRd0bEcbEZw1rI=",
        "GXIElfmnRuWfbA4z7ubV/UwlpSRUbUeec7oL5HDDnh0=",
        "pR0SH/NYP6s9+8azWwaeUXA4Ze/3WCIgMfh5YW6wvcE=",
        "f3GuAKYVrF8RBg3s15jvA/YvV9oAliWtzP/imwPhQVA=",
        "WHn8zDxlVgkV+lSlmzaOdfSBrTHoRr5nT3d76q0KKWE=",
        "f2uV2ZxVgULzLPKuZcowRY3ZY7fRlX59iDBjV1R8kNQ=",
        "NzQVjJsvQwbi7WStMr9oFkh9VbHfK7LB6o7WwAqwNTs=",
        "C0LttBeYHZHgL+032JIcJC3CTBIyza/hsbmJUgJfmDI=",
        "nixU5CWTFVDlF4BGdcU6kA7WSYurEpe9jRWc+F/7sOc=",
    ];
    const CONSISTENCY_PROOF: [&str; 30] = [
        "80Sfbj6UQEdVSZCSIgh9NMPj3vCBzcc1A48B2crJSWg=",
        "FZcrgAHUk6nNPviJZq8kEK6jCG1d18pJOFE45ZDc1TQ=",
        "Q67reWXmPBo1UfmwBap4Xi9PMPfFdUSSw3WGlRZdG7k=",
        "eJ7CyhR4PxzBxDIsWgrVYW1eFUb9ndgf46tFmiqVrxA=",
        "QrDwp062Grm5WY8KdrhFsBuuNjGzRox2Jb8PmVL5OYw=",
        "XM4YMjMEdLH/XJam/ZWyaP14k3cmsOtnPsOWQ54lW1s=",
        "SGiBh+jOTGccXU48ZzgQ88lRcBmtB4wz4oSDndv2QTg=",
        "WAS6txqNLYKGL1GdBdpqmV42TTfn6cJsuDsqLXuTCNI=",
        "QFmRS0rirUA7ZN3lxFjDncV+E1OCrn3NUB4RCp+5fzc=",
        "Hdbp7It2XBNZmNDBpCN/KPd7vfVqxgzwOosqVIaEA9E=",
        "mxvHL0ZiblBdD7j7pIa1jlfB0gSqfJ6oX0UGo7L0VsU=",
        "q5hjyvoW6TL/PThgcitpDcSTrnKX2p1+aqscqH2euRA=",
        "jTOWDqt3IHj2NVFeezyBz2ofpru+ztEywqKUAfFclKI=",
        "GIRn0w3HqJdvU9j1WVD//eR6lk2AaTVjyzjsJNP8U88=",
        "x52GJvxG81fnQBrgOTbll1A5tz95/LXK0Ag1NhB0r1I=",
        "6/0OqrcTgc3o5dD5PymmoC96lB9yLPFuTHVvLy8fSGk=",
        "Gf+iKLfcXO5l4JEFmsZvSdG5q1uEeWPfYLrds6pmjz0=",
        "DGuaco+McyM3AfRSF6qX7RwSetwe2ieYJmxw5e9rVx0=",
        "2tQJ9V32hnYp+fdpP6TcjmgJmLeNVOMKM0Ml1kk4cNU=",
        "3PapK+IkyJr8I9yAErAmzuZezzLMzsg+PfeRCgNW8NQ=",
        "s6xiYeejb+wtqHA+URJZ2I/SCPyIW8coP6aB00FJbMY=",
        "z9lSpmdTcr5M5ZzKlc4EPh3SrSypKFdk6JUF/UccaZU=",
        "GXIElfmnRuWfbA4z7ubV/UwlpSRUbUeec7oL5HDDnh0=",
        "pR0SH/NYP6s9+8azWwaeUXA4Ze/3WCIgMfh5YW6wvcE=",
        "f3GuAKYVrF8RBg3s15jvA/YvV9oAliWtzP/imwPhQVA=",
        "WHn8zDxlVgkV+lSlmzaOdfSBrTHoRr5nT3d76q0KKWE=",
        "f2uV2ZxVgULzLPKuZcowRY3ZY7fRlX59iDBjV1R8kNQ=",
        "NzQVjJsvQwbi7WStMr9oFkh9VbHfK7LB6o7WwAqwNTs=",
        "C0LttBeYHZHgL+032JIcJC3CTBIyza/hsbmJUgJfmDI=",
        "nixU5CWTFVDlF4BGdcU6kA7WSYurEpe9jRWc+F/7sOc=",
    ];

    fn b64(text: &str) -> Hash {
        STANDARD.decode(text).unwrap().try_into().unwrap()
    }

    #[test]
    fn inclusion() {
        let leaf = leaf_hash(&STANDARD.decode(LEAF_INPUT).unwrap());
        let proof: Vec<Hash> = AUDIT_PATH.iter().map(|h| b64(h)).collect();
        let root = b64(ROOT);
        assert_eq!(
            verify_inclusion(&leaf, LEAF_INDEX, SIZE, &proof, &root),
            Ok(())
        );
        assert!(verify_inclusion(&leaf, LEAF_INDEX + 1, SIZE, &proof, &root).is_err());
        assert!(verify_inclusion(&leaf, LEAF_INDEX, SIZE, &proof, &b64(OLD_ROOT)).is_err());
        for i in 0..proof.len() {
            let mut corrupted = proof.clone();
            corrupted[i][31] ^= 1;
            assert!(verify_inclusion(&leaf, LEAF_INDEX, SIZE, &corrupted, &root).is_err());
        }
    }

    #[test]
    fn consistency() {
        let proof: Vec<Hash> = CONSISTENCY_PROOF.iter().map(|h| b64(h)).collect();
        let (old_root, root) = (b64(OLD_ROOT), b64(ROOT));
        assert_eq!(
            verify_consistency(OLD_SIZE, SIZE, &old_root, &root, &proof),
            Ok(())
        );
        assert!(verify_consistency(OLD_SIZE + 1, SIZE, &old_root, &root, &proof).is_err());
        assert!(verify_consistency(OLD_SIZE, SIZE, &root, &old_root, &proof).is_err());
        for i in 0..proof.len() {
            let mut corrupted = proof.clone();
            corrupted[i][0] ^= 0x80;
            assert!(verify_consistency(OLD_SIZE, SIZE, &old_root, &root, &corrupted).is_err());
        }
    }
}
