//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys, in the formats of Go's
//! `golang.org/x/mod/sumdb/note`, so that notes signed here open there and the other way round.
//!
//! ```text
//! note           = text "\n" signature-line+
//! text           = line+                          (each line ends in "\n", none is empty)
//! signature-line = "— " key-name " " base64(key ID (4, big-endian) ‖ Ed25519 signature (64)) "\n"
//! key ID         = SHA-256(key-name ‖ 0x0A ‖ 0x01 ‖ public key (32))[0..4]
//! verifier key   = key-name "+" hex8(key ID) "+" base64(0x01 ‖ public key)
//! signer key     = "PRIVATE+KEY+" key-name "+" hex8(key ID) "+" base64(0x01 ‖ seed)
//! ```
//!
//! The signature covers the text including its final newline. Opening a note is stricter than
//! the specification in two ways, both harmless for checkpoints (whose lines are never empty)
//! and both in the verifier's favour: the text may not contain empty lines, so there is exactly
//! one place where text and signatures can be split; and *every* signature by the trusted key
//! is verified, where Go skips repeats of a key after the first.

use std::fmt::{self, Write as _};

use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::hash::sha256;

/// Longest line accepted in a note, in bytes, without its newline.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// Most signature lines accepted in a note (the limit Go's `note.Open` applies). The
/// specification requires accepting at least 16, to leave room for witness cosignatures.
pub const MAX_SIGNATURES: usize = 100;

/// Largest note accepted or produced, in bytes. Checkpoints are a few hundred bytes; the cap
/// bounds what a caller must buffer before a single signature has been checked.
pub const MAX_NOTE_LEN: usize = 1024 * 1024;

/// Signature type byte of Ed25519 in the signed-note key ID and key encodings.
const ALG_ED25519: u8 = 0x01;
const SEED_LEN: usize = 32;
const PUBLIC_KEY_LEN: usize = 32;
const SIGNATURE_LEN: usize = 64;
const KEY_ID_LEN: usize = 4;
/// Em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";
/// A signer key file holds one line of key text; anything much longer is not a key.
const MAX_KEY_FILE_LEN: usize = 4096;

/// Why a key, a note or a key file was refused.
///
/// No variant carries private key material, not even in part.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A key name that is empty or contains a space, a plus sign or a control character.
    #[error(
        "invalid key name: it must be non-empty and contain no spaces, plus signs or control \
         characters"
    )]
    InvalidName,

    /// A signer key text that does not parse, or whose key ID does not match its key.
    #[error("malformed signer key: {0}")]
    MalformedSignerKey(&'static str),

    /// A verifier key text that does not parse, or whose key ID does not match its key.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),

    /// Note text or signatures that break the signed-note syntax.
    #[error("malformed note: {0}")]
    Malformed(&'static str),

    /// A line longer than [`MAX_LINE_LEN`] (lines counted from 1).
    #[error("note line {line} is longer than {MAX_LINE_LEN} bytes")]
    LineTooLong {
        /// The offending line.
        line: usize,
    },

    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,

    /// A note larger than [`MAX_NOTE_LEN`].
    #[error("note is larger than {MAX_NOTE_LEN} bytes")]
    TooLarge,

    /// No signature line is by the trusted key (same name *and* key ID).
    #[error("note has no signature by {name}+{key_id:08x}")]
    NotSigned {
        /// Name of the trusted key.
        name: String,
        /// Key ID of the trusted key.
        key_id: u32,
    },

    /// A signature line by the trusted key that does not verify: the note was altered, or
    /// signed by someone else under a colliding name and key ID.
    #[error("invalid signature by {name}+{key_id:08x}")]
    InvalidSignature {
        /// Name of the trusted key.
        name: String,
        /// Key ID of the trusted key.
        key_id: u32,
    },

    /// A correctly signed note whose text is not a valid checkpoint.
    #[error("invalid checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),

    /// A correctly signed checkpoint from another log.
    #[error("checkpoint origin is {found:?}, expected {expected:?}")]
    OriginMismatch {
        /// The origin the caller trusts.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },

    /// The cryptographic library or the system random number generator failed.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),

    /// A signer key file could not be created or was refused when loading.
    #[error("key file {}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
}

/// An Ed25519 note signing key with its name (normally the log's origin).
///
/// The seed is zeroized when the signer is dropped; `Debug` shows the name and key ID only.
pub struct Signer {
    name: String,
    key_id: u32,
    seed: Zeroizing<[u8; SEED_LEN]>,
    key_pair: Ed25519KeyPair,
    public_key: [u8; PUBLIC_KEY_LEN],
}

impl Signer {
    /// A new random key named `name`.
    ///
    /// # Errors
    /// [`NoteError::InvalidName`]; [`NoteError::Crypto`] if the system random number
    /// generator fails.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName);
        }
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        aws_lc_rs::rand::fill(&mut seed[..])
            .map_err(|_| NoteError::Crypto("system random number generator failed"))?;
        Self::from_seed(name, &seed)
    }

    /// The key with the given RFC 8032 seed (private key), named `name`.
    ///
    /// # Errors
    /// [`NoteError::InvalidName`]; [`NoteError::Crypto`] if aws-lc refuses the seed.
    pub fn from_seed(name: &str, seed: &[u8; SEED_LEN]) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName);
        }
        let key_pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| NoteError::Crypto("Ed25519 seed rejected"))?;
        let mut public_key = [0u8; PUBLIC_KEY_LEN];
        public_key.copy_from_slice(key_pair.public_key().as_ref());
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &public_key),
            seed: Zeroizing::new(*seed),
            key_pair,
            public_key,
        })
    }

    /// Parses a signer key, `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>`, as
    /// produced by [`Signer::to_text`] and by Go's `note.GenerateKey`.
    ///
    /// # Errors
    /// [`NoteError::MalformedSignerKey`] (never quoting the key), including when the key ID
    /// does not belong to the key; [`NoteError::InvalidName`].
    pub fn from_text(text: &str) -> Result<Self, NoteError> {
        let malformed = NoteError::MalformedSignerKey;
        let rest = text
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or(malformed("missing PRIVATE+KEY+ prefix"))?;
        // The name cannot contain '+', the base64 key can: split at the first two only.
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(encoded)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected PRIVATE+KEY+<name>+<key ID>+<key>"));
        };
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName);
        }
        let claimed_id = parse_key_id(id).ok_or(malformed("key ID is not 8 hex digits"))?;
        let mut decoded = Zeroizing::new([0u8; 1 + SEED_LEN]);
        // Decoding into a fixed buffer keeps the seed out of unzeroized heap memory.
        let len = STANDARD
            .decode_slice(encoded, &mut decoded[..])
            .map_err(|_| malformed("key is not base64 of 33 bytes"))?;
        if len != decoded.len() {
            return Err(malformed("key is not base64 of 33 bytes"));
        }
        if decoded[0] != ALG_ED25519 {
            return Err(malformed("unsupported key algorithm (only Ed25519, 0x01)"));
        }
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        seed.copy_from_slice(&decoded[1..]);
        let signer = Self::from_seed(name, &seed)?;
        if signer.key_id != claimed_id {
            return Err(malformed("key ID does not match the key"));
        }
        Ok(signer)
    }

    /// The signer key text, `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>`, in a
    /// buffer that is zeroized on drop. Anyone holding it can sign as this log.
    #[must_use]
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new([0u8; 1 + SEED_LEN]);
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(&self.seed[..]);
        // Reserve the exact final size up front so that the string never reallocates and
        // leaves a stray copy of the key in freed memory.
        let capacity = PRIVATE_KEY_PREFIX.len() + self.name.len() + 1 + 8 + 1 + 44;
        let mut text = Zeroizing::new(String::with_capacity(capacity));
        text.push_str(PRIVATE_KEY_PREFIX);
        text.push_str(&self.name);
        // Writing to a String cannot fail.
        let _ = write!(text, "+{:08x}+", self.key_id);
        STANDARD.encode_string(&raw[..], &mut text);
        debug_assert_eq!(text.len(), capacity);
        text
    }

    /// The matching verifier (public) key.
    #[must_use]
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            public_key: self.public_key,
        }
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Creates a file holding a new random signer key named `name` and returns the signer.
    ///
    /// The file holds the key text and a newline. It is created with mode 0600 and `O_EXCL`,
    /// so an existing key (or a symlink planted in its place) is never overwritten, and file
    /// and directory are fsynced before returning: once a checkpoint has been signed, losing
    /// the key would force a new log identity. On failure no partial file is left behind.
    ///
    /// # Errors
    /// [`NoteError::KeyFile`] naming the path; [`NoteError::InvalidName`];
    /// [`NoteError::Crypto`].
    pub fn create_file(path: &Path, name: &str) -> Result<Self, NoteError> {
        let signer = Self::generate(name)?;
        let mut text = signer.to_text();
        text.push('\n');
        kenshin_crypto::create_secret_file(path, text.as_bytes(), "signing key")
            .map_err(|reason| key_file_error(path, reason))?;
        Ok(signer)
    }

    /// Loads a signer key file: the key text, optionally followed by one newline.
    ///
    /// # Errors
    /// [`NoteError::KeyFile`] naming the path if the file is missing or unreadable, is not a
    /// regular file, grants any permission to group or others (unix), is too large, or does
    /// not hold a valid signer key.
    pub fn load_file(path: &Path) -> Result<Self, NoteError> {
        let (buffer, _) = kenshin_crypto::read_secret_file(path, MAX_KEY_FILE_LEN, "signing key")
            .map_err(|reason| key_file_error(path, reason))?;
        let filled = buffer.len();
        if filled > MAX_KEY_FILE_LEN {
            return Err(key_file_error(
                path,
                format!("larger than {MAX_KEY_FILE_LEN} bytes; not a signer key"),
            ));
        }
        let content = &buffer[..filled];
        let content = content.strip_suffix(b"\n").unwrap_or(content);
        let text = std::str::from_utf8(content)
            .map_err(|_| key_file_error(path, "not UTF-8 text".to_owned()))?;
        Self::from_text(text).map_err(|err| key_file_error(path, err.to_string()))
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// An Ed25519 note verifier (public) key with its name.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key_id: u32,
    public_key: [u8; PUBLIC_KEY_LEN],
}

impl Verifier {
    /// Parses a verifier key, `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`, as produced
    /// by [`Verifier::to_text`] and by Go's `note.GenerateKey` / `note.NewEd25519VerifierKey`.
    ///
    /// # Errors
    /// [`NoteError::MalformedVerifierKey`], including when the key ID does not belong to the
    /// key; [`NoteError::InvalidName`].
    pub fn from_text(text: &str) -> Result<Self, NoteError> {
        let malformed = NoteError::MalformedVerifierKey;
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id), Some(encoded)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected <name>+<key ID>+<key>"));
        };
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName);
        }
        let claimed_id = parse_key_id(id).ok_or(malformed("key ID is not 8 hex digits"))?;
        let mut decoded = [0u8; 1 + PUBLIC_KEY_LEN];
        let len = STANDARD
            .decode_slice(encoded, &mut decoded[..])
            .map_err(|_| malformed("key is not base64 of 33 bytes"))?;
        if len != decoded.len() {
            return Err(malformed("key is not base64 of 33 bytes"));
        }
        if decoded[0] != ALG_ED25519 {
            return Err(malformed("unsupported key algorithm (only Ed25519, 0x01)"));
        }
        let mut public_key = [0u8; PUBLIC_KEY_LEN];
        public_key.copy_from_slice(&decoded[1..]);
        let verifier = Self::from_public_key(name, &public_key)?;
        if verifier.key_id != claimed_id {
            return Err(malformed("key ID does not match the key"));
        }
        Ok(verifier)
    }

    /// The verifier for a raw 32-byte Ed25519 public key named `name`.
    ///
    /// # Errors
    /// [`NoteError::InvalidName`].
    pub fn from_public_key(
        name: &str,
        public_key: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName);
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, public_key),
            public_key: *public_key,
        })
    }

    /// The verifier key text, `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut raw = [0u8; 1 + PUBLIC_KEY_LEN];
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(&self.public_key);
        format!("{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(raw))
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The raw Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.public_key
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        signature.len() == SIGNATURE_LEN
            && UnparsedPublicKey::new(&ED25519, &self.public_key)
                .verify(message, signature)
                .is_ok()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Verifier").field(&self.to_text()).finish()
    }
}

/// A signature line in an opened note that was not made by the trusted key, such as a
/// witness cosignature. It has not been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name on the signature line.
    pub name: String,
    /// The key ID (first four bytes of the decoded signature).
    pub key_id: u32,
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
}

/// A note whose signature by the trusted key has been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The signed text, including its final newline.
    pub body: String,
    /// Signatures by other keys (witness cosignatures, or the log's other keys during a key
    /// rotation), in note order. Unverified: this crate does not know their keys.
    pub other_signatures: Vec<NoteSignature>,
}

impl OpenedNote {
    /// Parses the verified text as a checkpoint.
    ///
    /// # Errors
    /// [`CheckpointError`] if the text is not a checkpoint.
    pub fn checkpoint(&self) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::parse(&self.body)
    }
}

/// Signs `body` and returns the signed note: `body`, a blank line and one signature line.
///
/// # Errors
/// [`NoteError::Malformed`] if `body` is empty, lacks its final newline, has an empty line or
/// a control character other than newline; [`NoteError::LineTooLong`] or
/// [`NoteError::TooLarge`]; [`NoteError::Crypto`] if signing fails.
pub fn sign_note(body: &str, signer: &Signer) -> Result<String, NoteError> {
    check_text(body)?;
    let signature = signer
        .key_pair
        .try_sign(body.as_bytes())
        .map_err(|_| NoteError::Crypto("Ed25519 signing failed"))?;
    let mut raw = [0u8; KEY_ID_LEN + SIGNATURE_LEN];
    raw[..KEY_ID_LEN].copy_from_slice(&signer.key_id.to_be_bytes());
    raw[KEY_ID_LEN..].copy_from_slice(signature.as_ref());

    let mut note = String::with_capacity(body.len() + signer.name.len() + 100);
    note.push_str(body);
    note.push('\n');
    note.push_str(SIGNATURE_PREFIX);
    note.push_str(&signer.name);
    note.push(' ');
    STANDARD.encode_string(raw, &mut note);
    note.push('\n');
    if note.len() > MAX_NOTE_LEN {
        return Err(NoteError::TooLarge);
    }
    Ok(note)
}

/// Signs a checkpoint: [`sign_note`] over [`Checkpoint::to_body`].
///
/// # Errors
/// [`NoteError::Checkpoint`] if the checkpoint's fields cannot be written as a checkpoint
/// body; otherwise as [`sign_note`].
pub fn sign_checkpoint(checkpoint: &Checkpoint, signer: &Signer) -> Result<String, NoteError> {
    sign_note(&checkpoint.to_body()?, signer)
}

/// Opens a signed note, verifying the signatures made by `verifier`'s key.
///
/// Succeeds only if at least one signature line is by the trusted key (same name and key ID)
/// and every such line verifies. Signature lines by other keys are returned unverified in
/// [`OpenedNote::other_signatures`], as the specification requires, so witness cosignatures
/// and key rotation do not break verification.
///
/// # Errors
/// [`NoteError::TooLarge`], [`NoteError::Malformed`], [`NoteError::LineTooLong`] or
/// [`NoteError::TooManySignatures`] for notes that break the syntax or its limits (including a
/// text without final newline or with empty lines); [`NoteError::InvalidSignature`] if a
/// signature by the trusted key fails; [`NoteError::NotSigned`] if there is none.
pub fn open_note(text: &str, verifier: &Verifier) -> Result<OpenedNote, NoteError> {
    let (body, signatures) = split_note(text)?;
    let mut verified = false;
    let mut other_signatures = Vec::new();
    for signature in signatures {
        if signature.name == verifier.name && signature.key_id == verifier.key_id {
            // The specification asks clients to reject the whole note when a known key's
            // signature fails, rather than look for another one that verifies.
            if !verifier.verify(body.as_bytes(), &signature.signature) {
                return Err(NoteError::InvalidSignature {
                    name: verifier.name.clone(),
                    key_id: verifier.key_id,
                });
            }
            verified = true;
        } else {
            other_signatures.push(signature);
        }
    }
    if !verified {
        return Err(NoteError::NotSigned {
            name: verifier.name.clone(),
            key_id: verifier.key_id,
        });
    }
    Ok(OpenedNote {
        body: body.to_owned(),
        other_signatures,
    })
}

/// Opens a signed checkpoint: [`open_note`], then [`Checkpoint::parse`], then a check that
/// the checkpoint comes from the log named `expected_origin`.
///
/// The origin check matters: one key may sign for several logs, and a checkpoint of another
/// log would otherwise pass for this one.
///
/// # Errors
/// As [`open_note`]; [`NoteError::Checkpoint`] if the text is not a checkpoint;
/// [`NoteError::OriginMismatch`].
pub fn open_checkpoint(
    text: &str,
    verifier: &Verifier,
    expected_origin: &str,
) -> Result<Checkpoint, NoteError> {
    let checkpoint = open_note(text, verifier)?.checkpoint()?;
    if checkpoint.origin != expected_origin {
        return Err(NoteError::OriginMismatch {
            expected: expected_origin.to_owned(),
            found: checkpoint.origin,
        });
    }
    Ok(checkpoint)
}

/// Splits a signed note into its text and parsed (unverified) signature lines, enforcing the
/// whole syntax and every limit.
pub(crate) fn split_note(text: &str) -> Result<(&str, Vec<NoteSignature>), NoteError> {
    if text.len() > MAX_NOTE_LEN {
        return Err(NoteError::TooLarge);
    }
    // The text is separated from the signatures by the last empty line.
    let split = text
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (body, signature_block) = (&text[..=split], &text[split + 2..]);
    check_text(body)?;
    if signature_block.is_empty() {
        return Err(NoteError::Malformed("no signatures"));
    }
    if !signature_block.ends_with('\n') {
        return Err(NoteError::Malformed("signature line without final newline"));
    }
    let first_signature_line = body.matches('\n').count() + 2;
    let mut signatures = Vec::new();
    for (offset, line) in signature_block.split_terminator('\n').enumerate() {
        if line.len() > MAX_LINE_LEN {
            return Err(NoteError::LineTooLong {
                line: first_signature_line + offset,
            });
        }
        if signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        if line.bytes().any(|b| b < 0x20) {
            return Err(NoteError::Malformed(
                "control character in a signature line",
            ));
        }
        signatures.push(parse_signature_line(line)?);
    }
    Ok((body, signatures))
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(NoteError::Malformed(
            "signature line does not start with an em dash and a space",
        ))?;
    let (name, encoded) = rest.split_once(' ').ok_or(NoteError::Malformed(
        "signature line has no space after the key name",
    ))?;
    if !is_valid_name(name) {
        return Err(NoteError::Malformed("invalid key name in a signature line"));
    }
    let raw = STANDARD
        .decode(encoded)
        .map_err(|_| NoteError::Malformed("signature is not base64"))?;
    // A key ID and at least one byte of signature, as Go requires.
    if raw.len() <= KEY_ID_LEN {
        return Err(NoteError::Malformed("signature too short"));
    }
    let (id, signature) = raw.split_at(KEY_ID_LEN);
    let mut id_bytes = [0u8; KEY_ID_LEN];
    id_bytes.copy_from_slice(id);
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: u32::from_be_bytes(id_bytes),
        signature: signature.to_vec(),
    })
}

/// Checks a note text: non-empty, newline-terminated lines, none empty, none too long, no
/// control characters other than newline, not too large.
fn check_text(body: &str) -> Result<(), NoteError> {
    if body.len() > MAX_NOTE_LEN {
        return Err(NoteError::TooLarge);
    }
    if body.is_empty() {
        return Err(NoteError::Malformed("empty text"));
    }
    if !body.ends_with('\n') {
        return Err(NoteError::Malformed("text does not end with a newline"));
    }
    for (number, line) in body.split_terminator('\n').enumerate() {
        if line.is_empty() {
            return Err(NoteError::Malformed("empty line in the text"));
        }
        if line.len() > MAX_LINE_LEN {
            return Err(NoteError::LineTooLong { line: number + 1 });
        }
        if line.bytes().any(|b| b < 0x20) {
            return Err(NoteError::Malformed("control character in the text"));
        }
    }
    Ok(())
}

/// Whether `name` may name a key: non-empty, without Unicode white space or '+' (the rules of
/// the specification and Go), and without control characters, which could never appear in a
/// valid note.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || u32::from(c) < 0x20)
}

/// The key ID the specification recommends for Ed25519 keys.
fn key_id(name: &str, public_key: &[u8; PUBLIC_KEY_LEN]) -> u32 {
    let digest = sha256(&[name.as_bytes(), b"\n", &[ALG_ED25519], public_key]);
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Exactly eight hex digits (either case, as Go accepts).
fn parse_key_id(text: &str) -> Option<u32> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

fn key_file_error(path: &Path, reason: String) -> NoteError {
    NoteError::KeyFile {
        path: path.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_name("example.com/log"));
        assert!(is_valid_name("go.sum-database"));
        assert!(is_valid_name("健診リレー"));
        for bad in [
            "",
            "a b",
            "a+b",
            "a\tb",
            "a\u{a0}b",
            "a\u{3000}b",
            "a\u{1}b",
            "a\nb",
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn key_ids() {
        assert_eq!(parse_key_id("c74f20a3"), Some(0xc74f_20a3));
        assert_eq!(parse_key_id("C74F20A3"), Some(0xc74f_20a3));
        for bad in [
            "c74f20a",
            "c74f20a30",
            "+74f20a3",
            "0xc74f20",
            "c74f20g3",
            "c74f 0a3",
        ] {
            assert_eq!(parse_key_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn text_rules() {
        assert!(check_text("a\n").is_ok());
        assert!(check_text("a\nb\n").is_ok());
        for bad in [
            "", "a", "\n", "a\n\nb\n", "\na\n", "a\r\n", "a\tb\n", "a\nb",
        ] {
            assert!(check_text(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}\n", "x".repeat(MAX_LINE_LEN));
        assert!(check_text(&long).is_ok());
        let too_long = format!("a\n{}\n", "x".repeat(MAX_LINE_LEN + 1));
        assert!(matches!(
            check_text(&too_long),
            Err(NoteError::LineTooLong { line: 2 })
        ));
    }

    #[test]
    fn debug_hides_the_seed() {
        let signer = Signer::from_seed("example.com/log", &[7; 32]).unwrap();
        let debug = format!("{signer:?}");
        let text = signer.to_text();
        let encoded_seed = text.rsplit('+').next().unwrap();
        assert!(!debug.contains(encoded_seed));
        assert!(debug.contains("example.com/log"));
    }
}
