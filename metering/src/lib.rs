//! Usage events: parsing, exactly-once ingestion and time-bucketed rollups.
//!
//! The typed API the HTTP layer and the binary use: [`UsageEvent::parse`] / [`parse_batch`],
//! [`ingest_batch`] (the one write path), [`usage`] (reads), the meters catalogue
//! ([`list_meters`], [`get_meter`], [`upsert_meter`]) and the Kafka consumer
//! ([`kafka::run_consumer`]). See `docs/METERING.md`.

pub mod bucket;
mod copy;
mod error;
pub mod event;
mod ingest;
pub mod kafka;
mod meter;
mod parked;
mod query;
mod rollup;
mod store;

pub use bucket::{Granularity, MonthPeriod};
pub use error::{MeteringError, Result};
pub use event::{EventId, FieldError, MeterCode, Quantity, Region, TenantId, UsageEvent};
pub use ingest::{
    ingest_batch, ingest_batch_with, ingest_in_transaction, ingest_in_transaction_with,
    parse_batch, BatchHook, BatchOutcome, CountedUsage, EventOutcome, ParkReason, ParsedBatch,
    MAX_BATCH_EVENTS,
};
pub use meter::{get_meter, list_meters, upsert_meter, Aggregation, Meter};
pub use parked::{maintain, replay_cleared_with, replay_parked, ReplayOutcome, MAX_REPLAY_EVENTS};
pub use query::{usage, GroupKey, UsageQuery, UsageRow, MAX_QUERY_BUCKETS};
