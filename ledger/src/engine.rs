//! The fast path: one batch = one transaction with a fixed number of round trips.
//!
//! (0) only if the batch posts or voids: read the pending transfers it names, for their
//! accounts; (1) lock every account touched in sorted id order; (2) read the batch's ids and
//! the pending transfers named, under the locks; (3) run the pure state machine; (4) write
//! transfers, entries and counters in one statement of bulk `UNNEST`s; commit. A hot account
//! costs one row lock per batch. Reading after locking means a concurrent batch with the same
//! transfer (same accounts) is seen as `exists`; a unique violation is left only for the same
//! id with different accounts, and the batch is then retried.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::error::{LedgerError, Result};
use crate::machine::{Machine, Op, Request};
use crate::store;
use crate::transfer::{NewTransfer, TransferKind, TransferResult, MAX_BATCH};

/// Attempts of one batch racing concurrent batches on the same new ids.
pub const MAX_ATTEMPTS: u32 = 5;

/// Applies up to [`MAX_BATCH`] transfers atomically per linked chain, in request order, at
/// the current time. Results come back in request order.
pub async fn create_transfers(
    pool: &PgPool,
    transfers: &[NewTransfer],
) -> Result<Vec<TransferResult>> {
    create_transfers_at(pool, transfers, Utc::now()).await
}

/// [`create_transfers`] with an explicit clock (tests, replays). Entries are never stamped
/// earlier than an account's previous entry, so the effective time may be later than `now`.
pub async fn create_transfers_at(
    pool: &PgPool,
    transfers: &[NewTransfer],
    now: DateTime<Utc>,
) -> Result<Vec<TransferResult>> {
    let requests: Vec<Request> = transfers.iter().map(client_request).collect();
    submit(pool, &requests, now).await
}

fn client_request(t: &NewTransfer) -> Request {
    let op = if t.id.is_reserved() {
        Op::Reject(TransferResult::ReservedId)
    } else {
        Op::Transfer(t.kind.clone())
    };
    Request {
        id: t.id.clone(),
        op,
        linked: t.linked,
        metadata: t.metadata.clone(),
    }
}

/// Runs a batch in its own transaction, retrying on id races.
pub(crate) async fn submit(
    pool: &PgPool,
    requests: &[Request],
    now: DateTime<Utc>,
) -> Result<Vec<TransferResult>> {
    for _ in 0..MAX_ATTEMPTS {
        let mut tx = pool.begin().await?;
        let results = match apply_in_tx(&mut tx, requests, now).await {
            Err(e) if is_retryable(&e) => continue,
            other => other?,
        };
        match tx.commit().await {
            Err(e) if is_race(&e) => continue,
            other => other?,
        }
        return Ok(results);
    }
    Err(LedgerError::Contention(MAX_ATTEMPTS))
}

/// The future of one attempt of a transaction body.
pub(crate) type Attempt<'c, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'c>>;

/// Runs `body` in a transaction, retrying (up to [`MAX_ATTEMPTS`]) when it loses an id race.
pub(crate) async fn retrying<T, F>(pool: &PgPool, mut body: F) -> Result<T>
where
    F: for<'c> FnMut(&'c mut PgConnection) -> Attempt<'c, T>,
{
    for _ in 0..MAX_ATTEMPTS {
        let mut tx = pool.begin().await?;
        let value = match body(&mut tx).await {
            Err(e) if is_retryable(&e) => continue,
            other => other?,
        };
        match tx.commit().await {
            Err(e) if is_race(&e) => continue,
            other => other?,
        }
        return Ok(value);
    }
    Err(LedgerError::Contention(MAX_ATTEMPTS))
}

fn is_retryable(e: &LedgerError) -> bool {
    match e {
        LedgerError::Database(e) => is_race(e),
        LedgerError::Contention(_) => true,
        _ => false,
    }
}

/// Unique violations (a concurrent batch took the id first), serialization failures and
/// deadlocks (not expected with sorted locking, retried all the same).
pub(crate) fn is_race(e: &sqlx::Error) -> bool {
    let code = e.as_database_error().and_then(|d| d.code());
    matches!(code.as_deref(), Some("23505" | "40001" | "40P01"))
}

/// Applies a batch inside the caller's transaction (wallet operations lock first).
pub(crate) async fn apply_in_tx(
    conn: &mut PgConnection,
    requests: &[Request],
    now: DateTime<Utc>,
) -> Result<Vec<TransferResult>> {
    if requests.len() > MAX_BATCH {
        return Err(LedgerError::BatchTooLarge {
            len: requests.len(),
            max: MAX_BATCH,
        });
    }
    let t0 = std::time::Instant::now();
    let mut ids: HashSet<&str> = HashSet::with_capacity(requests.len());
    let mut pending_refs: HashSet<&str> = HashSet::new();
    let mut accounts: BTreeSet<&str> = BTreeSet::new();
    for r in requests {
        ids.insert(r.id.as_str());
        match &r.op {
            Op::Transfer(TransferKind::Posted { debit, credit, .. })
            | Op::Transfer(TransferKind::Pending { debit, credit, .. }) => {
                accounts.insert(debit.as_str());
                accounts.insert(credit.as_str());
            }
            Op::Transfer(TransferKind::PostPending { pending_id, .. })
            | Op::Transfer(TransferKind::VoidPending { pending_id })
            | Op::Expire { pending_id } => {
                ids.insert(pending_id.as_str());
                pending_refs.insert(pending_id.as_str());
            }
            Op::Reject(_) => {}
        }
    }
    // Posts and voids lock the accounts of the pending transfer they name (transfers are
    // immutable, so reading it before the locks is safe).
    let referenced = if pending_refs.is_empty() {
        Vec::new()
    } else {
        store::load_transfers(conn, &pending_refs.iter().copied().collect::<Vec<_>>()).await?
    };
    for t in &referenced {
        accounts.insert(t.debit.as_str());
        accounts.insert(t.credit.as_str());
    }
    let account_ids: Vec<&str> = accounts.into_iter().collect();
    let (locked, last_update) = store::lock_accounts(conn, &account_ids).await?;
    let t1 = t0.elapsed();
    // Read under the locks: a concurrent batch creating the same id (same fields, so the
    // same accounts) or resolving the same pending transfer has committed by now.
    let loaded = store::load_transfers(conn, &ids.into_iter().collect::<Vec<_>>()).await?;
    let t2 = t0.elapsed();
    let unlocked = loaded.iter().any(|t| {
        pending_refs.contains(t.id.as_str())
            && !(account_ids.binary_search(&t.debit.as_str()).is_ok()
                && account_ids.binary_search(&t.credit.as_str()).is_ok())
    });
    if unlocked {
        // A pending transfer named by this batch appeared after the first read: start over.
        return Err(LedgerError::Contention(0));
    }
    let now = last_update.map_or(now, |t| t.max(now));
    let outcome = Machine::new(now, locked, loaded).run(requests)?;
    let t3 = t0.elapsed();
    store::write_outcome(conn, &outcome, now).await?;
    let t4 = t0.elapsed();
    tracing::debug!(
        transfers = requests.len(),
        locked_us = t1.as_micros() as u64,
        loaded_us = t2.as_micros() as u64,
        applied_us = t3.as_micros() as u64,
        written_us = t4.as_micros() as u64,
        "ledger batch"
    );
    Ok(outcome.results)
}
