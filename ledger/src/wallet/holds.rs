//! Holds on a wallet: hold (two-phase pending), settle (post, possibly partial), release (void).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::ops::{spend, Spend};
use super::{leg_id, op_metadata, overall, refuse_unless_ok, MAX_LEGS};
use crate::amount::Amount;
use crate::engine;
use crate::error::{LedgerError, Result};
use crate::ids::{TenantId, TransferId};
use crate::machine::{Op, Request, StoredTransfer};
use crate::transfer::{TransferKind, TransferResult};

/// Reserves `amount` (grants first, like usage) until settled, released, or `timeout_s`
/// seconds pass (0 = no timeout). Idempotent by `hold_id`.
pub async fn hold(
    pool: &PgPool,
    tenant: &TenantId,
    hold_id: &TransferId,
    amount: Amount,
    timeout_s: u32,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    spend(
        pool,
        Spend::Hold { timeout_s },
        tenant,
        hold_id,
        amount,
        now,
    )
    .await
}

/// The legs of wallet operation `op`/`id`, in order, and its total.
pub(crate) async fn load_legs(
    pool: &PgPool,
    op: &str,
    t: &TenantId,
    id: &TransferId,
) -> Result<(Amount, Vec<StoredTransfer>)> {
    let mut conn = pool.acquire().await?;
    let first = leg_id(op, t, id, 0)?;
    let Some(leg0) = crate::store::load_transfers(&mut conn, &[first.as_str()])
        .await?
        .pop()
    else {
        return Err(LedgerError::OperationNotFound(id.to_string()));
    };
    let meta = leg0.metadata.as_ref();
    let field = |k: &str| meta.and_then(|m| m.get(k));
    let legs = field("legs")
        .and_then(|v| v.as_u64())
        .filter(|n| (1..=MAX_LEGS as u64).contains(n));
    let total = field("total")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<Amount>().ok());
    let (Some(legs), Some(total)) = (legs, total) else {
        return Err(crate::error::corrupt(format!("metadata of {first}")));
    };
    let ids = (0..legs as usize)
        .map(|n| leg_id(op, t, id, n))
        .collect::<Result<Vec<_>>>()?;
    let strs: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
    let mut loaded = crate::store::load_transfers(&mut conn, &strs).await?;
    loaded.sort_by_key(|l| ids.iter().position(|i| *i == l.id));
    if loaded.len() != ids.len() {
        return Err(crate::error::corrupt(format!("legs of {first}")));
    }
    Ok((total, loaded))
}

/// Settles a hold: posts `amount` (default: all of it) across its legs in order and
/// releases the rest. A retry answers `Exists`; after a release, `pending_transfer_already_voided`.
pub async fn settle(
    pool: &PgPool,
    tenant: &TenantId,
    hold_id: &TransferId,
    amount: Option<Amount>,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    let (total, legs) = load_legs(pool, "hold", tenant, hold_id).await?;
    let amount = amount.unwrap_or(total);
    if amount > total {
        return Err(LedgerError::Refused(
            TransferResult::ExceedsPendingTransferAmount,
        ));
    }
    let metadata = op_metadata("hold_id", hold_id, amount, legs.len());
    let mut remaining = amount;
    let mut kinds = Vec::with_capacity(legs.len());
    for leg in &legs {
        let part = remaining.min(leg.amount);
        remaining = remaining
            .checked_sub(part)
            .ok_or(LedgerError::Overflow("settle"))?;
        let pending_id = leg.id.clone();
        kinds.push(if part.is_zero() {
            TransferKind::VoidPending { pending_id }
        } else {
            TransferKind::PostPending {
                pending_id,
                amount: Some(part),
            }
        });
    }
    resolve(pool, "settle", tenant, hold_id, kinds, metadata, now).await
}

/// Releases a hold entirely (voids every leg).
pub async fn release(
    pool: &PgPool,
    tenant: &TenantId,
    hold_id: &TransferId,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    let (total, legs) = load_legs(pool, "hold", tenant, hold_id).await?;
    let metadata = op_metadata("hold_id", hold_id, total, legs.len());
    let kinds = legs
        .iter()
        .map(|l| TransferKind::VoidPending {
            pending_id: l.id.clone(),
        })
        .collect();
    resolve(pool, "release", tenant, hold_id, kinds, metadata, now).await
}

async fn resolve(
    pool: &PgPool,
    op: &str,
    t: &TenantId,
    hold_id: &TransferId,
    kinds: Vec<TransferKind>,
    metadata: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    let n = kinds.len();
    let requests = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            Ok(Request {
                id: leg_id(op, t, hold_id, i)?,
                op: Op::Transfer(kind),
                linked: i + 1 < n,
                metadata: Some(metadata.clone()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let results = engine::submit(pool, &requests, now).await?;
    refuse_unless_ok(overall(&results), hold_id)
}
