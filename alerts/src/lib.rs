//! Threshold alerts and outgoing billing events.
//!
//! The typed API the binary and the HTTP layer use: [`crossed`] (pure threshold logic),
//! [`raise_crossed`] and [`list_alerts`] (alerts, once per limit and period), [`enqueue`]
//! (the transactional outbox for every billing event) and [`run_publisher`] /
//! [`publish_pending_once`] (outbox → Kafka `billing-events`, at least once).
//! Knows nothing of HTTP, pricing or the ledger. See `docs/ALERTS.md`.

mod alert;
mod error;
mod event;
mod outbox;
mod publisher;
mod threshold;

pub use alert::{list_alerts, raise_crossed, Alert, UsageChange, MAX_LIST_ALERTS};
pub use error::{AlertsError, Result};
pub use event::{BillingEvent, EventType};
pub use outbox::{enqueue, enqueue_all};
pub use publisher::{
    pending_count, producer, publish_pending_once, run_publisher, DELIVERY_TIMEOUT_MS,
    MAX_BACKOFF_S, MAX_PUBLISH_BATCH,
};
pub use threshold::{crossed, Threshold};
