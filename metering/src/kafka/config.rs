//! Consumer configuration: topics, group and the named batch bounds.

use std::time::Duration;

use crate::error::{MeteringError, Result};

/// Most concurrent writer tasks a consumer runs (each holds a database connection).
pub const MAX_WRITERS: usize = 16;

/// Largest `max_buffered_bytes` (the budget is a semaphore of `u32` permits).
pub const MAX_BUFFERED_BYTES: usize = 1 << 30;

/// Batches a writer's inbox holds (a count bound on top of `max_buffered_bytes`).
pub const INBOX_BATCHES: usize = 4;

/// What `run_consumer` needs. Build with [`ConsumerConfig::new`] or [`ConsumerConfig::from_env`].
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Kafka bootstrap servers (`KAFKA_BROKERS`).
    pub brokers: String,
    /// `KAFKA_USAGE_TOPIC`, default `usage-events`.
    pub topic: String,
    /// `KAFKA_DLQ_TOPIC`, default `usage-events-dlq`.
    pub dlq_topic: String,
    /// `KAFKA_GROUP`, default `tally-metering`.
    pub group: String,
    /// A batch closes at this many messages...
    pub max_batch_events: usize,
    /// ...or this many payload bytes...
    pub max_batch_bytes: usize,
    /// ...or this long after its first message arrived.
    pub max_batch_wait: Duration,
    /// How long a partition revocation waits for in-flight messages to be written and their
    /// offsets stored before it lets the rebalance proceed.
    pub rebalance_drain_timeout: Duration,
    /// Concurrent writer tasks, each with its own database connection. A partition belongs
    /// to one writer (`partition % writers`), so its batches stay in order.
    pub writers: usize,
    /// Most message bytes (key + value) read from Kafka and not yet written, across all
    /// writers. With it a writer's inbox can hold several batches, so the reader keeps feeding
    /// the other writers while one is busy (no head-of-line blocking), and memory stays bounded.
    pub max_buffered_bytes: usize,
    /// Extra librdkafka consumer properties (tests and benchmarks tune fetch sizes here).
    pub consumer_overrides: Vec<(String, String)>,
}

impl ConsumerConfig {
    /// Defaults for everything but the brokers.
    pub fn new(brokers: impl Into<String>) -> Self {
        ConsumerConfig {
            brokers: brokers.into(),
            topic: "usage-events".into(),
            dlq_topic: "usage-events-dlq".into(),
            group: "tally-metering".into(),
            max_batch_events: 50_000,
            max_batch_bytes: 16 * 1024 * 1024,
            max_batch_wait: Duration::from_millis(200),
            rebalance_drain_timeout: Duration::from_secs(10),
            writers: 4,
            max_buffered_bytes: 128 * 1024 * 1024,
            consumer_overrides: Vec::new(),
        }
    }

    /// From the contract's variables; `Ok(None)` when `KAFKA_BROKERS` is unset or empty.
    pub fn from_env() -> Result<Option<Self>> {
        let Some(brokers) = std::env::var("KAFKA_BROKERS")
            .ok()
            .filter(|b| !b.trim().is_empty())
        else {
            return Ok(None);
        };
        let mut c = ConsumerConfig::new(brokers);
        let var = |name: &str, slot: &mut String| {
            if let Ok(v) = std::env::var(name) {
                if !v.is_empty() {
                    *slot = v;
                }
            }
        };
        var("KAFKA_USAGE_TOPIC", &mut c.topic);
        var("KAFKA_DLQ_TOPIC", &mut c.dlq_topic);
        var("KAFKA_GROUP", &mut c.group);
        c.validate()?;
        Ok(Some(c))
    }

    /// Adds librdkafka properties written `key=value,key=value` (the
    /// `METERING_KAFKA_CONSUMER_PROPERTIES` form) to `consumer_overrides`; pieces without `=`
    /// are ignored.
    pub fn add_consumer_properties(&mut self, pairs: &str) {
        for pair in pairs.split(',') {
            if let Some((k, v)) = pair.split_once('=') {
                self.consumer_overrides
                    .push((k.trim().into(), v.trim().into()));
            }
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_batch_events == 0 || self.max_batch_events > crate::MAX_BATCH_EVENTS {
            return Err(MeteringError::Config(format!(
                "max_batch_events must be between 1 and {}",
                crate::MAX_BATCH_EVENTS
            )));
        }
        if self.writers == 0 || self.writers > MAX_WRITERS {
            return Err(MeteringError::Config(format!(
                "writers must be between 1 and {MAX_WRITERS}"
            )));
        }
        if self.max_buffered_bytes == 0 || self.max_buffered_bytes > MAX_BUFFERED_BYTES {
            return Err(MeteringError::Config(format!(
                "max_buffered_bytes must be between 1 and {MAX_BUFFERED_BYTES}"
            )));
        }
        if self.max_batch_bytes == 0 || self.max_batch_wait.is_zero() {
            return Err(MeteringError::Config(
                "batch bounds must be positive".into(),
            ));
        }
        if self.topic == self.dlq_topic {
            return Err(MeteringError::Config(
                "the DLQ topic must differ from the usage topic".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_ahead_budget_is_bounded_and_positive() {
        let mut c = ConsumerConfig::new("127.0.0.1:9092");
        assert!(c.validate().is_ok());
        c.max_buffered_bytes = 0;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("max_buffered_bytes"), "{err}");
        c.max_buffered_bytes = MAX_BUFFERED_BYTES + 1;
        assert!(c.validate().is_err());
        c.max_buffered_bytes = MAX_BUFFERED_BYTES;
        assert!(c.validate().is_ok());
    }

    #[test]
    fn consumer_properties_are_read_as_key_value_pairs() {
        let mut c = ConsumerConfig::new("127.0.0.1:9092");
        c.add_consumer_properties(" fetch.wait.max.ms = 10,bogus,,group.instance.id=a=b");
        assert_eq!(
            c.consumer_overrides,
            vec![
                ("fetch.wait.max.ms".to_string(), "10".to_string()),
                ("group.instance.id".to_string(), "a=b".to_string()),
            ]
        );
    }
}
