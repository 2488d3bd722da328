//! The vocabulary of Kenshin Relay, shared by every other crate.
//!
//! Nothing here does I/O. The types name the actors of the service (organisations and their
//! kinds), the objects that move through it (submissions and their deliveries), the states of a
//! file's life, the events recorded about them, and the JSON shapes of the `/api/v1` API, so that
//! the server and the client agree on them by construction.

pub mod api;
pub mod event;
pub mod ids;
pub mod org;
pub mod state;
pub mod validate;

pub use event::EventKind;
pub use ids::{DeliveryId, ObjectId, SubmissionId};
pub use org::{InsurerNumber, OrgCode, OrgKind, RouteMode};
pub use state::{DeliveryState, HeldReason, HeldState, LifecycleError, SubmissionState};
