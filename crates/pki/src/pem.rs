//! Minimal RFC 7468 PEM encoding and decoding.
//!
//! Implemented here rather than taken from a dependency for two reasons: the
//! decoded bytes of private keys go straight into [`Zeroizing`] buffers (the PEM
//! readers of rcgen and x509-parser leave unwiped copies behind), and the crate must
//! re-encode certificates it loaded from disk, which none of the dependencies expose.

use zeroize::Zeroizing;

use crate::error::PkiError;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const LINE_CHARS: usize = 64;

/// Encodes `der` as a PEM block with LF line endings and 64-character lines, the
/// layout OpenSSL writes, so files look the same whichever tool produced them.
///
/// The output is written into a buffer allocated at its exact final size and never
/// copied, so when it holds a private key the only copy is the returned string
/// (which callers wrap in `Zeroizing`).
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let body_len = der.len().div_ceil(3) * 4;
    let line_count = body_len.div_ceil(LINE_CHARS);
    let frame_len = "-----BEGIN -----\n".len() + "-----END -----\n".len() + 2 * label.len();
    let mut out = String::with_capacity(frame_len + body_len + line_count);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    let mut written = 0;
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (n >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[index as usize]));
            } else {
                out.push('=');
            }
            written += 1;
            if written % LINE_CHARS == 0 {
                out.push('\n');
            }
        }
    }
    if written % LINE_CHARS != 0 {
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Decodes the single PEM block in `input`, which must carry `label`.
///
/// Text before and after the block is ignored (RFC 7468 §2 explanatory text), but
/// a second block is an error: silently picking the first certificate of a bundle,
/// or the first of several keys, would hide an operator mistake. The result is
/// wiped on drop because it may be a private key.
pub(crate) fn decode_single(
    input: &str,
    label: &str,
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let fail = |reason: String| PkiError::InvalidPem { what, reason };
    let mut found: Option<(&str, Zeroizing<Vec<u8>>)> = None;
    let mut lines = input.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(found_label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        else {
            continue;
        };
        if found.is_some() {
            return Err(fail(format!(
                "expected exactly one PEM block, found another \"{found_label}\" block"
            )));
        }
        let mut body = Zeroizing::new(String::with_capacity(input.len()));
        let mut ended = false;
        for line in lines.by_ref() {
            let line = line.trim();
            if let Some(end_label) = line
                .strip_prefix("-----END ")
                .and_then(|rest| rest.strip_suffix("-----"))
            {
                if end_label != found_label {
                    return Err(fail(format!(
                        "BEGIN {found_label} is closed by END {end_label}"
                    )));
                }
                ended = true;
                break;
            }
            body.push_str(line);
        }
        if !ended {
            return Err(fail(format!("missing END {found_label} line")));
        }
        let decoded = decode_base64(&body).map_err(fail)?;
        found = Some((found_label, decoded));
    }
    let (found_label, decoded) =
        found.ok_or_else(|| fail("no \"-----BEGIN\" line found".to_owned()))?;
    if found_label != label {
        return Err(fail(format!(
            "expected a \"{label}\" block, found \"{found_label}\""
        )));
    }
    if decoded.is_empty() {
        return Err(fail("the PEM block is empty".to_owned()));
    }
    Ok(decoded)
}

/// Strict standard base64 with mandatory padding; whitespace is not allowed here
/// because the caller already joined the trimmed lines.
fn decode_base64(body: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let bytes = body.as_bytes();
    if bytes.len() % 4 != 0 {
        return Err("the base64 body has a length that is not a multiple of 4".to_owned());
    }
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() / 4 * 3));
    let quads = bytes.len() / 4;
    for (q, quad) in bytes.chunks(4).enumerate() {
        let is_last = q + 1 == quads;
        let padding = quad.iter().rev().take_while(|b| **b == b'=').count();
        if padding > 2 || (padding > 0 && !is_last) {
            return Err("misplaced '=' padding in the base64 body".to_owned());
        }
        let mut n: u32 = 0;
        for &c in &quad[..4 - padding] {
            let value = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => {
                    return Err(format!(
                        "invalid character {:?} in the base64 body",
                        char::from(c)
                    ))
                }
            };
            n = n << 6 | u32::from(value);
        }
        n <<= 6 * padding as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_all_lengths() {
        for len in 0..200usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let pem = encode("TEST", &data);
            assert!(pem.lines().all(|l| l.len() <= 64));
            assert_eq!(pem.len(), pem.capacity(), "buffer was reallocated");
            if len == 0 {
                assert!(decode_single(&pem, "TEST", "test").is_err());
            } else {
                assert_eq!(*decode_single(&pem, "TEST", "test").unwrap(), data);
            }
        }
    }

    #[test]
    fn known_vector_and_crlf() {
        let pem = "comment\r\n-----BEGIN X-----\r\nTWFu\r\nTWE=\r\n-----END X-----\r\n";
        assert_eq!(*decode_single(pem, "X", "t").unwrap(), b"ManMa".to_vec());
        assert_eq!(
            encode("X", b"ManMa"),
            "-----BEGIN X-----\nTWFuTWE=\n-----END X-----\n"
        );
    }

    #[test]
    fn rejects_malformed_input() {
        let two = format!("{}{}", encode("X", b"a"), encode("X", b"b"));
        for (input, needle) in [
            ("", "no \"-----BEGIN\""),
            ("-----BEGIN X-----\nTWFu\n", "missing END"),
            ("-----BEGIN X-----\nTWFu\n-----END Y-----\n", "closed by"),
            ("-----BEGIN X-----\nTQ==TWFu\n-----END X-----\n", "padding"),
            (
                "-----BEGIN X-----\nTW=u\n-----END X-----\n",
                "invalid character",
            ),
            ("-----BEGIN X-----\nTWF\n-----END X-----\n", "multiple of 4"),
            (
                "-----BEGIN X-----\nTW*u\n-----END X-----\n",
                "invalid character",
            ),
            (
                "-----BEGIN Y-----\nTWFu\n-----END Y-----\n",
                "expected a \"X\"",
            ),
            (two.as_str(), "exactly one"),
        ] {
            let err = decode_single(input, "X", "test").unwrap_err().to_string();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }
}
