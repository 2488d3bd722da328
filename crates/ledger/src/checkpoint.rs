//! Checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed statement "the log named
//! `origin` has `size` entries and this root hash".
//!
//! ```text
//! <origin>\n
//! <tree size, decimal, no leading zeros>\n
//! <base64 root hash>\n
//! [<extension line>\n ...]
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::hash::{Hash, HASH_LEN};

/// Why a checkpoint body could not be parsed or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The body does not end with a newline.
    #[error("checkpoint does not end with a newline")]
    MissingFinalNewline,
    /// Fewer than the three mandatory lines.
    #[error("checkpoint has fewer than three lines")]
    TooFewLines,
    /// An empty origin or extension line.
    #[error("checkpoint has an empty line")]
    EmptyLine,
    /// A control character (including a newline inside a field being written).
    #[error("checkpoint contains a control character")]
    ControlCharacter,
    /// The size line is not a decimal `u64` without leading zeros.
    #[error("checkpoint tree size is not a decimal number without leading zeros")]
    InvalidSize,
    /// The root line is not the canonical base64 encoding of 32 bytes.
    #[error("checkpoint root hash is not the base64 encoding of 32 bytes")]
    InvalidRoot,
}

/// A log checkpoint (tree head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, for example `kenshin-relay.example/ledger`. Any non-empty line;
    /// a schema-less URL without spaces or '+' is recommended.
    pub origin: String,
    /// The number of entries in the log.
    pub size: u64,
    /// The RFC 6962 root hash of those entries.
    pub root: Hash,
    /// Optional opaque extension lines, each non-empty. Not recommended by the specification
    /// (log monitors cannot audit them); parsed so that other logs' checkpoints still open.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint body (the note text to sign).
    ///
    /// # Errors
    /// [`CheckpointError::EmptyLine`] or [`CheckpointError::ControlCharacter`] if the origin or
    /// an extension could not be read back as the same single line.
    pub fn to_body(&self) -> Result<String, CheckpointError> {
        check_line(&self.origin)?;
        for extension in &self.extensions {
            check_line(extension)?;
        }
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for extension in &self.extensions {
            body.push_str(extension);
            body.push('\n');
        }
        Ok(body)
    }

    /// Parses a checkpoint body (a verified note text; see [`crate::open_checkpoint`]).
    ///
    /// Parsing is strict, so that each checkpoint has exactly one text: the size must have no
    /// sign, spaces or leading zeros and the root must be canonical base64.
    ///
    /// # Errors
    /// A [`CheckpointError`] naming the first problem found.
    pub fn parse(body: &str) -> Result<Self, CheckpointError> {
        let lines = body
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let mut lines = lines.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::TooFewLines);
        };
        check_line(origin)?;
        let size = parse_size(size)?;
        let root = parse_root(root)?;
        let extensions = lines
            .map(|line| check_line(line).map(|()| line.to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

fn check_line(line: &str) -> Result<(), CheckpointError> {
    if line.is_empty() {
        return Err(CheckpointError::EmptyLine);
    }
    if line.bytes().any(|b| b < 0x20) {
        return Err(CheckpointError::ControlCharacter);
    }
    Ok(())
}

fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let digits_only = !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = line.len() > 1 && line.starts_with('0');
    if !digits_only || leading_zero {
        return Err(CheckpointError::InvalidSize);
    }
    line.parse().map_err(|_| CheckpointError::InvalidSize)
}

fn parse_root(line: &str) -> Result<Hash, CheckpointError> {
    let mut root = [0u8; HASH_LEN];
    // The estimate for a 44-character line is 33 bytes, so give decode_slice that much room
    // and insist on exactly 32 decoded.
    let mut buffer = [0u8; HASH_LEN + 1];
    match STANDARD.decode_slice(line, &mut buffer) {
        Ok(HASH_LEN) => {
            root.copy_from_slice(&buffer[..HASH_LEN]);
            Ok(root)
        }
        _ => Err(CheckpointError::InvalidRoot),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_B64: &str = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";

    #[test]
    fn parses_the_specification_example() {
        let body = format!("example.com/behind-the-sofa\n20852163\n{ROOT_B64}\n");
        let checkpoint = Checkpoint::parse(&body).unwrap();
        assert_eq!(checkpoint.origin, "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size, 20_852_163);
        assert_eq!(STANDARD.encode(checkpoint.root), ROOT_B64);
        assert!(checkpoint.extensions.is_empty());
        assert_eq!(checkpoint.to_body().unwrap(), body);
    }

    #[test]
    fn extensions_round_trip() {
        let body = format!("o\n0\n{ROOT_B64}\next one\nanother\n");
        let checkpoint = Checkpoint::parse(&body).unwrap();
        assert_eq!(checkpoint.extensions, ["ext one", "another"]);
        assert_eq!(checkpoint.to_body().unwrap(), body);
    }

    #[test]
    fn rejects_malformed_bodies() {
        let cases = [
            (
                format!("o\n1\n{ROOT_B64}"),
                CheckpointError::MissingFinalNewline,
            ),
            ("o\n1\n".to_owned(), CheckpointError::TooFewLines),
            (format!("\n1\n{ROOT_B64}\n"), CheckpointError::EmptyLine),
            (format!("o\n1\n{ROOT_B64}\n\n"), CheckpointError::EmptyLine),
            (format!("o\n01\n{ROOT_B64}\n"), CheckpointError::InvalidSize),
            (format!("o\n+1\n{ROOT_B64}\n"), CheckpointError::InvalidSize),
            (format!("o\n 1\n{ROOT_B64}\n"), CheckpointError::InvalidSize),
            (format!("o\n\n{ROOT_B64}\n"), CheckpointError::InvalidSize),
            (
                format!("o\n18446744073709551616\n{ROOT_B64}\n"),
                CheckpointError::InvalidSize,
            ),
            ("o\n1\nAAAA\n".to_owned(), CheckpointError::InvalidRoot),
            (
                format!("o\n1\n{}\n", &ROOT_B64[..43]),
                CheckpointError::InvalidRoot,
            ),
            // Same bytes, non-canonical final character.
            (
                format!("o\n1\n{}J=\n", &ROOT_B64[..42]),
                CheckpointError::InvalidRoot,
            ),
            (
                format!("o\tx\n1\n{ROOT_B64}\n"),
                CheckpointError::ControlCharacter,
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(Checkpoint::parse(&body), Err(expected), "{body:?}");
        }
        assert_eq!(
            Checkpoint::parse(&format!("o\n18446744073709551615\n{ROOT_B64}\n"))
                .unwrap()
                .size,
            u64::MAX
        );
    }

    #[test]
    fn refuses_to_write_unparseable_fields() {
        let mut checkpoint = Checkpoint {
            origin: "a\nb".to_owned(),
            size: 1,
            root: [0; 32],
            extensions: Vec::new(),
        };
        assert_eq!(checkpoint.to_body(), Err(CheckpointError::ControlCharacter));
        checkpoint.origin = String::new();
        assert_eq!(checkpoint.to_body(), Err(CheckpointError::EmptyLine));
        checkpoint.origin = "o".to_owned();
        checkpoint.extensions.push(String::new());
        assert_eq!(checkpoint.to_body(), Err(CheckpointError::EmptyLine));
    }
}
