//! Proof verification, following RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency)
//! step by step.
//!
//! Both algorithms replay the proof bottom-up while tracking the node's position (`fn`) and
//! the last node of the tree (`sn`) level by level. They consume the whole proof and require
//! `sn` to reach 0 exactly at its end, so a proof that is too long or too short for the
//! claimed sizes fails even before any hash is compared.

use crate::hash::{node_hash, Hash, EMPTY_ROOT};

/// Why a proof did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is at or beyond the end of the tree.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },

    /// The first tree is larger than the second: a log never shrinks.
    #[error("tree size {m} is larger than tree size {n}")]
    SizeOrder {
        /// The older (first) tree size.
        m: u64,
        /// The newer (second) tree size.
        n: u64,
    },

    /// The proof has the wrong number of hashes for the claimed index and sizes.
    #[error("the proof has the wrong number of hashes for these tree sizes")]
    WrongLength,

    /// The proof does not lead to the expected root hash (or hashes).
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
}

/// Verifies that `leaf_hash` is leaf `index` of the tree of `size` leaves with root `root`
/// (RFC 9162 §2.1.3.2).
///
/// `leaf_hash` is the leaf hash (see [`crate::leaf_hash`]), not the entry itself. The pair
/// (`size`, `root`) must come from one authenticated source, normally a verified checkpoint:
/// the proof binds the leaf to the root, and only the signature binds the root to the size.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`], [`ProofError::WrongLength`] or
/// [`ProofError::RootMismatch`].
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    // Step 1.
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // Steps 2 and 3.
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf_hash;
    // Step 4.
    for p in proof {
        // 4a: the path already reached the root, so this hash is surplus.
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            // 4b: the node is a right child, or the last node on its level and promoted
            // unchanged through the levels where it has no sibling.
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        // 4c.
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 5.
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `m` leaves with root `root_m` is a prefix of the tree of `n`
/// leaves with root `root_n` (RFC 9162 §2.1.4.2).
///
/// The cases the RFC leaves outside the algorithm are decided as follows: `m == n` needs an
/// empty proof and equal roots; `m == 0` needs an empty proof and `root_m` equal to
/// [`EMPTY_ROOT`] (stricter than some implementations, which accept any root for an empty
/// tree: no honest log signs anything else).
///
/// # Errors
/// [`ProofError::SizeOrder`], [`ProofError::WrongLength`] or [`ProofError::RootMismatch`].
pub fn verify_consistency(
    m: u64,
    n: u64,
    root_m: &Hash,
    root_n: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if m > n {
        return Err(ProofError::SizeOrder { m, n });
    }
    if m == n || m == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        let expected = if m == 0 { &EMPTY_ROOT } else { root_n };
        if root_m != expected {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    // Step 1.
    let Some((first, rest)) = proof.split_first() else {
        return Err(ProofError::WrongLength);
    };
    // Step 2: when m is a power of two the old root is itself a node of the new tree and is
    // not sent; the algorithm starts from it as if it were the proof's first element.
    let (seed, path) = if m.is_power_of_two() {
        (root_m, proof)
    } else {
        (first, rest)
    };
    // Step 3.
    let mut fn_ = m - 1;
    let mut sn = n - 1;
    // Step 4: skip the levels where the old tree's last node is a right child whose hash the
    // seed already covers.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 5.
    let mut fr = *seed;
    let mut sr = *seed;
    // Step 6.
    for c in path {
        // 6a.
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            // 6b: a left sibling, shared by both trees.
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            // A right sibling, present only in the new tree.
            sr = node_hash(&sr, c);
        }
        // 6c.
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 7.
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *root_m || sr != *root_n {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn single_leaf_tree() {
        let leaf = leaf_hash(b"data");
        assert_eq!(verify_inclusion(&leaf, 0, 1, &[], &leaf), Ok(()));
        assert_eq!(
            verify_inclusion(&leaf, 0, 1, &[], &EMPTY_ROOT),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_inclusion(&leaf, 0, 1, &[leaf], &leaf),
            Err(ProofError::WrongLength)
        );
    }

    #[test]
    fn out_of_range_indices() {
        let leaf = leaf_hash(b"data");
        for (index, size) in [(0, 0), (1, 0), (2, 1), (u64::MAX, u64::MAX)] {
            assert_eq!(
                verify_inclusion(&leaf, index, size, &[], &leaf),
                Err(ProofError::IndexOutOfRange { index, size })
            );
        }
    }

    #[test]
    fn trivial_consistency() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        assert_eq!(
            verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]),
            Ok(())
        );
        assert_eq!(verify_consistency(0, 5, &EMPTY_ROOT, &a, &[]), Ok(()));
        assert_eq!(verify_consistency(3, 3, &a, &a, &[]), Ok(()));
        assert_eq!(
            verify_consistency(0, 5, &a, &b, &[]),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(3, 3, &a, &b, &[]),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(3, 3, &a, &a, &[a]),
            Err(ProofError::WrongLength)
        );
        assert_eq!(
            verify_consistency(0, 1, &EMPTY_ROOT, &a, &[a]),
            Err(ProofError::WrongLength)
        );
        assert_eq!(
            verify_consistency(2, 1, &a, &b, &[]),
            Err(ProofError::SizeOrder { m: 2, n: 1 })
        );
        assert_eq!(
            verify_consistency(1, 2, &a, &b, &[]),
            Err(ProofError::WrongLength)
        );
    }
}
