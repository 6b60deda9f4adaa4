//! Tenant token wallets built on accounts and transfers: the typed operations Tally calls.
//!
//! A wallet (asset `TOKEN`) is a set of accounts of the tenant, all flagged
//! `debits_must_not_exceed_credits` so none can be overdrawn:
//! `~wallet:{tenant}:purchased` (top-ups) and one `~wallet:{tenant}:grant:{grant_id}` per
//! grant, with its `expires_at`. Tokens come from `~world:TOKEN`, usage goes to
//! `~revenue:TOKEN`, expired grants to `~expired:TOKEN`.

mod holds;
mod ops;
mod view;

use serde_json::{json, Value};

use crate::error::{LedgerError, Result};
use crate::ids::{AccountId, TenantId, TransferId};
use crate::transfer::TransferResult;

pub use holds::{hold, release, settle};
pub use ops::{
    available_in, debit_usage, debit_usage_up_to_in, debit_usage_up_to_many_in,
    ensure_system_accounts, grant_tokens, grant_tokens_in, open_wallet, refund_usage, top_up,
};
pub use view::{wallet, Grant, Wallet};

/// Most legs (grants + purchased) one usage debit or hold may span.
pub const MAX_LEGS: usize = 256;

/// `~{role}:{asset}`: world, expired or revenue.
pub(crate) fn system_account(role: &str, asset: &str) -> Result<AccountId> {
    AccountId::system(format!("~{role}:{asset}"))
}

pub(crate) fn purchased_account(t: &TenantId) -> Result<AccountId> {
    AccountId::system(format!("~wallet:{t}:purchased"))
}

pub(crate) fn grant_prefix(t: &TenantId) -> String {
    format!("~wallet:{t}:grant:")
}

pub(crate) fn grant_account(t: &TenantId, grant: &TransferId) -> Result<AccountId> {
    AccountId::system(format!("{}{grant}", grant_prefix(t)))
}

/// The account a grant's tokens live in (`~wallet:{tenant}:grant:{grant_id}`): it exists once
/// the grant was credited, so callers can find missing grants with one query.
pub fn grant_account_id(t: &TenantId, grant: &TransferId) -> Result<AccountId> {
    grant_account(t, grant)
}

/// The id of leg `n` of wallet operation `op` (`usage`, `hold`, `settle`, ...).
pub(crate) fn leg_id(op: &str, t: &TenantId, id: &TransferId, n: usize) -> Result<TransferId> {
    TransferId::system(format!("~{op}:{t}:{id}:{n}"))
}

/// Metadata of an operation's first leg: what a retry is compared against.
pub(crate) fn op_metadata(key: &str, id: &TransferId, total: crate::Amount, legs: usize) -> Value {
    json!({ key: id.as_str(), "total": total.to_string(), "legs": legs })
}

/// Folds a batch's results into one: `Created` if anything was created, `Exists` if all
/// existed, otherwise the first real failure.
pub(crate) fn overall(results: &[TransferResult]) -> TransferResult {
    let failure = results
        .iter()
        .find(|r| !r.is_ok() && **r != TransferResult::LinkedEventFailed)
        .or_else(|| results.iter().find(|r| !r.is_ok()));
    match failure {
        Some(r) => *r,
        None if results.contains(&TransferResult::Created) => TransferResult::Created,
        None => TransferResult::Exists,
    }
}

/// `Created`/`Exists` pass; anything else becomes an error naming operation `id`.
pub(crate) fn refuse_unless_ok(result: TransferResult, id: &TransferId) -> Result<TransferResult> {
    match result {
        TransferResult::ExistsWithDifferentFields => {
            Err(LedgerError::ExistsWithDifferentFields(id.to_string()))
        }
        r if r.is_ok() => Ok(r),
        r => Err(LedgerError::Refused(r)),
    }
}
