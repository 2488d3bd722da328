//! Validation of the names that end up in certificates, and the client identity URI.
//!
//! Every client certificate carries the SAN URI
//! `urn:kenshin-relay:org:<org_code>:device:<percent-encoded device>`. The server
//! reads organisation and device from that URI (not from the subject), because the
//! URI has exactly one unambiguous encoding whereas subject strings come in several
//! ASN.1 string types and may be re-encoded by other tools.

use crate::error::{excerpt, PkiError};

/// Upper bound for subject common names (RFC 5280 `ub-common-name`).
pub(crate) const MAX_COMMON_NAME_CHARS: usize = 64;
/// Upper bound for device names; equal to the CN bound because the device name is the CN.
pub(crate) const MAX_DEVICE_CHARS: usize = MAX_COMMON_NAME_CHARS;
/// Upper bound for organisation codes (insurer numbers and institution codes fit easily).
pub(crate) const MAX_ORG_CODE_CHARS: usize = 32;

/// Prefix of the client identity URI; everything after it is fixed by [`identity_uri`].
const URI_PREFIX: &str = "urn:kenshin-relay:";
const URI_ORG_PREFIX: &str = "urn:kenshin-relay:org:";
const URI_DEVICE_SEPARATOR: &str = ":device:";

/// Checks an organisation code against `[A-Za-z0-9_-]{1,32}`.
///
/// The code is embedded verbatim in the identity URI, so the alphabet is limited to
/// characters that need no escaping there and cannot contain the `:` separator.
pub(crate) fn validate_org_code(org_code: &str) -> Result<(), PkiError> {
    if org_code.is_empty() {
        return Err(PkiError::InvalidOrgCode {
            reason: "it is empty".to_owned(),
        });
    }
    let len = org_code.chars().count();
    if len > MAX_ORG_CODE_CHARS {
        return Err(PkiError::InvalidOrgCode {
            reason: format!("it is {len} characters long"),
        });
    }
    if let Some(bad) = org_code
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(PkiError::InvalidOrgCode {
            reason: format!(
                "{:?} contains the character {:?} (U+{:04X})",
                excerpt(org_code),
                bad,
                u32::from(bad)
            ),
        });
    }
    Ok(())
}

/// Checks a device name: 1 to 64 characters, no control characters, no leading or
/// trailing whitespace.
///
/// Device names are free text (often Japanese, e.g. "健診システム1号機") chosen by the
/// institution. Control characters are refused because the name shows up in logs and
/// admin listings where they could forge lines; edge whitespace is refused because it
/// makes two visually identical devices distinct.
pub(crate) fn validate_device_name(device: &str) -> Result<(), PkiError> {
    check_subject_text(device, MAX_DEVICE_CHARS)
        .map_err(|reason| PkiError::InvalidDeviceName { reason })
}

/// Checks the CA common name with the same rules as device names.
pub(crate) fn validate_common_name(common_name: &str) -> Result<(), PkiError> {
    check_subject_text(common_name, MAX_COMMON_NAME_CHARS)
        .map_err(|reason| PkiError::InvalidCommonName { reason })
}

fn check_subject_text(value: &str, max_chars: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err("it is empty".to_owned());
    }
    let len = value.chars().count();
    if len > max_chars {
        return Err(format!(
            "it is {len} characters long; at most {max_chars} are allowed"
        ));
    }
    if let Some((index, bad)) = value.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(format!(
            "it contains the control character U+{:04X} at position {}",
            u32::from(bad),
            index + 1
        ));
    }
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return Err("it begins or ends with whitespace".to_owned());
    }
    Ok(())
}

/// Checks that `name` is usable as a DNS SAN.
///
/// The rules follow what rustls accepts as a server name (letters, digits, `-` and
/// `_`, labels of 1 to 63 characters, at most 253 characters), plus an optional
/// leading `*` wildcard label. Rejecting bad names here gives the admin an error at
/// issuance time instead of a TLS handshake failure in the field.
pub(crate) fn validate_dns_name(name: &str) -> Result<(), PkiError> {
    let fail = |reason: &str| PkiError::InvalidServerName {
        name: excerpt(name),
        reason: reason.to_owned(),
    };
    if name.is_empty() {
        return Err(fail("it is empty"));
    }
    if name.len() > 253 {
        return Err(fail("DNS names are limited to 253 characters"));
    }
    if name.ends_with('.') {
        return Err(fail("remove the trailing dot"));
    }
    for (index, label) in name.split('.').enumerate() {
        if label.is_empty() {
            return Err(fail("it contains an empty label"));
        }
        if label == "*" {
            if index == 0 {
                continue;
            }
            return Err(fail("a wildcard is only allowed as the first label"));
        }
        if label.len() > 63 {
            return Err(fail("a label is longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(fail(
                "only ASCII letters, digits, '-' and '_' are allowed (use punycode for internationalised names)",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(fail("a label must not begin or end with '-'"));
        }
    }
    Ok(())
}

/// Builds the identity URI for a validated organisation code and device name.
pub(crate) fn identity_uri(org_code: &str, device: &str) -> String {
    format!(
        "{URI_ORG_PREFIX}{org_code}{URI_DEVICE_SEPARATOR}{}",
        percent_encode(device)
    )
}

/// Result of looking at one SAN URI.
pub(crate) enum IdentityUri {
    /// The URI belongs to some other scheme and is ignored.
    Foreign,
    /// A well-formed kenshin-relay identity.
    Identity {
        /// Validated organisation code.
        org_code: String,
        /// Decoded and validated device name.
        device: String,
    },
}

/// Parses a SAN URI. URIs under `urn:kenshin-relay:` must follow [`identity_uri`]
/// exactly (after percent-decoding), otherwise an error is returned; the server
/// must not guess at identities.
pub(crate) fn parse_identity_uri(uri: &str) -> Result<IdentityUri, PkiError> {
    if !uri.starts_with(URI_PREFIX) {
        return Ok(IdentityUri::Foreign);
    }
    let malformed = |reason: String| PkiError::MalformedIdentityUri { reason };
    let rest = uri.strip_prefix(URI_ORG_PREFIX).ok_or_else(|| {
        malformed(format!(
            "{:?} does not start with {URI_ORG_PREFIX:?}",
            excerpt(uri)
        ))
    })?;
    let (org_code, encoded_device) = rest.split_once(URI_DEVICE_SEPARATOR).ok_or_else(|| {
        malformed(format!(
            "{:?} has no {URI_DEVICE_SEPARATOR:?} part",
            excerpt(uri)
        ))
    })?;
    validate_org_code(org_code).map_err(|e| malformed(e.to_string()))?;
    let device = percent_decode(encoded_device).map_err(malformed)?;
    validate_device_name(&device).map_err(|e| malformed(e.to_string()))?;
    Ok(IdentityUri::Identity {
        org_code: org_code.to_owned(),
        device,
    })
}

/// RFC 3986 unreserved characters, the only ones left unescaped. Escaping everything
/// else (including `:`) keeps the device part free of the URI's own separators.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes the UTF-8 bytes of `value` with upper-case hex digits (RFC 3986 §2.1).
pub(crate) fn percent_encode(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len() * 3);
    for &byte in value.as_bytes() {
        if is_unreserved(byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// Reverses [`percent_encode`]. Strict: every byte outside the unreserved set must be
/// escaped, escapes need two hex digits, and the result must be UTF-8.
pub(crate) fn percent_decode(encoded: &str) -> Result<String, String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => {
                    return Err(format!(
                        "incomplete percent escape at byte {} of the device part",
                        i + 1
                    ))
                }
            }
            i += 3;
        } else if is_unreserved(byte) {
            out.push(byte);
            i += 1;
        } else {
            return Err(format!(
                "unescaped character {:?} in the device part",
                char::from(byte)
            ));
        }
    }
    String::from_utf8(out).map_err(|_| "the device part is not valid UTF-8".to_owned())
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_round_trips_japanese_and_separators() {
        for device in ["健診システム1号機", "PC-01", "a:b/c d%e", "~._-"] {
            let encoded = percent_encode(device);
            assert!(
                encoded.bytes().all(|b| is_unreserved(b) || b == b'%'),
                "{encoded}"
            );
            assert_eq!(percent_decode(&encoded).unwrap(), device);
        }
        assert_eq!(percent_encode("a b:c"), "a%20b%3Ac");
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert!(percent_decode("%4").is_err());
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("a b").is_err());
        assert!(percent_decode("a:b").is_err());
        assert!(percent_decode("%FF").is_err(), "not UTF-8");
        assert_eq!(percent_decode("%e5%81%a5").unwrap(), "健");
    }

    #[test]
    fn identity_uri_round_trips() {
        let uri = identity_uri("ORG_01", "健診 1:2");
        assert_eq!(
            uri,
            "urn:kenshin-relay:org:ORG_01:device:%E5%81%A5%E8%A8%BA%201%3A2"
        );
        match parse_identity_uri(&uri).unwrap() {
            IdentityUri::Identity { org_code, device } => {
                assert_eq!(org_code, "ORG_01");
                assert_eq!(device, "健診 1:2");
            }
            IdentityUri::Foreign => panic!("own URI treated as foreign"),
        }
    }

    #[test]
    fn foreign_and_malformed_uris() {
        assert!(matches!(
            parse_identity_uri("https://example.com/").unwrap(),
            IdentityUri::Foreign
        ));
        for bad in [
            "urn:kenshin-relay:device:x",
            "urn:kenshin-relay:org:ORG",
            "urn:kenshin-relay:org:bad code:device:x",
            "urn:kenshin-relay:org:ORG:device:",
            "urn:kenshin-relay:org:ORG:device:%0A",
        ] {
            assert!(
                matches!(
                    parse_identity_uri(bad),
                    Err(PkiError::MalformedIdentityUri { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn dns_names() {
        for good in [
            "localhost",
            "relay.example.jp",
            "*.example.jp",
            "a_b.internal",
            "xn--eckwd4c7c.jp",
        ] {
            validate_dns_name(good).unwrap();
        }
        for bad in [
            "",
            "example.jp.",
            "a..b",
            "foo.*.jp",
            "-a.jp",
            "a-.jp",
            "健診.jp",
            "a b",
            "host:443",
        ] {
            assert!(validate_dns_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_dns_name(&"a".repeat(64)).is_err());
        assert!(validate_dns_name(&format!("{}.jp", ["a"; 130].join("."))).is_err());
    }
}
