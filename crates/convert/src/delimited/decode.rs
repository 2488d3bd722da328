//! Decoding of one field's bytes into text.
//!
//! Fields are decoded whole, after the scanner has collected all of their bytes, so a
//! multi-byte character split across two reads of the input is never split here.

use encoding_rs::{DecoderResult, SHIFT_JIS};

use super::SourceEncoding;

/// U+301C WAVE DASH: what JIS-based mappings (and tools built on them) produce for Shift_JIS
/// 0x8160.
const WAVE_DASH: char = '\u{301C}';
/// U+FF5E FULLWIDTH TILDE: what Windows (CP932) and encoding_rs produce for 0x8160.
const FULLWIDTH_TILDE: &str = "\u{FF5E}";

/// Where a field stops being valid in its encoding, relative to the start of the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Malformed {
    /// Index of the first offending byte.
    pub index: usize,
    /// Number of offending bytes (not capped; the caller caps what it shows).
    pub len: usize,
}

/// Decodes one field, normalising U+301C WAVE DASH to U+FF5E FULLWIDTH TILDE.
///
/// The normalisation makes a 〜 typed on a JIS-mapping system and a ～ typed on Windows the
/// same character once converted, whichever encoding the export arrived in.
pub(super) fn decode_field(encoding: SourceEncoding, bytes: &[u8]) -> Result<String, Malformed> {
    // ASCII is the same in both encodings and is most of a checkup export (codes, dates,
    // measurements), so it skips the decoder and the output over-allocation it needs.
    if bytes.is_ascii() {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return Ok(text.to_owned());
        }
    }
    let text = match encoding {
        SourceEncoding::Utf8 => decode_utf8(bytes)?,
        SourceEncoding::ShiftJis => decode_shift_jis(bytes)?,
    };
    Ok(normalise_wave_dash(text))
}

fn decode_utf8(bytes: &[u8]) -> Result<String, Malformed> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(e) => {
            let index = e.valid_up_to();
            // `None` means the field ends inside a sequence: everything left is the culprit.
            let len = e.error_len().unwrap_or(bytes.len() - index);
            Err(Malformed { index, len })
        }
    }
}

fn decode_shift_jis(bytes: &[u8]) -> Result<String, Malformed> {
    let mut decoder = SHIFT_JIS.new_decoder_without_bom_handling();
    // Shift_JIS never needs more than 3 UTF-8 bytes per 2 input bytes (or 3 per half-width
    // katakana byte); ask the decoder rather than hard-coding the ratio, and fall back to
    // growing the string if the computation would overflow.
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(bytes.len());
    let mut out = String::with_capacity(capacity);
    let mut read_total = 0;
    loop {
        let (result, read) =
            decoder.decode_to_string_without_replacement(&bytes[read_total..], &mut out, true);
        read_total += read;
        match result {
            DecoderResult::InputEmpty => return Ok(out),
            DecoderResult::OutputFull => out.reserve(bytes.len() - read_total + 16),
            DecoderResult::Malformed(bad, extra) => {
                let index = read_total - usize::from(bad) - usize::from(extra);
                let mut len = usize::from(bad);
                // For a lead byte followed by an ASCII byte that does not complete a mapped
                // character (e.g. 0x85 0x40), encoding_rs blames only the lead byte and
                // re-reads the ASCII byte. The pair is what is wrong, so show both.
                if len == 1
                    && index + 1 < bytes.len()
                    && is_lead_byte(bytes[index])
                    && is_trail_byte(bytes[index + 1])
                {
                    len = 2;
                }
                return Err(Malformed { index, len });
            }
        }
    }
}

fn normalise_wave_dash(text: String) -> String {
    if text.contains(WAVE_DASH) {
        text.replace(WAVE_DASH, FULLWIDTH_TILDE)
    } else {
        text
    }
}

/// First byte of a two-byte Shift_JIS (CP932) character.
pub(super) fn is_lead_byte(b: u8) -> bool {
    matches!(b, 0x81..=0x9F | 0xE0..=0xFC)
}

/// Second byte of a two-byte Shift_JIS (CP932) character.
pub(super) fn is_trail_byte(b: u8) -> bool {
    matches!(b, 0x40..=0x7E | 0x80..=0xFC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sjis(text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = SHIFT_JIS.encode(text);
        assert!(!unmappable, "test text must be CP932-encodable");
        bytes.into_owned()
    }

    #[test]
    fn shift_jis_extensions_decode() {
        let text = "①㈱Ⅰ髙橋﨑～ｶﾅ";
        assert_eq!(
            decode_field(SourceEncoding::ShiftJis, &sjis(text)).as_deref(),
            Ok(text)
        );
    }

    #[test]
    fn cp932_0x8160_is_fullwidth_tilde() {
        assert_eq!(
            decode_field(SourceEncoding::ShiftJis, &[0x81, 0x60]).as_deref(),
            Ok("\u{FF5E}")
        );
    }

    #[test]
    fn utf8_wave_dash_is_normalised() {
        assert_eq!(
            decode_field(SourceEncoding::Utf8, "9時〜17時".as_bytes()).as_deref(),
            Ok("9時～17時")
        );
    }

    #[test]
    fn unmapped_pair_reports_both_bytes() {
        assert_eq!(
            decode_field(SourceEncoding::ShiftJis, &[0x41, 0x85, 0x40, 0x41]),
            Err(Malformed { index: 1, len: 2 })
        );
    }

    #[test]
    fn truncated_lead_byte() {
        assert_eq!(
            decode_field(SourceEncoding::ShiftJis, &[0x82, 0xA0, 0x81]),
            Err(Malformed { index: 2, len: 1 })
        );
    }

    #[test]
    fn invalid_utf8() {
        assert_eq!(
            decode_field(SourceEncoding::Utf8, &[b'a', 0xE3, 0x81]),
            Err(Malformed { index: 1, len: 2 })
        );
        assert_eq!(
            decode_field(SourceEncoding::Utf8, &[b'a', 0xFF, b'b']),
            Err(Malformed { index: 1, len: 1 })
        );
    }
}
