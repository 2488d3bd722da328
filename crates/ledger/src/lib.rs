//! The Kenshin Relay ledger: a tamper-evident, append-only transparency log of file
//! operations that sender and receiver can verify independently.
//!
//! Like Certificate Transparency, and unlike a blockchain, it needs no consensus: a single log
//! signs *checkpoints* (tree size and root hash), and anyone holding two checkpoints can
//! demand a short proof that the later tree extends the earlier one, and anyone holding an
//! entry can demand a short proof that it is in the tree. A log that rewrote or dropped an
//! entry, or showed different histories to different parties, would have to sign two
//! inconsistent checkpoints, and that is evidence anybody can check.
//!
//! This crate is the pure logic, in standard formats that third-party tooling (Go's
//! `golang.org/x/mod/sumdb/note` and `tlog`, the transparency-dev libraries) understands:
//!
//! * Merkle tree hashing per RFC 6962 / RFC 9162: [`leaf_hash`], [`node_hash`],
//!   [`EMPTY_ROOT`].
//! * Tree state over any [`NodeStore`] holding the hashes of complete subtrees, with O(log n)
//!   [`append_nodes`], [`root`], [`subtree_hash`], [`inclusion_proof`] and
//!   [`consistency_proof`]; [`MemoryNodeStore`] keeps them in memory.
//! * The RFC 9162 verification algorithms: [`verify_inclusion`], [`verify_consistency`].
//! * C2SP signed notes and checkpoints with Ed25519 keys: [`Signer`], [`Verifier`],
//!   [`sign_note`], [`open_note`], [`sign_checkpoint`], [`open_checkpoint`], [`Checkpoint`].
//! * C2SP tlog-proof receipts: [`format_proof`], [`parse_proof`], [`verify_receipt`].
//!
//! The only I/O is [`Signer::create_file`] and [`Signer::load_file`] for the log's key.
//!
//! # Example
//!
//! ```
//! use kenshin_ledger::{
//!     format_proof, inclusion_proof, sign_checkpoint, verify_receipt, Checkpoint,
//!     MemoryNodeStore, Signer,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let signer = Signer::generate("kenshin-relay.example/ledger")?;
//! let verifier = signer.verifier(); // published: signer.verifier().to_text()
//!
//! let mut tree = MemoryNodeStore::new();
//! for entry in [&b"upload a"[..], b"upload b", b"download a"] {
//!     tree.append_entry(entry)?;
//! }
//! let checkpoint = Checkpoint {
//!     origin: "kenshin-relay.example/ledger".to_owned(),
//!     size: tree.size(),
//!     root: tree.root(),
//!     extensions: Vec::new(),
//! };
//! let signed = sign_checkpoint(&checkpoint, &signer)?;
//!
//! let proof = inclusion_proof(1, tree.size(), &tree)?;
//! let receipt = format_proof(1, Some(b"upload b"), &proof, &signed)?;
//!
//! // Anyone with the verifier key checks the receipt offline.
//! let verified = verify_receipt(&receipt, &verifier, "kenshin-relay.example/ledger")?;
//! assert_eq!(verified.entry.as_deref(), Some(&b"upload b"[..]));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod checkpoint;
mod hash;
mod note;
mod receipt;
mod tree;
mod verify;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use hash::{leaf_hash, node_hash, Hash, EMPTY_ROOT, HASH_LEN};
pub use note::{
    open_checkpoint, open_note, sign_checkpoint, sign_note, NoteError, NoteSignature, OpenedNote,
    Signer, Verifier, MAX_LINE_LEN, MAX_NOTE_LEN, MAX_SIGNATURES,
};
pub use receipt::{
    format_proof, parse_proof, verify_receipt, verify_receipt_for_leaf_hash, ReceiptError,
    TlogProof, VerifiedReceipt, MAX_PROOF_HASHES, MAX_RECEIPT_LEN, PROOF_HEADER,
};
pub use tree::{
    append_nodes, consistency_proof, inclusion_proof, root, subtree_hash, MemoryNodeStore,
    NodeStore, TreeError, TreeNode,
};
pub use verify::{verify_consistency, verify_inclusion, ProofError};
