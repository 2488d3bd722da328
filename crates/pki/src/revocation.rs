//! Revocation entries and reasons, as stored by the admin CLI and written into CRLs.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::error::{excerpt, PkiError};

/// Why a certificate was revoked (the subset of RFC 5280 §5.3.1 reasons that make
/// sense for end-entity certificates of this relay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// No specific reason. Written without a reasonCode extension, as RFC 5280 asks.
    Unspecified,
    /// The device's private key is known or suspected to be compromised.
    KeyCompromise,
    /// The device or organisation changed (e.g. contract with the insurer ended).
    AffiliationChanged,
    /// The certificate was replaced by a new one.
    Superseded,
    /// The device was decommissioned.
    CessationOfOperation,
}

impl RevocationReason {
    /// All reasons, in the order they are listed in help texts.
    pub const ALL: [RevocationReason; 5] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
    ];

    /// Comma-separated list of the accepted names, for CLI help and error messages.
    const NAMES: &'static str =
        "unspecified, key-compromise, affiliation-changed, superseded, cessation-of-operation";

    /// The kebab-case name used on the command line and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "key-compromise",
            RevocationReason::AffiliationChanged => "affiliation-changed",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessation-of-operation",
        }
    }

    /// The CRL entry reasonCode to write; `None` for [`RevocationReason::Unspecified`]
    /// because RFC 5280 §5.3.1 says the extension SHOULD then be absent.
    pub(crate) fn to_rcgen(self) -> Option<rcgen::RevocationReason> {
        match self {
            RevocationReason::Unspecified => None,
            RevocationReason::KeyCompromise => Some(rcgen::RevocationReason::KeyCompromise),
            RevocationReason::AffiliationChanged => {
                Some(rcgen::RevocationReason::AffiliationChanged)
            }
            RevocationReason::Superseded => Some(rcgen::RevocationReason::Superseded),
            RevocationReason::CessationOfOperation => {
                Some(rcgen::RevocationReason::CessationOfOperation)
            }
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RevocationReason {
    type Err = PkiError;

    /// Parses the kebab-case names produced by [`fmt::Display`]. Matching is exact
    /// (case-sensitive) so that what is stored is always what is displayed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RevocationReason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == s)
            .ok_or_else(|| PkiError::UnknownRevocationReason {
                given: excerpt(s),
                expected: RevocationReason::NAMES,
            })
    }
}

/// One revoked certificate, as listed in the CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Serial number in hex as reported by [`crate::IssuedCert::serial_hex`]. Upper
    /// case and `:` separators (as printed by OpenSSL) are accepted too.
    pub serial_hex: String,
    /// When the revocation was recorded.
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: RevocationReason,
}

/// Turns a hex serial into the minimal big-endian magnitude (no leading zero bytes),
/// which is the form compared for duplicates and handed to the DER writer.
pub(crate) fn parse_serial_hex(serial_hex: &str) -> Result<Vec<u8>, PkiError> {
    let fail = |reason: &str| PkiError::InvalidSerial {
        serial: excerpt(serial_hex),
        reason: reason.to_owned(),
    };
    let digits: String = serial_hex.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() {
        return Err(fail("it is empty"));
    }
    if !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(fail("only hex digits and ':' separators are allowed"));
    }
    let padded = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    let bytes = hex::decode(&padded).map_err(|_| fail("not valid hex"))?;
    let first_nonzero = bytes.iter().position(|b| *b != 0);
    let Some(start) = first_nonzero else {
        return Err(fail("serial number zero is never issued by this CA"));
    };
    let magnitude = bytes[start..].to_vec();
    if magnitude.len() > 20 {
        return Err(fail("RFC 5280 limits serial numbers to 20 octets"));
    }
    Ok(magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_round_trip() {
        for reason in RevocationReason::ALL {
            assert_eq!(
                reason.to_string().parse::<RevocationReason>().unwrap(),
                reason
            );
            assert!(RevocationReason::NAMES.contains(reason.as_str()));
        }
        assert_eq!(
            "key-compromise".parse::<RevocationReason>().unwrap(),
            RevocationReason::KeyCompromise
        );
        let err = "KeyCompromise".parse::<RevocationReason>().unwrap_err();
        assert!(err.to_string().contains("key-compromise"), "{err}");
    }

    #[test]
    fn serial_parsing() {
        assert_eq!(parse_serial_hex("4a0b").unwrap(), vec![0x4a, 0x0b]);
        assert_eq!(parse_serial_hex("4A:0B").unwrap(), vec![0x4a, 0x0b]);
        assert_eq!(parse_serial_hex("00c3").unwrap(), vec![0xc3]);
        assert_eq!(parse_serial_hex("abc").unwrap(), vec![0x0a, 0xbc]);
        for bad in ["", ":", "0000", "xyz", "12 34", &"11".repeat(21)] {
            assert!(
                matches!(parse_serial_hex(bad), Err(PkiError::InvalidSerial { .. })),
                "{bad:?}"
            );
        }
        assert!(parse_serial_hex(&format!("00{}", "11".repeat(20))).is_ok());
    }
}
