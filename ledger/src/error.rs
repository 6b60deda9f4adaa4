//! The crate's one error type: variants a caller can act on.

/// Everything that can go wrong in a ledger call. Per-transfer outcomes are not errors: they
/// are [`crate::TransferResult`] codes returned in request order.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Input that does not parse (an id too long, an amount out of range, ...).
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// More items in one call than the named bound allows.
    #[error("batch of {len} items exceeds the limit of {max}")]
    BatchTooLarge { len: usize, max: usize },
    /// The asset is not in the asset registry.
    #[error("asset {0} is not registered")]
    AssetNotFound(String),
    /// The account does not exist.
    #[error("account {0} not found")]
    AccountNotFound(String),
    /// The tenant's wallet has not been opened.
    #[error("wallet of tenant {0} not found")]
    WalletNotFound(String),
    /// The wallet operation (usage, hold) named does not exist.
    #[error("operation {0} not found")]
    OperationNotFound(String),
    /// A wallet operation would overdraw the wallet; nothing was written.
    #[error("insufficient balance: {available} available, {requested} requested")]
    InsufficientBalance { available: u64, requested: u64 },
    /// The operation's id was used before with different fields; nothing was written.
    #[error("{0} already exists with different fields")]
    ExistsWithDifferentFields(String),
    /// A wallet operation was refused with this transfer result (e.g. hold already settled).
    #[error("refused: {0}")]
    Refused(crate::TransferResult),
    /// Checked arithmetic overflowed.
    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
    /// A row read from the database breaks a rule the schema should have enforced.
    #[error("corrupt ledger data: {0}")]
    Corrupt(String),
    /// Concurrent batches kept colliding on the same new ids; retry later.
    #[error("gave up after {0} attempts racing concurrent batches")]
    Contention(u32),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// The crate's result alias.
pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

pub(crate) fn corrupt(what: impl Into<String>) -> LedgerError {
    LedgerError::Corrupt(what.into())
}
