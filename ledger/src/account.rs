//! Accounts: creation (batched, idempotent), lookup, and point-in-time balances.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Row};

use crate::balances::Balances;
use crate::error::{LedgerError, Result};
use crate::ids::{AccountId, AssetCode, TenantId};
use crate::transfer::MAX_BATCH;

/// Balance limits of an account (TigerBeetle's account flags); at most one may be set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountFlags {
    /// debits_posted + debits_pending ≤ credits_posted: the account cannot go negative.
    pub debits_must_not_exceed_credits: bool,
    /// credits_posted + credits_pending ≤ debits_posted.
    pub credits_must_not_exceed_debits: bool,
}

/// An account to create. The id is chosen by the client (idempotency key).
#[derive(Clone, Debug, PartialEq)]
pub struct NewAccount {
    pub id: AccountId,
    pub tenant: Option<TenantId>,
    pub asset: AssetCode,
    pub flags: AccountFlags,
    pub metadata: Option<Value>,
}

/// Outcome of creating one account, in request order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateAccountResult {
    Created,
    Exists,
    ExistsWithDifferentFields,
    AssetNotFound,
    FlagsAreMutuallyExclusive,
    ReservedId,
}

impl CreateAccountResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Exists => "exists",
            Self::ExistsWithDifferentFields => "exists_with_different_fields",
            Self::AssetNotFound => "asset_not_found",
            Self::FlagsAreMutuallyExclusive => "flags_are_mutually_exclusive",
            Self::ReservedId => "reserved_id",
        }
    }
}

/// An account with its counters.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    pub id: AccountId,
    pub tenant: Option<TenantId>,
    pub asset: AssetCode,
    pub flags: AccountFlags,
    pub balances: Balances,
    /// Set on wallet grant sub-accounts.
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Option<Value>,
    pub created_at: DateTime<Utc>,
}

pub(crate) const ACCOUNT_COLUMNS: &str = "id, tenant, asset, debits_must_not_exceed_credits, \
     credits_must_not_exceed_debits, debits_posted, credits_posted, debits_pending, \
     credits_pending, expires_at, metadata, created_at";

/// The two balance-limit flags of an account row.
pub(crate) fn flags_from_row(row: &sqlx::postgres::PgRow) -> Result<AccountFlags> {
    Ok(AccountFlags {
        debits_must_not_exceed_credits: row.try_get("debits_must_not_exceed_credits")?,
        credits_must_not_exceed_debits: row.try_get("credits_must_not_exceed_debits")?,
    })
}

/// The four counters of an account row.
pub(crate) fn balances_from_row(row: &sqlx::postgres::PgRow) -> Result<Balances> {
    Balances::from_db(
        row.try_get("debits_posted")?,
        row.try_get("credits_posted")?,
        row.try_get("debits_pending")?,
        row.try_get("credits_pending")?,
    )
}

pub(crate) fn account_from_row(row: &sqlx::postgres::PgRow) -> Result<Account> {
    Ok(Account {
        id: AccountId::from_db(row.try_get("id")?),
        tenant: row
            .try_get::<Option<String>, _>("tenant")?
            .map(TenantId::from_db),
        asset: AssetCode::from_db(row.try_get("asset")?),
        flags: flags_from_row(row)?,
        balances: balances_from_row(row)?,
        expires_at: row.try_get("expires_at")?,
        metadata: row.try_get("metadata")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Creates up to [`MAX_BATCH`] accounts; existing ids answer `exists` or
/// `exists_with_different_fields`. Ids starting with `~` are reserved.
pub async fn create_accounts(
    pool: &PgPool,
    accounts: &[NewAccount],
) -> Result<Vec<CreateAccountResult>> {
    let specs: Vec<(NewAccount, Option<DateTime<Utc>>)> =
        accounts.iter().map(|a| (a.clone(), None)).collect();
    let mut conn = pool.acquire().await?;
    insert_accounts(&mut conn, &specs, false).await
}

/// Inserts accounts (optionally with an expiry, for grants); `system` allows reserved ids.
pub(crate) async fn insert_accounts(
    conn: &mut sqlx::PgConnection,
    specs: &[(NewAccount, Option<DateTime<Utc>>)],
    system: bool,
) -> Result<Vec<CreateAccountResult>> {
    if specs.len() > MAX_BATCH {
        return Err(LedgerError::BatchTooLarge {
            len: specs.len(),
            max: MAX_BATCH,
        });
    }
    let assets: Vec<String> = sqlx::query_scalar("SELECT code FROM ledger_assets")
        .fetch_all(&mut *conn)
        .await?;
    let mut results = vec![CreateAccountResult::Created; specs.len()];
    let mut rows = Vec::new();
    for (i, (a, expires_at)) in specs.iter().enumerate() {
        let flags = a.flags;
        results[i] = if a.id.is_reserved() && !system {
            CreateAccountResult::ReservedId
        } else if flags.debits_must_not_exceed_credits && flags.credits_must_not_exceed_debits {
            CreateAccountResult::FlagsAreMutuallyExclusive
        } else if !assets.iter().any(|c| c == a.asset.as_str()) {
            CreateAccountResult::AssetNotFound
        } else {
            rows.push((i, a, *expires_at));
            continue;
        };
    }
    let inserted: Vec<String> = sqlx::query_scalar(
        "INSERT INTO ledger_accounts (id, tenant, asset, debits_must_not_exceed_credits, \
             credits_must_not_exceed_debits, expires_at, metadata) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bool[], $5::bool[], \
             $6::timestamptz[], $7::jsonb[]) \
         ON CONFLICT (id) DO NOTHING RETURNING id",
    )
    .bind(rows.iter().map(|r| r.1.id.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.1.tenant.as_ref().map(|t| t.as_str()))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.1.asset.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.1.flags.debits_must_not_exceed_credits)
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.1.flags.credits_must_not_exceed_debits)
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.2).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.1.metadata.clone())
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut *conn)
    .await?;
    let inserted: std::collections::HashSet<String> = inserted.into_iter().collect();
    let mut seen = std::collections::HashSet::new();
    for (i, a, expires_at) in rows {
        // A second occurrence of an id within the batch is compared like a stored one.
        if inserted.contains(a.id.as_str()) && seen.insert(a.id.as_str()) {
            continue;
        }
        let existing = fetch_account(&mut *conn, &a.id)
            .await?
            .ok_or_else(|| LedgerError::AccountNotFound(a.id.to_string()))?;
        let same = existing.tenant == a.tenant
            && existing.asset == a.asset
            && existing.flags == a.flags
            && existing.expires_at == expires_at
            && existing.metadata == a.metadata;
        results[i] = if same {
            CreateAccountResult::Exists
        } else {
            CreateAccountResult::ExistsWithDifferentFields
        };
    }
    Ok(results)
}

pub(crate) async fn fetch_account(
    conn: &mut sqlx::PgConnection,
    id: &AccountId,
) -> Result<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(account_from_row).transpose()
}

/// The account with its current counters (read-your-writes: reads the primary).
pub async fn get_account(pool: &PgPool, id: &AccountId) -> Result<Option<Account>> {
    let mut conn = pool.acquire().await?;
    fetch_account(&mut conn, id).await
}

/// The account's counters as they were at `as_of` (after every entry stamped at or before
/// it); zero before its first entry. `None` if the account does not exist.
pub async fn balances_as_of(
    pool: &PgPool,
    id: &AccountId,
    as_of: DateTime<Utc>,
) -> Result<Option<Balances>> {
    let row = sqlx::query(
        "SELECT e.debits_posted, e.credits_posted, e.debits_pending, e.credits_pending \
         FROM ledger_accounts a LEFT JOIN LATERAL ( \
             SELECT * FROM ledger_entries e WHERE e.account_id = a.id AND e.created_at <= $2 \
             ORDER BY e.seq DESC LIMIT 1) e ON true \
         WHERE a.id = $1",
    )
    .bind(id.as_str())
    .bind(as_of)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let get = |c: &str| row.try_get::<Option<i64>, _>(c).map(|v| v.unwrap_or(0));
    Ok(Some(Balances::from_db(
        get("debits_posted")?,
        get("credits_posted")?,
        get("debits_pending")?,
        get("credits_pending")?,
    )?))
}
