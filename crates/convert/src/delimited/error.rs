//! Errors of the delimited reader.
//!
//! Every message is built only from positions, lengths, limits and at most four bytes of hex:
//! the input is personal medical data, so no field text may ever reach a log or a screen
//! through an error.

use super::SourceEncoding;

/// Longest run of offending bytes shown in an [`ReadErrorKind::InvalidEncoding`] error.
///
/// Enough to show any malformed UTF-8 or Shift_JIS sequence, too little to leak a value.
pub(super) const MAX_HEX_BYTES: usize = 4;

/// A failure while reading a delimited export, with the position it happened at.
///
/// `line` is 1-based; `byte_offset` is the 0-based offset in the input (a UTF-8 byte order
/// mark counts). What the position designates depends on [`ReadErrorKind`]:
///
/// - `InvalidEncoding`: the first offending byte (and the line it is on, which for a field
///   with quoted line breaks can be after the line the record starts on);
/// - `FieldTooLarge`: the start of the field (its opening quote if it is quoted);
/// - `TooManyFields`: the start of the first field beyond the limit;
/// - `UnterminatedQuote`: the opening quote;
/// - `Io`: how far the input had been read;
/// - `Empty`: the end of the input;
/// - `InvalidDelimiter`: line 1, byte 0 (the problem is in the options, not the input).
#[derive(Debug, thiserror::Error)]
#[error("{line} 行目（{byte_offset} バイト目）/ line {line} (byte {byte_offset}): {kind}")]
pub struct ReadError {
    pub kind: ReadErrorKind,
    pub line: u64,
    pub byte_offset: u64,
}

/// What went wrong; see [`ReadError`] for the position reported with each kind.
#[derive(Debug, thiserror::Error)]
pub enum ReadErrorKind {
    /// Bytes that are not valid in the source encoding. `bytes_hex` is e.g. `"0x85 0x40"`:
    /// at most four bytes, so an error never carries more than a fragment of one character.
    #[error("文字コード不正：{encoding} として読めないバイト列 {bytes_hex}。文字コードを確かめて保存し直してください / invalid {encoding} byte sequence")]
    InvalidEncoding {
        bytes_hex: String,
        encoding: SourceEncoding,
    },
    /// A field's content (in source bytes, after removing quotes) exceeds
    /// [`DelimitedOptions::max_field_bytes`](super::DelimitedOptions::max_field_bytes).
    /// An unbalanced quote that swallows the rest of the file usually ends here.
    #[error("項目長超過：1 つの項目が {limit} バイトを超えています（引用符の閉じ忘れの可能性があります）/ field exceeds the limit of {limit} bytes")]
    FieldTooLarge { limit: usize },
    /// A record has more fields than
    /// [`DelimitedOptions::max_fields`](super::DelimitedOptions::max_fields).
    #[error(
        "項目数超過：1 行の項目が {limit} を超えています / record has more than {limit} fields"
    )]
    TooManyFields { limit: usize },
    /// The input ends inside a quoted field.
    #[error("引用符の閉じ忘れ：引用符（\"）で始まった項目がファイルの終わりまで閉じられていません / quoted field is not closed before the end of the input")]
    UnterminatedQuote,
    /// The underlying reader failed.
    #[error("読み込みに失敗しました / read failed: {0}")]
    Io(std::io::Error),
    /// The input contains no record at all (nothing, a byte order mark, or blank lines only).
    #[error("データなし：ファイルに行がありません / no data")]
    Empty,
    /// The delimiter given in the options cannot separate fields: it must be an ASCII byte
    /// other than `"`, CR and LF.
    #[error("区切り文字不正：0x{delimiter:02X} は区切り文字に使えません / unusable delimiter byte 0x{delimiter:02X}")]
    InvalidDelimiter { delimiter: u8 },
}

/// Formats up to [`MAX_HEX_BYTES`] bytes as `0x85 0x40`.
pub(super) fn hex_bytes(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(MAX_HEX_BYTES)];
    let mut out = String::with_capacity(shown.len() * 5);
    for (i, b) in shown.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&format!("0x{b:02X}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_capped() {
        assert_eq!(hex_bytes(&[0x85, 0x40]), "0x85 0x40");
        assert_eq!(hex_bytes(&[1, 2, 3, 4, 5, 6]), "0x01 0x02 0x03 0x04");
        assert_eq!(hex_bytes(&[]), "");
    }

    #[test]
    fn display_has_position_and_hex() {
        let e = ReadError {
            kind: ReadErrorKind::InvalidEncoding {
                bytes_hex: hex_bytes(&[0x85, 0x40]),
                encoding: SourceEncoding::ShiftJis,
            },
            line: 12,
            byte_offset: 3456,
        };
        let text = e.to_string();
        assert!(
            text.starts_with("12 行目（3456 バイト目）/ line 12 (byte 3456): 文字コード不正：Shift_JIS として読めないバイト列 0x85 0x40"),
            "{text}"
        );
    }
}
