//! Search criteria for the customer-facing log search.

use time::OffsetDateTime;

use crate::model::{AccessRecord, Action, Actor, ObjectKind, Outcome};

/// Conjunction of optional criteria; an empty (default) filter matches everything.
///
/// Matching is exact and case-sensitive: ids are opaque and logins are compared the way the
/// relay authenticates them.
///
/// The filter does not by itself scope a search to one customer: which records a customer
/// may see (its own actors *and* actions on its own objects) is the service's decision,
/// applied before or in addition to this filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only events at or after this instant (inclusive).
    pub from: Option<OffsetDateTime>,
    /// Only events before this instant (exclusive), so consecutive periods such as
    /// calendar months neither overlap nor leave gaps.
    pub to: Option<OffsetDateTime>,
    /// Only events of actors of this organisation.
    pub org: Option<String>,
    /// Only events by matching actors.
    pub actor: Option<ActorFilter>,
    /// Only this action.
    pub action: Option<Action>,
    /// Only events touching at least one matching object.
    pub object: Option<ObjectFilter>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
}

/// Which actors a [`Filter`] selects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ActorFilter {
    /// The user with this login.
    User(String),
    /// The client certificate with this serial number.
    Certificate(String),
    /// Any client certificate issued to this device name.
    Device(String),
    /// The background task with this name.
    System(String),
    /// Unauthenticated requests.
    Anonymous,
    /// Any actor having this value as login, certificate serial, device name or task name:
    /// the single search box of the web interface.
    Any(String),
}

impl ActorFilter {
    /// Whether `actor` is selected.
    pub fn matches(&self, actor: &Actor) -> bool {
        match (self, actor) {
            (ActorFilter::User(want), Actor::User { login }) => want == login,
            (ActorFilter::Certificate(want), Actor::Certificate { serial, .. }) => want == serial,
            (ActorFilter::Device(want), Actor::Certificate { device, .. }) => want == device,
            (ActorFilter::System(want), Actor::System { task }) => want == task,
            (ActorFilter::Anonymous, Actor::Anonymous) => true,
            (ActorFilter::Any(want), _) => {
                actor.id() == Some(want.as_str()) || actor.device() == Some(want.as_str())
            }
            _ => false,
        }
    }
}

/// Which objects a [`Filter`] selects; both parts optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ObjectFilter {
    /// Object kind.
    pub kind: Option<ObjectKind>,
    /// Object id.
    pub id: Option<String>,
}

impl Filter {
    /// Whether `record` satisfies every criterion that is set.
    pub fn matches(&self, record: &AccessRecord) -> bool {
        self.from.is_none_or(|from| record.at >= from)
            && self.to.is_none_or(|to| record.at < to)
            && self
                .org
                .as_ref()
                .is_none_or(|org| record.org.as_ref() == Some(org))
            && self.actor.as_ref().is_none_or(|a| a.matches(&record.actor))
            && self.action.as_ref().is_none_or(|a| *a == record.action)
            && self.outcome.is_none_or(|o| o == record.outcome)
            && self.object.as_ref().is_none_or(|want| {
                record.objects.iter().any(|o| {
                    want.kind.is_none_or(|k| k == o.kind)
                        && want.id.as_ref().is_none_or(|id| *id == o.id)
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjectRef;
    use time::macros::datetime;

    fn record() -> AccessRecord {
        AccessRecord {
            seq: 1,
            at: datetime!(2025-04-30 23:59:59.999 UTC),
            org: Some("27000001".into()),
            actor: Actor::Certificate {
                serial: "0F".into(),
                device: "reception-1".into(),
            },
            session: None,
            source: None,
            action: Action::DeliveryDownload,
            objects: vec![
                ObjectRef::new(ObjectKind::Delivery, "D1"),
                ObjectRef::new(ObjectKind::Submission, "S1"),
            ],
            outcome: Outcome::Success,
            status: Some(200),
            bytes: Some(10),
            detail: None,
        }
    }

    #[test]
    fn empty_filter_matches() {
        assert!(Filter::default().matches(&record()));
    }

    #[test]
    fn time_range_is_half_open() {
        let april = Filter {
            from: Some(datetime!(2025-04-01 00:00 +09:00)),
            to: Some(datetime!(2025-05-01 00:00 UTC)),
            ..Filter::default()
        };
        assert!(april.matches(&record()));
        let may = Filter {
            from: Some(datetime!(2025-05-01 00:00 UTC)),
            ..Filter::default()
        };
        assert!(!may.matches(&record()));
        let until_exact = Filter {
            to: Some(record().at),
            ..Filter::default()
        };
        assert!(!until_exact.matches(&record()));
    }

    #[test]
    fn actor_criteria() {
        let r = record();
        for (filter, expected) in [
            (ActorFilter::Certificate("0F".into()), true),
            (ActorFilter::Device("reception-1".into()), true),
            (ActorFilter::Any("reception-1".into()), true),
            (ActorFilter::Any("0F".into()), true),
            (ActorFilter::User("0F".into()), false),
            (ActorFilter::Anonymous, false),
            (ActorFilter::Any("0f".into()), false),
        ] {
            let f = Filter {
                actor: Some(filter.clone()),
                ..Filter::default()
            };
            assert_eq!(f.matches(&r), expected, "{filter:?}");
        }
    }

    #[test]
    fn object_action_outcome_org_criteria() {
        let r = record();
        let by_object = |kind, id: Option<&str>| Filter {
            object: Some(ObjectFilter {
                kind,
                id: id.map(str::to_owned),
            }),
            ..Filter::default()
        };
        assert!(by_object(Some(ObjectKind::Submission), Some("S1")).matches(&r));
        assert!(by_object(None, Some("D1")).matches(&r));
        assert!(by_object(Some(ObjectKind::Submission), None).matches(&r));
        // Kind and id must match on the same object.
        assert!(!by_object(Some(ObjectKind::Submission), Some("D1")).matches(&r));
        assert!(!by_object(Some(ObjectKind::Map), None).matches(&r));

        let f = Filter {
            action: Some(Action::DeliveryDownload),
            outcome: Some(Outcome::Success),
            org: Some("27000001".into()),
            ..Filter::default()
        };
        assert!(f.matches(&r));
        let f = Filter {
            outcome: Some(Outcome::Denied),
            ..Filter::default()
        };
        assert!(!f.matches(&r));
        let f = Filter {
            org: Some("27000002".into()),
            ..Filter::default()
        };
        assert!(!f.matches(&r));
    }
}
