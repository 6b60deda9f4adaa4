//! The crate's one error type: what a caller of the alerts API can act on.

/// Everything that can go wrong in alerts and billing events, by what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// The input is invalid; `field` names the culprit. Fix the call, do not retry it.
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A stored row does not parse (a type or threshold this build does not know). Needs a
    /// person: the database was written by something else.
    #[error("corrupt stored row: {0}")]
    Corrupt(String),
    /// The database failed; the caller's transaction should be retried as a whole.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Kafka failed (producer creation or delivery); the publisher retries on its own.
    #[error("kafka error: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// An event body could not be encoded as JSON.
    #[error("json encoding: {0}")]
    Json(#[from] serde_json::Error),
}

impl AlertsError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AlertsError::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = AlertsError> = std::result::Result<T, E>;
