//! Kafka ingestion: the `usage-events` consumer, its rebalance drain and the DLQ.
//!
//! A reader task receives messages (rebalance callbacks run there) and hands each through a
//! bounded channel to the writer task that owns its partition; each writer batches them,
//! writes each batch with the one write path, sends invalid messages to the DLQ and only then
//! stores offsets.

mod config;
mod consumer;
mod context;
mod dlq;

pub use config::{ConsumerConfig, MAX_BUFFERED_BYTES, MAX_WRITERS};
pub use consumer::{run_consumer, run_consumer_with, ConsumerStats};
pub use dlq::ERROR_HEADER;
