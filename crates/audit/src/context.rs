//! Pieces shared by the ATNA and FHIR views of a record.

use std::net::{IpAddr, SocketAddr};

use crate::model::AccessRecord;

/// Identity of the relay instance that observed and reports the events: ATNA
/// `AuditSourceIdentification` and the relay's own `ActiveParticipant`, FHIR
/// `AuditEvent.source` and the relay's `agent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSource {
    /// Unique id of the relay deployment, e.g. its host name.
    pub id: String,
    /// Operating site / enterprise (ATNA `AuditEnterpriseSiteID`, FHIR `source.site`).
    pub site: Option<String>,
}

impl Default for AuditSource {
    fn default() -> Self {
        AuditSource {
            id: "kenshin-relay".to_owned(),
            site: None,
        }
    }
}

/// A network access point derived from [`AccessRecord::source`].
pub(crate) struct NetworkAccessPoint {
    /// The IP address alone when `source` parses as one (the ephemeral client port says
    /// nothing about the machine); otherwise the source text unchanged.
    pub address: String,
    /// `2` (IP address) when the address is an IP; unknown otherwise, so left out rather
    /// than guessed.
    pub type_code: Option<&'static str>,
}

pub(crate) fn network_access_point(source: &str) -> NetworkAccessPoint {
    let ip = source
        .parse::<SocketAddr>()
        .map(|s| s.ip())
        .or_else(|_| source.parse::<IpAddr>());
    match ip {
        Ok(ip) => NetworkAccessPoint {
            address: ip.to_string(),
            type_code: Some("2"),
        },
        Err(_) => NetworkAccessPoint {
            address: source.to_owned(),
            type_code: None,
        },
    }
}

/// Free-text outcome description: `HTTP <status>`, `<bytes> bytes` and the detail remark,
/// each only when present, joined by `"; "`; `None` when all are absent. The detail comes
/// last so that separators inside it cannot be mistaken for the fixed parts.
pub(crate) fn outcome_description(record: &AccessRecord) -> Option<String> {
    let mut parts = Vec::with_capacity(3);
    if let Some(status) = record.status {
        parts.push(format!("HTTP {status}"));
    }
    if let Some(bytes) = record.bytes {
        parts.push(format!("{bytes} bytes"));
    }
    if let Some(detail) = &record.detail {
        parts.push(detail.clone());
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `UserID` / display form of the actor: its primary id, qualified with the organisation
/// as `id@org` (DICOM PS3.15 A.5.2.1 asks for `loginName@domain-name`); `anonymous` when
/// there is no id.
pub(crate) fn qualified_actor_id(record: &AccessRecord) -> String {
    let id = record.actor.id().unwrap_or("anonymous");
    match &record.org {
        Some(org) => format!("{id}@{org}"),
        None => id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_ip_from_port() {
        let nap = network_access_point("203.0.113.9:51234");
        assert_eq!(
            (nap.address.as_str(), nap.type_code),
            ("203.0.113.9", Some("2"))
        );
        let nap = network_access_point("[2001:db8::1]:443");
        assert_eq!(
            (nap.address.as_str(), nap.type_code),
            ("2001:db8::1", Some("2"))
        );
        let nap = network_access_point("2001:db8::2");
        assert_eq!(
            (nap.address.as_str(), nap.type_code),
            ("2001:db8::2", Some("2"))
        );
        let nap = network_access_point("gateway.example:80");
        assert_eq!(
            (nap.address.as_str(), nap.type_code),
            ("gateway.example:80", None)
        );
    }
}
