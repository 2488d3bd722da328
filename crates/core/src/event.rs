//! The kinds of events recorded about files.
//!
//! Each lifecycle transition appends one event row. Event rows carry identifiers, organisation
//! codes, sizes, counts and times, never personal data: not even a file name, which a clerk may
//! have typed a person's name into. The transparency ledger takes these events over.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::state::string_enum;
use crate::validate::InvalidValue;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An upload was stored, encrypted and durable; the sender holds a receipt.
    Received,
    /// A submission was converted: record counts in, out, rejected, unrouted.
    Converted,
    /// A submission could not be converted at all (unusable input); nothing was delivered.
    Rejected,
    /// A delivery was made available to a receiver.
    Delivered,
    /// A receiver started a download.
    Downloaded,
    /// Records of a converted file were kept for the sender (no route takes their
    /// 保険者番号, or they cannot be identified): counts only.
    Held,
    /// Held records were delivered to a receiver once a route took their 保険者番号.
    Released,
    /// A receiver confirmed receipt (受信完了).
    Confirmed,
    /// The sender withdrew a submission.
    Withdrawn,
    /// A delivery was not confirmed in time.
    Expired,
    /// A stored object's data key and blob were destroyed.
    Shredded,
    /// A stored object failed authentication when read.
    IntegrityFailure,
    /// A batch of access-log rows was digested into the ledger.
    AccessLogDigest,
    /// Access-log rows older than the retention period were removed, up to a digested batch.
    AccessLogExpired,
    /// The age recipients an organisation's deliveries are sealed to were changed (reason:
    /// `added` or `removed`): who could open its future files is on the record.
    RecipientsChanged,
}

string_enum!(EventKind, "event kind", {
    Received => "received",
    Converted => "converted",
    Rejected => "rejected",
    Delivered => "delivered",
    Downloaded => "downloaded",
    Held => "held",
    Released => "released",
    Confirmed => "confirmed",
    Withdrawn => "withdrawn",
    Expired => "expired",
    Shredded => "shredded",
    IntegrityFailure => "integrity_failure",
    AccessLogDigest => "access_log_digest",
    AccessLogExpired => "access_log_expired",
    RecipientsChanged => "recipients_changed",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in [
            EventKind::Received,
            EventKind::Converted,
            EventKind::Rejected,
            EventKind::Delivered,
            EventKind::Downloaded,
            EventKind::Held,
            EventKind::Released,
            EventKind::Confirmed,
            EventKind::Withdrawn,
            EventKind::Expired,
            EventKind::Shredded,
            EventKind::IntegrityFailure,
            EventKind::AccessLogDigest,
            EventKind::AccessLogExpired,
            EventKind::RecipientsChanged,
        ] {
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), kind);
        }
    }
}
