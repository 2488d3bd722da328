//! RFC 6962 / RFC 9162 Merkle tree hashing.
//!
//! Leaves and interior nodes are hashed with different one-byte prefixes so that no leaf can
//! ever be passed off as an interior node or the other way round (a second-preimage defence
//! that plain Merkle trees lack).

use aws_lc_rs::digest;

/// A SHA-256 output: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Length of a [`Hash`] in bytes.
pub const HASH_LEN: usize = 32;

/// The Merkle tree hash of the empty tree, SHA-256 of the empty string (RFC 6962 §2.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// The leaf hash of a log entry: SHA-256(0x00 ‖ entry).
#[must_use]
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(&[LEAF_PREFIX]);
    context.update(entry);
    to_hash(&context.finish())
}

/// The hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    // One contiguous buffer and a single one-shot digest call: node hashing dominates append
    // and verification cost, and this avoids three separate calls into aws-lc per node.
    let mut input = [0u8; 1 + 2 * HASH_LEN];
    input[0] = NODE_PREFIX;
    input[1..=HASH_LEN].copy_from_slice(left);
    input[1 + HASH_LEN..].copy_from_slice(right);
    to_hash(&digest::digest(&digest::SHA256, &input))
}

fn to_hash(digest: &digest::Digest) -> Hash {
    let mut hash = [0u8; HASH_LEN];
    hash.copy_from_slice(digest.as_ref());
    hash
}

/// SHA-256 of arbitrary bytes, used for key IDs.
pub(crate) fn sha256(parts: &[&[u8]]) -> Hash {
    let mut context = digest::Context::new(&digest::SHA256);
    for part in parts {
        context.update(part);
    }
    to_hash(&context.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(sha256(&[]), EMPTY_ROOT);
    }

    #[test]
    fn leaf_and_node_are_domain_separated() {
        let a = leaf_hash(b"");
        let b = leaf_hash(b"\x00");
        // A node over two hashes is not the leaf hash of their concatenation.
        let mut concatenated = Vec::new();
        concatenated.extend_from_slice(&a);
        concatenated.extend_from_slice(&b);
        assert_ne!(node_hash(&a, &b), leaf_hash(&concatenated));
        assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
    }
}
