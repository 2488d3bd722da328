//! Offline receipts in the C2SP transparency log proof format
//! (<https://c2sp.org/tlog-proof>): everything needed to check, with nothing but the log's
//! public key, that an entry is in the log.
//!
//! ```text
//! c2sp.org/tlog-proof@v1\n
//! [extra <base64 of the log entry>\n]
//! index <leaf index, decimal, no leading zeros>\n
//! <base64 inclusion proof hash>\n          (zero or more, leaf's sibling first)
//! \n
//! <signed checkpoint, verbatim>
//! ```
//!
//! The format leaves the `extra` data to the application. Kenshin Relay puts the log entry
//! itself there, which makes a receipt self-contained: [`verify_receipt`] hashes it as the
//! leaf, so once the receipt verifies the entry is as authentic as the checkpoint. Receipts of
//! other logs, which carry something else or nothing there, are checked against a leaf hash
//! the caller already knows with [`verify_receipt_for_leaf_hash`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::checkpoint::Checkpoint;
use crate::hash::{leaf_hash, Hash, HASH_LEN};
use crate::note::{open_checkpoint, split_note, NoteError, MAX_NOTE_LEN};
use crate::verify::{verify_inclusion, ProofError};

/// First line of every proof.
pub const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most hashes an inclusion proof can have: one per level of a tree of up to 2^64 leaves.
pub const MAX_PROOF_HASHES: usize = 64;

/// Largest receipt accepted or produced, in bytes: room for a maximal checkpoint note and as
/// much again for the entry and the proof.
pub const MAX_RECEIPT_LEN: usize = 2 * MAX_NOTE_LEN;

/// Why a receipt was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The text breaks the proof format.
    #[error("malformed tlog-proof: {0}")]
    Malformed(&'static str),

    /// More than [`MAX_RECEIPT_LEN`] bytes.
    #[error("tlog-proof is larger than {MAX_RECEIPT_LEN} bytes")]
    TooLarge,

    /// The receipt has no `extra` line, so it does not say which entry it is about.
    #[error("tlog-proof carries no log entry (no extra line)")]
    MissingEntry,

    /// The index is not in the checkpointed tree (when writing a receipt).
    #[error("leaf index {index} is not in the checkpointed tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The checkpoint's tree size.
        size: u64,
    },

    /// The checkpoint is malformed, not signed by the log's key, or from another log.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] NoteError),

    /// The inclusion proof does not lead from the entry to the checkpoint's root.
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] ProofError),
}

/// A parsed, not yet verified, proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// The leaf index of the entry.
    pub index: u64,
    /// The opaque extra data: for Kenshin Relay receipts, the log entry. Unauthenticated
    /// until the proof has been verified against it.
    pub extra: Option<Vec<u8>>,
    /// The inclusion proof, leaf's sibling first.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

/// What a successfully verified receipt proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    /// The leaf index of the entry.
    pub index: u64,
    /// The leaf hash whose inclusion was proven.
    pub leaf_hash: Hash,
    /// The entry, when the receipt carried it and it was hashed to `leaf_hash`
    /// ([`verify_receipt`]); `None` from [`verify_receipt_for_leaf_hash`].
    pub entry: Option<Vec<u8>>,
    /// The verified checkpoint the entry is included in.
    pub checkpoint: Checkpoint,
}

/// Writes a proof for leaf `index`, with `entry` (if any) as its extra data, the inclusion
/// `proof` and the signed checkpoint note it was computed against.
///
/// # Errors
/// [`ReceiptError::Checkpoint`] if `signed_checkpoint` is not a syntactically valid signed
/// checkpoint (its signatures are not checked here); [`ReceiptError::IndexOutOfRange`];
/// [`ReceiptError::Malformed`] if the proof is longer than [`MAX_PROOF_HASHES`];
/// [`ReceiptError::TooLarge`].
pub fn format_proof(
    index: u64,
    entry: Option<&[u8]>,
    proof: &[Hash],
    signed_checkpoint: &str,
) -> Result<String, ReceiptError> {
    let (body, _) = split_note(signed_checkpoint)?;
    let size = Checkpoint::parse(body).map_err(NoteError::from)?.size;
    if index >= size {
        return Err(ReceiptError::IndexOutOfRange { index, size });
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ReceiptError::Malformed(
            "inclusion proof has too many hashes",
        ));
    }
    let mut text = String::with_capacity(
        PROOF_HEADER.len()
            + entry.map_or(0, |e| 7 + e.len().div_ceil(3) * 4)
            + 27
            + proof.len() * 45
            + 1
            + signed_checkpoint.len(),
    );
    text.push_str(PROOF_HEADER);
    text.push('\n');
    if let Some(entry) = entry {
        text.push_str("extra ");
        STANDARD.encode_string(entry, &mut text);
        text.push('\n');
    }
    text.push_str("index ");
    text.push_str(&index.to_string());
    text.push('\n');
    for hash in proof {
        STANDARD.encode_string(hash, &mut text);
        text.push('\n');
    }
    text.push('\n');
    text.push_str(signed_checkpoint);
    if text.len() > MAX_RECEIPT_LEN {
        return Err(ReceiptError::TooLarge);
    }
    Ok(text)
}

/// Parses a proof without verifying anything.
///
/// # Errors
/// [`ReceiptError::Malformed`] or [`ReceiptError::TooLarge`].
pub fn parse_proof(text: &str) -> Result<TlogProof, ReceiptError> {
    if text.len() > MAX_RECEIPT_LEN {
        return Err(ReceiptError::TooLarge);
    }
    let rest = text
        .strip_prefix(PROOF_HEADER)
        .and_then(|rest| rest.strip_prefix('\n'))
        .ok_or(ReceiptError::Malformed(
            "missing c2sp.org/tlog-proof@v1 header",
        ))?;

    let (mut line, mut rest) = next_line(rest)?;
    let extra = match line.strip_prefix("extra ") {
        Some(encoded) => {
            let extra = STANDARD
                .decode(encoded)
                .map_err(|_| ReceiptError::Malformed("extra data is not base64"))?;
            (line, rest) = next_line(rest)?;
            Some(extra)
        }
        None => None,
    };

    let index =
        line.strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or(ReceiptError::Malformed(
                "missing index line, or index is not a decimal number without leading zeros",
            ))?;

    let mut proof = Vec::new();
    loop {
        let line;
        (line, rest) = next_line(rest)?;
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_HASHES {
            return Err(ReceiptError::Malformed(
                "inclusion proof has too many hashes",
            ));
        }
        proof.push(decode_hash(line)?);
    }

    if rest.is_empty() {
        return Err(ReceiptError::Malformed(
            "no checkpoint after the inclusion proof",
        ));
    }
    Ok(TlogProof {
        index,
        extra,
        proof,
        checkpoint: rest.to_owned(),
    })
}

/// Verifies a Kenshin Relay receipt: the checkpoint is signed by `verifier`'s key and comes
/// from the log `expected_origin`, and the entry in the `extra` line is leaf `index` of the
/// checkpointed tree.
///
/// # Errors
/// [`ReceiptError::Malformed`] or [`ReceiptError::TooLarge`] for a malformed receipt;
/// [`ReceiptError::MissingEntry`]; [`ReceiptError::Checkpoint`] if the checkpoint does not
/// verify; [`ReceiptError::Inclusion`] if the entry is not proven to be in it.
pub fn verify_receipt(
    text: &str,
    verifier: &crate::note::Verifier,
    expected_origin: &str,
) -> Result<VerifiedReceipt, ReceiptError> {
    let parsed = parse_proof(text)?;
    let entry = parsed.extra.ok_or(ReceiptError::MissingEntry)?;
    let leaf = leaf_hash(&entry);
    let checkpoint = open_checkpoint(&parsed.checkpoint, verifier, expected_origin)?;
    verify_inclusion(
        &leaf,
        parsed.index,
        checkpoint.size,
        &parsed.proof,
        &checkpoint.root,
    )?;
    Ok(VerifiedReceipt {
        index: parsed.index,
        leaf_hash: leaf,
        entry: Some(entry),
        checkpoint,
    })
}

/// Verifies any log's proof for a leaf hash the caller computed itself: the checkpoint is
/// signed by `verifier`'s key and comes from the log `expected_origin`, and `leaf_hash` is leaf
/// `index` of the checkpointed tree. The `extra` line, if any, is ignored.
///
/// # Errors
/// As [`verify_receipt`], except that a missing entry is not an error.
pub fn verify_receipt_for_leaf_hash(
    text: &str,
    leaf_hash: &Hash,
    verifier: &crate::note::Verifier,
    expected_origin: &str,
) -> Result<VerifiedReceipt, ReceiptError> {
    let parsed = parse_proof(text)?;
    let checkpoint = open_checkpoint(&parsed.checkpoint, verifier, expected_origin)?;
    verify_inclusion(
        leaf_hash,
        parsed.index,
        checkpoint.size,
        &parsed.proof,
        &checkpoint.root,
    )?;
    Ok(VerifiedReceipt {
        index: parsed.index,
        leaf_hash: *leaf_hash,
        entry: None,
        checkpoint,
    })
}

/// Splits off the next newline-terminated line.
fn next_line(text: &str) -> Result<(&str, &str), ReceiptError> {
    let (line, rest) = text
        .split_once('\n')
        .ok_or(ReceiptError::Malformed("truncated before the checkpoint"))?;
    if line.bytes().any(|b| b < 0x20) {
        return Err(ReceiptError::Malformed("control character"));
    }
    Ok((line, rest))
}

fn parse_decimal(text: &str) -> Option<u64> {
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    if !digits_only || leading_zero {
        return None;
    }
    text.parse().ok()
}

fn decode_hash(line: &str) -> Result<Hash, ReceiptError> {
    let mut buffer = [0u8; HASH_LEN + 1];
    match STANDARD.decode_slice(line, &mut buffer) {
        Ok(HASH_LEN) => {
            let mut hash = [0u8; HASH_LEN];
            hash.copy_from_slice(&buffer[..HASH_LEN]);
            Ok(hash)
        }
        _ => Err(ReceiptError::Malformed(
            "proof line is not the base64 encoding of a 32-byte hash",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("43930254"), Some(43_930_254));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "00",
            "01",
            "-1",
            "+1",
            " 1",
            "1 ",
            "0x1",
            "18446744073709551616",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn structure_errors() {
        let cases = [
            "",
            "c2sp.org/tlog-proof@v2\nindex 0\n\ncp\n",
            "c2sp.org/tlog-proof@v1\n",
            "c2sp.org/tlog-proof@v1\nindex 0",
            "c2sp.org/tlog-proof@v1\nindex 01\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex -5\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\ncp\n",
            "c2sp.org/tlog-proof@v1\n\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 0\n\n",
            "c2sp.org/tlog-proof@v1\r\nindex 0\n\ncp\n",
        ];
        for case in cases {
            assert!(
                matches!(parse_proof(case), Err(ReceiptError::Malformed(_))),
                "{case:?}"
            );
        }
        let hash_line = format!("{}\n", STANDARD.encode([0u8; 32]));
        let too_many = format!(
            "c2sp.org/tlog-proof@v1\nindex 0\n{}\ncp\n",
            hash_line.repeat(MAX_PROOF_HASHES + 1)
        );
        assert!(matches!(
            parse_proof(&too_many),
            Err(ReceiptError::Malformed(_))
        ));
        let enough = format!(
            "c2sp.org/tlog-proof@v1\nindex 0\n{}\ncp\n",
            hash_line.repeat(MAX_PROOF_HASHES)
        );
        assert_eq!(parse_proof(&enough).unwrap().proof.len(), MAX_PROOF_HASHES);
    }

    #[test]
    fn empty_extra_is_kept() {
        let parsed = parse_proof("c2sp.org/tlog-proof@v1\nextra \nindex 3\n\ncp\n").unwrap();
        assert_eq!(parsed.extra, Some(Vec::new()));
        assert_eq!(parsed.index, 3);
        assert!(parsed.proof.is_empty());
        assert_eq!(parsed.checkpoint, "cp\n");
    }
}
