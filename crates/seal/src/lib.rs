//! Deliveries sealed to their receiver.
//!
//! A receiving organisation registers one or more [age](https://age-encryption.org) recipients
//! (public keys). Every file delivered to it is then stored as an age file to those
//! recipients: the service writes it through a [`SealWriter`] and never holds an identity that
//! opens it. The receiver opens a download with the stock `age -d -i key.txt`, or with
//! [`open`] (what `kenshin-relay client fetch --identity` uses).
//!
//! Recipient kinds ([`RecipientKind`]):
//! - **X25519** (`age1…`), what every age release opens (Debian's `age` 1.1 included);
//! - **hybrid post-quantum** ML-KEM-768 + X25519 (`age1pq1…`, age ≥ 1.3), through the `age`
//!   crate's own `pq` type (rage 0.13). age refuses to mix the two in one file (a classical
//!   stanza beside a post-quantum one would undo the post-quantum protection), so an
//!   organisation's recipients are all of one kind: [`Recipients::parse`] says so in Japanese.
//!
//! The writer also hashes the plaintext as it passes ([`SealWriter::finish`] gives its size and
//! SHA-256): the receipt and the ledger commitment bind the content, not the age file, and the
//! receiver's client checks them after decrypting.

use std::io::{self, BufRead, Read, Write};
use std::str::FromStr;

use kenshin_crypto::Sha256;

/// Recipients per organisation; more would make every file's header long for no purpose.
pub const MAX_RECIPIENTS: usize = 20;

/// What went wrong with a recipient or an identity, said for the person who gave it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    #[error("age の公開鍵として読めません（age1… または age1pq1… で始まる文字列を貼り付けてください）/ not an age recipient: {0}")]
    NotARecipient(String),
    #[error("耐量子（age1pq1…）と従来型（age1…）の公開鍵は同じ組織に混在できません。どちらかにそろえてください / post-quantum and classical recipients cannot be mixed")]
    MixedKinds,
    #[error("公開鍵は {MAX_RECIPIENTS} 個までです / at most {MAX_RECIPIENTS} recipients")]
    TooMany,
    #[error("公開鍵がありません / no recipient")]
    Empty,
    #[error("秘密鍵ファイルを読めません（age-keygen で作った key.txt を指定してください）/ cannot read the identity file: {0}")]
    Identity(String),
    #[error("この秘密鍵では開けません。登録した公開鍵に対応する key.txt を指定してください / no identity in the file opens this file: {0}")]
    Decrypt(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The two kinds of recipient an organisation may register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecipientKind {
    /// `age1…`: X25519.
    X25519,
    /// `age1pq1…`: hybrid ML-KEM-768 + X25519.
    PostQuantum,
}

impl RecipientKind {
    pub fn code(self) -> &'static str {
        match self {
            RecipientKind::X25519 => "x25519",
            RecipientKind::PostQuantum => "mlkem768x25519",
        }
    }
}

// rage 0.13 deprecates X25519 *encryption* in favour of the hybrid post-quantum type; it stays
// here because the age that Debian and most receivers' systems ship (1.1, 1.2) opens only
// X25519 files. The web and the docs recommend `age1pq1…` where the receiver's age is ≥ 1.3.
#[allow(deprecated)]
enum One {
    X25519(age::x25519::Recipient),
    Pq(Box<age::pq::Recipient>),
}

/// One recipient, checked: what it is and how age writes it.
pub struct Recipient {
    text: String,
    key: One,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Recipient").field(&self.text).finish()
    }
}

impl Recipient {
    /// Reads one recipient as a person pastes it (surrounding spaces ignored).
    #[allow(deprecated)]
    pub fn parse(text: &str) -> Result<Recipient, SealError> {
        let text = text.trim();
        if text.len() > 4096 {
            return Err(SealError::NotARecipient("too long".into()));
        }
        let key = if text.starts_with("age1pq1") {
            One::Pq(Box::new(
                age::pq::Recipient::from_str(text)
                    .map_err(|e| SealError::NotARecipient(e.to_string()))?,
            ))
        } else {
            One::X25519(
                age::x25519::Recipient::from_str(text)
                    .map_err(|e| SealError::NotARecipient(e.to_string()))?,
            )
        };
        Ok(Recipient {
            text: text.to_owned(),
            key,
        })
    }

    pub fn kind(&self) -> RecipientKind {
        match self.key {
            One::X25519(_) => RecipientKind::X25519,
            One::Pq(_) => RecipientKind::PostQuantum,
        }
    }

    /// The recipient as age writes it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    #[allow(deprecated)]
    fn as_dyn(&self) -> &dyn age::Recipient {
        match &self.key {
            One::X25519(r) => r,
            One::Pq(r) => r.as_ref(),
        }
    }
}

/// An organisation's recipients: at least one, all of one kind.
#[derive(Debug)]
pub struct Recipients(Vec<Recipient>);

impl Recipients {
    /// Reads and checks a set of recipients.
    pub fn parse<S: AsRef<str>>(texts: &[S]) -> Result<Recipients, SealError> {
        if texts.is_empty() {
            return Err(SealError::Empty);
        }
        if texts.len() > MAX_RECIPIENTS {
            return Err(SealError::TooMany);
        }
        let all = texts
            .iter()
            .map(|t| Recipient::parse(t.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if all.iter().any(|r| r.kind() != all[0].kind()) {
            return Err(SealError::MixedKinds);
        }
        Ok(Recipients(all))
    }

    pub fn kind(&self) -> RecipientKind {
        self.0[0].kind()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Starts an age file to these recipients, written into `out`.
    pub fn seal<W: Write>(&self, out: W) -> Result<SealWriter<W>, SealError> {
        self.start(out, true)
    }

    /// As [`Recipients::seal`], for a caller that hashes the content itself (on another
    /// thread): [`SealWriter::finish`] then tells the size only, and an empty `sha256`.
    pub fn seal_unhashed<W: Write>(&self, out: W) -> Result<SealWriter<W>, SealError> {
        self.start(out, false)
    }

    fn start<W: Write>(&self, out: W, hash: bool) -> Result<SealWriter<W>, SealError> {
        let encryptor = age::Encryptor::with_recipients(self.0.iter().map(Recipient::as_dyn))
            .map_err(|e| match e {
                age::EncryptError::IncompatibleRecipients { .. } => SealError::MixedKinds,
                other => SealError::Io(io::Error::other(other.to_string())),
            })?;
        let stream = encryptor.wrap_output(out)?;
        Ok(SealWriter {
            stream,
            sha: hash.then(Sha256::new),
            size: 0,
        })
    }
}

/// Writes plaintext as an age file into the inner writer, hashing the plaintext on the way.
pub struct SealWriter<W: Write> {
    stream: age::stream::StreamWriter<W>,
    sha: Option<Sha256>,
    size: u64,
}

/// The plaintext an age file holds: its size and SHA-256 (lowercase hex).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Content {
    pub size: u64,
    pub sha256: String,
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.stream.write(buf)?;
        if let Some(sha) = &mut self.sha {
            sha.update(&buf[..n]);
        }
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl<W: Write> SealWriter<W> {
    /// Writes the last chunk; gives back the inner writer and what the file holds.
    pub fn finish(self) -> io::Result<(W, Content)> {
        let inner = self.stream.finish()?;
        Ok((
            inner,
            Content {
                size: self.size,
                sha256: self.sha.map(Sha256::finish_hex).unwrap_or_default(),
            },
        ))
    }
}

/// The identities of an identity file as `age-keygen` writes it (comments allowed).
pub struct Identities(Vec<Box<dyn age::Identity + Send + Sync>>);

impl Identities {
    pub fn from_reader<R: BufRead>(file: R) -> Result<Identities, SealError> {
        let parsed = age::IdentityFile::from_buffer(file)
            .map_err(|e| SealError::Identity(e.to_string()))?
            .into_identities()
            .map_err(|e| SealError::Identity(e.to_string()))?;
        if parsed.is_empty() {
            return Err(SealError::Identity("no identity in the file".into()));
        }
        Ok(Identities(parsed))
    }
}

/// Opens an age file: the plaintext, streamed (each chunk authenticated before it is read).
pub fn open<R: Read>(identities: &Identities, input: R) -> Result<impl Read, SealError> {
    let decryptor = age::Decryptor::new(input).map_err(|e| SealError::Decrypt(e.to_string()))?;
    decryptor
        .decrypt(
            identities
                .0
                .iter()
                .map(|i| i.as_ref() as &dyn age::Identity),
        )
        .map_err(|e| SealError::Decrypt(e.to_string()))
}

/// Whether `head` (the first bytes of a file) is an age file.
pub fn is_age_file(head: &[u8]) -> bool {
    head.starts_with(b"age-encryption.org/v1\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(deprecated)]
    fn x25519_pair() -> (String, String) {
        let identity = age::x25519::Identity::generate();
        (
            identity.to_public().to_string(),
            age::secrecy::ExposeSecret::expose_secret(&identity.to_string()).to_owned(),
        )
    }

    #[test]
    fn a_sealed_file_opens_with_the_identity_and_tells_its_content() {
        let (recipient, secret) = x25519_pair();
        let recipients = Recipients::parse(&[format!("  {recipient}\n")]).unwrap();
        assert_eq!(recipients.kind(), RecipientKind::X25519);
        let mut writer = recipients.seal(Vec::new()).unwrap();
        let plaintext =
            b"\xEF\xBB\xBF\xE4\xBF\x9D\xE9\x99\xBA\xE8\x80\x85\xE7\x95\xAA\xE5\x8F\xB7\n1,2,3\n"
                .repeat(5000);
        writer.write_all(&plaintext).unwrap();
        let (sealed, content) = writer.finish().unwrap();
        assert!(is_age_file(&sealed));
        assert_eq!(content.size, plaintext.len() as u64);
        let mut sha = Sha256::new();
        sha.update(&plaintext);
        assert_eq!(content.sha256, sha.finish_hex());
        let identities =
            Identities::from_reader(format!("# created: test\n{secret}\n").as_bytes()).unwrap();
        let mut opened = Vec::new();
        open(&identities, &sealed[..])
            .unwrap()
            .read_to_end(&mut opened)
            .unwrap();
        assert_eq!(opened, plaintext);
    }

    #[test]
    fn post_quantum_recipients_seal_and_open() {
        let identity = age::pq::Identity::generate();
        let recipient = identity.to_public().to_string();
        assert!(recipient.starts_with("age1pq1"));
        let recipients = Recipients::parse(&[recipient]).unwrap();
        assert_eq!(recipients.kind(), RecipientKind::PostQuantum);
        let mut writer = recipients.seal(Vec::new()).unwrap();
        writer.write_all(b"hello").unwrap();
        let (sealed, _) = writer.finish().unwrap();
        let secret = age::secrecy::ExposeSecret::expose_secret(&identity.to_string()).to_owned();
        let identities = Identities::from_reader(secret.as_bytes()).unwrap();
        let mut opened = String::new();
        open(&identities, &sealed[..])
            .unwrap()
            .read_to_string(&mut opened)
            .unwrap();
        assert_eq!(opened, "hello");
    }

    #[test]
    fn kinds_do_not_mix_and_bad_keys_are_named() {
        let (classical, _) = x25519_pair();
        let pq = age::pq::Identity::generate().to_public().to_string();
        assert!(matches!(
            Recipients::parse(&[classical.clone(), pq]),
            Err(SealError::MixedKinds)
        ));
        for bad in [
            "",
            "age1",
            "ssh-ed25519 AAAA",
            "AGE-SECRET-KEY-1QQQ",
            &classical[..20],
        ] {
            let err = Recipients::parse(&[bad]).unwrap_err();
            assert!(err.to_string().contains("age の公開鍵"), "{bad}: {err}");
        }
        assert!(matches!(
            Recipients::parse::<&str>(&[]),
            Err(SealError::Empty)
        ));
    }

    #[test]
    fn a_wrong_identity_is_refused_with_a_clear_message() {
        let (recipient, _) = x25519_pair();
        let (_, other_secret) = x25519_pair();
        let mut writer = Recipients::parse(&[recipient])
            .unwrap()
            .seal(Vec::new())
            .unwrap();
        writer.write_all(b"x").unwrap();
        let (sealed, _) = writer.finish().unwrap();
        let identities = Identities::from_reader(other_secret.as_bytes()).unwrap();
        let err = open(&identities, &sealed[..]).err().unwrap();
        assert!(err.to_string().contains("この秘密鍵では開けません"));
        assert!(Identities::from_reader(&b"not a key"[..]).is_err());
    }
}
