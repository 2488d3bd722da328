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

/// Why records of a converted submission were kept for the sender instead of delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeldReason {
    /// No receiving organisation takes their 保険者番号 (yet): released to the receiver as
    /// soon as a route exists.
    Unrouted,
    /// They cannot be identified or routed (no 保険者番号, 受診日, 生年月日 or 性別, an
    /// unreadable row): returned to the sender as the rows it sent, with the reason.
    Rejected,
}

string_enum!(HeldReason, "held reason", {
    Unrouted => "unrouted",
    Rejected => "rejected",
});

/// Where a batch of held records is in its life. Every record of a converted file ends
/// delivered, returned to its sender, or destroyed with a ledger entry — never silently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeldState {
    /// Kept encrypted for the sender; it may download them.
    Held,
    /// A route now takes their 保険者番号: delivered to the receiver (a delivery of its own).
    Released,
    /// Not released within the retention period; the content is destroyed.
    Expired,
    /// The sender withdrew the submission; the content is destroyed.
    Withdrawn,
}

string_enum!(HeldState, "held state", {
    Held => "held",
    Released => "released",
    Expired => "expired",
    Withdrawn => "withdrawn",
});

impl HeldState {
    /// Held records go to the receiver once a route takes them (unrouted records only).
    pub fn release(self, reason: HeldReason) -> Result<HeldState, LifecycleError> {
        match (self, reason) {
            (HeldState::Held, HeldReason::Unrouted) => Ok(HeldState::Released),
            (HeldState::Held, HeldReason::Rejected) => Err(LifecycleError::NotRoutable),
            (_, _) => Err(LifecycleError::NoLongerHeld(self)),
        }
    }

    /// The retention period ran out while they were still held.
    pub fn expire(self) -> Result<HeldState, LifecycleError> {
        match self {
            HeldState::Held => Ok(HeldState::Expired),
            other => Err(LifecycleError::NoLongerHeld(other)),
        }
    }

    /// The sender withdraws the submission: what is still held goes with it; what was
    /// released is a delivery and follows the delivery's rule.
    pub fn withdraw(self) -> Option<HeldState> {
        match self {
            HeldState::Held => Some(HeldState::Withdrawn),
            _ => None,
        }
    }

    /// The sender downloads them: allowed while they are held.
    pub fn download(self) -> Result<HeldState, LifecycleError> {
        match self {
            HeldState::Held => Ok(HeldState::Held),
            other => Err(LifecycleError::NoLongerHeld(other)),
        }
    }
}

/// Why a lifecycle action is refused in the current state. The service turns each into its
/// answer (410, 409, …) with the details it knows (when, by whom).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The delivery's content was destroyed (confirmed, expired or withdrawn).
    #[error("the content was destroyed ({0})")]
    Destroyed(DeliveryState),
    /// 受信完了 before any download.
    #[error("the delivery has not been downloaded yet")]
    NotDownloaded,
    /// A withdrawal after a receiver downloaded.
    #[error("a receiver has already downloaded it")]
    AlreadyDownloaded,
    /// The submission was withdrawn before.
    #[error("the submission was already withdrawn")]
    AlreadyWithdrawn,
    /// The submission was rejected: nothing to withdraw or convert.
    #[error("the submission was rejected")]
    Rejected,
    /// Held records that are no longer held (released, expired or withdrawn).
    #[error("the records are no longer held ({0})")]
    NoLongerHeld(HeldState),
    /// Records returned to the sender because they cannot be routed are never released.
    #[error("records that cannot be identified or routed are never released")]
    NotRoutable,
    /// Any other action that this state does not allow.
    #[error("a {state} submission cannot {action}")]
    NotAllowed {
        state: SubmissionState,
        action: &'static str,
    },
}

impl DeliveryState {
    /// Every delivery state.
    pub const ALL: [DeliveryState; 5] = [
        DeliveryState::Ready,
        DeliveryState::Downloaded,
        DeliveryState::Confirmed,
        DeliveryState::Expired,
        DeliveryState::Withdrawn,
    ];

    /// The states whose content still exists (what may be downloaded, confirmed after a
    /// download, withdrawn or expired).
    pub const WITH_CONTENT: [DeliveryState; 2] = [DeliveryState::Ready, DeliveryState::Downloaded];

    /// Whether the content still exists and can be downloaded.
    pub fn has_content(self) -> bool {
        Self::WITH_CONTENT.contains(&self)
    }

    /// Whether this is an end state (content destroyed, nothing more can happen).
    pub fn is_final(self) -> bool {
        !self.has_content()
    }

    /// A download: allowed while the content exists, any number of times.
    pub fn download(self) -> Result<DeliveryState, LifecycleError> {
        match self {
            DeliveryState::Ready | DeliveryState::Downloaded => Ok(DeliveryState::Downloaded),
            destroyed => Err(LifecycleError::Destroyed(destroyed)),
        }
    }

    /// 受信完了: only after a download. Confirming again changes nothing (`Ok(None)`), so a
    /// repeated click or a retried request is harmless.
    pub fn confirm(self) -> Result<Option<DeliveryState>, LifecycleError> {
        match self {
            DeliveryState::Downloaded => Ok(Some(DeliveryState::Confirmed)),
            DeliveryState::Confirmed => Ok(None),
            DeliveryState::Ready => Err(LifecycleError::NotDownloaded),
            destroyed => Err(LifecycleError::Destroyed(destroyed)),
        }
    }

    /// The retention period ran out: the content of an open delivery is destroyed.
    pub fn expire(self) -> Result<DeliveryState, LifecycleError> {
        match self {
            DeliveryState::Ready | DeliveryState::Downloaded => Ok(DeliveryState::Expired),
            destroyed => Err(LifecycleError::Destroyed(destroyed)),
        }
    }

    /// The sender withdraws: refused once this delivery was ever downloaded (`ever_downloaded`:
    /// an expired delivery may have been); an open one is withdrawn, and one that ended
    /// without a download has nothing left to withdraw (`Ok(None)`).
    pub fn withdraw(self, ever_downloaded: bool) -> Result<Option<DeliveryState>, LifecycleError> {
        match self {
            DeliveryState::Downloaded | DeliveryState::Confirmed => {
                Err(LifecycleError::AlreadyDownloaded)
            }
            _ if ever_downloaded => Err(LifecycleError::AlreadyDownloaded),
            DeliveryState::Ready => Ok(Some(DeliveryState::Withdrawn)),
            DeliveryState::Expired | DeliveryState::Withdrawn => Ok(None),
        }
    }
}

impl SubmissionState {
    /// Every submission state.
    pub const ALL: [SubmissionState; 5] = [
        SubmissionState::Received,
        SubmissionState::Converting,
        SubmissionState::Delivered,
        SubmissionState::Rejected,
        SubmissionState::Withdrawn,
    ];

    /// A worker takes a received file for conversion.
    pub fn start_conversion(self) -> Result<SubmissionState, LifecycleError> {
        match self {
            SubmissionState::Received => Ok(SubmissionState::Converting),
            state => Err(LifecycleError::NotAllowed {
                state,
                action: "start converting",
            }),
        }
    }

    /// A conversion finished: delivered when it produced any output for a receiver, else
    /// rejected. Only a file still received or converting can finish (a withdrawn or already
    /// finished one is not recorded twice).
    pub fn finish_conversion(self, delivered_any: bool) -> Result<SubmissionState, LifecycleError> {
        match self {
            SubmissionState::Received | SubmissionState::Converting => Ok(if delivered_any {
                SubmissionState::Delivered
            } else {
                SubmissionState::Rejected
            }),
            state => Err(LifecycleError::NotAllowed {
                state,
                action: "finish converting",
            }),
        }
    }

    /// The sender withdraws (whether any receiver downloaded is the deliveries' to say).
    pub fn withdraw(self) -> Result<SubmissionState, LifecycleError> {
        match self {
            SubmissionState::Received
            | SubmissionState::Converting
            | SubmissionState::Delivered => Ok(SubmissionState::Withdrawn),
            SubmissionState::Withdrawn => Err(LifecycleError::AlreadyWithdrawn),
            SubmissionState::Rejected => Err(LifecycleError::Rejected),
        }
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

    /// Every delivery state × action, against the table of DESIGN §3.
    #[test]
    fn every_delivery_state_and_action() {
        use DeliveryState::*;
        use LifecycleError::*;
        type Row = (
            DeliveryState,
            Result<DeliveryState, LifecycleError>,
            Result<Option<DeliveryState>, LifecycleError>,
            Result<DeliveryState, LifecycleError>,
            Result<Option<DeliveryState>, LifecycleError>,
        );
        // state, download, confirm, expire, withdraw
        let table: [Row; 5] = [
            (
                Ready,
                Ok(Downloaded),
                Err(NotDownloaded),
                Ok(Expired),
                Ok(Some(Withdrawn)),
            ),
            (
                Downloaded,
                Ok(Downloaded),
                Ok(Some(Confirmed)),
                Ok(Expired),
                Err(AlreadyDownloaded),
            ),
            (
                Confirmed,
                Err(Destroyed(Confirmed)),
                Ok(None),
                Err(Destroyed(Confirmed)),
                Err(AlreadyDownloaded),
            ),
            (
                Expired,
                Err(Destroyed(Expired)),
                Err(Destroyed(Expired)),
                Err(Destroyed(Expired)),
                Ok(None),
            ),
            (
                Withdrawn,
                Err(Destroyed(Withdrawn)),
                Err(Destroyed(Withdrawn)),
                Err(Destroyed(Withdrawn)),
                Ok(None),
            ),
        ];
        assert_eq!(
            table.map(|row| row.0),
            DeliveryState::ALL,
            "every state has a row"
        );
        for (state, download, confirm, expire, withdraw) in table {
            assert_eq!(state.download(), download, "{state} download");
            assert_eq!(state.confirm(), confirm, "{state} confirm");
            assert_eq!(state.expire(), expire, "{state} expire");
            assert_eq!(state.withdraw(false), withdraw, "{state} withdraw");
            // Once downloaded (an expired delivery may have been), never withdrawn.
            assert_eq!(
                state.withdraw(true),
                Err(AlreadyDownloaded),
                "{state} withdraw after a download"
            );
            // Content exists exactly where a download is possible.
            assert_eq!(state.has_content(), download.is_ok(), "{state}");
        }
    }

    /// Every submission state × action.
    #[test]
    fn every_submission_state_and_action() {
        use LifecycleError as E;
        use SubmissionState::*;
        // state, start_conversion, withdraw
        let table = [
            (Received, Ok(Converting), Ok(Withdrawn)),
            (
                Converting,
                Err(E::NotAllowed {
                    state: Converting,
                    action: "start converting",
                }),
                Ok(Withdrawn),
            ),
            (
                Delivered,
                Err(E::NotAllowed {
                    state: Delivered,
                    action: "start converting",
                }),
                Ok(Withdrawn),
            ),
            (
                Rejected,
                Err(E::NotAllowed {
                    state: Rejected,
                    action: "start converting",
                }),
                Err(E::Rejected),
            ),
            (
                Withdrawn,
                Err(E::NotAllowed {
                    state: Withdrawn,
                    action: "start converting",
                }),
                Err(E::AlreadyWithdrawn),
            ),
        ];
        assert_eq!(table.map(|row| row.0), SubmissionState::ALL);
        for (state, start, withdraw) in table {
            assert_eq!(state.start_conversion(), start, "{state} start_conversion");
            assert_eq!(state.withdraw(), withdraw, "{state} withdraw");
            let open = matches!(state, Received | Converting);
            for delivered_any in [true, false] {
                let finished = state.finish_conversion(delivered_any);
                match (open, delivered_any) {
                    (true, true) => assert_eq!(finished, Ok(Delivered)),
                    (true, false) => assert_eq!(finished, Ok(Rejected)),
                    (false, _) => assert!(
                        matches!(finished, Err(E::NotAllowed { .. })),
                        "{state} finishes only once"
                    ),
                }
            }
        }
    }

    #[test]
    fn only_open_deliveries_have_content() {
        assert!(DeliveryState::Ready.has_content());
        assert!(DeliveryState::Downloaded.has_content());
        assert!(DeliveryState::Confirmed.is_final());
        assert!(DeliveryState::Expired.is_final());
        assert!(DeliveryState::Withdrawn.is_final());
    }

    /// Every held state × action: only a held batch moves; unrouted ones may be released,
    /// returned (rejected) ones never are.
    #[test]
    fn every_held_state_and_action() {
        use HeldReason::*;
        use HeldState::*;
        for state in [Held, Released, Expired, Withdrawn] {
            assert_eq!(state.as_str().parse::<HeldState>().unwrap(), state);
            let open = state == Held;
            assert_eq!(state.release(Unrouted).is_ok(), open, "{state} release");
            assert_eq!(state.expire().is_ok(), open, "{state} expire");
            assert_eq!(state.download().is_ok(), open, "{state} download");
            assert_eq!(state.withdraw().is_some(), open, "{state} withdraw");
            assert!(
                state.release(Rejected).is_err(),
                "{state}: returned rows stay"
            );
            if !open {
                assert_eq!(state.expire(), Err(LifecycleError::NoLongerHeld(state)));
            }
        }
        assert_eq!(Held.release(Unrouted), Ok(Released));
        assert_eq!(Held.release(Rejected), Err(LifecycleError::NotRoutable));
        assert_eq!(Held.expire(), Ok(Expired));
        assert_eq!(Held.withdraw(), Some(Withdrawn));
        for reason in [Unrouted, Rejected] {
            assert_eq!(reason.as_str().parse::<HeldReason>().unwrap(), reason);
        }
    }
}
