//! Kafka ingestion: the `usage-events` consumer, its rebalance drain and the DLQ.
//!
//! A reader task receives messages (rebalance callbacks run there) and hands them through a
//! bounded channel to the processor, which batches them, writes each batch with the one write
//! path, sends invalid messages to the DLQ and only then stores offsets.

mod config;
mod consumer;
mod context;
mod dlq;

pub use config::ConsumerConfig;
pub use consumer::{run_consumer, run_consumer_with, ConsumerStats};
pub use dlq::ERROR_HEADER;
