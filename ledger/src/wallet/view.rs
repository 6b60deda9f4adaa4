//! The wallet view (available, granted, purchased, pending, grants) and spend planning.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};

use super::{grant_prefix, purchased_account, MAX_LEGS};
use crate::amount::Amount;
use crate::balances::Balances;
use crate::error::{corrupt, LedgerError, Result};
use crate::ids::{AccountId, AssetCode, TenantId};

/// A tenant's token wallet at a point in time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wallet {
    pub tenant: TenantId,
    pub asset: AssetCode,
    /// granted + purchased − pending: what usage may still burn.
    pub available: Amount,
    /// Remaining (posted) balance of unexpired grants.
    pub granted: Amount,
    /// Posted balance of purchased tokens.
    pub purchased: Amount,
    /// Held by pending transfers (holds) on unexpired grants and purchased tokens.
    pub pending: Amount,
    /// Unexpired grants, earliest expiry first.
    pub grants: Vec<Grant>,
}

/// One unexpired grant of a wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    /// Credited to the grant so far (the grant itself plus any refunds of usage it paid).
    pub amount: Amount,
    /// What remains (posted balance).
    pub remaining: Amount,
    pub expires_at: DateTime<Utc>,
}

fn to_amount(v: i128, what: &str) -> Result<Amount> {
    u64::try_from(v)
        .ok()
        .and_then(|v| Amount::new(v).ok())
        .ok_or_else(|| corrupt(format!("{what} = {v} on a flagged wallet account")))
}

fn add(a: Amount, b: Amount) -> Result<Amount> {
    a.checked_add(b)
        .ok_or(LedgerError::Overflow("wallet totals"))
}

/// The wallet of `tenant` as of `now` (grants expiring at or before `now` are left out).
pub async fn wallet(pool: &PgPool, tenant: &TenantId, now: DateTime<Utc>) -> Result<Wallet> {
    let rows = sqlx::query(
        "SELECT id, expires_at, debits_posted, credits_posted, debits_pending, credits_pending \
         FROM ledger_accounts WHERE tenant = $1 AND asset = 'TOKEN' AND id LIKE '~wallet:%' \
         ORDER BY expires_at NULLS LAST, id",
    )
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await?;
    let purchased_id = purchased_account(tenant)?;
    let prefix = grant_prefix(tenant);
    let mut w = Wallet {
        tenant: tenant.clone(),
        asset: AssetCode::token(),
        available: Amount::ZERO,
        granted: Amount::ZERO,
        purchased: Amount::ZERO,
        pending: Amount::ZERO,
        grants: Vec::new(),
    };
    let mut found = false;
    for row in &rows {
        let id: String = row.try_get("id")?;
        let expires_at: Option<DateTime<Utc>> = row.try_get("expires_at")?;
        let b = Balances::from_db(
            row.try_get("debits_posted")?,
            row.try_get("credits_posted")?,
            row.try_get("debits_pending")?,
            row.try_get("credits_pending")?,
        )?;
        let balance = to_amount(b.balance(), "balance")?;
        if id == purchased_id.as_str() {
            found = true;
            w.purchased = balance;
        } else if let (Some(grant), Some(at)) = (id.strip_prefix(&prefix), expires_at) {
            if at <= now {
                continue;
            }
            w.granted = add(w.granted, balance)?;
            w.grants.push(Grant {
                id: grant.to_string(),
                amount: b.credits_posted,
                remaining: balance,
                expires_at: at,
            });
        } else {
            continue;
        }
        w.pending = add(w.pending, b.debits_pending)?;
        w.available = add(w.available, to_amount(b.available(), "available")?)?;
    }
    if !found {
        return Err(LedgerError::WalletNotFound(tenant.to_string()));
    }
    Ok(w)
}

/// A spendable wallet account, locked.
pub(crate) struct Spendable {
    id: AccountId,
    expires_at: Option<DateTime<Utc>>,
    pub(crate) available: Amount,
}

/// Locks the tenant's spendable accounts and `sink` together, in id order.
pub(crate) async fn lock_spendable(
    conn: &mut PgConnection,
    t: &TenantId,
    now: DateTime<Utc>,
    sink: &AccountId,
) -> Result<Vec<Spendable>> {
    let mut all = lock_spendable_many(conn, std::slice::from_ref(t), now, sink).await?;
    Ok(all.pop().unwrap_or_default())
}

/// Locks several tenants' spendable accounts and `sink` in one statement, in id order (the
/// same global order as single-tenant locks); returns each tenant's accounts, in input order.
pub(crate) async fn lock_spendable_many(
    conn: &mut PgConnection,
    tenants: &[TenantId],
    now: DateTime<Utc>,
    sink: &AccountId,
) -> Result<Vec<Vec<Spendable>>> {
    let ids: Vec<&str> = tenants.iter().map(TenantId::as_str).collect();
    let rows = sqlx::query(
        "SELECT id, tenant, expires_at, credits_posted - debits_posted - debits_pending AS available \
         FROM ledger_accounts \
         WHERE (tenant = ANY($1) AND asset = 'TOKEN' AND id LIKE '~wallet:%' \
                AND (expires_at IS NULL OR expires_at > $2)) OR id = $3 \
         ORDER BY id FOR UPDATE",
    )
    .bind(&ids)
    .bind(now)
    .bind(sink.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<Vec<Spendable>> = tenants.iter().map(|_| Vec::new()).collect();
    let mut found = vec![false; tenants.len()];
    for row in &rows {
        let id: String = row.try_get("id")?;
        if id == sink.as_str() {
            continue;
        }
        let tenant: Option<String> = row.try_get("tenant")?;
        let Some(i) = tenant.and_then(|t| ids.iter().position(|x| *x == t)) else {
            continue;
        };
        found[i] |= id == purchased_account(&tenants[i])?.as_str();
        out[i].push(Spendable {
            id: AccountId::from_db(id),
            expires_at: row.try_get("expires_at")?,
            available: to_amount(i128::from(row.try_get::<i64, _>("available")?), "available")?,
        });
    }
    if let Some(i) = found.iter().position(|f| !f) {
        return Err(LedgerError::WalletNotFound(tenants[i].to_string()));
    }
    Ok(out)
}

/// What the accounts hold together.
pub(crate) fn total(accounts: &[Spendable]) -> Result<Amount> {
    accounts
        .iter()
        .try_fold(Amount::ZERO, |s, a| s.checked_add(a.available))
        .ok_or(LedgerError::Overflow("available"))
}

/// Splits `amount` over grants (earliest expiry first), then purchased tokens.
pub(crate) fn plan(accounts: &[Spendable], amount: Amount) -> Result<Vec<(AccountId, Amount)>> {
    let mut order: Vec<&Spendable> = accounts.iter().filter(|a| !a.available.is_zero()).collect();
    // Grants (with an expiry) first by expiry; purchased (no expiry) last.
    order.sort_by(|a, b| {
        (a.expires_at.is_none(), a.expires_at, &a.id).cmp(&(
            b.expires_at.is_none(),
            b.expires_at,
            &b.id,
        ))
    });
    let mut remaining = amount;
    let mut legs = Vec::new();
    for a in order {
        if remaining.is_zero() {
            break;
        }
        let part = remaining.min(a.available);
        remaining = remaining
            .checked_sub(part)
            .ok_or(LedgerError::Overflow("plan"))?;
        legs.push((a.id.clone(), part));
    }
    if !remaining.is_zero() {
        let available = accounts
            .iter()
            .try_fold(Amount::ZERO, |s, a| s.checked_add(a.available))
            .ok_or(LedgerError::Overflow("available"))?;
        return Err(LedgerError::InsufficientBalance {
            available: available.get(),
            requested: amount.get(),
        });
    }
    if legs.len() > MAX_LEGS {
        return Err(LedgerError::Invalid {
            field: "amount",
            reason: format!("would span more than {MAX_LEGS} grants"),
        });
    }
    Ok(legs)
}
