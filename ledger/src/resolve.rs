//! Post or void one pending transfer by its id (the `/transfers/{id}/post|void` endpoints).
//!
//! The resolving transfer's id derives from the pending one (`~post:{id}`, `~void:{id}`): a
//! pending transfer resolves at most once, so the derived id makes both calls idempotent.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::amount::Amount;
use crate::engine;
use crate::error::{LedgerError, Result};
use crate::ids::TransferId;
use crate::machine::{Op, Request};
use crate::transfer::{TransferKind, TransferResult};

async fn resolve_one(
    pool: &PgPool,
    id: TransferId,
    kind: TransferKind,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    let request = Request {
        id,
        op: Op::Transfer(kind),
        linked: false,
        metadata: None,
    };
    let results = engine::submit(pool, std::slice::from_ref(&request), now).await?;
    results
        .first()
        .copied()
        .ok_or_else(|| LedgerError::Corrupt("empty result for one transfer".into()))
}

/// Posts pending transfer `pending_id`, all of it (`None`) or `amount`; the rest is released.
/// A repeat with the same amount answers `exists`; one with another amount,
/// `exists_with_different_fields`.
pub async fn post_pending(
    pool: &PgPool,
    pending_id: &TransferId,
    amount: Option<Amount>,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    let id = TransferId::system(format!("~post:{pending_id}"))?;
    let kind = TransferKind::PostPending {
        pending_id: pending_id.clone(),
        amount,
    };
    resolve_one(pool, id, kind, now).await
}

/// Voids pending transfer `pending_id`; a repeat answers `exists`.
pub async fn void_pending(
    pool: &PgPool,
    pending_id: &TransferId,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    let id = TransferId::system(format!("~void:{pending_id}"))?;
    let kind = TransferKind::VoidPending {
        pending_id: pending_id.clone(),
    };
    resolve_one(pool, id, kind, now).await
}
