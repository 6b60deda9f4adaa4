//! Double-entry token ledger on PostgreSQL (TigerBeetle's account/transfer model).
//!
//! Knows nothing of HTTP, Kafka, Stripe or pricing. See `docs/LEDGER.md` for the model,
//! the result codes, the invariants and the fast path.

mod account;
mod amount;
mod balances;
mod engine;
mod error;
mod ids;
mod machine;
mod rules;
mod store;
mod transfer;

pub use account::{
    balances_as_of, create_accounts, get_account, Account, AccountFlags, CreateAccountResult,
    NewAccount,
};
pub use amount::Amount;
pub use balances::Balances;
pub use engine::{create_transfers, create_transfers_at, MAX_ATTEMPTS};
pub use error::{LedgerError, Result};
pub use ids::{AccountId, AssetCode, TenantId, TransferId, MAX_CLIENT_ID_LEN, RESERVED_PREFIX};
pub use transfer::{NewTransfer, TransferKind, TransferResult, MAX_BATCH};
