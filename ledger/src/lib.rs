//! Double-entry token ledger on PostgreSQL (TigerBeetle's account/transfer model).
//!
//! Knows nothing of HTTP, Kafka, Stripe or pricing. See `docs/LEDGER.md` for the model,
//! the result codes, the invariants and the fast path.

mod account;
mod amount;
mod balances;
mod engine;
mod entries;
mod error;
mod expiry;
mod ids;
mod machine;
mod resolve;
mod rules;
mod store;
mod transfer;
mod verify;
mod wallet;

pub use account::{
    balances_as_of, create_accounts, get_account, Account, AccountFlags, CreateAccountResult,
    NewAccount,
};
pub use amount::Amount;
pub use balances::Balances;
pub use engine::{create_transfers, create_transfers_at, MAX_ATTEMPTS};
pub use entries::{list_entries, Entry, EntryCursor, EntryPage, Side, MAX_ENTRIES_PAGE};
pub use error::{LedgerError, Result};
pub use expiry::{sweep, SweepReport, MAX_SWEEP_ROUNDS};
pub use ids::{AccountId, AssetCode, TenantId, TransferId, MAX_CLIENT_ID_LEN, RESERVED_PREFIX};
pub use machine::Kind as RecordKind;
pub use resolve::{post_pending, void_pending};
pub use transfer::{NewTransfer, TransferKind, TransferResult, MAX_BATCH};
pub use verify::{verify, AssetTotals, VerifyReport, Violation, MAX_VIOLATIONS_PER_CHECK};
pub use wallet::{
    available_in, debit_usage, debit_usage_up_to_in, debit_usage_up_to_many_in,
    ensure_system_accounts, grant_account_id, grant_tokens, grant_tokens_in, hold, open_wallet,
    refund_usage, release, settle, top_up, wallet, Grant, Wallet, MAX_LEGS,
};
#[cfg(test)]
mod machine_tests;
