//! Billing events: the contract's `{"id","type","tenant","time","data"}` body and its types.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::{AlertsError, Result};

/// The kinds of event on the `billing-events` topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "quota.threshold_crossed")]
    QuotaThresholdCrossed,
    #[serde(rename = "tenant.suspended")]
    TenantSuspended,
    #[serde(rename = "tenant.resumed")]
    TenantResumed,
    #[serde(rename = "invoice.finalized")]
    InvoiceFinalized,
    #[serde(rename = "invoice.paid")]
    InvoicePaid,
    #[serde(rename = "payment.failed")]
    PaymentFailed,
}

impl EventType {
    /// Every type, in the contract's order.
    pub const ALL: [EventType; 6] = [
        EventType::QuotaThresholdCrossed,
        EventType::TenantSuspended,
        EventType::TenantResumed,
        EventType::InvoiceFinalized,
        EventType::InvoicePaid,
        EventType::PaymentFailed,
    ];

    /// The wire name, e.g. `quota.threshold_crossed`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::QuotaThresholdCrossed => "quota.threshold_crossed",
            EventType::TenantSuspended => "tenant.suspended",
            EventType::TenantResumed => "tenant.resumed",
            EventType::InvoiceFinalized => "invoice.finalized",
            EventType::InvoicePaid => "invoice.paid",
            EventType::PaymentFailed => "payment.failed",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = AlertsError;

    fn from_str(s: &str) -> Result<Self> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| AlertsError::invalid("type", format!("unknown event type `{s}`")))
    }
}

/// One outgoing billing event; its serde form is exactly the body on the topic and in
/// `GET /v1/tenants/{id}/alerts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BillingEvent {
    /// A UUIDv7: unique, and sortable by creation time. Consumers dedupe on it.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub tenant: String,
    /// When the fact happened, to the microsecond (what PostgreSQL keeps).
    pub time: DateTime<Utc>,
    /// A JSON object whose shape depends on `event_type` (see `docs/ALERTS.md`).
    pub data: Value,
}

impl BillingEvent {
    /// A new event with a fresh UUIDv7 id. `data` must be a JSON object.
    pub fn new(
        event_type: EventType,
        tenant: &str,
        time: DateTime<Utc>,
        data: Value,
    ) -> Result<Self> {
        if tenant.is_empty() {
            return Err(AlertsError::invalid("tenant", "must not be empty"));
        }
        if !data.is_object() {
            return Err(AlertsError::invalid("data", "must be a JSON object"));
        }
        Ok(BillingEvent {
            id: uuid::Uuid::now_v7().to_string(),
            event_type,
            tenant: tenant.to_owned(),
            time: time.trunc_subsecs(6),
            data,
        })
    }

    /// `tenant.suspended` with the reason given (`data: {"reason"}`).
    pub fn tenant_suspended(tenant: &str, reason: &str, time: DateTime<Utc>) -> Result<Self> {
        Self::new(
            EventType::TenantSuspended,
            tenant,
            time,
            json!({ "reason": reason }),
        )
    }

    /// `tenant.resumed` (`data: {}`).
    pub fn tenant_resumed(tenant: &str, time: DateTime<Utc>) -> Result<Self> {
        Self::new(
            EventType::TenantResumed,
            tenant,
            time,
            Value::Object(Map::new()),
        )
    }

    /// The body as bytes, as produced to Kafka.
    pub fn to_json_bytes(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_contract_shape() {
        let time = "2026-11-21T10:00:00.123456789Z"
            .parse::<DateTime<Utc>>()
            .unwrap();
        let e = BillingEvent::tenant_suspended("acme", "unpaid invoice", time).unwrap();
        let body: Value = serde_json::from_slice(&e.to_json_bytes().unwrap()).unwrap();
        assert_eq!(body["type"], "tenant.suspended");
        assert_eq!(body["tenant"], "acme");
        assert_eq!(body["time"], "2026-11-21T10:00:00.123456Z");
        assert_eq!(body["data"], json!({"reason": "unpaid invoice"}));
        assert_eq!(uuid::Uuid::parse_str(&e.id).unwrap().get_version_num(), 7);
        let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 5);
        assert_eq!(serde_json::from_value::<BillingEvent>(body).unwrap(), e);
    }

    #[test]
    fn types_round_trip_and_data_must_be_an_object() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert!("quota.exceeded".parse::<EventType>().is_err());
        let now = Utc::now();
        assert!(BillingEvent::new(EventType::InvoicePaid, "acme", now, json!([1])).is_err());
        assert!(BillingEvent::new(EventType::InvoicePaid, "", now, json!({})).is_err());
    }
}
