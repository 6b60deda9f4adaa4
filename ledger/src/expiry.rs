//! Sweepers, deterministic given `now`: expire timed-out pending transfers and move what
//! remains of expired grants to the asset's expired-grants account.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::Result;
use crate::ids::{AccountId, TransferId};
use crate::machine::{Op, Request};
use crate::transfer::{TransferKind, TransferResult, MAX_BATCH};
use crate::{engine, wallet};

/// Most sweep rounds per call (each round handles up to [`MAX_BATCH`] items).
pub const MAX_SWEEP_ROUNDS: usize = 16;

/// What a sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub pending_expired: usize,
    pub grants_expired: usize,
    /// Work was left for the next call (more than the rounds allowed).
    pub more: bool,
}

/// Expires every pending transfer whose timeout passed at `now`, then every expired grant.
pub async fn sweep(pool: &PgPool, now: DateTime<Utc>) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    let mut pending_left = true;
    for _ in 0..MAX_SWEEP_ROUNDS {
        let (done, full) = expire_pending_round(pool, now).await?;
        report.pending_expired += done;
        pending_left = full;
        if !full {
            break;
        }
    }
    // Pending holds on grants expire first, so their release is swept in the same call.
    let mut grants_left = true;
    for _ in 0..MAX_SWEEP_ROUNDS {
        let (done, full) = expire_grants_round(pool, now).await?;
        report.grants_expired += done;
        grants_left = full;
        if !full {
            break;
        }
    }
    report.more = pending_left || grants_left;
    Ok(report)
}

fn created(results: &[TransferResult]) -> usize {
    results
        .iter()
        .filter(|r| **r == TransferResult::Created)
        .count()
}

async fn expire_pending_round(pool: &PgPool, now: DateTime<Utc>) -> Result<(usize, bool)> {
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT p.id FROM ledger_transfers p \
         WHERE p.expires_at <= $1 AND p.kind = 'pending' \
           AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = p.id) \
         ORDER BY p.expires_at, p.id LIMIT $2",
    )
    .bind(now)
    .bind(MAX_BATCH as i64)
    .fetch_all(pool)
    .await?;
    let requests = due
        .iter()
        .map(|id| {
            Ok(Request {
                id: TransferId::system(format!("~expire:{id}"))?,
                op: Op::Expire {
                    pending_id: TransferId::from_db(id.clone()),
                },
                linked: false,
                metadata: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let results = engine::submit(pool, &requests, now).await?;
    Ok((created(&results), due.len() == MAX_BATCH))
}

async fn expire_grants_round(pool: &PgPool, now: DateTime<Utc>) -> Result<(usize, bool)> {
    let due: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT id, asset, credits_posted - debits_posted - debits_pending, last_seq \
         FROM ledger_accounts \
         WHERE expires_at <= $1 AND credits_posted - debits_posted - debits_pending > 0 \
         ORDER BY expires_at, id LIMIT $2",
    )
    .bind(now)
    .bind(MAX_BATCH as i64)
    .fetch_all(pool)
    .await?;
    let mut requests = Vec::with_capacity(due.len());
    for (id, asset, remaining, seq) in &due {
        // Keyed by the account's entry count: the same state always yields the same id.
        requests.push(Request {
            id: TransferId::system(format!("~expiry:{id}:{seq}"))?,
            op: Op::Transfer(TransferKind::Posted {
                debit: AccountId::from_db(id.clone()),
                credit: wallet::system_account("expired", asset)?,
                amount: crate::Amount::from_db(*remaining, "remaining")?,
            }),
            linked: false,
            metadata: None,
        });
    }
    let results = engine::submit(pool, &requests, now).await?;
    Ok((created(&results), due.len() == MAX_BATCH))
}
