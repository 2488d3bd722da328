//! Storage-agnostic Merkle tree state: append, roots, subtree hashes and proofs in O(log n).
//!
//! # Node addressing
//!
//! A log only ever needs the hashes of its *perfect* subtrees, those covering 2^k leaves
//! starting at a multiple of 2^k. They never change once complete, so a store can persist them
//! append-only. The node at `(level k, index i)` is the hash of leaves `[i·2^k, (i+1)·2^k)`;
//! level 0 holds the leaf hashes.
//!
//! Any RFC 6962 tree hash over `[start, end)`, where `start` is a multiple of the smallest
//! power of two not below `end - start`, is the right-to-left fold of the perfect subtrees
//! given by the binary digits of `end - start` (RFC 6962 splits every tree at the largest power
//! of two below its size, and that left part is perfect). Every subtree the RFC 6962 algorithms
//! ever hash has this form, and so does every tree `[0, n)`. Each is therefore at most
//! 64 lookups and 63 node hashes away, whatever the size of the log.

use std::convert::Infallible;

use crate::hash::{node_hash, Hash, EMPTY_ROOT};

/// Read access to the hashes of the complete (perfect) subtrees of a log.
///
/// `get(k, i)` returns the hash of leaves `[i·2^k, (i+1)·2^k)`, or `None` if that subtree is
/// not complete (or not stored). Level 0 holds the leaf hashes. The functions of this module
/// only ask for nodes that exist in a tree of the size they are given; a `None` for such a
/// node is reported as [`TreeError::MissingNode`], never silently papered over.
pub trait NodeStore {
    /// The store's own failure type (I/O, database, ...).
    type Error;

    /// The hash of the perfect subtree at `level`, `index`, if it is stored.
    ///
    /// # Errors
    /// Whatever the underlying storage reports; it is passed on as [`TreeError::Store`].
    fn get(&self, level: u8, index: u64) -> Result<Option<Hash>, Self::Error>;
}

impl<S: NodeStore + ?Sized> NodeStore for &S {
    type Error = S::Error;

    fn get(&self, level: u8, index: u64) -> Result<Option<Hash>, Self::Error> {
        (**self).get(level, index)
    }
}

/// Why a tree operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError<E> {
    /// The node store failed.
    #[error("node store failed: {0}")]
    Store(E),

    /// The store has no hash for a node that a tree of the requested size must contain: the
    /// store is incomplete or the size is larger than the log.
    #[error(
        "node store has no hash at level {level}, index {index}, which a tree of the requested \
         size contains"
    )]
    MissingNode {
        /// Level of the missing node (0 = leaves).
        level: u8,
        /// Index of the missing node within its level.
        index: u64,
    },

    /// A leaf index at or beyond the end of the tree.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size it was requested for.
        size: u64,
    },

    /// A consistency proof from a larger tree to a smaller one.
    #[error("tree size {m} is larger than tree size {n}")]
    SizeOrder {
        /// The older (first) tree size.
        m: u64,
        /// The newer (second) tree size.
        n: u64,
    },

    /// A leaf range that is empty, reversed, or does not start at a multiple of the smallest
    /// power of two not below its length, and so is no subtree of any RFC 6962 tree.
    #[error("[{start}, {end}) is not a subtree of an RFC 6962 Merkle tree")]
    InvalidRange {
        /// First leaf of the range.
        start: u64,
        /// One past the last leaf of the range.
        end: u64,
    },

    /// The tree already holds 2^64 − 1 leaves, the most a `u64` size can count.
    #[error("the tree is full")]
    TreeFull,
}

/// A node to persist: `(level, index, hash)`, the hash of leaves `[index·2^level,
/// (index+1)·2^level)`.
pub type TreeNode = (u8, u64, Hash);

/// The nodes to persist when appending a leaf to a tree of `size_before` leaves.
///
/// Returns the new leaf itself, `(0, size_before, leaf_hash)`, followed by every perfect
/// subtree the leaf completes, bottom-up: one per trailing one bit of `size_before`, so at most
/// 64 nodes in all and about two per append on average. Reads only the left siblings of those
/// subtrees, which must already be stored. Nothing is written: the caller persists the nodes
/// (atomically with the entry itself) and the tree then has `size_before + 1` leaves.
///
/// # Errors
/// [`TreeError::TreeFull`] if `size_before` is `u64::MAX`; [`TreeError::MissingNode`] if a
/// left sibling is absent; [`TreeError::Store`] if the store fails.
pub fn append_nodes<S: NodeStore + ?Sized>(
    size_before: u64,
    leaf_hash: Hash,
    store: &S,
) -> Result<Vec<TreeNode>, TreeError<S::Error>> {
    if size_before == u64::MAX {
        return Err(TreeError::TreeFull);
    }
    let completed = size_before.trailing_ones() as usize;
    let mut nodes = Vec::with_capacity(1 + completed);
    nodes.push((0, size_before, leaf_hash));

    let mut hash = leaf_hash;
    let mut index = size_before;
    let mut level = 0u8;
    // While the new node is a right child its parent is now complete: hash it with the
    // stored left sibling and move up.
    while index & 1 == 1 {
        let left = node(store, level, index - 1)?;
        hash = node_hash(&left, &hash);
        index >>= 1;
        level += 1;
        nodes.push((level, index, hash));
    }
    Ok(nodes)
}

/// The Merkle tree hash (root) of the first `size` leaves; [`EMPTY_ROOT`] for size 0.
///
/// # Errors
/// [`TreeError::MissingNode`] if the store holds fewer than `size` leaves;
/// [`TreeError::Store`] if the store fails.
pub fn root<S: NodeStore + ?Sized>(size: u64, store: &S) -> Result<Hash, TreeError<S::Error>> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    fold_perfect_subtrees(0, size, store)
}

/// The RFC 6962 tree hash of leaves `[start, end)`, `MTH(D[start:end])`.
///
/// The range must be a subtree of some RFC 6962 tree: non-empty, and `start` a multiple of
/// the smallest power of two not below `end - start` (any range starting at 0 qualifies).
/// These are exactly the ranges whose hash is made of stored perfect subtrees; for any other
/// range the hash involves interior nodes that exist in no tree of the log, and computing it
/// would take time linear in the range.
///
/// # Errors
/// [`TreeError::InvalidRange`] for a range of any other shape; [`TreeError::MissingNode`] if
/// the store holds fewer than `end` leaves; [`TreeError::Store`] if the store fails.
pub fn subtree_hash<S: NodeStore + ?Sized>(
    start: u64,
    end: u64,
    store: &S,
) -> Result<Hash, TreeError<S::Error>> {
    if !is_subtree(start, end) {
        return Err(TreeError::InvalidRange { start, end });
    }
    fold_perfect_subtrees(start, end, store)
}

/// The inclusion proof (audit path) of leaf `index` in the tree of the first `size` leaves,
/// exactly `PATH(index, D[0:size])` of RFC 6962 §2.1.1 (RFC 9162 §2.1.3.1): sibling hashes
/// from the leaf's sibling up to the root's child.
///
/// # Errors
/// [`TreeError::IndexOutOfRange`] if `index >= size`; [`TreeError::MissingNode`] if the store
/// holds fewer than `size` leaves; [`TreeError::Store`] if the store fails.
pub fn inclusion_proof<S: NodeStore + ?Sized>(
    index: u64,
    size: u64,
    store: &S,
) -> Result<Vec<Hash>, TreeError<S::Error>> {
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    // Walk from the root down to the leaf, recording the sibling at each split; the RFC lists
    // them leaf-first, so the walk's order is reversed at the end. Once the walk enters a left
    // part it is inside a perfect subtree, so at most one sibling (a right part) is not a
    // single stored node.
    let mut siblings = Vec::with_capacity(64);
    let (mut start, mut end) = (0, size);
    while end - start > 1 {
        let split = start + largest_power_of_two_below(end - start);
        if index < split {
            siblings.push(fold_perfect_subtrees(split, end, store)?);
            end = split;
        } else {
            siblings.push(fold_perfect_subtrees(start, split, store)?);
            start = split;
        }
    }
    siblings.reverse();
    Ok(siblings)
}

/// The consistency proof between the trees of the first `m` and first `n` leaves, exactly
/// `PROOF(m, D[0:n])` of RFC 6962 §2.1.2 (RFC 9162 §2.1.4.1). Empty when `m` is 0 or `m == n`:
/// every tree is consistent with the empty tree and with itself.
///
/// # Errors
/// [`TreeError::SizeOrder`] if `m > n`; [`TreeError::MissingNode`] if the store holds fewer
/// than `n` leaves; [`TreeError::Store`] if the store fails.
pub fn consistency_proof<S: NodeStore + ?Sized>(
    m: u64,
    n: u64,
    store: &S,
) -> Result<Vec<Hash>, TreeError<S::Error>> {
    if m > n {
        return Err(TreeError::SizeOrder { m, n });
    }
    if m == 0 || m == n {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[start:end], b) unrolled, walking down from the root. `whole` is the RFC's
    // flag b: it stays true while the old tree is the left spine of the current range, in
    // which case the verifier already knows the old root and it is not sent.
    let mut siblings = Vec::with_capacity(64);
    let (mut start, mut end) = (0, n);
    let mut whole = true;
    while m != end {
        let split = start + largest_power_of_two_below(end - start);
        if m <= split {
            siblings.push(fold_perfect_subtrees(split, end, store)?);
            end = split;
        } else {
            siblings.push(fold_perfect_subtrees(start, split, store)?);
            start = split;
            whole = false;
        }
    }
    let mut proof = Vec::with_capacity(siblings.len() + 1);
    if !whole {
        proof.push(fold_perfect_subtrees(start, end, store)?);
    }
    proof.extend(siblings.into_iter().rev());
    Ok(proof)
}

/// Whether `[start, end)` is a subtree of an RFC 6962 tree (see [`subtree_hash`]).
fn is_subtree(start: u64, end: u64) -> bool {
    if start >= end {
        return false;
    }
    if start == 0 {
        return true;
    }
    // A length above 2^63 has no power-of-two ceiling in u64, and no start other than 0 is a
    // multiple of 2^64.
    (end - start)
        .checked_next_power_of_two()
        .is_some_and(|ceiling| start & (ceiling - 1) == 0)
}

/// The largest power of two strictly below `len`; `len` must be at least 2.
fn largest_power_of_two_below(len: u64) -> u64 {
    debug_assert!(len >= 2);
    1 << (63 - (len - 1).leading_zeros())
}

/// Hash of a valid subtree `[start, end)` from its perfect subtrees.
///
/// The binary digits of `end - start` give the perfect subtrees, largest (leftmost) first; the
/// RFC 6962 hash nests them to the right, so the fold starts from the smallest, rightmost one.
fn fold_perfect_subtrees<S: NodeStore + ?Sized>(
    start: u64,
    end: u64,
    store: &S,
) -> Result<Hash, TreeError<S::Error>> {
    debug_assert!(is_subtree(start, end));
    let mut remaining = end - start;
    let mut position = end;
    let mut acc: Option<Hash> = None;
    while remaining != 0 {
        let level = remaining.trailing_zeros();
        let width = 1u64 << level;
        position -= width;
        remaining -= width;
        // `level` is below 64, so it fits a u8.
        let hash = node(store, level as u8, position >> level)?;
        acc = Some(match acc {
            None => hash,
            Some(right) => node_hash(&hash, &right),
        });
    }
    // Callers pass non-empty ranges, so the loop ran; an empty range would hash to the empty
    // tree's root, which is also what RFC 6962 defines for it.
    Ok(acc.unwrap_or(EMPTY_ROOT))
}

fn node<S: NodeStore + ?Sized>(
    store: &S,
    level: u8,
    index: u64,
) -> Result<Hash, TreeError<S::Error>> {
    store
        .get(level, index)
        .map_err(TreeError::Store)?
        .ok_or(TreeError::MissingNode { level, index })
}

/// An in-memory [`NodeStore`] for tests, benchmarks and clients that rebuild a tree.
///
/// A log's perfect subtrees fill every level densely from the left, so each level is a plain
/// vector: half the memory of a map keyed by `(level, index)` and no key hashing on lookups.
#[derive(Debug, Clone, Default)]
pub struct MemoryNodeStore {
    levels: Vec<Vec<Hash>>,
    size: u64,
}

impl MemoryNodeStore {
    /// An empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves appended so far.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a log entry (hashing it as a leaf) and returns its leaf index.
    ///
    /// # Errors
    /// [`TreeError::TreeFull`] after 2^64 − 1 leaves (which memory rules out long before).
    pub fn append_entry(&mut self, entry: &[u8]) -> Result<u64, TreeError<Infallible>> {
        self.append_leaf_hash(crate::hash::leaf_hash(entry))
    }

    /// Appends an already computed leaf hash and returns its leaf index.
    ///
    /// # Errors
    /// [`TreeError::TreeFull`] after 2^64 − 1 leaves.
    pub fn append_leaf_hash(&mut self, leaf_hash: Hash) -> Result<u64, TreeError<Infallible>> {
        let index = self.size;
        for (level, node_index, hash) in append_nodes(index, leaf_hash, self)? {
            let level = usize::from(level);
            if self.levels.len() <= level {
                self.levels.resize_with(level + 1, Vec::new);
            }
            // Nodes complete left to right, so each new node is the next one on its level.
            debug_assert_eq!(self.levels[level].len() as u64, node_index);
            self.levels[level].push(hash);
        }
        self.size = index + 1;
        Ok(index)
    }

    /// The root of the whole tree.
    #[must_use]
    pub fn root(&self) -> Hash {
        // Every append stores the nodes it completes, so all nodes of a tree of `self.size`
        // leaves are present; a failure here would be a bug in this module, and a wrong root
        // must never be returned in its place.
        root(self.size, self).expect("MemoryNodeStore holds every node of its own tree")
    }
}

impl NodeStore for MemoryNodeStore {
    type Error = Infallible;

    fn get(&self, level: u8, index: u64) -> Result<Option<Hash>, Infallible> {
        let Ok(index) = usize::try_from(index) else {
            return Ok(None);
        };
        Ok(self
            .levels
            .get(usize::from(level))
            .and_then(|nodes| nodes.get(index))
            .copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    fn store(leaves: u64) -> MemoryNodeStore {
        let mut store = MemoryNodeStore::new();
        for i in 0..leaves {
            store.append_entry(&i.to_be_bytes()).unwrap();
        }
        store
    }

    #[test]
    fn append_returns_leaf_and_completed_subtrees() {
        let mut store = MemoryNodeStore::new();
        for size_before in 0..64u64 {
            let nodes = append_nodes(size_before, leaf_hash(b"x"), &store).unwrap();
            assert_eq!(nodes.len(), 1 + size_before.trailing_ones() as usize);
            assert_eq!(nodes[0], (0, size_before, leaf_hash(b"x")));
            for (k, &(level, index, _)) in nodes.iter().enumerate() {
                assert_eq!(usize::from(level), k);
                assert_eq!(index, size_before >> k);
            }
            store.append_entry(b"x").unwrap();
        }
    }

    #[test]
    fn append_reports_missing_sibling() {
        let store = MemoryNodeStore::new();
        assert_eq!(
            append_nodes(1, [0; 32], &store),
            Err(TreeError::MissingNode { level: 0, index: 0 })
        );
        assert_eq!(
            append_nodes(u64::MAX, [0; 32], &store),
            Err(TreeError::TreeFull)
        );
    }

    #[test]
    fn subtree_shapes() {
        assert!(is_subtree(0, 1));
        assert!(is_subtree(0, 7));
        assert!(is_subtree(4, 7));
        assert!(is_subtree(6, 7));
        assert!(is_subtree(8, 13));
        assert!(!is_subtree(2, 5));
        assert!(!is_subtree(1, 3));
        assert!(!is_subtree(3, 3));
        assert!(!is_subtree(4, 3));
        assert!(is_subtree(0, u64::MAX));
        assert!(is_subtree(1 << 63, u64::MAX));
        assert!(!is_subtree(1, u64::MAX));
    }

    #[test]
    fn invalid_requests_are_refused() {
        let store = store(5);
        assert_eq!(
            subtree_hash(1, 3, &store),
            Err(TreeError::InvalidRange { start: 1, end: 3 })
        );
        assert_eq!(
            inclusion_proof(5, 5, &store),
            Err(TreeError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            consistency_proof(6, 5, &store),
            Err(TreeError::SizeOrder { m: 6, n: 5 })
        );
        assert_eq!(
            root(6, &store),
            Err(TreeError::MissingNode { level: 1, index: 2 })
        );
        assert_eq!(
            inclusion_proof(0, 6, &store),
            Err(TreeError::MissingNode { level: 1, index: 2 })
        );
    }

    #[test]
    fn trivial_consistency_proofs_are_empty() {
        let store = store(5);
        assert!(consistency_proof(0, 5, &store).unwrap().is_empty());
        assert!(consistency_proof(5, 5, &store).unwrap().is_empty());
        assert!(consistency_proof(0, 0, &store).unwrap().is_empty());
    }

    #[test]
    fn empty_and_single_leaf_roots() {
        assert_eq!(MemoryNodeStore::new().root(), EMPTY_ROOT);
        assert_eq!(store(1).root(), leaf_hash(&0u64.to_be_bytes()));
    }

    #[test]
    fn lookups_per_proof_are_logarithmic() {
        use std::cell::Cell;

        struct Counting<'a>(&'a MemoryNodeStore, Cell<u32>);
        impl NodeStore for Counting<'_> {
            type Error = Infallible;
            fn get(&self, level: u8, index: u64) -> Result<Option<Hash>, Infallible> {
                self.1.set(self.1.get() + 1);
                self.0.get(level, index)
            }
        }

        let inner = store(1000);
        let counting = Counting(&inner, Cell::new(0));
        for index in 0..1000 {
            counting.1.set(0);
            let proof = inclusion_proof(index, 1000, &counting).unwrap();
            // One lookup per proof hash, plus at most one right part folded from several
            // perfect subtrees: 1000 = 0b1111101000 has six one bits.
            assert!(counting.1.get() as usize <= proof.len() + 6);
        }
        for m in 1..1000 {
            counting.1.set(0);
            let proof = consistency_proof(m, 1000, &counting).unwrap();
            assert!(counting.1.get() as usize <= proof.len() + 6);
        }
    }
}
