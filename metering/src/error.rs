//! The crate's one error type: what a caller of the metering API can act on.

use crate::event::FieldError;

/// Everything that can go wrong in metering, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum MeteringError {
    /// The input (an event, a meter definition or a query) is invalid; `field` names the culprit.
    #[error("invalid {}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    /// The named meter does not exist.
    #[error("unknown meter `{0}`")]
    UnknownMeter(String),
    /// A meter's aggregation cannot change once it exists: rollups already hold its values.
    #[error("meter `{0}` exists with another aggregation; aggregations never change")]
    AggregationChange(String),
    /// A batch exceeded its named bound.
    #[error("batch of {len} events exceeds the bound of {max}")]
    BatchTooLarge { len: usize, max: usize },
    /// Decimal arithmetic overflowed while aggregating a batch.
    #[error("decimal overflow while aggregating {0}")]
    Overflow(&'static str),
    /// The database failed; retry the whole unit of work (it was rolled back).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Kafka failed (consumer creation, subscription, DLQ delivery).
    #[error("kafka error: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// Rating the batch (a [`crate::BatchHook`]) failed for a reason other than the database.
    #[error("rating: {0}")]
    Rating(String),
    /// A configuration value is missing or malformed.
    #[error("configuration: {0}")]
    Config(String),
}

impl MeteringError {
    /// Whether retrying the same work later can succeed (connection trouble, deadlock or
    /// serialization failure, server shutting down) as opposed to a failure of this input.
    pub fn is_transient(&self) -> bool {
        match self {
            MeteringError::Database(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => {
                    let code = db.code().unwrap_or_default();
                    ["08", "40", "53", "57", "58"]
                        .iter()
                        .any(|class| code.starts_with(class))
                }
                _ => false,
            },
            MeteringError::Kafka(_) => true,
            _ => false,
        }
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        MeteringError::Invalid(FieldError::new(field, message))
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = MeteringError> = std::result::Result<T, E>;
