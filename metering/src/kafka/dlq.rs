//! The dead-letter queue: invalid messages go to the DLQ topic unchanged, with the reason in
//! the `tally-error` header; delivery is awaited before the source offset is stored.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use crate::error::Result;

/// Header holding the human-readable reason a message was dead-lettered.
pub const ERROR_HEADER: &str = "tally-error";
/// Header holding `topic/partition/offset` of the original message.
pub const SOURCE_HEADER: &str = "tally-source";

/// One message to dead-letter.
pub(crate) struct DeadLetter {
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub reason: String,
    pub source: String,
}

pub(crate) fn producer(brokers: &str) -> Result<FutureProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "false")
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .create()?)
}

/// Sends every dead letter and waits for all deliveries; the first failure is returned
/// (the caller retries the whole list: a duplicate in the DLQ beats a lost one).
pub(crate) async fn send_all(
    producer: &FutureProducer,
    topic: &str,
    letters: &[DeadLetter],
) -> Result<()> {
    let sends = letters.iter().map(|l| {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: ERROR_HEADER,
                value: Some(l.reason.as_bytes()),
            })
            .insert(Header {
                key: SOURCE_HEADER,
                value: Some(l.source.as_bytes()),
            });
        let mut record: FutureRecord<'_, Vec<u8>, Vec<u8>> =
            FutureRecord::to(topic).headers(headers);
        if let Some(k) = &l.key {
            record = record.key(k);
        }
        if let Some(p) = &l.payload {
            record = record.payload(p);
        }
        producer.send(record, Duration::from_secs(30))
    });
    for result in futures::future::join_all(sends).await {
        result.map_err(|(e, _)| e)?;
    }
    Ok(())
}
