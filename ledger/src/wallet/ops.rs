//! Wallet operations: open, top up, grant, debit usage (grants first), refund.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::{
    grant_account, leg_id, op_metadata, overall, purchased_account, refuse_unless_ok,
    system_account, view::lock_spendable,
};
use crate::account::{insert_accounts, AccountFlags, CreateAccountResult, NewAccount};
use crate::amount::Amount;
use crate::engine::{self, Attempt};
use crate::error::{LedgerError, Result};
use crate::ids::{AccountId, AssetCode, TenantId, TransferId};
use crate::machine::{Op, Request};
use crate::transfer::{TransferKind, TransferResult};

/// Creates the world, expired-grants and revenue accounts of `asset` if missing.
pub async fn ensure_system_accounts(pool: &PgPool, asset: &AssetCode) -> Result<()> {
    let specs = ["world", "expired", "revenue"]
        .iter()
        .map(|role| {
            Ok((
                system_spec(system_account(role, asset.as_str())?, None, asset, false),
                None,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut conn = pool.acquire().await?;
    let results = insert_accounts(&mut conn, &specs, true).await?;
    match results.iter().find(|r| {
        !matches!(
            r,
            CreateAccountResult::Created | CreateAccountResult::Exists
        )
    }) {
        Some(CreateAccountResult::AssetNotFound) => {
            Err(LedgerError::AssetNotFound(asset.to_string()))
        }
        Some(r) => Err(crate::error::corrupt(format!(
            "system account of {asset}: {}",
            r.as_str()
        ))),
        None => Ok(()),
    }
}

fn system_spec(
    id: AccountId,
    tenant: Option<&TenantId>,
    asset: &AssetCode,
    no_overdraft: bool,
) -> NewAccount {
    NewAccount {
        id,
        tenant: tenant.cloned(),
        asset: asset.clone(),
        flags: AccountFlags {
            debits_must_not_exceed_credits: no_overdraft,
            credits_must_not_exceed_debits: false,
        },
        metadata: None,
    }
}

async fn create_wallet_account(
    pool: &PgPool,
    t: &TenantId,
    id: AccountId,
    expires_at: Option<DateTime<Utc>>,
) -> Result<()> {
    let mut conn = pool.acquire().await?;
    create_wallet_account_in(&mut conn, t, id, expires_at).await
}

async fn create_wallet_account_in(
    conn: &mut PgConnection,
    t: &TenantId,
    id: AccountId,
    expires_at: Option<DateTime<Utc>>,
) -> Result<()> {
    let spec = system_spec(id.clone(), Some(t), &AssetCode::token(), true);
    match insert_accounts(conn, &[(spec, expires_at)], true)
        .await?
        .first()
    {
        Some(CreateAccountResult::Created | CreateAccountResult::Exists) => Ok(()),
        Some(CreateAccountResult::ExistsWithDifferentFields) => {
            Err(LedgerError::ExistsWithDifferentFields(id.to_string()))
        }
        other => Err(crate::error::corrupt(format!(
            "wallet account {id}: {other:?}"
        ))),
    }
}

/// Opens the tenant's wallet (idempotent).
pub async fn open_wallet(pool: &PgPool, tenant: &TenantId) -> Result<()> {
    ensure_system_accounts(pool, &AssetCode::token()).await?;
    create_wallet_account(pool, tenant, purchased_account(tenant)?, None).await
}

fn mint_request(
    to: AccountId,
    id: TransferId,
    amount: Amount,
    reason: Option<&str>,
) -> Result<Request> {
    Ok(Request {
        id,
        op: Op::Transfer(TransferKind::Posted {
            debit: system_account("world", "TOKEN")?,
            credit: to,
            amount,
        }),
        linked: false,
        metadata: reason.map(|r| json!({ "reason": r })),
    })
}

fn minted(
    tenant: &TenantId,
    results: &[TransferResult],
    id: &TransferId,
) -> Result<TransferResult> {
    match overall(results) {
        TransferResult::AccountNotFound => Err(LedgerError::WalletNotFound(tenant.to_string())),
        r => refuse_unless_ok(r, id),
    }
}

/// One posted transfer from `~world:TOKEN`, mapping a missing wallet to `WalletNotFound`.
async fn mint(
    pool: &PgPool,
    tenant: &TenantId,
    id: TransferId,
    to: AccountId,
    amount: Amount,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    let request = mint_request(to, id, amount, reason)?;
    let results = engine::submit(pool, std::slice::from_ref(&request), now).await?;
    minted(tenant, &results, &request.id)
}

/// Adds purchased tokens; idempotent by `id` (a retry answers `Exists`).
pub async fn top_up(
    pool: &PgPool,
    tenant: &TenantId,
    id: &TransferId,
    amount: Amount,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    let tid = TransferId::system(format!("~topup:{tenant}:{id}"))?;
    mint(
        pool,
        tenant,
        tid,
        purchased_account(tenant)?,
        amount,
        reason,
        now,
    )
    .await
}

/// Grants tokens that expire at `expires_at` (what remains then goes to `~expired:TOKEN`);
/// idempotent by `grant_id`.
pub async fn grant_tokens(
    pool: &PgPool,
    tenant: &TenantId,
    grant_id: &TransferId,
    amount: Amount,
    expires_at: DateTime<Utc>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    let (t, id, reason) = (tenant.clone(), grant_id.clone(), reason.map(str::to_owned));
    engine::retrying(pool, move |conn| -> Attempt<'_, TransferResult> {
        let (t, id, reason) = (t.clone(), id.clone(), reason.clone());
        Box::pin(async move {
            grant_tokens_in(conn, &t, &id, amount, expires_at, reason.as_deref(), now).await
        })
    })
    .await
}

/// [`grant_tokens`] inside the caller's transaction (the caller commits; no retry here).
/// Lock order: `~world:TOKEN` and the grant account, like every mint.
pub async fn grant_tokens_in(
    conn: &mut PgConnection,
    tenant: &TenantId,
    grant_id: &TransferId,
    amount: Amount,
    expires_at: DateTime<Utc>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    let account = grant_account(tenant, grant_id)?;
    let purchased: Option<String> =
        sqlx::query_scalar("SELECT id FROM ledger_accounts WHERE id = $1")
            .bind(purchased_account(tenant)?.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    if purchased.is_none() {
        return Err(LedgerError::WalletNotFound(tenant.to_string()));
    }
    create_wallet_account_in(conn, tenant, account.clone(), Some(expires_at)).await?;
    let tid = TransferId::system(format!("~grant:{tenant}:{grant_id}"))?;
    let request = mint_request(account, tid, amount, reason)?;
    let results = engine::apply_in_tx(conn, std::slice::from_ref(&request), now).await?;
    minted(tenant, &results, &request.id)
}

/// The wallet's spendable tokens (unexpired grants + purchased, less holds), read under the
/// same locks a debit takes (`~revenue:TOKEN`, then the wallet's accounts, in id order), in
/// the caller's transaction; a debit that follows in it cannot find less.
pub async fn available_in(
    conn: &mut PgConnection,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> Result<Amount> {
    let revenue = system_account("revenue", "TOKEN")?;
    super::view::total(&lock_spendable(conn, tenant, now, &revenue).await?)
}

/// Debits `amount` for usage `usage_id`: burns unexpired grants earliest expiry first, then
/// purchased tokens, atomically; `InsufficientBalance` (nothing written) if the wallet's
/// available balance is short. Idempotent by `usage_id`.
pub async fn debit_usage(
    pool: &PgPool,
    tenant: &TenantId,
    usage_id: &TransferId,
    amount: Amount,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    spend(pool, Spend::Usage, tenant, usage_id, amount, now).await
}

#[derive(Clone, Copy)]
pub(crate) enum Spend {
    Usage,
    Hold { timeout_s: u32 },
}

/// Debits (or holds) across the wallet's accounts under their locks, in one transaction.
pub(crate) async fn spend(
    pool: &PgPool,
    how: Spend,
    tenant: &TenantId,
    op_id: &TransferId,
    amount: Amount,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    if amount.is_zero() {
        return Err(LedgerError::Invalid {
            field: "amount",
            reason: "must not be zero".into(),
        });
    }
    let (t, id) = (tenant.clone(), op_id.clone());
    engine::retrying(pool, move |conn| -> Attempt<'_, TransferResult> {
        let (t, id) = (t.clone(), id.clone());
        Box::pin(async move { spend_tx(conn, how, &t, &id, amount, now).await })
    })
    .await
}

async fn spend_tx(
    conn: &mut PgConnection,
    how: Spend,
    t: &TenantId,
    id: &TransferId,
    amount: Amount,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    let revenue = system_account("revenue", "TOKEN")?;
    let spendable = lock_spendable(conn, t, now, &revenue).await?;
    spend_locked(conn, how, t, id, amount, &spendable, &revenue, now).await
}

/// Debits `up_to` tokens for usage `usage_id`, or what the wallet holds if that is less, in
/// the caller's transaction, with one lock of the wallet; returns the amount debited (zero:
/// nothing written). A retry of the same id with the same amount answers as `debit_usage`.
pub async fn debit_usage_up_to_in(
    conn: &mut PgConnection,
    tenant: &TenantId,
    usage_id: &TransferId,
    up_to: Amount,
    now: DateTime<Utc>,
) -> Result<Amount> {
    let debits = [(tenant.clone(), usage_id.clone(), up_to)];
    let done = debit_usage_up_to_many_in(conn, &debits, now).await?;
    Ok(done.first().copied().unwrap_or(Amount::ZERO))
}

/// [`debit_usage_up_to_in`] for several wallets at once (each tenant at most once): one
/// statement locks every wallet, one engine batch applies every debit (a linked chain per
/// tenant). Returns what each debit took, in input order. A debit whose id already exists
/// counts as taking its recorded total (a retried batch changes nothing).
pub async fn debit_usage_up_to_many_in(
    conn: &mut PgConnection,
    debits: &[(TenantId, TransferId, Amount)],
    now: DateTime<Utc>,
) -> Result<Vec<Amount>> {
    if debits.is_empty() {
        return Ok(vec![]);
    }
    let revenue = system_account("revenue", "TOKEN")?;
    let tenants: Vec<TenantId> = debits.iter().map(|(t, _, _)| t.clone()).collect();
    let spendable = super::view::lock_spendable_many(conn, &tenants, now, &revenue).await?;
    let firsts = debits
        .iter()
        .map(|(t, id, _)| leg_id("usage", t, id, 0))
        .collect::<Result<Vec<_>>>()?;
    let existing = crate::store::load_transfers(
        conn,
        &firsts.iter().map(TransferId::as_str).collect::<Vec<_>>(),
    )
    .await?;
    let mut taken = Vec::with_capacity(debits.len());
    let mut requests = Vec::new();
    let mut chains = Vec::new();
    for (((t, id, up_to), accounts), first) in debits.iter().zip(&spendable).zip(&firsts) {
        if let Some(prev) = existing.iter().find(|p| p.id.as_str() == first.as_str()) {
            let total = prev
                .metadata
                .as_ref()
                .and_then(|m| m.get("total"))
                .and_then(|v| v.as_str())
                .and_then(|v| v.parse::<Amount>().ok())
                .ok_or_else(|| LedgerError::ExistsWithDifferentFields(id.to_string()))?;
            taken.push(total);
            continue;
        }
        let amount = (*up_to).min(super::view::total(accounts)?);
        taken.push(amount);
        if amount.is_zero() {
            continue;
        }
        let legs = super::view::plan(accounts, amount)?;
        let metadata = op_metadata("usage_id", id, amount, legs.len());
        let start = requests.len();
        for (n, (account, part)) in legs.iter().enumerate() {
            requests.push(Request {
                id: leg_id("usage", t, id, n)?,
                op: Op::Transfer(TransferKind::Posted {
                    debit: account.clone(),
                    credit: revenue.clone(),
                    amount: *part,
                }),
                linked: n + 1 < legs.len(),
                metadata: Some(metadata.clone()),
            });
        }
        chains.push((start..requests.len(), id.clone()));
    }
    if !requests.is_empty() {
        let results = engine::apply_in_tx(conn, &requests, now).await?;
        for (range, id) in chains {
            refuse_unless_ok(overall(&results[range]), &id)?;
        }
    }
    Ok(taken)
}

#[allow(clippy::too_many_arguments)]
async fn spend_locked(
    conn: &mut PgConnection,
    how: Spend,
    t: &TenantId,
    id: &TransferId,
    amount: Amount,
    spendable: &[super::view::Spendable],
    revenue: &AccountId,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    let (op, key) = match how {
        Spend::Usage => ("usage", "usage_id"),
        Spend::Hold { .. } => ("hold", "hold_id"),
    };
    // Checked under the wallet's locks, so a concurrent retry of the same id is seen.
    let first = leg_id(op, t, id, 0)?;
    if let Some(prev) = crate::store::load_transfers(conn, &[first.as_str()])
        .await?
        .pop()
    {
        let total = prev
            .metadata
            .as_ref()
            .and_then(|m| m.get("total"))
            .and_then(|v| v.as_str());
        return if total == Some(amount.to_string().as_str()) {
            Ok(TransferResult::Exists)
        } else {
            Err(LedgerError::ExistsWithDifferentFields(id.to_string()))
        };
    }
    let legs = super::view::plan(spendable, amount)?;
    let metadata = op_metadata(key, id, amount, legs.len());
    let requests = legs
        .iter()
        .enumerate()
        .map(|(n, (account, part))| {
            let (debit, credit, amount) = (account.clone(), revenue.clone(), *part);
            let kind = match how {
                Spend::Usage => TransferKind::Posted {
                    debit,
                    credit,
                    amount,
                },
                Spend::Hold { timeout_s } => TransferKind::Pending {
                    debit,
                    credit,
                    amount,
                    timeout_s,
                },
            };
            Ok(Request {
                id: leg_id(op, t, id, n)?,
                op: Op::Transfer(kind),
                linked: n + 1 < legs.len(),
                metadata: Some(metadata.clone()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let results = engine::apply_in_tx(conn, &requests, now).await?;
    refuse_unless_ok(overall(&results), id)
}

/// Gives back usage `usage_id` (all of it, or `amount`), newest legs first, to the accounts
/// it was taken from. One refund per usage; a retry answers `Exists`.
pub async fn refund_usage(
    pool: &PgPool,
    tenant: &TenantId,
    usage_id: &TransferId,
    amount: Option<Amount>,
    now: DateTime<Utc>,
) -> Result<TransferResult> {
    let (total, legs) = super::holds::load_legs(pool, "usage", tenant, usage_id).await?;
    let amount = amount.unwrap_or(total);
    if amount.is_zero() || amount > total {
        return Err(LedgerError::Invalid {
            field: "amount",
            reason: format!("must be between 1 and the usage's {total}"),
        });
    }
    let metadata = op_metadata("usage_id", usage_id, amount, legs.len());
    let mut remaining = amount;
    let mut requests = Vec::new();
    for leg in legs.iter().rev() {
        let part = remaining.min(leg.amount);
        if part.is_zero() {
            break;
        }
        remaining = remaining
            .checked_sub(part)
            .ok_or(LedgerError::Overflow("refund"))?;
        requests.push(Request {
            id: leg_id("refund", tenant, usage_id, requests.len())?,
            op: Op::Transfer(TransferKind::Posted {
                debit: leg.credit.clone(),
                credit: leg.debit.clone(),
                amount: part,
            }),
            linked: true,
            metadata: Some(metadata.clone()),
        });
    }
    if let Some(last) = requests.last_mut() {
        last.linked = false;
    }
    let results = engine::submit(pool, &requests, now).await?;
    refuse_unless_ok(overall(&results), usage_id)
}
