//! The states of a file's life (DESIGN §3).
//!
//! A submission is what the sender uploaded; each of its deliveries is what one receiver gets.
//! The transitions allowed here are the only ones the server performs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::validate::InvalidValue;

macro_rules! string_enum {
    ($name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(InvalidValue::new($what, s, concat!($($text, " "),+))),
                }
            }
        }
    };
}
pub(crate) use string_enum;

/// Where a submission is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionState {
    /// Stored encrypted; the sender's responsibility ends here (責任分界点).
    Received,
    /// A worker is converting it (conversion routes).
    Converting,
    /// Its deliveries exist; their own states tell the rest.
    Delivered,
    /// Unusable input; the sender's report says why.
    Rejected,
    /// The sender withdrew it before anything was downloaded.
    Withdrawn,
}

string_enum!(SubmissionState, "submission state", {
    Received => "received",
    Converting => "converting",
    Delivered => "delivered",
    Rejected => "rejected",
    Withdrawn => "withdrawn",
});

/// Where one delivery is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for the receiver.
    Ready,
    /// Downloaded at least once, not yet confirmed.
    Downloaded,
    /// 受信完了: the receiver confirmed; the content is destroyed.
    Confirmed,
    /// Not confirmed within the retention period; the content is destroyed.
    Expired,
    /// The sender withdrew it; the content is destroyed.
    Withdrawn,
}

string_enum!(DeliveryState, "delivery state", {
    Ready => "ready",
    Downloaded => "downloaded",
    Confirmed => "confirmed",
    Expired => "expired",
    Withdrawn => "withdrawn",
});

impl DeliveryState {
    /// Whether the content still exists and can be downloaded.
    pub fn has_content(self) -> bool {
        matches!(self, DeliveryState::Ready | DeliveryState::Downloaded)
    }

    /// Whether this is an end state (content destroyed, nothing more can happen).
    pub fn is_final(self) -> bool {
        !self.has_content()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for s in [
            "received",
            "converting",
            "delivered",
            "rejected",
            "withdrawn",
        ] {
            assert_eq!(s.parse::<SubmissionState>().unwrap().as_str(), s);
        }
        for s in ["ready", "downloaded", "confirmed", "expired", "withdrawn"] {
            assert_eq!(s.parse::<DeliveryState>().unwrap().as_str(), s);
        }
        assert!("gone".parse::<DeliveryState>().is_err());
    }

    #[test]
    fn only_open_deliveries_have_content() {
        assert!(DeliveryState::Ready.has_content());
        assert!(DeliveryState::Downloaded.has_content());
        assert!(DeliveryState::Confirmed.is_final());
        assert!(DeliveryState::Expired.is_final());
        assert!(DeliveryState::Withdrawn.is_final());
    }
}
